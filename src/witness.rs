//! Witnessed heads. A chain proves only that it agrees with itself: whoever can rewrite the
//! database can rewrite every hash after an edit, or cut the newest events off. So every verify
//! and check that finds the chain intact writes down the head it verified — `seq`, `hash`, when,
//! and which store — in a witness file of the operator's own (`witness.jsonl` in the data
//! directory: owner-only, appended to, one line per newly verified head). Later verifies compare
//! the database with every witnessed head: a head gone (truncated) or a seq whose hash changed
//! (rewritten) is tampering, reported with the seq and the time it was witnessed. Operators on
//! other machines cross-check with each other's files (`ledger verify --witness FILE`).

use crate::domain::time::{self, Timestamp, rfc3339};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// One verified head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Witnessed {
    /// The store it was read from, as `health` names it (password redacted).
    pub store: String,
    pub seq: i64,
    pub hash: String,
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
}

impl Witnessed {
    pub fn now(store: &str, seq: i64, hash: &str) -> Self {
        Witnessed {
            store: store.to_string(),
            seq,
            hash: hash.to_string(),
            at: time::now(),
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

/// Appends a verified head, unless the file already holds this store's head at this seq or a
/// later one (so the file grows by one line per newly verified head). The file is created
/// owner-only. Returns whether a line was written.
pub fn record(path: &Path, w: &Witnessed) -> io::Result<bool> {
    let known = load(path)?;
    if known.iter().any(|k| k.store == w.store && k.seq >= w.seq) {
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

    #[test]
    fn a_witness_file_grows_by_new_heads_only_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path());
        assert!(load(&path).unwrap().is_empty());
        assert!(record(&path, &Witnessed::now("db", 10, "aa")).unwrap());
        assert!(!record(&path, &Witnessed::now("db", 10, "aa")).unwrap());
        assert!(!record(&path, &Witnessed::now("db", 5, "bb")).unwrap());
        assert!(record(&path, &Witnessed::now("other", 5, "bb")).unwrap());
        assert!(record(&path, &Witnessed::now("db", 11, "cc")).unwrap());
        let all = load(&path).unwrap();
        assert_eq!(
            all.iter()
                .map(|w| (w.store.as_str(), w.seq))
                .collect::<Vec<_>>(),
            [("db", 10), ("other", 5), ("db", 11)]
        );
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
