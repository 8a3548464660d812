//! The embedded default: a SQLite file in WAL mode (or `sqlite::memory:`), migrations applied on
//! open. The ledger stream polls by seq (cheap: a primary-key range read) and wakes at once for
//! this process's own commits.

use super::sql::Dialect;
use super::sqlconn::{Pools, map_err, pool_options};
use super::sqldb::SqlStore;
use super::{SqliteSync, StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How often the ledger stream looks for events written by other processes.
pub const DEFAULT_POLL: Duration = Duration::from_millis(100);

pub fn is_memory_url(url: &str) -> bool {
    matches!(
        url,
        "sqlite::memory:" | "sqlite://:memory:" | "sqlite:memory:" | ":memory:"
    )
}

/// The file path a `sqlite:` URL names (None for in-memory databases).
pub fn file_path(url: &str) -> Option<PathBuf> {
    if is_memory_url(url) {
        return None;
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    Some(PathBuf::from(path))
}

pub async fn open(url: &str, o: &super::Options) -> StoreResult<SqlStore> {
    let memory = is_memory_url(url);
    let (read, write, target, shared) = if memory {
        // An in-memory database lives as long as its connection: keep exactly one, forever.
        let opts = SqliteConnectOptions::from_str("sqlite::memory:").map_err(map_err)?;
        let pool = pool_options::<sqlx::Sqlite>()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(map_err)?;
        (pool.clone(), pool, "sqlite::memory:".to_string(), true)
    } else {
        let path = file_path(url).unwrap_or_default();
        // A mistyped path must not quietly become a new, empty database somewhere else: the
        // directory has to exist (the default data directory is created by the caller).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(StoreError::Unavailable(format!(
                "cannot open SQLite database {}: directory {} does not exist",
                path.display(),
                dir.display()
            )));
        }
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match o.sqlite_synchronous {
                SqliteSync::Off => SqliteSynchronous::Off,
                SqliteSync::Normal => SqliteSynchronous::Normal,
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Extra => SqliteSynchronous::Extra,
            })
            .busy_timeout(Duration::from_secs(15))
            .foreign_keys(true);
        let write = pool_options::<sqlx::Sqlite>()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Unavailable(m) | StoreError::Other(m) => StoreError::Unavailable(
                    format!("cannot open SQLite database {}: {m}", path.display()),
                ),
                other => other,
            })?;
        let read = pool_options::<sqlx::Sqlite>()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.read_only(false))
            .await
            .map_err(map_err)?;
        (read, write, format!("sqlite://{}", path.display()), false)
    };
    migrate(&write).await?;
    if !memory {
        // A WAL left large by a bulk load or a killed process is never shrunk by later commits
        // (SQLite reuses it): fold it back and truncate it once, on open.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&write)
            .await
        {
            tracing::warn!(error = %e, "sqlite: WAL checkpoint on open failed");
        }
    }
    let head: Option<(i64,)> = sqlx::query_as("SELECT max(seq) FROM ledger_events")
        .fetch_optional(&read)
        .await
        .map_err(map_err)?;
    let head = head.map(|(h,)| h).unwrap_or(0);
    let store = SqlStore::new(
        Dialect::Sqlite,
        Pools::Sqlite {
            read,
            write,
            shared,
        },
        target,
        head,
        o.sqlite_poll,
    )
    .with_durability(if memory {
        "none: the database is in this process's memory".to_string()
    } else {
        durability(o.sqlite_synchronous)
    });
    store.chain_unchained_audit().await?;
    Ok(match file_path(url) {
        Some(path) => store.with_db_file(path),
        None => store,
    })
}

/// What an acknowledged write survives under each `synchronous` setting (WAL mode).
pub fn durability(s: SqliteSync) -> String {
    match s {
        SqliteSync::Off => "synchronous=OFF: survives a crash of the process, not of the machine",
        SqliteSync::Normal => {
            "synchronous=NORMAL: survives a crash of the process; the last commits can be lost on power failure"
        }
        SqliteSync::Full => "synchronous=FULL: every commit is fsynced before it is acknowledged",
        SqliteSync::Extra => {
            "synchronous=EXTRA: every commit is fsynced before it is acknowledged, and the directory after a WAL reset"
        }
    }
    .to_string()
}

async fn migrate(pool: &sqlx::SqlitePool) -> StoreResult<()> {
    let migrator = sqlx::migrate!("migrations/sqlite");
    // Two processes opening a brand-new file at once can race on the first migration; the loser
    // finds it applied on a second look.
    match migrator.run(pool).await {
        Ok(()) => Ok(()),
        Err(first) => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            migrator
                .run(pool)
                .await
                .map_err(|e| StoreError::Other(format!("migration failed: {first}; then: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        assert!(is_memory_url("sqlite::memory:"));
        assert_eq!(file_path("sqlite::memory:"), None);
        assert_eq!(
            file_path("sqlite:///tmp/x.db"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(
            file_path("sqlite:/tmp/x.db"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(
            file_path("sqlite://data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db"))
        );
    }
}
