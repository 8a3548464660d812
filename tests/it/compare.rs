//! `compare URL_A URL_B` through the built binary: an export imported elsewhere (SQLite and
//! PostgreSQL) holds the same book; a ledger that goes on, another history and a row changed
//! behind the ledger are each named as the first difference, with exit 1.

use crate::cli::{drop_append_only_triggers, sqlite_exec_string_pub as sqlite_exec_string};
use crate::common;
use serde_json::Value;
use std::process::Output;

fn url_of(dir: &tempfile::TempDir, name: &str) -> String {
    format!("sqlite://{}", dir.path().join(name).display())
}

fn run(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    common::escrowgrid(&dir.path().join("data"))
        .args(args)
        .output()
        .expect("run escrowgrid")
}

fn ok(dir: &tempfile::TempDir, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `compare` as JSON, and its exit code.
fn compare(dir: &tempfile::TempDir, a: &str, b: &str) -> (Option<i32>, Value) {
    let out = run(dir, &["compare", a, b, "--json"]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {} / {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

fn first_difference(v: &Value) -> &str {
    v["firstDifference"].as_str().unwrap_or("")
}

#[tokio::test]
async fn compare_names_the_first_difference_between_two_stores() {
    let dir = tempfile::tempdir().unwrap();
    let a = url_of(&dir, "a.db");
    ok(
        &dir,
        &["--database-url", &a, "seed", "--demo", "--positions", "25"],
    );
    let file = dir.path().join("a.jsonl");
    let file = file.to_str().unwrap();
    ok(&dir, &["--database-url", &a, "export", file]);
    // The same book in another SQLite file, and in PostgreSQL when it is reachable.
    let b = url_of(&dir, "b.db");
    ok(&dir, &["--database-url", &b, "import", file]);
    let pg = match common::postgres_url() {
        Some(base) => Some(common::new_pg_schema(&base).await),
        None => {
            common::skip_postgres(
                "compare_names_the_first_difference_between_two_stores (PostgreSQL side)",
            );
            None
        }
    };
    let mut copies = vec![b.clone()];
    if let Some(s) = &pg {
        ok(&dir, &["--database-url", &s.url, "import", file]);
        copies.push(s.url.clone());
    }
    for copy in &copies {
        let (code, v) = compare(&dir, &a, copy);
        assert_eq!(code, Some(0), "{copy}: {v}");
        assert_eq!(v["same"], true);
        assert_eq!(v["a"]["digests"], v["b"]["digests"], "{copy}");
        assert_eq!(
            (&v["a"]["headHash"], &v["a"]["checkOk"]),
            (&v["b"]["headHash"], &Value::Bool(true))
        );
        let rows = |kind: &str| {
            v["a"]["digests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["kind"] == kind)
                .map(|d| d["rows"].as_u64().unwrap())
                .unwrap()
        };
        assert_eq!(rows("position"), 25);
        assert!(rows("lifecycle step") > 0 && rows("audit record") > 0);
    }
    let text = ok(&dir, &["compare", &a, &b]);
    assert!(text.contains("same book"), "{text}");

    // A goes on: B's ledger ends where A's went on.
    ok(
        &dir,
        &[
            "--database-url",
            &a,
            "institution",
            "create",
            "--name",
            "Later Bank",
            "--region",
            "US",
            "--vertical",
            "CONSTRUCTION",
        ],
    );
    let (code, v) = compare(&dir, &a, &b);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["same"], false);
    let (ha, hb) = (
        v["a"]["headSeq"].as_i64().unwrap(),
        v["b"]["headSeq"].as_i64().unwrap(),
    );
    assert_eq!(ha, hb + 1);
    assert_eq!(
        first_difference(&v),
        format!("B's ledger ends at seq {hb}; A's goes on to seq {ha}")
    );

    // Another history from seq 1 on.
    let other = url_of(&dir, "other.db");
    ok(
        &dir,
        &[
            "--database-url",
            &other,
            "seed",
            "--demo",
            "--positions",
            "3",
        ],
    );
    let (code, v) = compare(&dir, &b, &other);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(first_difference(&v), "the ledgers differ from seq 1 on");

    // The same ledger, a row changed behind it: that side's check names it.
    let c = url_of(&dir, "c.db");
    ok(&dir, &["--database-url", &c, "import", file]);
    let db = dir.path().join("c.db");
    drop_append_only_triggers(&db).await;
    sqlite_exec_string(
        &db,
        "UPDATE positions SET holder_reference = 'CHANGED' WHERE id = (SELECT min(id) FROM positions)".into(),
    )
    .await;
    let (code, v) = compare(&dir, &b, &c);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["a"]["headHash"], v["b"]["headHash"]);
    assert!(
        first_difference(&v).starts_with("B's check finds"),
        "{}",
        first_difference(&v)
    );
    let digest = |v: &Value, side: &str, kind: &str| {
        v[side]["digests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap()["sha256"]
            .clone()
    };
    assert_ne!(digest(&v, "a", "position"), digest(&v, "b", "position"));
    assert_eq!(
        digest(&v, "a", "institution"),
        digest(&v, "b", "institution")
    );

    // A store that is not there is refused, and not created.
    let missing = url_of(&dir, "missing.db");
    let out = run(&dir, &["compare", &a, &missing]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no database at"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("missing.db").exists());
}
