//! Backups an attacker cannot use and a crash cannot damage: an import builds the store from the
//! ledger alone (forged rows refuse it), is all or nothing (a killed import leaves an empty
//! store), and needs the file's trailer (a cut file is refused); an export never damages the file
//! it replaces (written beside it and renamed; refused before any file is touched).

use crate::common;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn url(&self, name: &str) -> String {
        format!("sqlite://{}", self.dir.path().join(name).display())
    }

    fn cmd(&self, db: &str) -> Command {
        let mut c = common::escrowgrid(&self.dir.path().join("data"));
        c.arg("--database-url").arg(self.url(db));
        c
    }

    fn run(&self, db: &str, args: &[&str]) -> Output {
        self.cmd(db).args(args).output().unwrap()
    }

    fn ok(&self, db: &str, args: &[&str]) -> String {
        let out = self.run(db, args);
        assert!(out.status.success(), "{args:?}: {}", err(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A demo store with a refusal and a key, exported to `backup.jsonl`.
    fn exported(&self, positions: &str) -> PathBuf {
        self.ok("a.db", &["seed", "--demo", "--positions", positions]);
        self.run(
            "a.db",
            &["position", "transition", "pos_nope", "--to", "FUNDED"],
        );
        let file = self.path("backup.jsonl");
        self.ok("a.db", &["export", file.to_str().unwrap()]);
        file
    }

    fn empty(&self, db: &str) -> bool {
        let out = self.run(db, &["health", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "health --json ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                err(&out)
            )
        });
        let c = &v["counts"];
        c["ledgerEvents"] == 0 && c["auditEvents"] == 0 && c["institutions"] == 0
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The lines of an export, with a fresh trailer (what an attacker who edits the rows writes:
/// the digest is no secret).
fn with_trailer(mut lines: Vec<Value>) -> String {
    let mut trailer = lines.pop().unwrap();
    assert_eq!(trailer["type"], "trailer");
    let body: String = lines
        .iter()
        .map(|l| serde_json::to_string(l).unwrap() + "\n")
        .collect();
    trailer["data"]["sha256"] = Value::from(hex::encode(Sha256::digest(body.as_bytes())));
    body + &serde_json::to_string(&trailer).unwrap() + "\n"
}

fn first_institution(file: &Path) -> String {
    lines_of(file)
        .into_iter()
        .find(|l| l["type"] == "institution")
        .unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn lines_of(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn an_import_builds_the_store_from_the_ledger_and_refuses_forged_rows() {
    let e = Env::new();
    let file = e.exported("20");
    let inst = first_institution(&file);
    let key = e.ok(
        "a.db",
        &[
            "apikey",
            "create",
            "--institution",
            &inst,
            "--label",
            "ops",
            "--role",
            "admin",
            "--json",
        ],
    );
    let key: Value = serde_json::from_str(&key).unwrap();
    std::fs::remove_file(&file).unwrap();
    e.ok("a.db", &["export", file.to_str().unwrap()]);
    let id = key["apiKey"]["id"].as_str().unwrap();

    // The key's hash replaced by the attacker's, every lifecycle reason rewritten.
    let forged = hex::encode(Sha256::digest(b"ak_attacker"));
    let mut lines = lines_of(&file);
    let mut reasons = 0;
    for l in &mut lines {
        if l["type"] == "apiKey" && l["data"]["id"] == id {
            l["data"]["keyHash"] = Value::from(forged.clone());
        }
        if l["type"] == "lifecycle" {
            l["data"]["reason"] = Value::from("Forged");
            reasons += 1;
        }
    }
    assert!(reasons > 0);
    let bad = e.path("forged.jsonl");
    std::fs::write(&bad, with_trailer(lines.clone())).unwrap();
    let out = e.run("b.db", &["import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    let why = err(&out);
    assert!(
        why.contains("nothing was imported")
            && why.contains("differs from")
            && why.contains("in: reason"),
        "the first difference, by seq, is a lifecycle reason: {why}"
    );
    assert!(e.empty("b.db"), "nothing was written");

    // Only the key's hash: named as such.
    let only_key: Vec<Value> = lines_of(&file)
        .into_iter()
        .map(|mut l| {
            if l["type"] == "apiKey" && l["data"]["id"] == id {
                l["data"]["keyHash"] = Value::from(forged.clone());
            }
            l
        })
        .collect();
    std::fs::write(&bad, with_trailer(only_key)).unwrap();
    let out = e.run("b.db", &["import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err(&out).contains(&format!("API key {id} differs")) && err(&out).contains("keyHash"),
        "{}",
        err(&out)
    );

    // The same edit with the old trailer: the file does not match it.
    let mut stale = lines_of(&file);
    for l in &mut stale {
        if l["type"] == "lifecycle" {
            l["data"]["reason"] = Value::from("Forged");
        }
    }
    let text: String = stale
        .iter()
        .map(|l| serde_json::to_string(l).unwrap() + "\n")
        .collect();
    std::fs::write(&bad, text).unwrap();
    let out = e.run("b.db", &["import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err(&out).contains("does not match its trailer"),
        "{}",
        err(&out)
    );

    // The real file imports, and the key works with its own token only.
    e.ok("b.db", &["import", file.to_str().unwrap()]);
    assert!(e.ok("b.db", &["check"]).contains("Store consistent"));
}

#[test]
fn a_cut_export_is_refused_and_an_old_one_needs_legacy() {
    let e = Env::new();
    let file = e.exported("10");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = e.path("cut.jsonl");
    // Cut at a line boundary (the trailer gone, and more).
    for keep in [lines.len() - 1, lines.len() / 2] {
        std::fs::write(&cut, lines[..keep].join("\n") + "\n").unwrap();
        let out = e.run("b.db", &["import", cut.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", err(&out));
        assert!(
            err(&out).contains("has no trailer: the file was cut short"),
            "{}",
            err(&out)
        );
        assert!(e.empty("b.db"));
    }
    // Cut in the middle of a line.
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let out = e.run("b.db", &["import", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("not an export line"), "{}", err(&out));

    // An export of version 1 (no trailer): refused unless --legacy says so.
    let mut old: Vec<Value> = lines_of(&file);
    old.pop();
    old[0]["data"]["version"] = Value::from(1);
    let old_text: String = old
        .iter()
        .map(|l| serde_json::to_string(l).unwrap() + "\n")
        .collect();
    std::fs::write(&cut, old_text).unwrap();
    let out = e.run("b.db", &["import", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("pass --legacy"), "{}", err(&out));
    e.ok("b.db", &["import", "--legacy", cut.to_str().unwrap()]);
    assert!(e.ok("b.db", &["check"]).contains("Store consistent"));
}

#[test]
fn a_killed_import_leaves_an_empty_store_that_imports_again() {
    use std::os::unix::process::ExitStatusExt;
    let e = Env::new();
    let file = e.exported("1500");
    let mut killed_early = 0;
    for (round, delay_ms) in [40u64, 90, 160, 260].into_iter().enumerate() {
        let db = format!("k{round}.db");
        // The store and its schema exist before the import starts.
        e.ok(&db, &["health"]);
        let mut child = e
            .cmd(&db)
            .args(["import", file.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.signal() == Some(9) {
            // Killed: nothing of it, or (had it already committed) all of it.
            if e.empty(&db) {
                killed_early += 1;
                e.ok(&db, &["import", file.to_str().unwrap()]);
            }
        }
        assert!(
            e.ok(&db, &["check"]).contains("Store consistent"),
            "round {round}"
        );
    }
    assert!(
        killed_early > 0,
        "at least one import was killed before it committed"
    );
}

#[test]
fn an_export_never_damages_the_file_it_replaces() {
    use std::os::unix::process::ExitStatusExt;
    let e = Env::new();
    let file = e.exported("1500");
    let before = std::fs::read(&file).unwrap();
    // Without --force an existing file is refused.
    let out = e.run("a.db", &["export", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("pass --force"), "{}", err(&out));
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // A refused export (a read-only key) touches no file at all.
    let inst = first_institution(&file);
    let root = |args: &[&str]| {
        let out = e
            .cmd("a.db")
            .env("ESCROWGRID_ROOT_API_KEY", "s3cret-root")
            .env("ESCROWGRID_API_KEY", "s3cret-root")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", err(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let key: Value = serde_json::from_str(&root(&[
        "apikey",
        "create",
        "--institution",
        &inst,
        "--label",
        "v",
        "--role",
        "read_only",
        "--json",
    ]))
    .unwrap();
    let token = key["token"].as_str().unwrap();
    for force in [false, true] {
        let mut c = e.cmd("a.db");
        c.env("ESCROWGRID_ROOT_API_KEY", "s3cret-root").args([
            "--api-key",
            token,
            "export",
            file.to_str().unwrap(),
        ]);
        if force {
            c.arg("--force");
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", err(&out));
        assert!(
            err(&out).contains("not allowed for role read_only"),
            "{}",
            err(&out)
        );
        assert_eq!(std::fs::read(&file).unwrap(), before, "untouched");
        let fresh = e.path("fresh.jsonl");
        let out = e
            .cmd("a.db")
            .env("ESCROWGRID_ROOT_API_KEY", "s3cret-root")
            .args(["--api-key", token, "export", fresh.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(!fresh.exists(), "no empty file left behind");
    }
    // Killed while replacing it: the old file is whole, and no partial file is left named as it.
    let mut killed = 0;
    for delay_ms in [30u64, 80, 150] {
        let mut child = e
            .cmd("a.db")
            .args(["export", "--force", file.to_str().unwrap()])
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let now = std::fs::read(&file).unwrap();
        if status.signal() == Some(9) && now == before {
            killed += 1;
        } else {
            // It finished first: the new file is whole (a trailer, and it imports).
            assert!(
                String::from_utf8_lossy(&now)
                    .lines()
                    .last()
                    .unwrap()
                    .contains("\"trailer\"")
            );
        }
        let _ = t0;
    }
    assert!(
        killed > 0,
        "at least one export was killed before it finished"
    );
    // What a killed export left is a hidden temporary file, never the target.
    let stray: Vec<_> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .filter_map(|d| d.ok())
        .map(|d| d.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(
        stray.iter().all(|n| n.starts_with(".escrowgrid-export-")),
        "{stray:?}"
    );
    // With --force it is replaced whole.
    e.ok("a.db", &["export", "--force", file.to_str().unwrap()]);
    e.ok("c.db", &["import", file.to_str().unwrap()]);
}

/// An export taken while the store is written to is one consistent moment: it imports, and
/// the imported store passes `check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_export_of_a_busy_store_imports_whole() {
    use escrowgrid::store::Backend;
    let h = std::sync::Arc::new(common::Harness::new(Backend::Sqlite).await.unwrap());
    escrowgrid::demo::seed::load_demo(&h.svc, &h.actor, 60, 5, false)
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (h, stop) = (h.clone(), stop.clone());
        tokio::spawn(async move {
            let f = h.fixture().await;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let p = h.position(&f, &format!("BUSY-{n}"), "100").await;
                let to = escrowgrid::service::TransitionRequest {
                    to: "FUNDED".into(),
                    ..Default::default()
                };
                h.svc
                    .transition_position(&h.actor, &p.id, to)
                    .await
                    .unwrap();
                // A refusal too: an audit record alone.
                let _ = h.position_result(&f, "", "100").await;
                n += 1;
            }
            n
        })
    };
    for _ in 0..4 {
        let mut out: Vec<u8> = Vec::new();
        h.svc.export_to(&h.actor, &mut out, "memory").await.unwrap();
        let into = common::Harness::new(Backend::Memory).await.unwrap();
        into.svc
            .import(&into.actor, std::io::Cursor::new(out), Default::default())
            .await
            .unwrap();
        let r = into.svc.check(&into.actor).await.unwrap();
        assert!(r.ok, "{:#?}", r.findings);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        writer.await.unwrap() > 0,
        "the store was written to meanwhile"
    );
}
