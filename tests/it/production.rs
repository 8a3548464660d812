//! PostgreSQL in production: bounded calls (`statement_timeout_ms`), a deadlock retried, and a
//! commit whose answer was lost looked for before it is answered or tried again. Each test has a
//! schema of its own on the shared server.

use crate::common::{fixture_on, new_pg_schema, postgres_url, skip_postgres};
use escrowgrid::service::{
    Actor, NewInstitution, Service, ServiceConfig, ServiceError, TransitionRequest,
};
use escrowgrid::store::{self, Backend, Options, PgSettings, SharedStore};
use sqlx::Connection;
use std::time::{Duration, Instant};

fn actor() -> Actor {
    Actor::Local {
        user: "tester".into(),
    }
}

async fn open(url: &str, statement_timeout: Duration) -> SharedStore {
    let opts = Options {
        pg: PgSettings {
            statement_timeout,
            ..PgSettings::default()
        },
        ..Options::default()
    };
    store::open_with(Backend::Postgres, url, &opts)
        .await
        .expect("open the PostgreSQL store")
}

async fn raw(url: &str) -> sqlx::PgConnection {
    let opts = store::postgres::connect_options(url).unwrap();
    sqlx::ConnectOptions::connect(&opts).await.unwrap()
}

async fn exec(c: &mut sqlx::PgConnection, sql: &str) {
    sqlx::Executor::execute(&mut *c, sqlx::AssertSqlSafe(sql.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn institution(name: &str) -> NewInstitution {
    NewInstitution {
        name: name.into(),
        regions: vec!["US".into()],
        verticals: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_timeout_fails_clearly_and_changes_nothing() {
    let Some(base) = postgres_url() else {
        return skip_postgres("a_statement_past_its_timeout_fails_clearly_and_changes_nothing");
    };
    let schema = new_pg_schema(&base).await;
    let store = open(&schema.url, Duration::from_millis(400)).await;
    let svc = Service::new(store.clone(), ServiceConfig::default());
    let a = actor();
    svc.create_institution(&a, institution("Before"))
        .await
        .unwrap();
    let head = svc.ledger_head_seq(&a).await.unwrap();

    // Another session holds the chain head: the write waits for it, past its timeout.
    let mut other = raw(&schema.url).await;
    exec(&mut other, "BEGIN").await;
    exec(&mut other, "SELECT seq FROM ledger_head FOR UPDATE").await;
    let t0 = Instant::now();
    let e = svc
        .create_institution(&a, institution("Blocked"))
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert!(matches!(e, ServiceError::Unavailable(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "store unavailable: timed out after 400 ms (statement_timeout_ms)"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");

    // A read behind a lock times out the same way.
    exec(
        &mut other,
        "LOCK TABLE institutions IN ACCESS EXCLUSIVE MODE",
    )
    .await;
    let e = svc
        .list_institutions(&a, Default::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "store unavailable: timed out after 400 ms (statement_timeout_ms)"
    );
    exec(&mut other, "ROLLBACK").await;

    // Nothing of the refused write was stored; the next write goes through.
    assert_eq!(svc.ledger_head_seq(&a).await.unwrap(), head);
    let names: Vec<String> = svc
        .list_institutions(&a, Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["Before"]);
    svc.create_institution(&a, institution("After"))
        .await
        .unwrap();
    assert_eq!(svc.ledger_head_seq(&a).await.unwrap(), head + 1);
    assert!(svc.verify_ledger(&a).await.unwrap().ok);
}

async fn deadlocks(c: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut *c)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_between_two_writers_is_retried_and_both_land() {
    let Some(base) = postgres_url() else {
        return skip_postgres("a_deadlock_between_two_writers_is_retried_and_both_land");
    };
    let schema = new_pg_schema(&base).await;
    let a = actor();
    let first = Service::new(
        open(&schema.url, Duration::from_secs(30)).await,
        ServiceConfig::default(),
    );
    let f = fixture_on(&first, &a).await;
    let p = first
        .create_position(
            &a,
            escrowgrid::service::NewPosition {
                institution_id: Some(f.institution.clone()),
                asset_id: f.asset.clone(),
                holder_reference: "DEADLOCK".into(),
                currency: "USD".into(),
                amount: "100".into(),
                external_reference: None,
            },
        )
        .await
        .unwrap();
    // A second writer.
    let second = Service::new(
        open(&schema.url, Duration::from_secs(30)).await,
        ServiceConfig::default(),
    );

    // The other writer holds the chain head; the second writer takes the position's row (its
    // batch writes the rows that need no head first), then waits for the head; the other
    // writer then asks for the position's row: a deadlock. The other's deadlock_timeout is
    // long, so the server breaks the cycle by aborting the second writer's transaction.
    let mut other = raw(&schema.url).await;
    let before = deadlocks(&mut other).await;
    exec(&mut other, "SET deadlock_timeout = '20s'").await;
    exec(&mut other, "BEGIN").await;
    exec(&mut other, "SELECT seq FROM ledger_head FOR UPDATE").await;
    let moving = {
        let (svc, a, id) = (second, a.clone(), p.id.clone());
        tokio::spawn(async move {
            let r = svc
                .transition_position(
                    &a,
                    &id,
                    TransitionRequest {
                        to: "FUNDED".into(),
                        ..Default::default()
                    },
                )
                .await;
            (svc, r)
        })
    };
    // Wait until the second writer waits for the head (its statement, as far as the server's
    // `track_activity_query_size` keeps of it: the link's call may be cut off the end).
    let mut watch = raw(&base).await;
    let t0 = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'escrowgrid' \
             AND wait_event_type = 'Lock' \
             AND (query LIKE '%escrowgrid_link%' OR query LIKE 'WITH moved AS (UPDATE positions%')",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the writer never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    exec(
        &mut other,
        &format!("UPDATE positions SET state = state WHERE id = '{}'", p.id),
    )
    .await;
    exec(&mut other, "COMMIT").await;
    let (second, r) = moving.await.unwrap();
    let out = r.expect("the deadlocked write is retried and lands");
    assert!(out.applied);
    assert_eq!(out.position.state.as_str(), "FUNDED");
    assert!(
        deadlocks(&mut other).await > before,
        "the server saw no deadlock"
    );
    let now = second.get_position(&a, &p.id).await.unwrap();
    assert_eq!((now.state.as_str(), now.version), ("FUNDED", p.version + 1));
    assert!(second.verify_ledger(&a).await.unwrap().ok);
    let _ = other.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_was_lost_is_looked_for_before_it_is_repeated() {
    let Some(base) = postgres_url() else {
        return skip_postgres("a_commit_whose_answer_was_lost_is_looked_for_before_it_is_repeated");
    };
    let schema = new_pg_schema(&base).await;
    let store = open(&schema.url, Duration::from_secs(30)).await;
    let svc = Service::new(store.clone(), ServiceConfig::default());
    let a = actor();
    // The first write takes the locked path (BEGIN … COMMIT), later ones one statement: lose
    // a commit on each path, once after it landed and once before.
    for (n, landed) in [(1, true), (2, false), (3, true), (4, false)] {
        let head = svc.ledger_head_seq(&a).await.unwrap();
        store.faults().lose_next_commit(landed);
        let inst = svc
            .create_institution(&a, institution(&format!("Lost {n}")))
            .await
            .unwrap_or_else(|e| panic!("write {n} (landed: {landed}): {e}"));
        assert_eq!(
            svc.ledger_head_seq(&a).await.unwrap(),
            head + 1,
            "write {n} stored exactly once"
        );
        assert_eq!(
            svc.get_institution(&a, &inst.id).await.unwrap().name,
            inst.name
        );
    }
    let count = svc
        .list_institutions(&a, Default::default())
        .await
        .unwrap()
        .len();
    assert_eq!(count, 4);
    assert!(svc.verify_ledger(&a).await.unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_operation_timings_and_the_database_figures() {
    let Some(base) = postgres_url() else {
        return skip_postgres("health_reports_operation_timings_and_the_database_figures");
    };
    let schema = new_pg_schema(&base).await;
    let svc = Service::new(
        open(&schema.url, Duration::from_secs(30)).await,
        ServiceConfig::default(),
    );
    let a = actor();
    for n in 0..3 {
        svc.create_institution(&a, institution(&format!("Bank {n}")))
            .await
            .unwrap();
    }
    let missing = svc
        .get_position(&a, "pos_00000000-0000-7000-8000-000000000000")
        .await;
    assert!(matches!(missing, Err(ServiceError::NotFound { .. })));

    let h = svc.health(&a).await;
    let op = |name: &str| {
        h.operations
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no figures for {name}: {:?}", h.operations))
    };
    let create = op("create_institution");
    assert_eq!(create.count, 3);
    assert_eq!(create.minute_count, 3);
    assert!(create.errors.is_empty());
    assert!(create.p50_ms.unwrap() > 0.0 && create.p99_ms >= create.p50_ms);
    assert_eq!(op("get_position").errors.get("NOT_FOUND"), Some(&1));
    assert_eq!(
        op("store.commit").count,
        3,
        "each write is one store commit"
    );
    let pool = h.pool.as_ref().unwrap();
    assert_eq!(pool.max, PgSettings::default().max_connections + 1);

    let db = h.db.as_ref().expect("PostgreSQL reports its own figures");
    assert!(db.size_bytes > 0);
    assert!(db.commits > 0);
    let names: Vec<&str> = db.tables.iter().map(|t| t.name.as_str()).collect();
    for t in ["institutions", "ledger_events", "audit_events", "positions"] {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    assert!(
        db.notes.is_empty(),
        "pg_trgm is available here: {:?}",
        db.notes
    );

    // The same figures in the Prometheus text format.
    let text = escrowgrid::service::health::prometheus(&h);
    assert!(
        text.contains("escrowgrid_up{backend=\"postgres\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("escrowgrid_operations_total{op=\"create_institution\"} 3\n"));
    assert!(
        text.contains(
            "escrowgrid_operation_errors_total{op=\"get_position\",code=\"NOT_FOUND\"} 1\n"
        )
    );
    assert!(
        text.contains("escrowgrid_operation_duration_seconds_count{op=\"create_institution\"} 3\n")
    );
    // Latency as a histogram (aggregatable across hosts): cumulative buckets up to +Inf = count.
    assert!(text.contains("# TYPE escrowgrid_operation_duration_seconds histogram\n"));
    assert!(!text.contains("quantile="), "no summaries: {text}");
    let buckets: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix(
                "escrowgrid_operation_duration_seconds_bucket{op=\"create_institution\",le=\"",
            )
        })
        .map(|rest| {
            let (le, n) = rest.split_once("\"} ").unwrap();
            (le.to_string(), n.parse().unwrap())
        })
        .collect();
    assert_eq!(
        buckets.len(),
        escrowgrid::metrics::EXPORT_LE.len() + 1,
        "{text}"
    );
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_string(), 3));
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert!(text.contains("escrowgrid_entities{kind=\"institutions\"} 3\n"));
    assert!(text.contains("escrowgrid_table_rows{table=\"institutions\",state=\"live\"}"));
    assert!(text.contains("# TYPE escrowgrid_deadlocks_total counter\n"));
    // Every sample line is `name{labels} value` with a number for the value.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_positions_filter_uses_the_trigram_index() {
    let Some(base) = postgres_url() else {
        return skip_postgres("the_positions_filter_uses_the_trigram_index");
    };
    let schema = new_pg_schema(&base).await;
    let _store = open(&schema.url, Duration::from_secs(30)).await;
    let mut c = raw(&schema.url).await;
    // An empty table scans cheapest: with scans priced out, the plan shows the index exists and
    // answers the filter's expression (sql.rs builds exactly this one).
    exec(&mut c, "SET enable_seqscan = off").await;
    let plan: Vec<(String,)> = sqlx::query_as(
        "EXPLAIN SELECT id FROM positions WHERE \
         (id || chr(31) || holder_reference || chr(31) || coalesce(external_reference, '')) \
         ILIKE '%acme-77%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let plan: String = plan.into_iter().map(|(l,)| l + "\n").collect();
    assert!(plan.contains("positions_text_trgm"), "{plan}");
}

#[test]
fn a_json_log_line_carries_the_operation_id_of_the_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let run = |args: &[&str]| {
        let out = crate::common::escrowgrid(&data)
            .env("ESCROWGRID_LOG_FORMAT", "json")
            // Operations are logged at debug level (info has no line per write).
            .env("ESCROWGRID_LOG", "debug")
            .arg("--database-url")
            .arg(&url)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&["institution", "create", "--name", "Acme", "--region", "US"]);
    let audit: serde_json::Value =
        serde_json::from_slice(&run(&["audit", "list", "--json"])).unwrap();
    let created = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "INSTITUTION_CREATED")
        .expect("the audit record of the write");
    let op_id = created["opId"]
        .as_str()
        .expect("the record names its operation");
    assert!(op_id.starts_with("op_"), "{op_id}");

    let mut found = Vec::new();
    for entry in std::fs::read_dir(data.join("logs")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            if v["span"]["op_id"] == op_id {
                found.push(v);
            }
        }
    }
    assert!(!found.is_empty(), "no log line carries {op_id}");
    assert!(
        found
            .iter()
            .all(|v| v["span"]["op"] == "create_institution")
    );
    assert!(
        found
            .iter()
            .any(|v| v["fields"]["message"] == "done" && v["level"] == "DEBUG")
    );
}

#[test]
fn writes_leave_no_line_in_the_log_at_info_level() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let run = |args: &[&str]| {
        let out = crate::common::escrowgrid(&data)
            .env("ESCROWGRID_LOG", "info")
            .arg("--database-url")
            .arg(&url)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
    };
    for n in 0..3 {
        run(&[
            "institution",
            "create",
            "--name",
            &format!("Bank {n}"),
            "--region",
            "US",
        ]);
    }
    let mut text = String::new();
    for entry in std::fs::read_dir(data.join("logs")).unwrap() {
        text += &std::fs::read_to_string(entry.unwrap().path()).unwrap();
    }
    assert!(
        !text.contains("create_institution"),
        "a write logged at info level: {text}"
    );
}
