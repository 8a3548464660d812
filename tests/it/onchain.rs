//! On-chain anchoring against a real local chain: anvil from the npm package `@foundry-rs/anvil`
//! (`npm ci` installs it in node_modules; `ESCROWGRID_TEST_ANVIL` may name another binary). Each
//! test starts its own anvil on a free port and stops it. Built only with `--features onchain`.

use crate::common::{Fixture, fixture_on, new_pg_schema, postgres_url, skip_postgres};
use escrowgrid::anchor::chain::Chain;
use escrowgrid::anchor::worker::Worker;
use escrowgrid::anchor::{OnchainConfig, Recomputer};
use escrowgrid::domain::anchor as outbox;
use escrowgrid::domain::ledger::LedgerEvent;
use escrowgrid::service::{Actor, NewPosition, Service, ServiceConfig};
use escrowgrid::store::{self, Backend, LedgerQuery, SharedStore};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// anvil's first two well-known development accounts (funded on every anvil chain).
const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const OTHER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// Set by `.ci/run`: no anvil fails the test rather than skipping it.
const REQUIRED: &str = "ESCROWGRID_TEST_REQUIRE_ANVIL";

struct Anvil {
    child: Option<Child>,
    bin: PathBuf,
    port: u16,
    state: PathBuf,
    _dir: tempfile::TempDir,
}

fn anvil_bin() -> Option<PathBuf> {
    std::env::var_os("ESCROWGRID_TEST_ANVIL")
        .map(PathBuf::from)
        .or_else(|| Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/anvil")))
        .filter(|p| p.exists())
}

impl Anvil {
    fn start(test: &str) -> Option<Anvil> {
        let Some(bin) = anvil_bin() else {
            let why =
                "no anvil: run `npm ci` (node_modules/.bin/anvil) or set ESCROWGRID_TEST_ANVIL";
            if std::env::var(REQUIRED).is_ok_and(|v| v == "1") {
                panic!("{test}: {why}");
            }
            eprintln!("SKIPPED {test}: {why}");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut a = Anvil {
            child: None,
            bin,
            port,
            state: dir.path().join("state.json"),
            _dir: dir,
        };
        a.run();
        Some(a)
    }

    /// Starts (again) on the same port, from the saved state if there is one. In a process
    /// group of its own: `node_modules/.bin/anvil` is a Node script that starts the real anvil
    /// as its child, so signals go to the group — a kill of the script alone left the real one
    /// running after the tests.
    fn run(&mut self) {
        use std::os::unix::process::CommandExt;
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--silent", "--state"])
            .arg(&self.state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start anvil");
        self.child = Some(child);
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "anvil did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it the way an operator would (SIGINT): it saves its state first.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal_group(&c, libc::SIGINT);
            let t0 = Instant::now();
            while c.try_wait().unwrap().is_none() {
                if t0.elapsed() > Duration::from_secs(10) {
                    signal_group(&c, libc::SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn config(&self, contract: Option<String>, every_events: u64) -> OnchainConfig {
        OnchainConfig {
            enabled: true,
            rpc_url: self.url(),
            chain_id: Some(31337),
            contract,
            every_events,
            every_seconds: 3600,
            confirmations: 1,
        }
    }

    /// Deploys the contract with the first account; its address.
    async fn deploy(&self) -> String {
        let chain = Chain::connect(&self.config(None, 1), Some(KEY))
            .await
            .unwrap();
        format!("{:#x}", chain.deploy().await.unwrap().0)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal_group(&c, libc::SIGKILL);
            let _ = c.wait();
        }
    }
}

/// `signal` to every process of the group `child` leads (see `Anvil::run`).
fn signal_group(child: &std::process::Child, signal: i32) {
    unsafe {
        libc::kill(-(child.id() as i32), signal);
    }
}

fn actor() -> Actor {
    Actor::Local {
        user: "tester".into(),
    }
}

/// One position of 100 USD on the fixture's asset.
async fn position(svc: &Service, a: &Actor, f: &Fixture, holder: String) {
    svc.create_position(
        a,
        NewPosition {
            institution_id: Some(f.institution.clone()),
            asset_id: f.asset.clone(),
            holder_reference: holder,
            currency: "USD".into(),
            amount: "100".into(),
            external_reference: None,
        },
    )
    .await
    .unwrap();
}

async fn positions(svc: &Service, n: usize, tag: &str) {
    let a = actor();
    let f = fixture_on(svc, &a).await;
    for i in 0..n {
        position(svc, &a, &f, format!("{tag}-{i}")).await;
    }
}

/// Runs the worker until every anchor is settled and the head is anchored (or 60 s pass).
async fn settle(store: &SharedStore, worker: &Worker) {
    let t0 = Instant::now();
    loop {
        worker.enqueue_due(false).await.unwrap();
        while worker.send_one().await.unwrap() {}
        let s = store.anchor_summary().await.unwrap();
        let head = store.ledger_head().await.unwrap().map(|h| h.0).unwrap_or(0);
        let anchored = s.last_confirmed.as_ref().map(|a| a.seq).unwrap_or(0);
        if s.pending == 0 && anchored == head {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "never settled: {s:?}, head {head}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn all_events(store: &SharedStore) -> Vec<LedgerEvent> {
    let mut out = Vec::new();
    loop {
        let page = store
            .read_ledger(&LedgerQuery {
                after_seq: out.last().map(|e: &LedgerEvent| e.seq).unwrap_or(0),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anchors_land_and_prove_the_ledger_and_an_export() {
    let Some(anvil) = Anvil::start("anchors_land_and_prove_the_ledger_and_an_export") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let url = format!("sqlite://{}", db.display());
    let store = store::open(Backend::Sqlite, &url, Duration::from_millis(20))
        .await
        .unwrap();
    let svc = Service::new(store.clone(), ServiceConfig::default());
    let contract = anvil.deploy().await;
    let cfg = anvil.config(Some(contract.clone()), 10);
    let worker = Worker::new(
        store.clone(),
        Chain::connect(&cfg, Some(KEY)).await.unwrap(),
        cfg.clone(),
    );
    for round in 0..3 {
        positions(&svc, 8, &format!("LAND{round}")).await;
        settle(&store, &worker).await;
    }

    // An anchor each time 10 events had arrived: each confirmed with its transaction and block.
    let anchors = svc.list_anchors(&actor(), 100).await.unwrap();
    assert!(anchors.len() >= 3, "{anchors:?}");
    assert!(
        anchors.iter().all(|a| a.status == outbox::CONFIRMED
            && a.tx_hash.is_some()
            && a.block_number.is_some())
    );
    let reader = Chain::connect(&cfg, None).await.unwrap();
    let on_chain = reader.anchors().await.unwrap();
    assert_eq!(on_chain.len(), anchors.len());

    // From the database.
    let v = svc
        .verify_against_anchors(&actor(), &on_chain)
        .await
        .unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.verified_to, Some(on_chain.last().unwrap().seq));

    // From an export, with no database: the third party's proof (through the CLI too).
    let export = dir.path().join("export.jsonl");
    let events = all_events(&store).await;
    let text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(&export, &text).unwrap();
    let verify_export = |file: &Path| {
        crate::common::escrowgrid(&dir.path().join("data"))
            .env("ESCROWGRID_ONCHAIN_RPC_URL", anvil.url())
            .env("ESCROWGRID_ONCHAIN_CONTRACT", &contract)
            .env(
                "ESCROWGRID_DATABASE_URL",
                "postgres://nobody@127.0.0.1:1/none",
            )
            .args(["anchor", "verify", "--export"])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = verify_export(&export);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("OK: "));

    // An edited event fails at its seq, in an export and in the database.
    let mut edited = events.clone();
    edited[6].payload["holderReference"] = serde_json::json!("FORGED");
    let forged = dir.path().join("forged.jsonl");
    std::fs::write(
        &forged,
        edited
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let out = verify_export(&forged);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("MISMATCH at seq 7:"), "{said}");
    let mut r = Recomputer::new(&on_chain);
    edited.iter().for_each(|e| r.push(e));
    assert_eq!(r.finish(&on_chain).mismatch_seq, Some(7));

    crate::cli::drop_append_only_triggers(&db).await;
    crate::cli::sqlite_exec(
        &db,
        "UPDATE ledger_events SET payload = json_set(payload, '$.holderReference', 'FORGED') WHERE seq = 7",
    )
    .await;
    let v = svc
        .verify_against_anchors(&actor(), &on_chain)
        .await
        .unwrap();
    assert!(!v.ok);
    assert_eq!(v.mismatch_seq, Some(7), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chain_outage_queues_anchors_and_never_slows_writes() {
    let Some(mut anvil) = Anvil::start("a_chain_outage_queues_anchors_and_never_slows_writes")
    else {
        return;
    };
    let store = store::open(
        Backend::Sqlite,
        "sqlite::memory:",
        Duration::from_millis(20),
    )
    .await
    .unwrap();
    let svc = Service::new(store.clone(), ServiceConfig::default());
    let contract = anvil.deploy().await;
    let cfg = anvil.config(Some(contract), 1);
    let worker = Worker::new(
        store.clone(),
        Chain::connect(&cfg, Some(KEY)).await.unwrap(),
        cfg.clone(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));

    let a = actor();
    let f = fixture_on(&svc, &a).await;
    let write = |n: usize| {
        let (svc, a, f) = (&svc, a.clone(), &f);
        async move {
            let t0 = Instant::now();
            position(svc, &a, f, format!("OUT-{n}")).await;
            t0.elapsed()
        }
    };
    let mut before = Vec::new();
    for n in 0..20 {
        before.push(write(n).await);
    }

    // The chain goes away: writes go on as fast, anchors wait with the error.
    anvil.stop();
    let mut during = Vec::new();
    for n in 20..60 {
        during.push(write(n).await);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = svc.anchor_summary(&a).await.unwrap();
    assert!(s.pending > 0, "{s:?}");
    assert!(s.last_error.is_some(), "{s:?}");
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (b, d) = (median(&mut before), median(&mut during));
    assert!(
        d < b * 5 + Duration::from_millis(20),
        "writes slowed during the outage: median {d:?} against {b:?} before"
    );

    // Back with its saved state: everything queued lands.
    anvil.run();
    let t0 = Instant::now();
    loop {
        let s = svc.anchor_summary(&a).await.unwrap();
        let head = svc.ledger_head_seq(&a).await.unwrap();
        if s.pending == 0 && s.last_confirmed.as_ref().map(|c| c.seq) == Some(head) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "anchors never landed: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    running.await.unwrap();
    let on_chain = Chain::connect(&cfg, None)
        .await
        .unwrap()
        .anchors()
        .await
        .unwrap();
    let v = svc.verify_against_anchors(&a, &on_chain).await.unwrap();
    assert!(v.ok, "{v:?}");
    let anchors = svc.list_anchors(&a, 1000).await.unwrap();
    assert!(
        anchors
            .iter()
            .all(|x| [outbox::CONFIRMED, outbox::SUPERSEDED].contains(&x.status.as_str()))
    );
    assert!(
        anchors.iter().any(|x| x.attempts > 1),
        "nothing was retried: {anchors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_database_anchor_each_head_once() {
    let Some(base) = postgres_url() else {
        return skip_postgres("two_processes_on_one_database_anchor_each_head_once");
    };
    let Some(anvil) = Anvil::start("two_processes_on_one_database_anchor_each_head_once") else {
        return;
    };
    let schema = new_pg_schema(&base).await;
    let contract = anvil.deploy().await;
    let cfg = anvil.config(Some(contract), 1);
    let mut services = Vec::new();
    let mut runs = Vec::new();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for _ in 0..2 {
        let store = store::open(Backend::Postgres, &schema.url, Duration::from_millis(20))
            .await
            .unwrap();
        let svc = Service::new(store.clone(), ServiceConfig::default());
        let worker = Worker::new(
            store,
            Chain::connect(&cfg, Some(KEY)).await.unwrap(),
            cfg.clone(),
        );
        runs.push(tokio::spawn(worker.run(stopped.clone())));
        services.push(svc);
    }
    for (i, svc) in services.iter().enumerate() {
        positions(svc, 15, &format!("P{i}")).await;
    }
    let a = actor();
    let t0 = Instant::now();
    loop {
        let s = services[0].anchor_summary(&a).await.unwrap();
        let head = services[0].ledger_head_seq(&a).await.unwrap();
        if s.pending == 0 && s.last_confirmed.as_ref().map(|c| c.seq) == Some(head) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "never settled: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    for r in runs {
        r.await.unwrap();
    }
    let on_chain = Chain::connect(&cfg, None)
        .await
        .unwrap()
        .anchors()
        .await
        .unwrap();
    let seqs: Vec<i64> = on_chain.iter().map(|x| x.seq).collect();
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(seqs, unique, "a head anchored twice");
    let anchors = services[1].list_anchors(&a, 1000).await.unwrap();
    let confirmed: Vec<_> = anchors
        .iter()
        .filter(|x| x.status == outbox::CONFIRMED)
        .collect();
    assert_eq!(
        confirmed.len(),
        on_chain.len(),
        "each anchor on the chain is one outbox row"
    );
    let mut txs: Vec<&str> = confirmed
        .iter()
        .filter_map(|x| x.tx_hash.as_deref())
        .collect();
    txs.sort();
    txs.dedup();
    assert_eq!(txs.len(), confirmed.len(), "no transaction counted twice");
    assert!(
        anchors.iter().all(|x| x.attempts == 1),
        "a send collided: {anchors:?}"
    );
    let v = services[0]
        .verify_against_anchors(&a, &on_chain)
        .await
        .unwrap();
    assert!(v.ok, "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_refuses_a_stale_seq_and_a_stranger() {
    let Some(anvil) = Anvil::start("the_contract_refuses_a_stale_seq_and_a_stranger") else {
        return;
    };
    let contract = anvil.deploy().await;
    let cfg = anvil.config(Some(contract), 1);
    let owner = Chain::connect(&cfg, Some(KEY)).await.unwrap();
    let head = "11".repeat(32);
    assert!(matches!(
        owner.anchor(5, &head).await.unwrap(),
        escrowgrid::anchor::chain::Sent::Confirmed(..)
    ));
    for seq in [5, 3] {
        let e = owner.anchor(seq, &head).await.err().expect("refused");
        assert!(e.contains("is not above its latest 5"), "{e}");
    }
    let stranger = Chain::connect(&cfg, Some(OTHER_KEY)).await.unwrap();
    let e = stranger.anchor(6, &head).await.err().expect("refused");
    assert!(e.contains("is not its owner"), "{e}");
    assert_eq!(owner.latest().await.unwrap(), (5, head));
}

/// `anchor run` is a service: SIGTERM (systemd's stop) ends it cleanly, as Ctrl-C does.
#[tokio::test]
async fn anchor_run_stops_on_sigterm_and_sigint() {
    let Some(anvil) = Anvil::start("anchor_run_stops_on_sigterm_and_sigint") else {
        return;
    };
    let contract = anvil.deploy().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut child = crate::common::escrowgrid(&dir.path().join("data"))
            .env("ESCROWGRID_ONCHAIN_ENABLED", "true")
            .env("ESCROWGRID_ONCHAIN_RPC_URL", anvil.url())
            .env("ESCROWGRID_ONCHAIN_CONTRACT", &contract)
            .env("ESCROWGRID_ONCHAIN_KEY", KEY)
            .args(["--database-url", &url, "anchor", "run"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Running: it has said so (its first line on stderr).
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut err, &mut first).unwrap();
        assert!(first.contains("SIGTERM stops"), "{first}");
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("anchor run still running 10 s after signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0), "signal {signal}");
    }
}

/// `serve` with `[onchain]` enabled runs the anchoring worker: writes made through the API are
/// anchored on the chain, `/v1/health` shows the confirmed anchor, and SIGTERM stops both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_anchoring_worker() {
    let Some(anvil) = Anvil::start("serve_runs_the_anchoring_worker") else {
        return;
    };
    let contract = anvil.deploy().await;
    let dir = tempfile::tempdir().unwrap();
    const ROOT: &str = "root-key-of-the-anchoring-server";
    let mut child = crate::common::escrowgrid(&dir.path().join("data"))
        .env("ESCROWGRID_ONCHAIN_ENABLED", "true")
        .env("ESCROWGRID_ONCHAIN_RPC_URL", anvil.url())
        .env("ESCROWGRID_ONCHAIN_CONTRACT", &contract)
        .env("ESCROWGRID_ONCHAIN_KEY", KEY)
        .env("ESCROWGRID_ONCHAIN_EVERY_EVENTS", "1")
        .env("ESCROWGRID_ROOT_API_KEY", ROOT)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut err, &mut first).unwrap();
    let base = first
        .strip_prefix("serving on ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/v1/institutions"))
        .bearer_auth(ROOT)
        .json(&serde_json::json!({"name": "Anchored Bank", "regions": ["US"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let t0 = Instant::now();
    let anchors = loop {
        let h: serde_json::Value = http
            .get(format!("{base}/v1/health"))
            .bearer_auth(ROOT)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !h["anchors"]["lastConfirmed"].is_null() {
            break h["anchors"].clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no anchor confirmed: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(anchors["lastConfirmed"]["seq"], 1, "{anchors}");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "serve did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
}
