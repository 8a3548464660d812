//! Witnessed heads. A chain proves only that it agrees with itself: whoever can rewrite the
//! database can rewrite every hash after an edit, or cut the newest events off. So every verify
//! and check that finds the chains intact writes down the heads it verified — the ledger's and
//! the audit trail's `seq` and `hash`, when, and which store — in a witness file of the
//! operator's own (`witness.jsonl` in the data directory: owner-only, appended to, one line per
//! newly verified head). Later verifies compare the database with every witnessed head: a head
//! gone (truncated) or a seq whose hash changed (rewritten) is tampering, reported with the seq
//! and the time it was witnessed. Operators on other machines cross-check with each other's
//! files (`ledger verify --witness FILE`).
//!
//! Heads are kept under the store's identity (`Store::identity`: the SQLite file's canonical
//! path, device and inode; the PostgreSQL cluster, database and schema), never under how its
//! URL was spelled, so `./`, `//` or a symlink cannot hide a store's witnessed heads. A store
//! that lives only in a process (memory) is never witnessed.

use crate::domain::time::{self, Timestamp, rfc3339};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// One verified head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Witnessed {
    /// The store it was read from, as `health` names it (password redacted): for people.
    pub store: String,
    /// The store's identity (`Store::identity`): what heads are matched by. Absent in lines
    /// written before it was recorded, which are matched by `store`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    pub seq: i64,
    pub hash: String,
    /// The audit trail's head verified with it, where it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_hash: Option<String>,
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
}

/// Which store a head is of: its identity, and how it is named (for lines without an identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreKey {
    pub identity: String,
    pub target: String,
}

impl Witnessed {
    pub fn now(key: &StoreKey, seq: i64, hash: &str, audit: Option<(i64, &str)>) -> Self {
        Witnessed {
            store: key.target.clone(),
            identity: Some(key.identity.clone()),
            seq,
            hash: hash.to_string(),
            audit_seq: audit.map(|a| a.0),
            audit_hash: audit.map(|a| a.1.to_string()),
            at: time::now(),
        }
    }

    /// Whether this head is of the store `key` names.
    pub fn of(&self, key: &StoreKey) -> bool {
        match &self.identity {
            Some(id) => *id == key.identity,
            None => self.store == key.target,
        }
    }
}

/// The operator's own witness file.
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join("witness.jsonl")
}

/// Every head in a witness file (none when there is no file); a line that does not read is an
/// error naming it.
pub fn load(path: &Path) -> io::Result<Vec<Witnessed>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (n, line) in io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let w = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} line {}: not a witnessed head ({e})",
                    path.display(),
                    n + 1
                ),
            )
        })?;
        out.push(w);
    }
    Ok(out)
}

/// Appends a verified head, unless the file already holds this store's heads at these seqs or
/// later ones (so the file grows by one line per newly verified head). The file is created
/// owner-only. Returns whether a line was written.
pub fn record(path: &Path, w: &Witnessed) -> io::Result<bool> {
    let known = load(path)?;
    let same =
        |k: &&Witnessed| k.identity == w.identity && (k.identity.is_some() || k.store == w.store);
    if known
        .iter()
        .filter(same)
        .any(|k| k.seq >= w.seq && k.audit_seq.unwrap_or(0) >= w.audit_seq.unwrap_or(0))
    {
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    let line = serde_json::to_string(w).map_err(io::Error::other)?;
    f.write_all(format!("{line}\n").as_bytes())?;
    f.sync_data()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, target: &str) -> StoreKey {
        StoreKey {
            identity: id.into(),
            target: target.into(),
        }
    }

    #[test]
    fn a_witness_file_grows_by_new_heads_only_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path());
        let (db, other) = (
            key("sqlite:/d/x.db#1", "db"),
            key("sqlite:/d/y.db#2", "other"),
        );
        assert!(load(&path).unwrap().is_empty());
        assert!(record(&path, &Witnessed::now(&db, 10, "aa", Some((3, "a3")))).unwrap());
        assert!(!record(&path, &Witnessed::now(&db, 10, "aa", Some((3, "a3")))).unwrap());
        assert!(!record(&path, &Witnessed::now(&db, 5, "bb", Some((2, "a2")))).unwrap());
        assert!(record(&path, &Witnessed::now(&other, 5, "bb", None)).unwrap());
        assert!(
            record(&path, &Witnessed::now(&db, 10, "aa", Some((4, "a4")))).unwrap(),
            "a newer audit head is a new line"
        );
        // The same store named another way is the same store.
        let respelled = key("sqlite:/d/x.db#1", "sqlite:///d/./x.db");
        assert!(
            !record(
                &path,
                &Witnessed::now(&respelled, 10, "aa", Some((4, "a4")))
            )
            .unwrap()
        );
        assert!(record(&path, &Witnessed::now(&db, 11, "cc", Some((5, "a5")))).unwrap());
        let all = load(&path).unwrap();
        assert_eq!(
            all.iter()
                .map(|w| (w.store.as_str(), w.seq))
                .collect::<Vec<_>>(),
            [("db", 10), ("other", 5), ("db", 10), ("db", 11)]
        );
        assert!(all.iter().filter(|w| w.of(&respelled)).count() == 3);
        // A line from before identities is matched by its name.
        let old: Witnessed = serde_json::from_str(
            r#"{"store":"db","seq":1,"hash":"x","at":"2026-01-01T00:00:00.000Z"}"#,
        )
        .unwrap();
        assert!(old.of(&db) && !old.of(&respelled));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "{not json}\n").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("line 1"));
    }
}
