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
                amount: None,
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

/// The whole store as export lines (the trailer last).
async fn export_of(h: &Harness) -> Vec<String> {
    let mut out: Vec<u8> = Vec::new();
    h.svc.export_to(&h.actor, &mut out, "memory").await.unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Export lines as a file's text.
fn text_of(lines: &[String]) -> std::io::Cursor<Vec<u8>> {
    std::io::Cursor::new(
        lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect(),
    )
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
    let s = h
        .svc
        .import(&h.actor, text_of(lines), Default::default())
        .await
        .unwrap();
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
        let again = h
            .svc
            .import(&h.actor, text_of(&lines), Default::default())
            .await
            .unwrap_err();
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
    // So does the writer that left that head itself: on SQLite every batch reads the head, on
    // PostgreSQL the database recomputes the head event's hash before it links a batch onto it.
    let e = h
        .position_result(&f, "HOLDER-3", "3000")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("the ledger is broken at seq {head}")),
        "{backend}: {e}"
    );
    assert_eq!(
        h.store.ledger_head().await.unwrap().unwrap().0,
        head,
        "nothing written"
    );
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
        amount: (s == "PARTIALLY_RELEASED").then(|| "1".into()),
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

/// `check` compares every stored field with what the ledger recorded: each edit made behind the
/// ledger is a finding that names the entity and the field.
async fn check_finds_every_edit_behind_the_ledger(backend: Backend) {
    use crate::common::{sql_exec, unlock_history};
    use escrowgrid::service::{PolicyInput, TransitionRequest};
    let Some(h) = Harness::new(backend).await else {
        return skip_postgres("check_finds_every_edit_behind_the_ledger");
    };
    let f = h.fixture().await;
    let p = h.position(&f, "HOLDER-1", "1000").await;
    h.svc
        .transition_position(
            &h.actor,
            &p.id,
            TransitionRequest {
                to: "FUNDED".into(),
                reason: Some("Deposit received".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let policy = h
        .svc
        .set_policy(
            &h.actor,
            PolicyInput {
                institution_id: Some(f.institution.clone()),
                region: "US".into(),
                max_amount: Some("500000".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let key = h
        .svc
        .create_api_key(
            &h.actor,
            Some(f.institution.clone()),
            "ops".into(),
            "admin".into(),
        )
        .await
        .unwrap();
    let clean = h.svc.check(&h.actor).await.unwrap();
    assert!(clean.ok, "{:#?}", clean.findings);

    unlock_history(&h).await;
    let forged =
        escrowgrid::domain::apikey::hash_token(&escrowgrid::domain::apikey::generate_token());
    let ts = match backend {
        Backend::Sqlite => "'2020-01-01T00:00:00.000Z'",
        _ => "'2020-01-01T00:00:00Z'",
    };
    for sql in [
        format!(
            "UPDATE api_keys SET key_hash = '{forged}' WHERE id = '{}'",
            key.api_key.id
        ),
        format!(
            "UPDATE policies SET region = 'EU_UK' WHERE id = '{}'",
            policy.id
        ),
        format!(
            "UPDATE position_events SET reason = 'Forged', at = {ts} WHERE position_id = '{}'",
            p.id
        ),
        format!(
            "UPDATE audit_events SET actor = 'local:mallory' WHERE action = 'POSITION_CREATED' \
             AND resource_id = '{}'",
            p.id
        ),
        "UPDATE counters SET n = n + 5 WHERE scope = '' AND name = 'assets'".into(),
    ] {
        assert_eq!(sql_exec(&h, &sql).await, 1, "{sql}");
    }
    let r = h.svc.check(&h.actor).await.unwrap();
    assert!(!r.ok);
    let has = |entity: Option<&str>, text: &str| {
        r.findings
            .iter()
            .any(|x| x.entity.as_deref() == entity && x.what.contains(text))
    };
    assert!(
        has(Some(&key.api_key.id), "in: keyHash"),
        "{:#?}",
        r.findings
    );
    assert!(has(Some(&policy.id), "in: region"), "{:#?}", r.findings);
    assert!(has(Some(&p.id), "in: reason, at"), "{:#?}", r.findings);
    assert!(
        r.findings.iter().any(|x| x.entity.as_deref() == Some(&p.id)
            && x.what.starts_with("audit record")
            && x.what.ends_with("in: actor")),
        "{:#?}",
        r.findings
    );
    assert!(
        has(None, "kept counts differ from the rows counted, in: assets"),
        "{:#?}",
        r.findings
    );
    // The edited audit record no longer hashes as it was chained.
    assert!(
        r.findings
            .iter()
            .any(|x| x.what.starts_with("audit chain:") && x.what.contains("edited")),
        "{:#?}",
        r.findings
    );
    assert_eq!(r.findings.len(), 6, "nothing else: {:#?}", r.findings);
}

/// A key created before the ledger recorded key hashes (its API_KEY_CREATED payload has none)
/// is reported once as a note, not as tampering: `check` stays clean.
#[tokio::test]
async fn keys_from_before_recorded_hashes_are_a_note_not_a_finding() {
    use escrowgrid::domain::audit::AuditEvent;
    use escrowgrid::domain::ledger::LedgerDraft;
    use escrowgrid::domain::{EntityType, LedgerKind, Outcome, Role, apikey, ids, time};
    use escrowgrid::store::{Change, Write};
    for backend in [Backend::Memory, Backend::Sqlite] {
        let h = Harness::new(backend).await.unwrap();
        let f = h.fixture().await;
        let now = time::now();
        let key = apikey::ApiKey {
            id: ids::new_id(ids::API_KEY),
            institution_id: f.institution.clone(),
            key_hash: apikey::hash_token(&apikey::generate_token()),
            label: "old".into(),
            role: Role::Admin,
            created_at: now,
            revoked_at: None,
        };
        // The payload as escrowgrid wrote it before it recorded the hash.
        let payload = serde_json::json!({"institutionId": f.institution, "label": "old",
            "role": "admin", "actor": "local:tester"});
        let w = Write {
            change: Change::CreateApiKey(key.clone()),
            ledger: Some(LedgerDraft {
                id: None,
                kind: LedgerKind::ApiKeyCreated,
                entity_type: EntityType::ApiKey,
                entity_id: key.id.clone(),
                institution_id: f.institution.clone(),
                position_id: None,
                at: now,
                payload: payload.clone().into(),
            }),
            audit: Some(AuditEvent {
                id: ids::new_id(ids::AUDIT),
                occurred_at: now,
                actor: "local:tester".into(),
                api_key_id: None,
                institution_id: None,
                action: "API_KEY_CREATED".into(),
                outcome: Outcome::Success,
                resource_type: Some("api_key".into()),
                resource_id: Some(key.id.clone()),
                subject_institution_id: Some(f.institution.clone()),
                payload: Some(payload.into()),
                error: None,
                op_id: None,
                client: None,
                seq: None,
                prev_hash: None,
                hash: None,
            }),
        };
        h.store.commit(w).await.unwrap();
        let r = h.svc.check(&h.actor).await.unwrap();
        assert!(r.ok, "{backend}: {:#?}", r.findings);
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
        assert!(
            r.notes[0].contains("not recorded in the ledger") && r.notes[0].contains(&key.id),
            "{:?}",
            r.notes
        );
    }
}

/// An upgrade fills in who made each lifecycle step from the ledger: a store whose steps were
/// written before the column existed (rolled back here to that schema) gets every actor back,
/// and `check` is clean.
async fn the_upgrade_records_who_made_each_step(backend: Backend) {
    use crate::common::{sql_exec, unlock_history};
    use escrowgrid::service::TransitionRequest;
    let Some(h) = Harness::new(backend).await else {
        return skip_postgres("the_upgrade_records_who_made_each_step");
    };
    let f = h.fixture().await;
    let p = h.position(&f, "HOLDER-1", "1000").await;
    for s in ["FUNDED", "RELEASED"] {
        let to = TransitionRequest {
            to: s.into(),
            ..Default::default()
        };
        h.svc
            .transition_position(&h.actor, &p.id, to)
            .await
            .unwrap();
    }
    // The schema as it was before the lifecycle actor column.
    unlock_history(&h).await;
    let version = match backend {
        Backend::Sqlite => 7,
        _ => 8,
    };
    sql_exec(&h, "ALTER TABLE position_events DROP COLUMN actor").await;
    sql_exec(
        &h,
        &format!("DELETE FROM _sqlx_migrations WHERE version = {version}"),
    )
    .await;
    if backend == Backend::Sqlite {
        // The migration drops and recreates this trigger.
        sql_exec(
            &h,
            "CREATE TRIGGER position_events_append_only_update BEFORE UPDATE ON position_events \
             BEGIN SELECT RAISE(ABORT, 'position_events is append-only: UPDATE refused'); END",
        )
        .await;
    } else {
        sql_exec(&h, "ALTER TABLE position_events ENABLE TRIGGER USER").await;
    }
    let reopened = store::open(backend, &h.url, std::time::Duration::from_millis(20))
        .await
        .unwrap();
    // PostgreSQL applies a database in use's migrations only when told to (`migrate apply`);
    // SQLite has applied it on open.
    reopened.diagnostics().apply_migrations().await.unwrap();
    let steps = reopened.position_events(&p.id).await.unwrap();
    assert_eq!(steps.len(), 2);
    assert!(
        steps
            .iter()
            .all(|s| s.actor.as_deref() == Some("local:tester")),
        "{steps:?}"
    );
    let svc = escrowgrid::service::Service::new(reopened, Default::default());
    let r = svc.check(&h.actor).await.unwrap();
    assert!(r.ok, "{:#?}", r.findings);
}

/// Refusals are in no ledger event, so the audit trail is chained too: a deleted or edited
/// failure record breaks the audit chain at its seq, in `check` and in `verify`.
async fn the_audit_chain_finds_deleted_and_edited_refusals(backend: Backend) {
    use crate::common::{sql_exec, unlock_history};
    use escrowgrid::service::{AuditQuery, TransitionRequest};
    let Some(h) = Harness::new(backend).await else {
        return skip_postgres("the_audit_chain_finds_deleted_and_edited_refusals");
    };
    let f = h.fixture().await;
    let p = h.position(&f, "HOLDER-1", "1000").await;
    // Three refusals: transitions the state machine does not allow.
    for _ in 0..3 {
        let to = TransitionRequest {
            to: "RELEASED".into(),
            ..Default::default()
        };
        assert!(
            h.svc
                .transition_position(&h.actor, &p.id, to)
                .await
                .is_err()
        );
    }
    h.position(&f, "HOLDER-2", "1000").await;
    let clean = h.svc.check(&h.actor).await.unwrap();
    assert!(clean.ok, "{:#?}", clean.findings);
    let v = h.svc.verify_ledger(&h.actor).await.unwrap();
    let chain = v.audit.clone().unwrap();
    assert!(
        v.ok && chain.ok && chain.checked as i64 == chain.head_seq,
        "{v:?}"
    );
    let failures = h
        .svc
        .audit(
            &h.actor,
            AuditQuery {
                outcome: Some(escrowgrid::domain::Outcome::Failure),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(failures.len(), 3);
    let (gone, edited) = (&failures[1], &failures[0]);
    unlock_history(&h).await;
    sql_exec(
        &h,
        &format!("DELETE FROM audit_events WHERE id = '{}'", gone.id),
    )
    .await;
    sql_exec(
        &h,
        &format!(
            "UPDATE audit_events SET error = NULL WHERE id = '{}'",
            edited.id
        ),
    )
    .await;
    let r = h.svc.check(&h.actor).await.unwrap();
    assert!(!r.ok);
    let chain_findings: Vec<_> = r
        .findings
        .iter()
        .filter(|x| x.what.starts_with("audit chain:"))
        .collect();
    assert_eq!(chain_findings.len(), 1, "{:#?}", r.findings);
    assert_eq!(chain_findings[0].seq, gone.seq, "{:#?}", r.findings);
    assert!(
        chain_findings[0].what.contains("is missing"),
        "{:#?}",
        r.findings
    );
    // Verify says so too: the first break is the deletion.
    let v = h.svc.verify_ledger(&h.actor).await.unwrap();
    assert!(
        !v.ok && v.broken.is_none(),
        "the ledger itself is intact: {v:?}"
    );
    assert_eq!(v.audit.unwrap().broken.unwrap().seq, gone.seq.unwrap());
}

/// Audit records written before the audit chain (by an earlier version: no place in it) are
/// reported by `check` until the store is next opened, which chains them, oldest first, after
/// the head; `check` is then clean and new records follow them.
async fn records_from_before_the_audit_chain_are_chained_on_open(backend: Backend) {
    use crate::common::sql_exec;
    let Some(h) = Harness::new(backend).await else {
        return skip_postgres("records_from_before_the_audit_chain_are_chained_on_open");
    };
    let f = h.fixture().await;
    h.position(&f, "HOLDER-1", "1000").await;
    let head = h.store.heads().await.unwrap().audit;
    // Two records as an older escrowgrid writes them (no seq, prevHash or hash).
    let now = escrowgrid::domain::time::format(&escrowgrid::domain::time::now());
    let at = match backend {
        Backend::Sqlite => format!("'{now}'"),
        _ => format!("'{now}'::timestamptz"),
    };
    for n in 1..=2 {
        let id = escrowgrid::domain::ids::new_id(escrowgrid::domain::ids::AUDIT);
        sql_exec(
            &h,
            &format!(
                "INSERT INTO audit_events (id, occurred_at, actor, action, outcome, error) \
                 VALUES ('{id}', {at}, 'local:old', 'AUTH_FAILED', 'failure', \
                 '{{\"code\":\"UNAUTHENTICATED\",\"message\":\"old {n}\"}}')"
            ),
        )
        .await;
    }
    sql_exec(
        &h,
        "UPDATE counters SET n = n + 2 WHERE scope = '' AND name = 'audit'",
    )
    .await;
    let r = h.svc.check(&h.actor).await.unwrap();
    assert!(
        r.findings.iter().any(|x| x
            .what
            .starts_with("2 audit record(s) are outside the audit chain")),
        "{:#?}",
        r.findings
    );
    let reopened = store::open(backend, &h.url, std::time::Duration::from_millis(20))
        .await
        .unwrap();
    let (seq, _) = reopened.heads().await.unwrap().audit;
    assert_eq!(seq, head.0 + 2, "chained after the head");
    let svc = escrowgrid::service::Service::new(reopened, Default::default());
    h_position(&svc, &h, &f).await;
    let r = svc.check(&h.actor).await.unwrap();
    assert!(r.ok, "{:#?}", r.findings);
    assert!(svc.verify_ledger(&h.actor).await.unwrap().ok);
}

async fn h_position(svc: &escrowgrid::service::Service, h: &Harness, f: &crate::common::Fixture) {
    svc.create_position(
        &h.actor,
        escrowgrid::service::NewPosition {
            institution_id: Some(f.institution.clone()),
            asset_id: f.asset.clone(),
            holder_reference: "HOLDER-9".into(),
            currency: "USD".into(),
            amount: "100".into(),
            external_reference: None,
        },
    )
    .await
    .unwrap();
}

for_sql_backends!(
    history_is_append_only,
    no_write_on_a_broken_chain,
    a_row_edited_behind_the_ledger_is_not_written_on,
    check_finds_every_edit_behind_the_ledger,
    the_upgrade_records_who_made_each_step,
    the_audit_chain_finds_deleted_and_edited_refusals,
    records_from_before_the_audit_chain_are_chained_on_open,
);
