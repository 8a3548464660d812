//! Migrations as a deliberate step on PostgreSQL: an empty database gets the schema, one in
//! use is migrated only by `migrate apply` (or auto_migrate); pending migrations refuse writes
//! and keep reads; a newer schema refuses writes (and reads, unless marked compatible); a role
//! that can only SELECT runs reads, health and metrics.

use crate::common::{self, new_pg_schema, postgres_url, skip_postgres};
use serde_json::Value;
use std::process::Output;

async fn sql(url: &str, q: &str) {
    let opts = escrowgrid::store::postgres::connect_options(url).unwrap();
    let mut c = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(q.to_string()))
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The newest migration (16, the mark of a mirror's target) taken back, as if this binary were
/// newer than the database.
const ROLL_BACK_NEWEST: &str =
    "DROP TABLE mirror_of; DROP TABLE mirrored_to; DELETE FROM _sqlx_migrations WHERE version = 16";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_a_deliberate_step_and_versions_live_side_by_side() {
    let Some(base) = postgres_url() else {
        return skip_postgres("migrations_are_a_deliberate_step");
    };
    let pg = new_pg_schema(&base).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |url: &str, args: &[&str], env: &[(&str, &str)]| {
        let mut c = common::escrowgrid(&data);
        c.arg("--database-url").arg(url).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let eg = |args: &[&str]| run(&pg.url, args, &[]);
    let create = [
        "institution",
        "create",
        "--name",
        "Late Bank",
        "--region",
        "EU_UK",
    ];

    // A newcomer's first run: the empty schema is given the whole schema.
    let o = eg(&["seed", "--demo", "--positions", "5"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(eg(&["migrate", "status"]).status.code(), Some(0));

    // Pending: reads work, writes say what to run, and nothing is applied behind anyone's back.
    sql(&pg.url, ROLL_BACK_NEWEST).await;
    let o = eg(&["position", "list", "--json"]);
    assert!(o.status.success(), "reads work: {}", text(&o));
    let o = eg(&create);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("the database schema is at 15; this escrowgrid needs 16")
            && text(&o).contains("run `escrowgrid migrate apply`"),
        "{}",
        text(&o)
    );
    let h: Value = serde_json::from_slice(&eg(&["health", "--json"]).stdout).unwrap();
    assert!(
        h["writesRefused"]
            .as_str()
            .unwrap()
            .contains("migrate apply"),
        "{h}"
    );
    let o = eg(&["migrate", "status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("pending:          16 mirror of"),
        "{}",
        text(&o)
    );
    let o = eg(&["migrate", "apply", "--dry-run", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["wouldApply"][0]["version"], 16, "{v}");
    assert_eq!(
        eg(&["migrate", "status"]).status.code(),
        Some(1),
        "a dry run changes nothing"
    );
    let o = eg(&["migrate", "apply"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("applied 16 mirror of"), "{}", text(&o));
    assert_eq!(eg(&["migrate", "status"]).status.code(), Some(0));
    let o = eg(&create);
    assert!(o.status.success(), "{}", text(&o));

    // auto_migrate = true applies them when the store opens.
    sql(&pg.url, ROLL_BACK_NEWEST).await;
    let o = run(
        &pg.url,
        &["position", "list"],
        &[("ESCROWGRID_AUTO_MIGRATE", "true")],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(eg(&["migrate", "status"]).status.code(), Some(0));

    // A schema newer than this binary, marked compatible: reads work, writes say "upgrade".
    sql(
        &pg.url,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'future index compat', true, '\\x00', 0)",
    )
    .await;
    let o = eg(&["position", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = eg(&create);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains(
            "the database schema is at 9999; this escrowgrid knows up to 16: upgrade escrowgrid"
        ),
        "{}",
        text(&o)
    );
    let o = eg(&["migrate", "apply"]);
    assert!(
        !o.status.success() && text(&o).contains("upgrade escrowgrid"),
        "{}",
        text(&o)
    );
    // Not marked compatible: nothing opens, and the message says what to do.
    sql(
        &pg.url,
        "UPDATE _sqlx_migrations SET description = 'split positions' WHERE version = 9999",
    )
    .await;
    let o = eg(&["position", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("upgrade escrowgrid (migration 9999 is not marked compatible"),
        "{}",
        text(&o)
    );
    sql(&pg.url, "DELETE FROM _sqlx_migrations WHERE version = 9999").await;

    // A role that can only SELECT (and a server session that is read-only): reads, health and
    // metrics work; a write is refused by the database.
    let role = format!("eg_monitor_{}", &pg.schema[3..15]);
    sql(
        &base,
        &format!(
            "CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA \"{s}\" TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA \"{s}\" TO {role}",
            s = pg.schema
        ),
    )
    .await;
    let monitor = pg.url.replacen("postgres@", &format!("{role}@"), 1)
        + "&options[default_transaction_read_only]=on";
    for args in [
        vec!["health"],
        vec!["metrics"],
        vec!["position", "list"],
        vec!["ledger", "list", "--limit", "5"],
        vec!["migrate", "status"],
    ] {
        let o = run(&monitor, &args, &[]);
        assert!(o.status.success(), "{args:?} as {role}: {}", text(&o));
        if args == ["metrics"] {
            assert!(
                text(&o).contains("escrowgrid_up{backend=\"postgres\"} 1"),
                "{}",
                text(&o)
            );
        }
    }
    let o = run(&monitor, &create, &[]);
    assert!(!o.status.success(), "{}", text(&o));
    sql(&base, &format!("DROP OWNED BY {role}; DROP ROLE {role}")).await;

    // The writer's grants (README): SELECT, INSERT and UPDATE write through the service.
    let writer = format!("eg_writer_{}", &pg.schema[3..15]);
    sql(
        &base,
        &format!(
            "CREATE ROLE {writer} LOGIN; GRANT USAGE ON SCHEMA \"{s}\" TO {writer}; \
             GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA \"{s}\" TO {writer}",
            s = pg.schema
        ),
    )
    .await;
    let url = pg.url.replacen("postgres@", &format!("{writer}@"), 1);
    let all: Value =
        serde_json::from_slice(&run(&url, &["position", "list", "--json"], &[]).stdout).unwrap();
    let open = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            ["CREATED", "FUNDED", "PARTIALLY_RELEASED"].contains(&p["state"].as_str().unwrap())
        })
        .expect("a position that can still move")["id"]
        .as_str()
        .unwrap()
        .to_string();
    for args in [
        create.to_vec(),
        vec!["position", "transition", open.as_str(), "--to", "CANCELLED"],
    ] {
        let o = run(&url, &args, &[]);
        assert!(o.status.success(), "{args:?} as {writer}: {}", text(&o));
    }
    sql(
        &base,
        &format!("DROP OWNED BY {writer}; DROP ROLE {writer}"),
    )
    .await;
}

/// Each table's declaration (`store::tables`) is the table the migrations make: the same
/// columns, each of the declared kind, NULL allowed exactly where declared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_declaration_matches_its_migrated_table() {
    use escrowgrid::store::tables::{ALL, POSTGRES_ONLY, Table, Ty};
    use std::collections::BTreeMap;
    type Columns = BTreeMap<String, (String, bool)>;
    // What each kind is in each database (declared type, lower case).
    let sqlite_type = |ty: Ty| match ty {
        Ty::Int => "integer",
        Ty::Bool => "boolean",
        Ty::Text | Ty::Ts | Ty::Amount | Ty::Json => "text",
    };
    let pg_type = |ty: Ty| match ty {
        Ty::Int => "bigint",
        Ty::Bool => "boolean",
        Ty::Text => "text",
        Ty::Ts => "timestamp with time zone",
        Ty::Amount => "numeric",
        Ty::Json => "jsonb",
    };
    let expect = |t: &Table, kind: &dyn Fn(Ty) -> &'static str| -> Columns {
        t.cols
            .iter()
            .map(|(name, ty, null)| (name.to_string(), (kind(*ty).to_string(), *null)))
            .collect()
    };

    // SQLite: a migrated file's PRAGMA table_info (a primary key column may be NULL-able in
    // SQLite's eyes, but it never is: it is read as NOT NULL here).
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    drop(
        escrowgrid::store::open(
            escrowgrid::store::Backend::Sqlite,
            &url,
            std::time::Duration::from_millis(20),
        )
        .await
        .unwrap(),
    );
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    for t in ALL {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT name, lower(type), \"notnull\", pk FROM pragma_table_info('{}')",
            t.name
        )))
        .fetch_all(&mut c)
        .await
        .unwrap();
        let have: Columns = rows
            .into_iter()
            .map(|(name, ty, notnull, pk)| (name, (ty, notnull == 0 && pk == 0)))
            .collect();
        assert_eq!(have, expect(t, &sqlite_type), "SQLite table {}", t.name);
    }

    let Some(base) = postgres_url() else {
        return skip_postgres("every_table_declaration_matches_its_migrated_table");
    };
    let pg = new_pg_schema(&base).await;
    drop(
        escrowgrid::store::open(
            escrowgrid::store::Backend::Postgres,
            &pg.url,
            std::time::Duration::from_millis(20),
        )
        .await
        .unwrap(),
    );
    let opts = escrowgrid::store::postgres::connect_options(&pg.url).unwrap();
    let mut c = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    for t in ALL.iter().chain(POSTGRES_ONLY) {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable::text \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(t.name)
        .fetch_all(&mut c)
        .await
        .unwrap();
        let have: Columns = rows
            .into_iter()
            .map(|(name, ty, null)| (name, (ty, null == "YES")))
            .collect();
        assert_eq!(have, expect(t, &pg_type), "PostgreSQL table {}", t.name);
    }
}
