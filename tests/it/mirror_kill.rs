//! The mirror under fire: SQLite → PostgreSQL (a server of the test's own) while 16 callers
//! write to SQLite, the mirror process SIGKILLed five times at arbitrary moments and the
//! PostgreSQL server restarted once under it. At the end `compare` is clean and the target's
//! ledger is the source's byte for byte.

use crate::{common, own_pg};
use escrowgrid::service::{Actor, NewPosition, Service, ServiceConfig, TransitionRequest};
use escrowgrid::store::{self, Backend};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

fn spawn_mirror(data: &std::path::Path, from: &str, to: &str) -> Child {
    common::escrowgrid(data)
        .args(["--database-url", from, "mirror", "--to", to])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the mirror")
}

/// The target's ledger head, read by the binary (0 when it has none yet or is down).
fn target_head(data: &std::path::Path, to: &str) -> i64 {
    let out = common::escrowgrid(data)
        .args(["--database-url", to, "health", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["ledgerHead"]["seq"].as_i64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mirror_killed_five_times_and_a_postgres_restart_lose_nothing() {
    let Some(pg) =
        own_pg::start_or_skip("a_mirror_killed_five_times_and_a_postgres_restart_lose_nothing")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let from = format!("sqlite://{}", dir.path().join("source.db").display());
    let to = pg.url();
    let source = store::open(Backend::Sqlite, &from, Duration::from_millis(20))
        .await
        .unwrap();
    let svc = Arc::new(Service::new(source, ServiceConfig::default()));
    let actor = Actor::Local {
        user: "tester".into(),
    };
    let f = common::fixture_on(&svc, &actor).await;

    // 16 callers: creates, and every other one funded.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for c in 0..16 {
        let (svc, actor, stop, written) =
            (svc.clone(), actor.clone(), stop.clone(), written.clone());
        let (inst, asset) = (f.institution.clone(), f.asset.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let p = svc
                    .create_position(
                        &actor,
                        NewPosition {
                            institution_id: Some(inst.clone()),
                            asset_id: asset.clone(),
                            holder_reference: format!("W{c}-{n}"),
                            currency: "USD".into(),
                            amount: "150".into(),
                            external_reference: None,
                        },
                    )
                    .await
                    .unwrap();
                if n % 2 == 0 {
                    let req = TransitionRequest {
                        to: "FUNDED".into(),
                        ..Default::default()
                    };
                    svc.transition_position(&actor, &p.id, req).await.unwrap();
                }
                written.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    let mut heads = Vec::new();
    for round in 0..5 {
        let mut mirror = spawn_mirror(&data, &from, &to);
        tokio::time::sleep(Duration::from_millis(900 + 300 * round)).await;
        if round == 0 {
            // The first step (the debug binary starting, then up to 1,000 events) can outlast
            // the sleep on a loaded machine; killed before it commits, the mirror would not
            // have copied anything to lose. Waited for, within a bound: a mirror that never
            // copies still fails the assertion below.
            let until = std::time::Instant::now() + Duration::from_secs(20);
            while target_head(&data, &to) == 0 && std::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if round == 2 {
            // PostgreSQL goes away under the mirror and comes back.
            pg.stop().unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            pg.pg_ctl_start().unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        mirror.kill().unwrap();
        mirror.wait().unwrap();
        heads.push(target_head(&data, &to));
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    eprintln!(
        "written {} heads {heads:?}",
        written.load(Ordering::Relaxed)
    );
    assert!(written.load(Ordering::Relaxed) > 100, "the writers wrote");
    assert!(
        heads.windows(2).all(|w| w[0] <= w[1]) && heads[4] > heads[0] && heads[0] > 0,
        "the mirror made progress between kills: {heads:?}"
    );

    // The source's side knows its mirror; killed, the mirror is said to have stopped (after
    // the bound) — here its last step is still recent.
    let out = common::escrowgrid(&data)
        .args(["--database-url", &from, "health"])
        .output()
        .unwrap();
    let health = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(health.contains("mirrored to:    postgres://"), "{health}");
    // Drained, the two hold the same book; the ledger the same bytes.
    let out = common::escrowgrid(&data)
        .args(["--database-url", &from, "mirror", "--to", &to, "--once"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::escrowgrid(&data)
        .args(["compare", &from, &to])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let tail = |url: &str| {
        let out = common::escrowgrid(&data)
            .args([
                "--database-url",
                url,
                "ledger",
                "tail",
                "--after",
                "0",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    assert!(tail(&from) == tail(&to), "the same ledger, byte for byte");
}
