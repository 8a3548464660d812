//! `mirror`: a store's ledger and audit trail applied to another store as they grow — every
//! pair of backends, steps cut short by a small limit, a writer busy meanwhile, a mirror
//! started again from nothing after each step, and a target with another history refused at
//! the first seq where the two part.

use crate::common::{self, Fixture, Harness};
use escrowgrid::service::{PolicyInput, Service, TransitionRequest};
use escrowgrid::store::{AuditQuery, Backend, LedgerQuery, SharedStore};
use std::sync::Arc;

/// Both stores, or None (with the skip said) when one of them is PostgreSQL and it is not here.
async fn pair(from: Backend, to: Backend, name: &str) -> Option<(Harness, Harness)> {
    let (Some(a), Some(b)) = (Harness::new(from).await, Harness::new(to).await) else {
        common::skip_postgres(name);
        return None;
    };
    Some((a, b))
}

/// Some of everything a book holds: positions moved through their lifecycle (a partial
/// release among them), a policy set twice, an API key created and revoked (twice: the second
/// changes nothing), and a refused create (an audit record with no ledger event).
async fn business(h: &Harness, f: &Fixture, tag: &str) {
    for i in 0..4 {
        let p = h.position(f, &format!("{tag}-{i}"), "1000").await;
        for (to, amount) in [("FUNDED", None), ("PARTIALLY_RELEASED", Some("250.50"))] {
            if i % 2 == 1 && to == "PARTIALLY_RELEASED" {
                continue;
            }
            let req = TransitionRequest {
                to: to.into(),
                amount: amount.map(Into::into),
                ..Default::default()
            };
            h.svc
                .transition_position(&h.actor, &p.id, req)
                .await
                .unwrap();
        }
    }
    for max in ["5000", "9000"] {
        let policy = PolicyInput {
            institution_id: Some(f.institution.clone()),
            region: "US".into(),
            min_amount: None,
            max_amount: Some(max.into()),
            allowed_currencies: None,
            max_release_amount: None,
        };
        h.svc.set_policy(&h.actor, policy).await.unwrap();
    }
    let key = h
        .svc
        .create_api_key(
            &h.actor,
            Some(f.institution.clone()),
            format!("{tag} ops"),
            "admin".into(),
        )
        .await
        .unwrap();
    h.svc
        .revoke_api_key(&h.actor, &key.api_key.id)
        .await
        .unwrap();
    h.svc
        .revoke_api_key(&h.actor, &key.api_key.id)
        .await
        .unwrap();
    assert!(
        h.position_result(f, &format!("{tag}-big"), "20000")
            .await
            .is_err()
    );
}

/// Steps until the target has caught up; `fresh`: a new mirror for every step, as after a kill.
async fn catch_up(from: &Service, to: &Service, h: &Harness, limit: u32, fresh: bool) -> u32 {
    let mut m = from.mirror(&h.actor, "source", "target").unwrap();
    let mut steps = 0;
    loop {
        if fresh {
            m = from.mirror(&h.actor, "source", "target").unwrap();
        }
        let s = m.step(from, to, limit).await.unwrap();
        steps += 1;
        assert!(steps < 10_000, "the mirror makes no progress: {s:?}");
        if s.behind_events == 0 && s.events == 0 && s.audit_records == 0 {
            return steps;
        }
    }
}

/// The target's ledger is the source's byte for byte, its audit trail record for record, and `compare` finds
/// the same book.
async fn assert_same_book(a: &Harness, b: &Harness) {
    async fn ledger(s: &SharedStore) -> String {
        let q = LedgerQuery {
            limit: 100_000,
            ..Default::default()
        };
        serde_json::to_string(&s.read_ledger(&q).await.unwrap()).unwrap()
    }
    async fn audit(s: &SharedStore) -> String {
        let q = AuditQuery {
            after_seq: Some(0),
            limit: 100_000,
            ..Default::default()
        };
        // PostgreSQL keeps an audit payload as jsonb, which orders its keys its own way: the
        // records are compared in canonical form (their hashes are over that form).
        let v = serde_json::to_value(s.list_audit(&q).await.unwrap()).unwrap();
        escrowgrid::domain::ledger::canonical_value(&v)
    }
    assert_eq!(ledger(&a.store).await, ledger(&b.store).await);
    assert_eq!(audit(&a.store).await, audit(&b.store).await);
    let c = a
        .svc
        .compare(&b.svc, &a.actor, ("a".into(), "b".into()))
        .await
        .unwrap();
    assert!(c.same, "{:?}", c.first_difference);
    assert!(c.a.check_ok && c.b.check_ok);
}

async fn mirror_between(from: Backend, to: Backend, name: &str) {
    let Some((a, b)) = pair(from, to, name).await else {
        return;
    };
    let f = a.fixture().await;
    business(&a, &f, "FIRST").await;
    // Small steps: a step's events and records are cut off part way.
    let steps = catch_up(&a.svc, &b.svc, &a, 7, false).await;
    assert!(steps >= 3, "the small steps took {steps}");
    assert_same_book(&a, &b).await;
    // A writer busy while the mirror runs, then the mirror catches up.
    let writer = {
        let svc = Arc::new(a.service_with(Default::default()));
        let (actor, f) = (a.actor.clone(), f.clone());
        tokio::spawn(async move {
            for i in 0..40 {
                let p = svc
                    .create_position(
                        &actor,
                        escrowgrid::service::NewPosition {
                            institution_id: Some(f.institution.clone()),
                            asset_id: f.asset.clone(),
                            holder_reference: format!("BUSY-{i}"),
                            currency: "USD".into(),
                            amount: "300".into(),
                            external_reference: None,
                        },
                    )
                    .await
                    .unwrap();
                let req = TransitionRequest {
                    to: "FUNDED".into(),
                    ..Default::default()
                };
                svc.transition_position(&actor, &p.id, req).await.unwrap();
            }
        })
    };
    let mut m = a.svc.mirror(&a.actor, "a", "b").unwrap();
    while !writer.is_finished() {
        m.step(&a.svc, &b.svc, 5).await.unwrap();
    }
    writer.await.unwrap();
    catch_up(&a.svc, &b.svc, &a, 1000, false).await;
    assert_same_book(&a, &b).await;
    // Started again from nothing before every step (as after a kill): no gap, no duplicate.
    business(&a, &f, "AGAIN").await;
    catch_up(&a.svc, &b.svc, &a, 3, true).await;
    assert_same_book(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_to_sqlite() {
    mirror_between(Backend::Memory, Backend::Sqlite, "memory_to_sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_to_postgres() {
    mirror_between(Backend::Sqlite, Backend::Postgres, "sqlite_to_postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_to_sqlite() {
    mirror_between(Backend::Postgres, Backend::Sqlite, "postgres_to_sqlite").await;
}

/// A target that shares the source's first events and then went its own way is refused,
/// naming the first seq that differs; so is a target ahead of its source; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_with_another_history_is_refused_at_the_first_differing_seq() {
    let (Some(a), Some(b)) = (
        Harness::new(Backend::Sqlite).await,
        Harness::new(Backend::Memory).await,
    ) else {
        unreachable!("SQLite and memory are always here")
    };
    let f = a.fixture().await;
    business(&a, &f, "SHARED").await;
    catch_up(&a.svc, &b.svc, &a, 1000, false).await;
    let shared = a.store.ledger_head().await.unwrap().unwrap().0;
    // A mirror's target takes no other writer, until it is promoted.
    let refused = b.position_result(&f, "ONLY-IN-B", "100").await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("this store is a mirror of source: it takes writes from its mirror only"),
        "{refused}"
    );
    let mark = b.svc.mirror_of(&b.actor).await.unwrap().expect("marked");
    assert_eq!(
        (
            mark.source.as_str(),
            mark.last.head_seq,
            mark.last.behind_events
        ),
        ("source", shared, 0)
    );
    let health = b.svc.health(&b.actor).await;
    assert_eq!(health.mirror.as_ref(), Some(&mark), "health shows the mark");
    // And on the source's side: the store it is mirrored to, as of the mirror's last step.
    let source = a.svc.health(&a.actor).await;
    assert_eq!(source.mirrored_to.len(), 1, "{:?}", source.mirrored_to);
    assert_eq!(source.mirrored_to[0].target, "target");
    assert_eq!(source.mirrored_to[0].last.head_seq, shared);
    let metrics = escrowgrid::service::health::prometheus(&source);
    assert!(
        metrics.contains("escrowgrid_mirror_behind_events{target=\"target\"} 0\n"),
        "{metrics}"
    );
    let metrics = escrowgrid::service::health::prometheus(&health);
    assert!(
        metrics.contains("escrowgrid_mirror_behind_events 0\n"),
        "{metrics}"
    );
    assert!(b.svc.mirror_promote(&b.actor).await.unwrap().is_some());
    assert!(b.svc.mirror_of(&b.actor).await.unwrap().is_none());
    // The target ahead of its source: refused at the first seq the source lacks.
    b.position(&f, "ONLY-IN-B", "100").await;
    let e = a
        .svc
        .mirror(&a.actor, "a", "b")
        .unwrap()
        .step(&a.svc, &b.svc, 100)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("not the source's from seq {} on", shared + 1)),
        "{e}"
    );
    // Both went their own ways.
    a.position(&f, "ONLY-IN-A", "100").await;
    a.position(&f, "ONLY-IN-A-2", "100").await;
    let before = b.store.heads().await.unwrap();
    let e = a
        .svc
        .mirror(&a.actor, "a", "b")
        .unwrap()
        .step(&a.svc, &b.svc, 100)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("not the source's from seq {} on", shared + 1)),
        "{e}"
    );
    assert_eq!(
        b.store.heads().await.unwrap(),
        before,
        "nothing was written"
    );
}

/// Through the binary: `mirror --to URL --once` copies a seeded store into a new SQLite file and
/// goes on from where it ended after more writes; `compare` finds the same book each time; a
/// target with another history is refused with exit 2 and the seq named.
#[test]
fn mirror_once_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let run = |args: &[&str]| {
        common::escrowgrid(&dir.path().join("data"))
            .args(args)
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let (a, b) = (url("a.db"), url("b.db"));
    let out = run(&["--database-url", &a, "seed", "--demo", "--positions", "12"]);
    assert!(out.status.success(), "{}", text(&out));
    for round in 0..2 {
        let out = run(&["--database-url", &a, "mirror", "--to", &b, "--once"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let last = text(&out).lines().last().unwrap_or_default().to_string();
        assert!(last.contains("behind 0 events"), "{last}");
        // A mirror that ended is forgotten on the source's side.
        let health = text(&run(&["--database-url", &a, "health"]));
        assert!(!health.contains("mirrored to:"), "{health}");
        let out = run(&["compare", &a, &b]);
        assert_eq!(out.status.code(), Some(0), "round {round}: {}", text(&out));
        let more = [
            "--database-url",
            &a,
            "seed",
            "--demo",
            "--positions",
            "3",
            "--force",
        ];
        let out = run(&more);
        assert!(out.status.success(), "{}", text(&out));
    }
    // The target refuses other writers, says so in `health`, and takes writes once promoted.
    let write = [
        "--database-url",
        &b,
        "seed",
        "--demo",
        "--positions",
        "1",
        "--force",
    ];
    let out = run(&write);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("this store is a mirror of"),
        "{}",
        text(&out)
    );
    let out = run(&["--database-url", &b, "health"]);
    assert!(
        text(&out).contains("mirror of:") && text(&out).contains("behind 0 events"),
        "{}",
        text(&out)
    );
    let out = run(&["--database-url", &b, "mirror", "promote"]);
    assert!(
        text(&out).contains("it takes writes again"),
        "{}",
        text(&out)
    );
    assert!(!text(&run(&["--database-url", &b, "health"])).contains("mirror of:"));
    assert!(run(&write).status.success());
    let other = url("other.db");
    let out = run(&[
        "--database-url",
        &other,
        "seed",
        "--demo",
        "--positions",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["--database-url", &a, "mirror", "--to", &other, "--once"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not the source's from seq 1 on"),
        "{}",
        text(&out)
    );
}

/// The switch-over, end to end through the binary: writers on A (SQLite), a mirror A → B
/// (PostgreSQL when it is here, else another SQLite file) catching up under them; the writers
/// paused (`--read-only` refuses them), the mirror stopped and drained, `compare` clean;
/// `mirror promote` on B, the writers on B, and a mirror B → A kept for the way back — after
/// which A holds B's book too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_switch_over_and_the_way_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let a = format!("sqlite://{}", dir.path().join("a.db").display());
    let pg = match common::postgres_url() {
        Some(base) => Some(common::new_pg_schema(&base).await),
        None => {
            common::skip_postgres("the_switch_over_and_the_way_back (PostgreSQL side)");
            None
        }
    };
    let b = pg.as_ref().map_or_else(
        || format!("sqlite://{}", dir.path().join("b.db").display()),
        |s| s.url.clone(),
    );
    let eg = |args: &[&str]| common::escrowgrid(&data).args(args).output().unwrap();
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(
        eg(&["--database-url", &a, "seed", "--demo", "--positions", "20"])
            .status
            .success()
    );
    if pg.is_some() {
        assert!(
            eg(&["--database-url", &b, "migrate", "apply"])
                .status
                .success()
        );
    }
    // 1. Writers on A; the mirror A -> B follows them.
    let mut mirror = common::escrowgrid(&data)
        .args(["--database-url", &a, "mirror", "--to", &b])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let more = |url: &str| {
        let o = eg(&[
            "--database-url",
            url,
            "seed",
            "--demo",
            "--positions",
            "5",
            "--force",
        ]);
        assert!(o.status.success(), "{}", text(&o));
    };
    for _ in 0..4 {
        more(&a);
    }
    // 2. The writers paused: a writer restarted with --read-only is refused.
    let o = eg(&[
        "--read-only",
        "--database-url",
        &a,
        "seed",
        "--demo",
        "--positions",
        "1",
        "--force",
    ]);
    assert!(text(&o).contains("(read-only session)"), "{}", text(&o));
    // 3. The mirror stopped and drained; the same book on both sides.
    mirror.kill().unwrap();
    mirror.wait().unwrap();
    let o = eg(&["--database-url", &a, "mirror", "--to", &b, "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = eg(&["compare", &a, &b]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // 4. B promoted; the writers move to B; a mirror B -> A for the way back.
    let o = eg(&["--database-url", &b, "mirror", "promote"]);
    assert!(text(&o).contains("it takes writes again"), "{}", text(&o));
    more(&b);
    let o = eg(&["--database-url", &b, "mirror", "--to", &a, "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = eg(&["compare", &b, &a]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A, now the mirror of B, refuses its old writers until it is promoted (a rollback).
    let o = eg(&[
        "--database-url",
        &a,
        "seed",
        "--demo",
        "--positions",
        "1",
        "--force",
    ]);
    assert!(
        text(&o).contains("this store is a mirror of"),
        "{}",
        text(&o)
    );
}

/// `--demo --demo-keep URL`: the demo's in-memory store kept in a SQLite file as it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_demo_session_is_kept_as_it_runs() {
    let Some((a, b)) = pair(Backend::Memory, Backend::Sqlite, "demo keep").await else {
        return;
    };
    let f = a.fixture().await;
    business(&a, &f, "DEMO").await;
    let source = Arc::new(a.service_with(Default::default()));
    let target = b.service_with(Default::default());
    let keeper = escrowgrid::demo::keep::spawn(source, a.actor.clone(), target, "kept.db")
        .await
        .unwrap();
    // Caught up before the console starts; then it follows what the session does.
    assert_eq!(
        b.store.heads().await.unwrap().ledger,
        a.store.heads().await.unwrap().ledger
    );
    business(&a, &f, "LATER").await;
    let start = std::time::Instant::now();
    while b.store.heads().await.unwrap() != a.store.heads().await.unwrap() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "never caught up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The console's Health tab shows where the session is kept.
    let health = a.svc.health(&a.actor).await;
    assert_eq!(health.mirrored_to[0].target, "kept.db");
    drop(keeper);
    assert_same_book(&a, &b).await;
}
