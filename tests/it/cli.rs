//! End-to-end through the built binary: every call is a new process, so these also prove that
//! data persists between processes.

use crate::common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
    url: String,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        Env { dir, url }
    }

    fn cmd(&self) -> Command {
        common::escrowgrid(&self.dir.path().join("data"))
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.arg("--database-url").arg(&self.url).args(args);
        c.output().expect("run escrowgrid")
    }

    fn ok_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("x.db")
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Rewrites the database as someone with write access to its file would: the append-only
/// triggers dropped first.
async fn tamper(db: &Path, sql: &'static str) {
    drop_append_only_triggers(db).await;
    sqlite_exec(db, sql).await;
}

/// The append-only triggers gone, as someone with write access to the file can make them.
pub(crate) async fn drop_append_only_triggers(db: &Path) {
    for t in ["ledger_events", "audit_events", "position_events"] {
        for op in ["update", "delete"] {
            let drop = format!("DROP TRIGGER IF EXISTS {t}_append_only_{op}");
            sqlite_exec_string(db, drop).await;
        }
    }
}

pub(crate) async fn sqlite_exec_string_pub(db: &Path, sql: String) {
    sqlite_exec_string(db, sql).await
}

async fn sqlite_exec_string(db: &Path, sql: String) {
    use sqlx::ConnectOptions;
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .unwrap();
}

pub(crate) async fn sqlite_exec(db: &Path, sql: &'static str) {
    use sqlx::ConnectOptions;
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut c).await.unwrap();
}

#[test]
fn seed_list_transition_ledger_verify_end_to_end() {
    let e = Env::new();
    let seeded = e.ok_json(&["seed", "--demo", "--positions", "60"]);
    assert_eq!(seeded["positions"], 60);
    assert_eq!(seeded["institutions"], 4);
    // Second seed is refused: the database is not empty.
    let again = e.run(&["seed", "--demo"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already holds 4 institutions"),
        "{}",
        stderr(&again)
    );

    let page = e.ok_json(&["position", "list", "--limit", "50"]);
    assert_eq!(page["data"].as_array().unwrap().len(), 50);
    assert_eq!(page["pagination"]["hasMore"], true);
    let next = page["pagination"]["nextAfter"]
        .as_str()
        .unwrap()
        .to_string();
    let rest = e.ok_json(&["position", "list", "--limit", "50", "--after", &next]);
    assert_eq!(rest["data"].as_array().unwrap().len(), 10);
    assert_eq!(rest["pagination"]["hasMore"], false);
    let first = &page["data"][0];
    for k in [
        "id",
        "institutionId",
        "assetId",
        "holderReference",
        "currency",
        "amount",
        "state",
        "createdAt",
        "updatedAt",
    ] {
        assert!(first.get(k).is_some(), "camelCase field {k} in {first}");
    }
    assert!(first["amount"].is_string(), "amounts are decimal strings");

    let funded = e.ok_json(&["position", "list", "--state", "FUNDED", "--limit", "1"]);
    let id = funded["data"][0]["id"].as_str().unwrap().to_string();
    let t = e.ok_json(&[
        "position",
        "transition",
        &id,
        "--to",
        "RELEASED",
        "--reason",
        "Works complete",
        "--expect-state",
        "FUNDED",
    ]);
    assert_eq!(t["applied"], true);
    assert_eq!(t["position"]["state"], "RELEASED");
    let seq = t["ledgerSeq"].as_i64().unwrap();

    // The next process sees it, with its history and its ledger event.
    let shown = e.ok_json(&["position", "show", &id]);
    assert_eq!(shown["state"], "RELEASED");
    let events = shown["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["toState"], "RELEASED");
    assert_eq!(events.last().unwrap()["reason"], "Works complete");
    let ledger = e.ok_json(&["ledger", "list", "--position", &id]);
    let last = ledger["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["seq"].as_i64().unwrap(), seq);
    assert_eq!(last["kind"], "POSITION_STATE_CHANGED");
    assert_eq!(last["payload"]["fromState"], "FUNDED");
    assert_eq!(last["payload"]["toState"], "RELEASED");
    assert_eq!(last["payload"]["reason"], "Works complete");
    for k in [
        "seq",
        "id",
        "kind",
        "entityType",
        "entityId",
        "positionId",
        "at",
        "payload",
        "prevHash",
        "hash",
    ] {
        assert!(last.get(k).is_some(), "ledger field {k}");
    }
    let v = e.ok_json(&["ledger", "verify"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["headSeq"].as_i64().unwrap(), seq);

    // A stale --expect-state is a conflict: exit 1, nothing changed.
    let c = e.run(&[
        "position",
        "transition",
        &id,
        "--to",
        "CANCELLED",
        "--expect-state",
        "FUNDED",
    ]);
    assert_eq!(c.status.code(), Some(1));
    assert!(
        stderr(&c).contains("expected FUNDED, it is now RELEASED"),
        "{}",
        stderr(&c)
    );
    let h = e.ok_json(&["health"]);
    assert_eq!(h["connected"], true);
    assert_eq!(h["ledgerHead"]["seq"].as_i64().unwrap(), seq);
    assert!(
        h["logFile"].as_str().unwrap().contains("escrowgrid."),
        "{h}"
    );
    let tail = e.run(&["ledger", "tail", "--last", "3", "--json"]);
    let lines: Vec<Value> = stdout(&tail)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one JSON object per line");
    assert_eq!(lines[2]["seq"].as_i64().unwrap(), seq);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let e = Env::new();
    let out = e.run(&["institution", "create", "--name", "X", "--region", "MARS"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: invalid input: regions: 'MARS' is not a valid region"),
        "{err}"
    );
    let out = e.run(&[
        "--json",
        "position",
        "create",
        "--institution",
        "inst_x",
        "--asset",
        "ast_x",
        "--holder",
        "H",
        "--currency",
        "USD",
        "--amount",
        "-5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_str(stderr(&out).trim()).expect("JSON error");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("amount: must be greater than zero"),
        "{v}"
    );
    assert_eq!(v["details"]["fields"][0]["field"], "amount");
    assert_eq!(v["code"], "VALIDATION_FAILED");
    let out = e.run(&["position", "show", "pos_missing"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).trim(), "error: position pos_missing not found");
    let out = e.run(&["position", "list", "--state", "DONE"]);
    assert_eq!(out.status.code(), Some(2));
    let out = e.run(&["position", "list", "--limit", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("0 is not in 1..=1000"),
        "{}",
        stderr(&out)
    );
    // unparseable arguments: clap's own exit 2
    assert_eq!(e.run(&["position", "frobnicate"]).status.code(), Some(2));
}

#[test]
fn config_errors_name_the_key() {
    let e = Env::new();
    let cfg = e.dir.path().join("c.toml");
    std::fs::write(&cfg, "databse_url = \"sqlite::memory:\"\n").unwrap();
    let out = e
        .cmd()
        .arg("--config")
        .arg(&cfg)
        .args(["health"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown key `databse_url` (did you mean `database_url`?)"),
        "{}",
        stderr(&out)
    );
    let out = e
        .cmd()
        .args(["--store", "oracle", "health"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--store: 'oracle' is not a store"),
        "{}",
        stderr(&out)
    );
    // environment: the seed's variable names work
    let out = e
        .cmd()
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", e.dir.path().join("env.db").display()),
        )
        .args(["--json", "health"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["target"].as_str().unwrap().ends_with("env.db"), "{v}");
}

/// The settings table at work on the command line: `--config` after the subcommand, a typo
/// under `[console.keys]` refused by a headless command, `--help` naming each flag's variables,
/// the manual's ENVIRONMENT listing every setting's.
#[test]
fn settings_from_one_table_reach_every_command() {
    let e = Env::new();
    let cfg = e.dir.path().join("c.toml");
    std::fs::write(&cfg, "store = \"memory\"\n").unwrap();
    let out = e
        .cmd()
        .args(["health", "--json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["backend"], "memory",
        "--config after the subcommand is read: {v}"
    );

    std::fs::write(&cfg, "[console.keys]\nqiut = \"ctrl-q\"\n").unwrap();
    let out = e
        .cmd()
        .args(["institution", "list", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&cfg.display().to_string()), "{err}");
    assert!(
        err.contains("console.keys.qiut: no such action (did you mean quit?)"),
        "{err}"
    );

    // A template's JSON moved to --template-config; the old spelling says so.
    let out = e.run(&[
        "template",
        "create",
        "--code",
        "TF_LC",
        "--name",
        "n",
        "--vertical",
        "TRADE_FINANCE",
        "--region",
        "US",
        "--template-config",
        "{}",
        "--config",
        "{\"currency\":\"USD\"}",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a template's JSON is --template-config"),
        "{}",
        stderr(&out)
    );

    let help = stdout(&e.cmd().arg("--help").output().unwrap());
    for note in [
        "[env: ESCROWGRID_STORE, STORE_BACKEND; config: store]",
        "[env: ESCROWGRID_READ_ONLY; config: read_only]",
        "[env: ESCROWGRID_LOG, ESCROWGRID_LOG_LEVEL, RUST_LOG; config: log_level]",
    ] {
        assert!(help.contains(note), "{note} in {help}");
    }
    let man = stdout(&e.cmd().arg("man").output().unwrap());
    for s in escrowgrid::settings::SETTINGS {
        let name = s.env.first().copied().unwrap_or(s.key);
        if s.in_file && s.env.is_empty() {
            continue;
        }
        assert!(
            man.contains(&name.replace('-', "\\-")),
            "{name} in the manual"
        );
    }
}

#[test]
fn unreachable_postgres_fails_health_with_redacted_target() {
    let e = Env::new();
    let out = e
        .cmd()
        .args([
            "--database-url",
            "postgres://app:s3cret@127.0.0.1:1/none",
            "--json",
            "health",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["connected"], false);
    assert!(!stdout(&out).contains("s3cret"), "password redacted");
    assert!(v["target"].as_str().unwrap().contains("app:***@"), "{v}");
    // The driver's reason, said once: not a pool timeout hiding it.
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("Connection refused"), "{error}");
    assert!(!error.contains("pool timed out"), "{error}");
    assert_eq!(error.matches("store unavailable").count(), 1, "{error}");
}

#[tokio::test]
async fn verify_detects_an_edited_payload() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "5"]);
    assert_eq!(e.run(&["ledger", "verify"]).status.code(), Some(0));

    tamper(&e.db(), "UPDATE ledger_events SET payload = replace(payload, '\"amount\":\"', '\"amount\":\"9') WHERE seq = (SELECT min(seq) FROM ledger_events WHERE kind = 'POSITION_CREATED')").await;
    let out = e.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let v = e.ok_json_allow_fail(&["ledger", "verify"]);
    let broken = v["broken"]["seq"].as_i64().unwrap();
    assert!(
        stdout(&out).contains(&format!("Ledger BROKEN at seq {broken}")),
        "{}",
        stdout(&out)
    );
    assert!(
        v["broken"]["reason"]
            .as_str()
            .unwrap()
            .contains("does not match the event's content")
    );
}

#[tokio::test]
async fn verify_detects_a_deleted_event() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "5"]);
    tamper(&e.db(), "DELETE FROM ledger_events WHERE seq = 7").await;
    let v = e.ok_json_allow_fail(&["ledger", "verify"]);
    assert_eq!(v["ok"], false);
    assert_eq!(v["broken"]["seq"], 7);
    assert!(v["broken"]["reason"].as_str().unwrap().contains("missing"));
}

#[tokio::test]
async fn verify_detects_a_reordered_pair() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "5"]);
    // swap the contents of seq 5 and 6, keeping the seq numbers in order
    tamper(
        &e.db(),
        "UPDATE ledger_events SET seq = 1000005 WHERE seq = 5",
    )
    .await;
    tamper(&e.db(), "UPDATE ledger_events SET seq = 5 WHERE seq = 6").await;
    tamper(
        &e.db(),
        "UPDATE ledger_events SET seq = 6 WHERE seq = 1000005",
    )
    .await;
    let v = e.ok_json_allow_fail(&["ledger", "verify"]);
    assert_eq!(v["ok"], false);
    assert_eq!(v["broken"]["seq"], 5);
}

#[test]
fn an_export_verifies_with_stock_python() {
    // The hash scheme uses public standards only: SHA-256 over RFC 8785 canonical JSON. Python's
    // json.dumps(sort_keys, compact separators) produces the same bytes for these events.
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 not installed");
        return;
    }
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "3"]);
    // The export the README documents: the whole ledger as JSON lines.
    let export = e.run(&["ledger", "tail", "--after", "0", "--json"]);
    let script = r#"
import sys, json, hashlib
prev = "0" * 64
n = 0
for line in sys.stdin:
    ev = json.loads(line)
    body = {k: v for k, v in ev.items() if k != "hash"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    h = hashlib.sha256(canon.encode("utf-8")).hexdigest()
    assert ev["prevHash"] == prev, ev["seq"]
    assert ev["hash"] == h, ev["seq"]
    prev = h
    n += 1
print(n)
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&export.stdout)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python verification failed: {}",
        stderr(&out)
    );
    assert!(stdout(&out).trim().parse::<u32>().unwrap() > 20);
}

impl Env {
    /// Runs with --json and parses stdout whatever the exit status.
    fn ok_json_allow_fail(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)))
    }
}

#[test]
fn roles_keys_and_audit_from_the_cli() {
    let e = Env::new();
    let root = |args: &[&str]| {
        let mut c = e.cmd();
        c.env("ESCROWGRID_ROOT_API_KEY", "s3cret-root")
            .env("ESCROWGRID_API_KEY", "s3cret-root");
        c.arg("--database-url").arg(&e.url).args(args).arg("--json");
        let out = c.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let root_out = |args: &[&str]| {
        let mut c = e.cmd();
        c.env("ESCROWGRID_ROOT_API_KEY", "s3cret-root")
            .env("ESCROWGRID_API_KEY", "s3cret-root");
        c.arg("--database-url").arg(&e.url).args(args);
        c.output().unwrap()
    };
    root(&["seed", "--demo", "--positions", "30"]);
    // With a root key configured, a session without a key is refused.
    let mut c = e.cmd();
    c.env("ESCROWGRID_ROOT_API_KEY", "s3cret-root")
        .arg("--database-url")
        .arg(&e.url)
        .args(["position", "list"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("an API key is required"),
        "{}",
        stderr(&out)
    );

    let insts = root(&["institution", "list"]);
    let a = insts["data"][0]["id"].as_str().unwrap().to_string();
    let key = root(&[
        "apikey",
        "create",
        "--institution",
        &a,
        "--label",
        "viewer",
        "--role",
        "read_only",
    ]);
    let token = key["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ak_") && token.len() == 51);
    assert!(
        key["apiKey"].get("keyHash").is_none(),
        "the hash is never printed"
    );

    let as_key = |args: &[&str]| {
        let mut c = e.cmd();
        c.env("ESCROWGRID_ROOT_API_KEY", "s3cret-root")
            .arg("--database-url")
            .arg(&e.url)
            .arg("--api-key")
            .arg(&token)
            .args(args);
        c.output().unwrap()
    };
    let out = as_key(&["position", "list", "--json", "--limit", "1000"]);
    assert!(out.status.success());
    let mine: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = mine["data"].as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|p| p["institutionId"] == a.as_str()),
        "only its institution"
    );
    let id = rows[0]["id"].as_str().unwrap();
    let out = as_key(&["position", "transition", id, "--to", "CANCELLED"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not allowed for role read_only: transition positions"),
        "{}",
        stderr(&out)
    );
    let out = as_key(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(2));
    // Another institution's book is refused, not replaced by its own; so is an id naming nothing.
    let b = insts["data"][1]["id"].as_str().unwrap().to_string();
    let out = as_key(&["position", "list", "--institution", &b]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("this key belongs to"),
        "{}",
        stderr(&out)
    );
    let theirs = root(&["position", "list", "--institution", &b, "--limit", "1"]);
    let theirs = theirs["data"][0]["id"].as_str().unwrap().to_string();
    let out = as_key(&["ledger", "list", "--position", &theirs]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let out = root_out(&["position", "list", "--institution", "inst_nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    for action in ["LEDGER_VERIFY", "POSITIONS_LIST", "LEDGER_READ"] {
        let refused = root(&["audit", "list", "--outcome", "failure", "--action", action]);
        assert_eq!(
            refused["data"].as_array().unwrap().len(),
            1,
            "{action} refused once, recorded once"
        );
    }

    // The refusal is in the audit trail, with who tried.
    let audit = root(&["audit", "list", "--outcome", "failure"]);
    let rec = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "POSITION_TRANSITIONED")
        .expect("refusal audited");
    assert_eq!(rec["apiKeyId"], key["apiKey"]["id"]);
    assert_eq!(rec["error"]["code"], "FORBIDDEN");

    // Revoking twice: the second is a clear no-op; the key stops working.
    let kid = key["apiKey"]["id"].as_str().unwrap().to_string();
    let r1 = root(&["apikey", "revoke", &kid]);
    assert_eq!(r1["alreadyRevoked"], false);
    let r2 = root(&["apikey", "revoke", &kid]);
    assert_eq!(r2["alreadyRevoked"], true);
    let out = as_key(&["position", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("was revoked"), "{}", stderr(&out));
}

/// Checks a `bench write --json` report: every figure present, measured, and beside a baseline.
fn check_bench_report(v: &Value, backend: &str, with_processes: bool) {
    let rows = v["results"].as_array().expect("results");
    let ops: Vec<(String, u64, u64)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["backend"], backend);
            for k in ["ops", "opsPerSec", "p50Ms", "p99Ms"] {
                assert!(r[k].as_f64().is_some_and(|x| x > 0.0), "{k} in {r}");
            }
            // PostgreSQL's creates of many callers stand beside the schema's ceiling.
            let at_ceiling = backend == "postgres"
                && r["op"] == "create"
                && r["callers"] != 1
                && r["processes"] == 1;
            for k in ["ceilingOpsPerSec", "ofCeiling"] {
                assert_eq!(
                    r[k].as_f64().is_some_and(|x| x > 0.0),
                    at_ceiling,
                    "{k} in {r}"
                );
            }
            (
                r["op"].as_str().unwrap().to_string(),
                r["callers"].as_u64().unwrap(),
                r["processes"].as_u64().unwrap(),
            )
        })
        .collect();
    for op in ["create", "transition", "mix"] {
        for (callers, procs) in [(1, 1), (4, 1)] {
            assert!(
                ops.contains(&(op.into(), callers, procs)),
                "{op} {callers}×{procs}: {ops:?}"
            );
        }
        assert_eq!(
            ops.contains(&(op.into(), 4, 2)),
            with_processes,
            "{op} in 2 processes"
        );
    }
    for op in ["get", "get-with-history", "page-50-deep"] {
        for callers in [1, 4] {
            assert!(
                ops.contains(&(op.into(), callers, 1)),
                "{op} with {callers} callers: {ops:?}"
            );
        }
    }
    for r in rows
        .iter()
        .filter(|r| r["op"] != "get" && r["op"] != "get-with-history" && r["op"] != "page-50-deep")
    {
        let base = r["baselineOpsPerSec"]
            .as_f64()
            .expect("a write has a baseline");
        assert!(base > 0.0);
        let ratio = r["ratio"].as_f64().unwrap();
        assert!((ratio - r["opsPerSec"].as_f64().unwrap() / base).abs() < 1e-6);
    }
    assert!(v["durability"].as_str().is_some_and(|d| !d.is_empty()));
}

#[test]
fn bench_write_measures_on_a_scratch_database_it_removes() {
    let e = Env::new();
    let small = [
        "bench",
        "write",
        "--ops",
        "120",
        "--ops-one",
        "30",
        "--callers",
        "4",
        "--runs",
        "1",
        "--rows",
        "2000",
    ];
    let v = e.ok_json(&small);
    check_bench_report(&v, "sqlite", true);
    assert_eq!(v["warmedUp"], false, "only memory warms up: {v}");
    assert!(
        v["durability"]
            .as_str()
            .unwrap()
            .starts_with("synchronous=FULL"),
        "the default durability: {v}"
    );
    assert!(!e.db().exists(), "the configured database is never opened");
    let left: Vec<_> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".escrowgrid-bench"))
        .collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");

    let mut memory = e.cmd();
    memory.args(["--store", "memory"]).args(small).arg("--json");
    let out = memory.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_bench_report(&v, "memory", false);
    assert_eq!(v["warmedUp"], true, "memory warms up by default: {v}");

    let mut cold = e.cmd();
    cold.args(["--store", "memory"])
        .args(small)
        .args(["--cold", "--json"]);
    let out = cold.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_bench_report(&v, "memory", false);
    assert_eq!(v["warmedUp"], false, "--cold skips the warm-up: {v}");
}

#[tokio::test]
async fn bench_write_on_postgres_drops_its_schema() {
    let Some(base) = common::postgres_url() else {
        return common::skip_postgres("bench_write_on_postgres_drops_its_schema");
    };
    let schema = common::new_pg_schema(&base).await;
    let opts = escrowgrid::store::postgres::connect_options(&base).unwrap();
    let mut conn = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    let bench_schemas = async |conn: &mut sqlx::PgConnection| -> Vec<String> {
        sqlx::query_as::<_, (String,)>(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'escrowgrid\\_bench\\_%'",
        )
        .fetch_all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|(n,)| n)
        .collect()
    };
    let before = bench_schemas(&mut conn).await;
    let e = Env::new();
    let mut c = e.cmd();
    c.args(["--database-url", &schema.url]).args([
        "bench",
        "write",
        "--ops",
        "120",
        "--ops-one",
        "30",
        "--callers",
        "4",
        "--runs",
        "1",
        "--rows",
        "2000",
        "--json",
    ]);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_bench_report(&v, "postgres", true);
    // Nothing was created in the configured schema, and the bench's own schema is gone.
    assert_eq!(
        bench_schemas(&mut conn).await,
        before,
        "the scratch schema was dropped"
    );
    let tables: (i64,) =
        sqlx::query_as("SELECT count(*) FROM information_schema.tables WHERE table_schema = $1")
            .bind(&schema.schema)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(tables.0, 0, "the configured schema is untouched");
    let report_text = stdout(&out);
    assert!(
        !report_text.contains("escrowgrid_bench_"),
        "the report names no scratch schema"
    );
}

/// `escrowgrid ledger tail --json | head -1`: the reader closes the pipe early; the command ends
/// quietly with status 0, no panic, no backtrace.
#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    use std::io::BufRead;
    let e = Env::new();
    let seeded = e.run(&["seed", "--demo"]);
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    let mut child = e
        .cmd()
        .args([
            "--database-url",
            &e.url,
            "ledger",
            "tail",
            "--after",
            "0",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("{\"seq\":1,"), "{first}");
    // The reader is gone (its end of the pipe dropped above); the rest does not fit the pipe.
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "status {:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");

    // `export -` the same: status 0, nothing said.
    let mut child = e
        .cmd()
        .args(["--database-url", &e.url, "export", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(
        out.status.success(),
        "export -: status {:?}: {err}",
        out.status
    );
    assert!(err.trim().is_empty(), "export -: {err}");
}

#[test]
fn completions_and_the_manual_come_from_the_arguments() {
    let e = Env::new();
    for (shell, mark) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef escrowgrid"),
        ("fish", "complete -c escrowgrid"),
    ] {
        let out = e.cmd().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(mark),
            "{shell}: {}",
            &text[..text.len().min(200)]
        );
        assert!(text.contains("transition"), "{shell} completes subcommands");
    }
    let out = e.cmd().arg("man").output().unwrap();
    assert!(out.status.success());
    let man = stdout(&out);
    assert!(
        man.contains(".TH escrowgrid 1"),
        "{}",
        &man[..man.len().min(200)]
    );
    assert!(man.contains("ledger") && man.contains("completions"));
    for section in [
        ".SH COMMANDS",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXIT STATUS",
    ] {
        assert!(man.contains(section), "{section}");
    }
    assert!(man.contains("RUST_LOG") && man.contains("PGSSLMODE"));
    assert!(
        !man.contains("escrowgrid\\-institution(1)") && !man.contains("(1)\n"),
        "no references to pages that do not exist"
    );
    let bad = e.cmd().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is refused");
    assert!(!e.db().exists(), "neither opens a store");
}

/// Without $USER (tmux, cron, containers) the local operator is the process's user, not
/// `unknown`, in the session and in the audit trail.
#[test]
fn the_local_operator_is_named_without_user_in_the_environment() {
    let e = Env::new();
    let name = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let mut c = e.cmd();
    c.env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("USERNAME")
        .args(["--database-url", &e.url, "--json", "institution", "create"])
        .args(["--name", "Harbor", "--region", "US"]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let audit = e.ok_json(&["audit", "list"]);
    let actor = audit["data"][0]["actor"].as_str().unwrap().to_string();
    assert_eq!(actor, format!("local:{name}"));
    assert_ne!(actor, "local:unknown");
}

#[test]
fn a_demo_rate_of_zero_is_refused_with_the_allowed_range() {
    let e = Env::new();
    let out = e
        .cmd()
        .args(["--demo", "--demo-rate", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("more than 0 and at most 1000"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn arguments_are_bounded_and_cursors_checked() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "3"]);
    let inst = e.ok_json(&["institution", "list"])["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A config read from an endless file is refused at its cap, not read for ever.
    let mut c = e.cmd();
    c.arg("--database-url").arg(&e.url).args([
        "template",
        "create",
        "--institution",
        &inst,
        "--code",
        "TF_LC",
        "--name",
        "Endless",
        "--vertical",
        "TRADE_FINANCE",
        "--region",
        "US",
        "--template-config",
        "@/dev/zero",
    ]);
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("--template-config @/dev/zero still reading after 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    // A regular file past the cap is refused at the cap.
    let big = e.dir.path().join("big.json");
    std::fs::write(&big, format!("{{\"x\": \"{}\"}}", "a".repeat(70_000))).unwrap();
    let out = e.run(&[
        "template",
        "create",
        "--institution",
        &inst,
        "--code",
        "TF_LC",
        "--name",
        "Big",
        "--vertical",
        "TRADE_FINANCE",
        "--region",
        "US",
        "--template-config",
        &format!("@{}", big.display()),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("over 65536 bytes"),
        "{}",
        stderr(&out)
    );

    for (args, says) in [
        (
            vec!["position", "list", "--after", "x"],
            "'x' is not a position id",
        ),
        (
            vec!["institution", "list", "--after", "pos_0"],
            "is not an institution id",
        ),
        (
            vec!["audit", "list", "--before", "17"],
            "is not an audit record id",
        ),
    ] {
        let out = e.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_mistyped_sqlite_path_is_an_error_and_a_new_file_is_announced() {
    let e = Env::new();
    let missing = e.dir.path().join("no-such-dir").join("x.db");
    let url = format!("sqlite://{}", missing.display());
    let out = e
        .cmd()
        .args(["--database-url", &url, "health"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("does not exist"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(!missing.parent().unwrap().exists(), "no directory made");
    // A new file in a directory that exists: created, and said so once.
    let out = e.run(&["institution", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("created new database {}", e.db().display())),
        "{}",
        stderr(&out)
    );
    let out = e.run(&["institution", "list"]);
    assert!(
        !stderr(&out).contains("created new database"),
        "{}",
        stderr(&out)
    );
    // The default, in the data directory, is made quietly.
    let out = e.cmd().args(["institution", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("created new database"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn check_finds_what_verify_cannot() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "20"]);
    let out = e.run(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("Store consistent"),
        "{}",
        stdout(&out)
    );

    // A position row changed without the ledger: the chain is intact, the store is not.
    sqlite_exec(
        &e.db(),
        "UPDATE positions SET state = 'FUNDED' WHERE id = (SELECT min(id) FROM positions WHERE state = 'CANCELLED')",
    )
    .await;
    assert_eq!(e.run(&["ledger", "verify"]).status.code(), Some(0));
    let out = e.run(&["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("stored as FUNDED") && stdout(&out).contains("replays to CANCELLED"),
        "{}",
        stdout(&out)
    );
    let v = e.ok_json_allow_fail(&["check"]);
    assert_eq!(v["ok"], false);
    // The row, and the counts kept beside it (store-wide and the institution's), which now
    // disagree with the rows counted.
    assert_eq!(v["findings"].as_array().unwrap().len(), 3, "{v}");
    assert!(
        v["findings"][0]["entity"]
            .as_str()
            .unwrap()
            .starts_with("pos_")
    );
    for i in [1, 2] {
        let what = v["findings"][i]["what"].as_str().unwrap();
        assert!(
            what.contains("kept counts differ") && what.ends_with("in: positionsByState"),
            "{v}"
        );
    }

    // The newest events cut off: the rest of the chain still verifies; the store does not (and
    // the head the first clean check witnessed is gone).
    tamper(
        &e.db(),
        "DELETE FROM ledger_events WHERE seq > (SELECT max(seq) - 5 FROM ledger_events)",
    )
    .await;
    let v = e.ok_json_allow_fail(&["ledger", "verify"]);
    assert!(v["broken"].is_null(), "the chain agrees with itself: {v}");
    assert!(
        v["tampering"][0]["what"]
            .as_str()
            .unwrap()
            .contains("is gone"),
        "{v}"
    );
    let v = e.ok_json_allow_fail(&["check"]);
    let text = v["findings"].to_string();
    assert!(
        text.contains("without a") || text.contains("more than ledger events"),
        "the audit trail remembers: {v}"
    );
}

/// Rewrites the history from `from_seq` on the way an attacker who knows the hash scheme would:
/// a payload edited, and every hash after it recomputed, so the chain verifies again.
async fn rewrite_history(db: &Path, from_seq: i64) {
    use escrowgrid::domain::ledger::LedgerDraft;
    use escrowgrid::store::{self, Backend, LedgerQuery};
    let url = format!("sqlite://{}", db.display());
    let s = store::open(Backend::Sqlite, &url, std::time::Duration::from_millis(50))
        .await
        .unwrap();
    let events = s
        .read_ledger(&LedgerQuery {
            after_seq: from_seq - 1,
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let before = s
        .read_ledger(&LedgerQuery {
            after_seq: from_seq - 2,
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    drop(s);
    let mut prev = before[0].hash.clone();
    let mut sql = String::new();
    for (i, e) in events.into_iter().enumerate() {
        let mut payload = e.payload.clone();
        if i == 0 {
            payload["actor"] = serde_json::json!("someone else");
        }
        let sealed = LedgerDraft {
            id: None,
            kind: e.kind,
            entity_type: e.entity_type,
            entity_id: e.entity_id.clone(),
            institution_id: e.institution_id.clone(),
            position_id: e.position_id.clone(),
            at: e.at,
            payload: payload.clone().into(),
        }
        .seal(e.id.clone(), e.seq - 1, &prev);
        sql.push_str(&format!(
            "UPDATE ledger_events SET payload = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {};",
            serde_json::to_string(&payload).unwrap().replace('\'', "''"),
            sealed.prev_hash,
            sealed.hash,
            e.seq
        ));
        prev = sealed.hash;
    }
    drop_append_only_triggers(db).await;
    use sqlx::ConnectOptions;
    let mut c = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await
        .unwrap();
}

#[tokio::test]
async fn witnessed_heads_catch_a_cut_and_a_rewrite() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "10"]);
    let out = e.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let witness = e.dir.path().join("data").join("witness.jsonl");
    let lines = std::fs::read_to_string(&witness).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&witness).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only");
    }
    let head: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    let head_seq = head["seq"].as_i64().unwrap();
    let copy = e.dir.path().join("theirs.jsonl");
    std::fs::copy(&witness, &copy).unwrap();
    // Verifying again adds nothing (the same head).
    e.run(&["ledger", "verify"]);
    assert_eq!(
        std::fs::read_to_string(&witness).unwrap().lines().count(),
        1
    );

    // Rewritten, every hash recomputed: the chain verifies; the witnessed head does not.
    rewrite_history(&e.db(), head_seq - 20).await;
    let v = e.ok_json_allow_fail(&["ledger", "verify"]);
    assert!(v["broken"].is_null(), "the chain itself is consistent: {v}");
    assert_eq!(v["ok"], false, "{v}");
    let what = v["tampering"][0]["what"].as_str().unwrap();
    assert!(
        what.contains(&format!("TAMPERED: seq {head_seq} was witnessed on")),
        "{what}"
    );
    assert!(what.contains("now has hash"), "{what}");
    let out = e.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("TAMPERED"), "{}", stdout(&out));

    // Another operator's file, checked against a fresh store with a cut ledger.
    let other = Env::new();
    other.ok_json(&["seed", "--demo", "--positions", "10"]);
    let v = other.ok_json_allow_fail(&["ledger", "verify"]);
    assert_eq!(v["ok"], true);
    let mine = other.dir.path().join("data").join("witness.jsonl");
    tamper(
        &other.db(),
        "DELETE FROM ledger_events WHERE seq > (SELECT max(seq) - 3 FROM ledger_events)",
    )
    .await;
    let out = other.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("is gone; the ledger now ends at seq"),
        "{}",
        stdout(&out)
    );
    // Someone else's witness, named on the command line, is compared too.
    let out = other.run(&["ledger", "verify", "--witness", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).matches("TAMPERED").count() >= 2,
        "both witnesses speak: {}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap().lines().count(),
        1,
        "a failed verify records nothing"
    );
}

#[test]
fn files_are_owner_only_and_a_password_is_never_shown() {
    use std::os::unix::fs::PermissionsExt;
    let e = Env::new();
    let data = e.dir.path().join("data");
    // The default store, in the data directory, with its logs and witness file.
    let out = e
        .cmd()
        .args(["seed", "--demo", "--positions", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = e.cmd().args(["ledger", "verify"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut files = vec![data.join("escrowgrid.db"), data.join("witness.jsonl")];
    for entry in std::fs::read_dir(data.join("logs")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for f in files.iter().chain([&data, &data.join("logs")]) {
        let mode = std::fs::metadata(f).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {:o}", f.display(), mode & 0o777);
    }

    // A PostgreSQL URL with a password: never in an error, `health`, or the log.
    let url = "postgres://app:s3cret@127.0.0.1:1/db";
    for args in [
        vec!["position", "list"],
        vec!["health", "--json"],
        vec!["health"],
    ] {
        let out = e
            .cmd()
            .args(["--database-url", url])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains("s3cret"), "{args:?}: {all}");
    }
    for entry in std::fs::read_dir(data.join("logs")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains("s3cret"), "the log: {text}");
    }
}

#[tokio::test]
async fn export_and_import_move_a_store_to_another_backend() {
    let a = Env::new();
    a.ok_json(&["seed", "--demo", "--positions", "25"]);
    let file = a.dir.path().join("backup.jsonl");
    let out = a.run(&["export", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Exported"), "{}", stdout(&out));
    let tail = |e: &Env, url: &str| {
        let out = e
            .cmd()
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
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let original = tail(&a, &a.url);
    // Into a new SQLite file, and (when it is reachable) into PostgreSQL.
    let b = Env::new();
    let mut targets = vec![b.url.clone()];
    let pg = match common::postgres_url() {
        Some(base) => Some(common::new_pg_schema(&base).await),
        None => {
            common::skip_postgres("export_and_import_move_a_store_to_another_backend");
            None
        }
    };
    if let Some(s) = &pg {
        targets.push(s.url.clone());
    }
    for url in &targets {
        let out = b
            .cmd()
            .args(["--database-url", url, "import", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{url}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("both chains verified"),
            "{}",
            stdout(&out)
        );
        assert_eq!(
            tail(&b, url),
            original,
            "{url}: the same ledger, byte for byte"
        );
        let out = b
            .cmd()
            .args(["--database-url", url, "check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{url}: {}", stdout(&out));
        // A second import into the now full store is refused.
        let out = b
            .cmd()
            .args(["--database-url", url, "import", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("needs an empty store"),
            "{}",
            stderr(&out)
        );
    }
}

/// Witnessed heads follow the store, not how its URL is spelled: a store reached as
/// `sqlite:///dir/./x.db`, `//` or through a symlink is the same store, and its rewrite is
/// caught; the audit trail's head is witnessed too, so a refusal's record cut off the end is
/// caught.
#[tokio::test]
async fn witnesses_follow_the_store_and_its_audit_trail() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "10"]);
    // A refusal: a record in no ledger event.
    let out = e.run(&["position", "transition", "pos_nope", "--to", "FUNDED"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(e.run(&["ledger", "verify"]).status.code(), Some(0));
    let witness = e.dir.path().join("data").join("witness.jsonl");
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(&witness)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let head_seq = line["seq"].as_i64().unwrap();
    assert!(
        line["identity"].as_str().unwrap().starts_with("sqlite:"),
        "{line}"
    );
    assert!(line["auditSeq"].as_i64().unwrap() > head_seq, "{line}");

    // The same file spelled three other ways.
    let dir = e.dir.path();
    std::os::unix::fs::symlink(e.db(), dir.join("link.db")).unwrap();
    let spellings = [
        format!("sqlite://{}/./x.db", dir.display()),
        format!("sqlite://{}//x.db", dir.display()),
        format!("sqlite://{}/link.db", dir.display()),
    ];
    rewrite_history(&e.db(), head_seq - 20).await;
    for url in &spellings {
        let mut c = e.cmd();
        let out = c
            .args(["--database-url", url, "ledger", "verify"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{url}: {}", stdout(&out));
        assert!(
            stdout(&out).contains(&format!("TAMPERED: seq {head_seq} was witnessed")),
            "{url}: {}",
            stdout(&out)
        );
    }
    assert_eq!(
        std::fs::read_to_string(&witness).unwrap().lines().count(),
        1,
        "the forged head is never witnessed"
    );

    // The newest audit record cut off: the ledger is whole; the witnessed audit head is gone.
    let f = Env::new();
    f.ok_json(&["seed", "--demo", "--positions", "5"]);
    f.run(&["position", "transition", "pos_nope", "--to", "FUNDED"]);
    assert_eq!(f.run(&["ledger", "verify"]).status.code(), Some(0));
    tamper(
        &f.db(),
        "DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)",
    )
    .await;
    let out = f.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("TAMPERED: audit seq") && stdout(&out).contains("is gone"),
        "{}",
        stdout(&out)
    );
}

/// A command that must finish within `secs`, or the test fails (and the process is killed).
fn within(mut c: Command, secs: u64) -> Output {
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > std::time::Duration::from_secs(secs) {
            child.kill().unwrap();
            panic!("still running after {secs} s: {c:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `@FILE` and `--config` read regular files only (a FIFO would hang, /dev/zero would fill
/// memory), and an empty ESCROWGRID_DATA_DIR is an error, not the home directory.
#[test]
fn named_files_are_regular_and_bounded_and_the_data_dir_is_never_empty() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "3"]);
    let fifo = e.dir.path().join("fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a path of our own; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let at = format!("@{}", fifo.display());
    let mut c = e.cmd();
    c.arg("--database-url").arg(&e.url).args([
        "asset",
        "create",
        "--label",
        "L",
        "--template",
        "tmpl_x",
        "--metadata",
        &at,
    ]);
    let out = within(c, 10);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    for config in [fifo.to_str().unwrap(), "/dev/zero"] {
        let mut c = e.cmd();
        c.args(["--config", config, "--database-url", &e.url, "health"]);
        let out = within(c, 10);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("not a regular file"),
            "{config}: {}",
            stderr(&out)
        );
    }
    let mut c = e.cmd();
    c.env("ESCROWGRID_DATA_DIR", "").args(["health"]);
    let out = within(c, 10);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ESCROWGRID_DATA_DIR") && stderr(&out).contains("is set but empty"),
        "{}",
        stderr(&out)
    );
}

/// A page of exactly the largest size says whether more follow; the audit trail pages too; a
/// tail of none prints none.
#[test]
fn full_pages_tell_of_more_and_tail_last_zero_prints_nothing() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "1225"]);
    let p = e.ok_json(&["position", "list", "--limit", "1000"]);
    assert_eq!(p["data"].as_array().unwrap().len(), 1000);
    assert_eq!(p["pagination"]["hasMore"], true, "{}", p["pagination"]);
    let next = p["pagination"]["nextAfter"].as_str().unwrap().to_string();
    let p = e.ok_json(&["position", "list", "--limit", "1000", "--after", &next]);
    assert_eq!(p["data"].as_array().unwrap().len(), 225);
    assert_eq!(p["pagination"]["hasMore"], false);
    let a = e.ok_json(&["audit", "list", "--limit", "1000"]);
    assert_eq!(a["data"].as_array().unwrap().len(), 1000);
    assert_eq!(a["pagination"]["hasMore"], true, "{}", a["pagination"]);
    let before = a["pagination"]["nextBefore"].as_str().unwrap().to_string();
    let b = e.ok_json(&["audit", "list", "--limit", "10", "--before", &before]);
    assert!(b["data"][0]["id"].as_str().unwrap() < before.as_str());
    let out = e.run(&["ledger", "tail", "--last", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "no event");
}

/// `policy set` changes what it is given: a new maximum keeps the allowed currencies and the
/// minimum; each can be removed on purpose.
#[test]
fn policy_set_keeps_what_it_is_not_given() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "3"]);
    let inst = e.ok_json(&["institution", "list"])["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let set = |extra: &[&str]| {
        let mut a = vec!["policy", "set", "--institution", &inst, "--region", "US"];
        a.extend_from_slice(extra);
        e.ok_json(&a)["config"]["position"].clone()
    };
    let p = set(&[
        "--min-amount",
        "10",
        "--max-amount",
        "5000",
        "--currency",
        "USD,EUR",
    ]);
    assert_eq!(p["allowedCurrencies"], serde_json::json!(["USD", "EUR"]));
    let p = set(&["--max-amount", "9000"]);
    assert_eq!(p["maxAmount"], "9000");
    assert_eq!(p["minAmount"], "10", "{p}");
    assert_eq!(
        p["allowedCurrencies"],
        serde_json::json!(["USD", "EUR"]),
        "{p}"
    );
    let p = set(&["--any-currency", "--no-min-amount"]);
    assert!(
        p["allowedCurrencies"].is_null() && p["minAmount"].is_null(),
        "{p}"
    );
    assert_eq!(p["maxAmount"], "9000");
}

/// The local operator is the process's real user, whatever `$USER` says.
#[test]
fn the_local_actor_is_the_real_user_whatever_user_says() {
    let e = Env::new();
    let mut c = e.cmd();
    let out = c
        .env("USER", "mallory")
        .env("LOGNAME", "mallory")
        .args([
            "--database-url",
            &e.url,
            "seed",
            "--demo",
            "--positions",
            "1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id = Command::new("id").arg("-un").output().unwrap();
    let me = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let a = e.ok_json(&["audit", "list", "--limit", "5"]);
    for r in a["data"].as_array().unwrap() {
        assert_eq!(r["actor"], format!("local:{me}"), "{r}");
    }
}

/// Usage errors keep the JSON error shape under --json; every argument of a transition has
/// help with its allowed values; a page size names its real range; and --json output escapes
/// what the console escapes (a raw U+202E or ESC never reaches the terminal), losslessly.
#[tokio::test]
async fn usage_errors_help_and_json_output_are_safe_and_specific() {
    let e = Env::new();
    let out = e.run(&["--json", "position", "list", "--limit", "99999999999"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let v: Value = serde_json::from_str(err.trim()).expect("a JSON usage error");
    assert_eq!(v["code"], "USAGE");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("99999999999 is not in 1..=1000"),
        "{v}"
    );
    assert!(
        v["details"]["argument"]
            .as_str()
            .unwrap()
            .contains("--limit"),
        "{v}"
    );
    let out = e.run(&["positoin", "list", "--json"]);
    let v: Value = serde_json::from_str(stderr(&out).trim()).expect("a JSON usage error");
    assert_eq!(v["details"]["didYouMean"][0], "position", "{v}");
    let out = e.run(&["--json", "position", "transition"]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_str(stderr(&out).trim()).expect("a JSON usage error");
    assert!(
        v["error"].as_str().unwrap().contains("--to <STATE> <ID>"),
        "{v}"
    );
    // Without --json, clap's own text.
    let out = e.run(&["position", "list", "--limit", "5000"]);
    assert!(stderr(&out).starts_with("error: invalid value '5000' for '--limit"));

    let help = stdout(&e.run(&["position", "transition", "--help"]));
    for says in [
        "<ID>",
        "The position's id",
        "--to <STATE>",
        "[possible values: FUNDED, PARTIALLY_RELEASED, RELEASED, CANCELLED, EXPIRED]",
        "--reason <TEXT>",
        "Why (up to 1000 characters)",
        "FUNDED             → PARTIALLY_RELEASED, RELEASED, CANCELLED, EXPIRED",
    ] {
        assert!(help.contains(says), "help says {says:?}: {help}");
    }
    // Allowed values in any case, as before.
    e.ok_json(&["seed", "--demo", "--positions", "30"]);
    let funded = e.ok_json(&["position", "list", "--state", "funded", "--limit", "1"]);
    let id = funded["data"][0]["id"].as_str().unwrap().to_string();
    let moved = e.ok_json(&["position", "transition", &id, "--to", "released"]);
    assert_eq!(moved["position"]["state"], "RELEASED", "{moved}");

    // Hostile text in the database (the service refuses it on the way in; someone with the
    // file's write access does not ask): escaped on the way out, read back exactly.
    let hostile = "EVIL\u{202e}cod.exe\u{1b}[2J\u{9b}x";
    sqlite_exec_string(
        &e.db(),
        format!("UPDATE positions SET holder_reference = '{hostile}' WHERE id = '{id}'"),
    )
    .await;
    for args in [
        vec!["position", "show", id.as_str()],
        vec!["position", "list", "--state", "RELEASED"],
    ] {
        let mut a = args.clone();
        a.push("--json");
        let out = e.run(&a);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let raw = stdout(&out);
        for c in ['\u{202e}', '\u{1b}', '\u{9b}'] {
            assert!(
                !raw.contains(c),
                "{args:?}: {c:?} reaches the terminal: {raw:?}"
            );
        }
        assert!(raw.contains("\\u202e"), "{args:?}: {raw}");
        let v: Value = serde_json::from_str(&raw).unwrap();
        let found = if args[1] == "show" {
            v.get("position").unwrap_or(&v)["holderReference"].clone()
        } else {
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id.as_str())
                .unwrap()["holderReference"]
                .clone()
        };
        assert_eq!(found, hostile, "{args:?}: read back exactly");
    }
    // An error that repeats hostile input is escaped too.
    let out = e.run(&["--json", "position", "show", "pos_\u{202e}x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains('\u{202e}'), "{:?}", stderr(&out));
}

/// `metrics` against a store that cannot be opened prints `escrowgrid_up 0` and exits 0 (the
/// reason on stderr), so a scrape file is replaced rather than kept at its last good value;
/// every scrape says which build it is; `--version` names the commit and the features.
#[test]
fn metrics_of_a_store_that_is_down_and_the_build_identity() {
    let e = Env::new();
    let out = e
        .cmd()
        .args([
            "--database-url",
            "postgres://app:s3cret@127.0.0.1:1/none",
            "metrics",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("escrowgrid_up{backend=\"postgres\"} 0\n"),
        "{text}"
    );
    assert!(!text.contains("s3cret"));
    let build = text
        .lines()
        .find(|l| l.starts_with("escrowgrid_build_info{"))
        .unwrap_or_else(|| panic!("build info: {text}"));
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{build}"
    );
    assert!(
        build.contains("commit=\"") && build.ends_with("} 1"),
        "{build}"
    );
    let features = if cfg!(feature = "onchain") {
        "onchain"
    } else {
        "none"
    };
    assert!(
        build.contains(&format!("features=\"{features}\"")),
        "{build}"
    );
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );

    let version = stdout(&e.run(&["--version"]));
    assert!(
        version.starts_with(&format!(
            "escrowgrid {} (commit ",
            env!("CARGO_PKG_VERSION")
        )) && version.contains(&format!("features: {features})")),
        "{version}"
    );
    // On a store that answers: the pool's states apart from its size.
    let text = stdout(&e.run(&["metrics"]));
    assert!(
        text.contains("escrowgrid_up{backend=\"sqlite\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("escrowgrid_pool_connections{state=\"in_use\"} "),
        "{text}"
    );
    assert!(text.contains("escrowgrid_pool_max_connections "), "{text}");
    assert!(!text.contains("state=\"max\""), "{text}");
}

/// Logs for services: ESCROWGRID_LOG_DIR and RUST_LOG are honoured (ESCROWGRID_LOG first),
/// log_target = stderr writes there, the default without a data directory is the XDG state
/// directory, and a log that cannot be opened stops the command with the reason.
#[test]
fn logs_go_where_they_are_told_and_fail_loudly() {
    let e = Env::new();
    let logs = e.dir.path().join("elsewhere");
    let out = e
        .cmd()
        .env("ESCROWGRID_LOG_DIR", &logs)
        .env("RUST_LOG", "debug")
        .args(["--database-url", &e.url, "institution", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text: String = std::fs::read_dir(&logs)
        .expect("the log directory named")
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    assert!(text.contains("DEBUG"), "RUST_LOG=debug: {text}");
    // ESCROWGRID_LOG wins over RUST_LOG.
    let quiet = e.dir.path().join("quiet");
    e.cmd()
        .env("ESCROWGRID_LOG_DIR", &quiet)
        .env("ESCROWGRID_LOG", "error")
        .env("RUST_LOG", "debug")
        .args(["--database-url", &e.url, "institution", "list"])
        .output()
        .unwrap();
    let text: String = std::fs::read_dir(&quiet)
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    assert!(!text.contains("DEBUG") && !text.contains("INFO"), "{text}");

    let out = e
        .cmd()
        .env("ESCROWGRID_LOG_TARGET", "stderr")
        .args(["--database-url", &e.url, "institution", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("escrowgrid starting"),
        "{}",
        stderr(&out)
    );
    let bad = e
        .cmd()
        .env("ESCROWGRID_LOG_TARGET", "syslog")
        .args(["--database-url", &e.url, "institution", "list"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("ESCROWGRID_LOG_TARGET: 'syslog' is not a log target"),
        "{}",
        stderr(&bad)
    );

    // No data directory named: logs in $XDG_STATE_HOME/escrowgrid/logs.
    let state = e.dir.path().join("state");
    let out = e
        .cmd()
        .env_remove("ESCROWGRID_DATA_DIR")
        .env("HOME", e.dir.path())
        .env("XDG_DATA_HOME", e.dir.path().join("share"))
        .env("XDG_STATE_HOME", &state)
        .args(["--database-url", &e.url, "institution", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        state.join("escrowgrid/logs").is_dir(),
        "logs in the state directory"
    );

    // A log directory that cannot be made: the command stops, saying why.
    let file = e.dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = e
        .cmd()
        .env("ESCROWGRID_LOG_DIR", file.join("logs"))
        .args(["--database-url", &e.url, "institution", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot create log directory"),
        "{}",
        stderr(&out)
    );
}

/// `-o csv|tsv|json|table` and `--no-headers`: CSV a spreadsheet reads (quoted commas, plain
/// amounts, empty for no value), TSV one record per line, one envelope for every list, one
/// shape of error `details`, and csv refused where there is no list.
#[test]
fn output_formats_for_scripts() {
    let e = Env::new();
    e.ok_json(&["seed", "--demo", "--positions", "12"]);
    e.ok_json(&[
        "institution",
        "create",
        "--name",
        "Comma, Quote \"Bank\"",
        "--region",
        "US",
        "--vertical",
        "CONSTRUCTION",
    ]);

    // CSV: the header, then records a CSV reader takes back exactly.
    let out = e.run(&["institution", "list", "-o", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["ID", "NAME", "REGIONS", "VERTICALS", "CREATED"]
    );
    let names: Vec<String> = r.records().map(|x| x.unwrap()[1].to_string()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(
        names.contains(&"Comma, Quote \"Bank\"".to_string()),
        "{names:?}"
    );

    // Amounts without thousands separators, equal to the JSON's.
    let json = e.ok_json(&["position", "list", "--limit", "5"]);
    let out = e.run(&["position", "list", "--limit", "5", "--output", "csv"]);
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    let amount_col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "AMOUNT")
        .unwrap();
    let amounts: Vec<String> = r
        .records()
        .map(|x| x.unwrap()[amount_col].to_string())
        .collect();
    let want: Vec<&str> = json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, want);
    assert!(amounts.iter().all(|a| !a.contains(',')), "{amounts:?}");
    // The table groups them for people.
    let table = stdout(&e.run(&["position", "list", "--limit", "5"]));
    let (int, frac) = want[0].split_once('.').unwrap_or((want[0], ""));
    assert!(
        int.len() > 3,
        "demo amounts are in the thousands: {}",
        want[0]
    );
    let digits: Vec<char> = int.chars().collect();
    let mut grouped = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(*c);
    }
    let grouped = if frac.is_empty() {
        grouped
    } else {
        format!("{grouped}.{frac}")
    };
    assert!(table.contains(&grouped), "{grouped} in {table}");

    // TSV without headers: one line per record, tab-separated, nothing else.
    let out = e.run(&[
        "position",
        "list",
        "--limit",
        "3",
        "-o",
        "tsv",
        "--no-headers",
    ]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines.iter().all(|l| l.split('\t').count() == 8), "{text}");
    assert!(lines[0].starts_with("pos_"), "{text}");
    // --no-headers on a table leaves out the header line only.
    let t = stdout(&e.run(&["institution", "list", "--no-headers"]));
    assert_eq!(t.lines().count(), 5, "{t}");
    assert!(!t.contains("NAME"), "{t}");

    // The ledger list as CSV: full hashes, one record per event.
    let out = e.run(&["ledger", "list", "--limit", "4", "-o", "csv"]);
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    let recs: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(recs.len(), 4);
    assert_eq!(&recs[0][0], "1");
    assert_eq!(recs[0][5].len(), 64, "the whole hash");

    // One envelope for every list: policies and API keys page like the others.
    let p1 = e.ok_json(&["policy", "list", "--limit", "2"]);
    assert_eq!(p1["data"].as_array().unwrap().len(), 2);
    assert_eq!(p1["pagination"]["limit"], 2);
    assert_eq!(p1["pagination"]["hasMore"], true);
    let next = p1["pagination"]["nextAfter"].as_str().unwrap().to_string();
    let all = e.ok_json(&["policy", "list"]);
    let p2 = e.ok_json(&["policy", "list", "--limit", "1000", "--after", &next]);
    assert_eq!(
        p2["data"].as_array().unwrap().len() + 2,
        all["data"].as_array().unwrap().len()
    );
    assert_eq!(p2["data"][0]["id"], all["data"][2]["id"]);
    assert_eq!(p2["pagination"]["hasMore"], false);
    let inst = all["data"][0]["institutionId"]
        .as_str()
        .unwrap()
        .to_string();
    e.ok_json(&[
        "apikey",
        "create",
        "--institution",
        &inst,
        "--label",
        "a",
        "--role",
        "admin",
    ]);
    e.ok_json(&[
        "apikey",
        "create",
        "--institution",
        &inst,
        "--label",
        "b",
        "--role",
        "read_only",
    ]);
    let k = e.ok_json(&["apikey", "list", "--limit", "1"]);
    assert_eq!(k["pagination"]["hasMore"], true, "{k}");
    let k2 = e.ok_json(&[
        "apikey",
        "list",
        "--after",
        k["pagination"]["nextAfter"].as_str().unwrap(),
    ]);
    assert_eq!(k2["data"].as_array().unwrap().len(), 1, "{k2}");
    assert_eq!(k2["pagination"]["hasMore"], false);
    let a = e.ok_json(&["audit", "list", "--limit", "1"]);
    assert_eq!(a["pagination"]["limit"], 1);

    // Errors: `details` is an object whatever the error.
    for (args, key) in [
        (
            vec!["position", "show", "pos_missing", "-o", "json"],
            "resource",
        ),
        (
            vec![
                "position", "list", "--state", "FUNDED", "--after", "ast_x", "--json",
            ],
            "fields",
        ),
        (
            vec!["apikey", "list", "--after", "ak_gone", "--json"],
            "fields",
        ),
    ] {
        let out = e.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v: Value = serde_json::from_str(stderr(&out).trim()).expect("JSON error");
        assert!(v["details"].is_object(), "{args:?}: {v}");
        assert!(v["details"].get(key).is_some(), "{args:?}: {v}");
    }

    // csv where there is no list; --json with another -o.
    let out = e.run(&["health", "-o", "csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("csv and tsv are for lists"),
        "{}",
        stderr(&out)
    );
    let out = e.run(&["position", "list", "--json", "-o", "csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--json is -o json"),
        "{}",
        stderr(&out)
    );
}
