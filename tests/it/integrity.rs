//! Integrity: what the databases themselves refuse, and what the checks find.

use crate::common::{Harness, postgres_url, skip_postgres};
use escrowgrid::store::{self, Backend};

/// Runs one statement on the harness's database over a connection of its own (as another
/// client of the database would), returning the database's error text.
async fn raw(h: &Harness, backend: Backend, sql: &str) -> Result<u64, String> {
    use sqlx::{ConnectOptions, Executor};
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match backend {
        Backend::Sqlite => {
            let path = h.url.trim_start_matches("sqlite://");
            let mut c = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            c.execute(sql)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        }
        Backend::Postgres => {
            let opts = store::postgres::connect_options(&h.url).map_err(|e| e.to_string())?;
            let mut c = opts.connect().await.map_err(|e| e.to_string())?;
            c.execute(sql)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        }
        Backend::Memory => unreachable!("no SQL"),
    }
}

async fn history_is_append_only(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return skip_postgres("history_is_append_only");
    };
    let f = h.fixture().await;
    let p = h.position(&f, "HOLDER-1", "1000").await;
    h.svc
        .transition_position(
            &h.actor,
            &p.id,
            escrowgrid::service::TransitionRequest {
                to: "FUNDED".into(),
                reason: Some("funded".into()),
                expect_state: None,
                expect_version: None,
                metadata: None,
            },
        )
        .await
        .unwrap();
    for table in ["ledger_events", "audit_events", "position_events"] {
        let column = if table == "ledger_events" {
            "kind"
        } else {
            "id"
        };
        for sql in [
            format!("UPDATE {table} SET {column} = {column}"),
            format!("DELETE FROM {table}"),
        ] {
            let err = raw(&h, backend, &sql).await.unwrap_err();
            assert!(
                err.contains(&format!("{table} is append-only")),
                "{backend}: {sql}: {err}"
            );
        }
    }
    if backend == Backend::Postgres {
        let err = raw(&h, backend, "TRUNCATE ledger_events CASCADE")
            .await
            .unwrap_err();
        assert!(
            err.contains("ledger_events is append-only: TRUNCATE"),
            "{err}"
        );
    }
    // Nothing changed, and the store writes on.
    let v = h.svc.verify_ledger(&h.actor).await.unwrap();
    assert!(v.ok, "{v:?}");
    h.position(&f, "HOLDER-2", "2000").await;
    assert!(h.svc.verify_ledger(&h.actor).await.unwrap().ok);
}

#[tokio::test]
async fn history_is_append_only_on_sqlite() {
    history_is_append_only(Backend::Sqlite).await;
}

#[tokio::test]
async fn history_is_append_only_on_postgres() {
    if postgres_url().is_none() {
        return skip_postgres("history_is_append_only_on_postgres");
    }
    history_is_append_only(Backend::Postgres).await;
}

/// A WAL left large (a bulk load in a process that was killed before it could checkpoint) is
/// truncated when the store is next opened.
#[tokio::test]
async fn a_large_wal_left_behind_is_truncated_on_open() {
    use sqlx::{ConnectOptions, Executor};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.db");
    let url = format!("sqlite://{}", path.display());
    drop(
        store::open(Backend::Sqlite, &url, std::time::Duration::from_millis(50))
            .await
            .unwrap(),
    );
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .connect()
        .await
        .unwrap();
    c.execute("PRAGMA wal_autocheckpoint = 0").await.unwrap();
    c.execute(
        "CREATE TABLE junk AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
         SELECT i, randomblob(400) AS b FROM n",
    )
    .await
    .unwrap();
    // As if the process died: the connection is never closed, so it never checkpoints.
    std::mem::forget(c);
    let wal = dir.path().join("big.db-wal");
    let before = std::fs::metadata(&wal).unwrap().len();
    assert!(before > 4_000_000, "a large WAL to begin with: {before}");
    let s = store::open(Backend::Sqlite, &url, std::time::Duration::from_millis(50))
        .await
        .unwrap();
    let after = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(after < 1_000_000, "truncated on open: {before} -> {after}");
    assert!(s.ledger_head().await.is_ok());
}
