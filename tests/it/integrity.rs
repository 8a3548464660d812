//! Integrity: what the databases themselves refuse, and what the checks find.

use crate::common::{Harness, postgres_url, skip_postgres};
use escrowgrid::store::{self, Backend};

async fn raw(h: &Harness, _backend: Backend, sql: &str) -> Result<u64, String> {
    crate::common::raw_sql(h, sql).await
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

/// The whole store as export lines.
async fn export_of(h: &Harness) -> Vec<String> {
    let mut lines = Vec::new();
    h.svc
        .export(&h.actor, |l| {
            lines.push(serde_json::to_string(l).unwrap());
            Ok(())
        })
        .await
        .unwrap();
    lines
}

/// The ledger as `ledger tail --json` prints it: one JSON object per event.
async fn ledger_text(h: &Harness) -> String {
    let events = h
        .store
        .read_ledger(&escrowgrid::store::LedgerQuery {
            after_seq: 0,
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect()
}

async fn import_into(h: &Harness, lines: &[String]) {
    let parsed = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let s = h.svc.import(&h.actor, parsed).await.unwrap();
    assert!(s.ledger_events > 0);
}

/// Memory → SQLite → PostgreSQL → SQLite: every step holds the same ledger byte for byte, the
/// same audit trail, and passes `check`; an import refuses a store that is not empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backups_move_between_backends_byte_for_byte() {
    let first = Harness::new(Backend::Memory).await.unwrap();
    escrowgrid::demo::seed::load_demo(&first.svc, &first.actor, 30, 7, false)
        .await
        .unwrap();
    // A refusal too: the audit trail holds failures without ledger events.
    let refused = first
        .svc
        .create_institution(
            &first.actor,
            escrowgrid::service::NewInstitution {
                name: String::new(),
                regions: vec!["MARS".into()],
                verticals: vec![],
            },
        )
        .await;
    assert!(refused.is_err());
    // API keys move with their hashes (never a token): a key keeps working, a revoked one not.
    let inst = first.svc.counts(&first.actor).await.unwrap();
    assert!(inst.institutions > 0);
    let some_inst = first
        .store
        .list_institutions(&Default::default())
        .await
        .unwrap()[0]
        .id
        .clone();
    let key = first
        .svc
        .create_api_key(
            &first.actor,
            Some(some_inst.clone()),
            "ops".into(),
            "admin".into(),
        )
        .await
        .unwrap();
    let gone = first
        .svc
        .create_api_key(
            &first.actor,
            Some(some_inst),
            "old".into(),
            "read_only".into(),
        )
        .await
        .unwrap();
    first
        .svc
        .revoke_api_key(&first.actor, &gone.api_key.id)
        .await
        .unwrap();
    let ledger = ledger_text(&first).await;
    let audit = first.store.counts(None).await.unwrap().audit_events;
    let mut chain = vec![Backend::Sqlite];
    if postgres_url().is_some() {
        chain.push(Backend::Postgres);
    } else {
        skip_postgres("backups_move_between_backends_byte_for_byte (the PostgreSQL leg)");
    }
    chain.push(Backend::Sqlite);
    let mut lines = export_of(&first).await;
    let mut keep = vec![first];
    for backend in chain {
        let h = Harness::new(backend).await.unwrap();
        import_into(&h, &lines).await;
        assert!(
            ledger_text(&h).await == ledger,
            "{backend}: the same ledger, byte for byte"
        );
        assert_eq!(
            h.store.counts(None).await.unwrap().audit_events,
            audit,
            "{backend}"
        );
        let r = h.svc.check(&h.actor).await.unwrap();
        assert!(r.ok, "{backend}: {:#?}", r.findings);
        let parsed = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let again = h.svc.import(&h.actor, parsed).await.unwrap_err();
        assert!(
            again.to_string().contains("needs an empty store"),
            "{again}"
        );
        lines = export_of(&h).await;
        // (After the export: a refused sign-in is itself audited.)
        assert!(
            h.svc.authenticate(Some(&key.token)).await.is_ok(),
            "{backend}"
        );
        assert!(
            h.svc.authenticate(Some(&gone.token)).await.is_err(),
            "{backend}"
        );
        keep.push(h);
    }
}

/// Writes are refused on a broken chain: a writer that reads the head checks that the last
/// event hashes to it, and names the seq when it does not.
async fn no_write_on_a_broken_chain(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return skip_postgres("no_write_on_a_broken_chain");
    };
    let f = h.fixture().await;
    h.position(&f, "HOLDER-1", "1000").await;
    let head = h.store.ledger_head().await.unwrap().unwrap().0;
    let unlock = match backend {
        Backend::Sqlite => "DROP TRIGGER ledger_events_append_only_update",
        _ => "DROP TRIGGER ledger_events_append_only ON ledger_events",
    };
    raw(&h, backend, unlock).await.unwrap();
    let edit = format!(
        "UPDATE ledger_events SET payload = replace(payload, 'HOLDER-1', 'HOLDER-X') WHERE seq = {head}"
    );
    assert_eq!(raw(&h, backend, &edit).await.unwrap(), 1);
    // A fresh process (its writer reads the head) refuses to write on it.
    let fresh = store::open(backend, &h.url, std::time::Duration::from_millis(20))
        .await
        .unwrap();
    let svc = escrowgrid::service::Service::new(fresh, Default::default());
    let r = svc
        .create_position(
            &h.actor,
            escrowgrid::service::NewPosition {
                institution_id: Some(f.institution.clone()),
                asset_id: f.asset.clone(),
                holder_reference: "HOLDER-2".into(),
                currency: "USD".into(),
                amount: "2000".into(),
                external_reference: None,
            },
        )
        .await;
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains(&format!("the ledger is broken at seq {head}")),
        "{e}"
    );
    assert_eq!(
        h.store.ledger_head().await.unwrap().unwrap().0,
        head,
        "nothing written"
    );
    // So does the writer that left that head itself, on SQLite (every batch reads the head). A
    // PostgreSQL writer's one-statement batches are guarded by the head row it left; an edit of
    // the head event's content is found by the next writer that reads the head, as above.
    if backend == Backend::Sqlite {
        let e = h
            .position_result(&f, "HOLDER-3", "3000")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("the ledger is broken at seq {head}")),
            "{e}"
        );
    }
}

#[tokio::test]
async fn no_write_on_a_broken_chain_on_sqlite() {
    no_write_on_a_broken_chain(Backend::Sqlite).await;
}

#[tokio::test]
async fn no_write_on_a_broken_chain_on_postgres() {
    if postgres_url().is_none() {
        return skip_postgres("no_write_on_a_broken_chain_on_postgres");
    }
    no_write_on_a_broken_chain(Backend::Postgres).await;
}

/// A position row edited behind its ledger (CANCELLED moved back to FUNDED in the database) is
/// never written on: the transition's own statement compares the row with its newest ledger
/// step, on the writer's every path (one statement, batch, and one write at a time).
async fn a_row_edited_behind_the_ledger_is_not_written_on(backend: Backend) {
    use escrowgrid::service::TransitionRequest;
    let Some(h) = Harness::new(backend).await else {
        return skip_postgres("a_row_edited_behind_the_ledger_is_not_written_on");
    };
    let to = |s: &str| TransitionRequest {
        to: s.into(),
        ..Default::default()
    };
    let f = h.fixture().await;
    let p = h.position(&f, "HOLDER-1", "1000").await;
    let other = h.position(&f, "HOLDER-2", "1000").await;
    for s in ["FUNDED", "CANCELLED"] {
        h.svc
            .transition_position(&h.actor, &p.id, to(s))
            .await
            .unwrap();
    }
    let edit = format!(
        "UPDATE positions SET state = 'FUNDED' WHERE id = '{}'",
        p.id
    );
    assert_eq!(crate::common::sql_exec(&h, &edit).await, 1);
    let head = h.store.ledger_head().await.unwrap().unwrap().0;
    // A fresh process, and this one (whose PostgreSQL writer sends one statement per batch).
    let fresh = store::open(backend, &h.url, std::time::Duration::from_millis(20))
        .await
        .unwrap();
    let fresh = escrowgrid::service::Service::new(fresh, Default::default());
    for svc in [&h.svc, &fresh] {
        let e = svc
            .transition_position(&h.actor, &p.id, to("RELEASED"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("disagrees with its ledger")
                && e.contains("the row says FUNDED (version 2)")
                && e.contains("leaves it CANCELLED (version 2)"),
            "{e}"
        );
    }
    // A version moved on too changes nothing.
    let edit = format!("UPDATE positions SET version = 7 WHERE id = '{}'", p.id);
    crate::common::sql_exec(&h, &edit).await;
    let e = fresh
        .transition_position(&h.actor, &p.id, to("RELEASED"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("disagrees with its ledger"), "{e}");
    assert_eq!(
        h.store.ledger_head().await.unwrap().unwrap().0,
        head,
        "nothing written"
    );
    let row = h.store.get_position(&p.id).await.unwrap().unwrap();
    assert_eq!((row.state.as_str(), row.version), ("FUNDED", 7));
    // Positions that agree with their ledger move as before, alone and in a batch with a
    // create and two steps of one position.
    h.svc
        .transition_position(&h.actor, &other.id, to("FUNDED"))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        h.svc
            .transition_position(&h.actor, &other.id, to("PARTIALLY_RELEASED")),
        h.position_result(&f, "HOLDER-3", "1000"),
    );
    a.unwrap();
    b.unwrap();
}

#[tokio::test]
async fn a_row_edited_behind_the_ledger_is_not_written_on_sqlite() {
    a_row_edited_behind_the_ledger_is_not_written_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_row_edited_behind_the_ledger_is_not_written_on_postgres() {
    a_row_edited_behind_the_ledger_is_not_written_on(Backend::Postgres).await;
}
