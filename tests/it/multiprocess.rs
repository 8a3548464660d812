//! Several OS processes on one database: concurrent writers, and `ledger tail --follow` in one
//! process seeing what another writes, on SQLite and PostgreSQL. Plus a ledger stream that loses
//! its PostgreSQL connections and must miss nothing.

use crate::common;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn eg(data: &std::path::Path, url: &str) -> Command {
    let mut c = common::escrowgrid(data);
    c.arg("--database-url").arg(url);
    c
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn json_of(mut c: Command) -> Value {
    c.arg("--json");
    serde_json::from_str(&run_ok(c)).unwrap()
}

/// Two processes load the demo set at the same time; afterwards the chain is intact and holds
/// every write of both.
fn two_writers(url: &str) {
    let data = tempfile::tempdir().unwrap();
    let spawn = || {
        let mut c = eg(data.path(), url);
        c.args(["seed", "--demo", "--force", "--positions", "60", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    // Create the schema first so the two do not race on migrations.
    run_ok({
        let mut c = eg(data.path(), url);
        c.args(["migrate", "apply"]);
        c
    });
    let (a, b) = (spawn(), spawn());
    let mut total_writes = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        for k in [
            "institutions",
            "templates",
            "assets",
            "policies",
            "positions",
            "transitions",
        ] {
            total_writes += r[k].as_i64().unwrap();
        }
    }
    let v = json_of({
        let mut c = eg(data.path(), url);
        c.args(["ledger", "verify"]);
        c
    });
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        v["headSeq"].as_i64().unwrap(),
        total_writes,
        "one gap-free event per write of both processes"
    );
    let h = json_of({
        let mut c = eg(data.path(), url);
        c.arg("health");
        c
    });
    assert_eq!(h["counts"]["positions"], 120);
}

#[test]
fn two_processes_write_one_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    two_writers(&format!(
        "sqlite://{}",
        dir.path().join("shared.db").display()
    ));
}

#[tokio::test]
async fn two_processes_write_one_postgres_database() {
    let Some(base) = common::postgres_url() else {
        return common::skip_postgres("two_processes_write_one_postgres_database");
    };
    let schema = common::new_pg_schema(&base).await;
    let url = schema.url.clone();
    tokio::task::spawn_blocking(move || two_writers(&url))
        .await
        .unwrap();
}

struct Tail(Child);

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ledger tail --follow --json` in one process; another process writes; every event arrives
/// once, in seq order.
fn tail_sees_other_process(url: &str) {
    let data = tempfile::tempdir().unwrap();
    run_ok({
        let mut c = eg(data.path(), url);
        c.args(["migrate", "apply"]);
        c
    });
    let mut tail = {
        let mut c = eg(data.path(), url);
        c.args(["ledger", "tail", "--follow", "--json", "--after", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        Tail(c.spawn().unwrap())
    };
    let stdout = tail.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<i64>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let v: Value = serde_json::from_str(&line).expect("one JSON object per line");
            if tx.send(v["seq"].as_i64().unwrap()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let r = json_of({
        let mut c = eg(data.path(), url);
        c.args(["seed", "--demo", "--positions", "25"]);
        c
    });
    let head = json_of({
        let mut c = eg(data.path(), url);
        c.args(["ledger", "verify"]);
        c
    })["headSeq"]
        .as_i64()
        .unwrap();
    assert!(head > 25 && r["positions"] == 25);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.last().copied().unwrap_or(0) < head {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(seq) => seen.push(seq),
            Err(_) => panic!("tail stalled after {:?} of {head}", seen.last()),
        }
    }
    assert_eq!(
        seen,
        (1..=head).collect::<Vec<_>>(),
        "every event once, in seq order"
    );
}

#[test]
fn tail_follow_sees_another_process_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    tail_sees_other_process(&format!(
        "sqlite://{}",
        dir.path().join("tail.db").display()
    ));
}

#[tokio::test]
async fn tail_follow_sees_another_process_on_postgres() {
    let Some(base) = common::postgres_url() else {
        return common::skip_postgres("tail_follow_sees_another_process_on_postgres");
    };
    let schema = common::new_pg_schema(&base).await;
    let url = schema.url.clone();
    tokio::task::spawn_blocking(move || tail_sees_other_process(&url))
        .await
        .unwrap();
}

async fn recv_until(
    sub: &mut escrowgrid::service::stream::Subscription,
    seen: &mut Vec<i64>,
    target: i64,
) {
    use escrowgrid::service::stream::StreamItem;
    while seen.last().copied().unwrap_or(0) < target {
        match tokio::time::timeout(Duration::from_secs(20), sub.next()).await {
            Ok(Some(StreamItem::Event(e))) => seen.push(e.seq),
            Ok(Some(_)) => {}
            Ok(None) => panic!("stream closed at {:?}", seen.last()),
            Err(_) => panic!("stream stalled at {:?}", seen.last()),
        }
    }
}

/// The subscriber's connections (its LISTEN connection and its pool) are terminated mid-stream;
/// it reconnects by itself and delivers every event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stream_survives_terminated_connections() {
    use escrowgrid::service::{Actor, NewPosition, Service, ServiceConfig};
    use escrowgrid::store::{self, Backend};
    let Some(base) = common::postgres_url() else {
        return common::skip_postgres("postgres_stream_survives_terminated_connections");
    };
    let schema = common::new_pg_schema(&base).await;
    let app = format!("egsub_{}", &schema.schema[3..]);
    let reader_url = format!("{}&application_name={app}", schema.url);
    let wstore = store::open(Backend::Postgres, &schema.url, Duration::from_millis(20))
        .await
        .unwrap();
    let wsvc = Service::new(wstore, ServiceConfig::default());
    let actor = Actor::Local {
        user: "tester".into(),
    };
    let f = common::fixture_on(&wsvc, &actor).await;
    let rstore = store::open(Backend::Postgres, &reader_url, Duration::from_millis(20))
        .await
        .unwrap();
    let rsvc = Service::new(rstore, ServiceConfig::default());
    let mut sub = rsvc.subscribe(&actor, 0, Default::default());
    let new_pos = |i: usize| NewPosition {
        institution_id: Some(f.institution.clone()),
        asset_id: f.asset.clone(),
        holder_reference: format!("T-{i}"),
        currency: "USD".into(),
        amount: "100".into(),
        external_reference: None,
    };
    let mut seen = Vec::new();
    for i in 0..10 {
        wsvc.create_position(&actor, new_pos(i)).await.unwrap();
    }
    recv_until(&mut sub, &mut seen, 13).await;
    // Terminate every connection of the subscriber's store, then keep writing.
    let opts = store::postgres::connect_options(&base).unwrap();
    let mut admin = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&app)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        !killed.is_empty(),
        "the subscriber had connections to terminate"
    );
    for i in 10..30 {
        wsvc.create_position(&actor, new_pos(i)).await.unwrap();
    }
    recv_until(&mut sub, &mut seen, 33).await;
    assert_eq!(
        seen,
        (1..=33).collect::<Vec<i64>>(),
        "nothing missed, nothing twice, in order"
    );
}

/// A writer process with 16 callers is SIGKILLed mid-load, 20 times at random moments: after
/// each kill every write it acknowledged is present and `check` finds the store consistent (the
/// chain, entities against their events, ledger against audit trail); at the end the counters
/// agree with the chain (they are written in the same transaction).
async fn acknowledged_writes_survive_sigkill(backend: escrowgrid::store::Backend) {
    use escrowgrid::domain::LedgerKind;
    let Some(h) = common::Harness::new(backend).await else {
        return common::skip_postgres("acknowledged_writes_survive_sigkill");
    };
    let f = h.fixture().await;
    let data = tempfile::tempdir().unwrap();
    let mut acked: Vec<String> = Vec::new();
    let kills: Vec<usize> = (0..20).map(|_| rand::random_range(5..200)).collect();
    eprintln!("{backend}: killing after {kills:?} acknowledged writes");
    for (n, kill_after) in kills.into_iter().enumerate() {
        let mut child = eg(data.path(), &h.url)
            .args([
                "bench",
                "worker",
                "--acks",
                "--op",
                "create",
                "--callers",
                "16",
            ])
            .args([
                "--ops",
                "0",
                "--institution",
                &f.institution,
                "--asset",
                &f.asset,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut these = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while these.len() < kill_after {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("the writer acknowledges writes");
            these.push(line);
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        // Whatever it printed before it died was acknowledged too.
        these.extend(rx.try_iter());
        acked.extend(
            these
                .into_iter()
                .map(|l| l.strip_prefix("ack ").expect("ack lines").to_string()),
        );
        for id in &acked {
            assert!(
                h.store.get_position(id).await.unwrap().is_some(),
                "acknowledged {id} is missing after kill {n}"
            );
        }
        let r = h.svc.check(&h.actor).await.unwrap();
        assert!(r.ok, "check after kill {n}: {:#?}", r.findings);
    }
    for id in &acked {
        assert!(
            h.store.get_position(id).await.unwrap().is_some(),
            "acknowledged {id} is missing after a kill"
        );
    }
    let (v, kinds) = common::walk_chain(&h.store).await;
    let creates = kinds
        .iter()
        .filter(|k| **k == LedgerKind::PositionCreated)
        .count() as i64;
    let counts = h.store.counts(None).await.unwrap();
    assert_eq!(counts.ledger_events, v.checked as i64);
    assert_eq!(counts.positions, creates, "one position per create event");
    assert!(counts.positions >= acked.len() as i64);
    eprintln!(
        "{backend}: 20 kills, {} acknowledged writes present, {} events verified",
        acked.len(),
        v.checked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_sqlite() {
    acknowledged_writes_survive_sigkill(escrowgrid::store::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_postgres() {
    acknowledged_writes_survive_sigkill(escrowgrid::store::Backend::Postgres).await;
}
