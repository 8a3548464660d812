//! Wake-ups for the ledger stream, one kind per SQL backend: "there may be new events now".
//! PostgreSQL: LISTEN on the channel every batch notifies inside its transaction. SQLite: this
//! process's own commits at once, and other processes' commits when the database's WAL file
//! changes (inotify, FSEvents, kqueue), or by polling where files cannot be watched.

use super::sqlconn::map_err;
use super::{LedgerWaker, StoreResult};
use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The PostgreSQL notification channel: its payload is the newest seq of the batch (a hint;
/// readers always read by seq).
pub const CHANNEL: &str = "escrowgrid_ledger";

/// After the database's WAL file changes, how long the stream keeps looking again every
/// `RECHECK`: the change is seen when the writer writes its frames, a little before its commit
/// becomes visible (after its fsync).
const ACTIVE_WINDOW: Duration = Duration::from_millis(50);
const RECHECK: Duration = Duration::from_millis(2);

/// Watches the directory of a SQLite database for writes to the database or its WAL, which is
/// how another process's commit shows. One per store; every waker of the store subscribes.
pub struct FileWatch {
    changes: watch::Sender<u64>,
    _watcher: notify::RecommendedWatcher,
}

impl FileWatch {
    pub fn start(db: &Path) -> Result<FileWatch, String> {
        use notify::Watcher;
        let dir = db
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let name = db
            .file_name()
            .ok_or_else(|| format!("{} names no file", db.display()))?
            .to_os_string();
        let mut wal = name.clone();
        wal.push("-wal");
        let (changes, _) = watch::channel(0u64);
        let tx = changes.clone();
        let mut watcher = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
            let Ok(ev) = r else { return };
            let ours = ev.paths.iter().any(|p| {
                p.file_name()
                    .is_some_and(|f| f == wal.as_os_str() || f == name.as_os_str())
            });
            if ours
                && matches!(
                    ev.kind,
                    notify::EventKind::Modify(_) | notify::EventKind::Create(_)
                )
            {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        })
        .map_err(|e| e.to_string())?;
        watcher
            .watch(&dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
        Ok(FileWatch {
            changes,
            _watcher: watcher,
        })
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

/// SQLite: wakes at once on this process's commits, and on other processes' commits when the
/// database's files change (then looks again every `RECHECK` for `ACTIVE_WINDOW`, until the
/// commit is visible). Without a file watch it polls every `poll`.
pub struct SqliteWaker {
    local: watch::Receiver<i64>,
    files: Option<watch::Receiver<u64>>,
    poll: Duration,
    active_until: Option<Instant>,
}

impl SqliteWaker {
    pub fn new(
        local: watch::Receiver<i64>,
        files: Option<watch::Receiver<u64>>,
        poll: Duration,
    ) -> Self {
        SqliteWaker {
            local,
            files,
            poll,
            active_until: None,
        }
    }
}

#[async_trait]
impl LedgerWaker for SqliteWaker {
    async fn wait(&mut self, max_wait: Duration) -> StoreResult<()> {
        let now = Instant::now();
        let wait = match self.active_until {
            Some(until) if now < until => RECHECK,
            _ => {
                self.active_until = None;
                match self.files {
                    Some(_) => max_wait,
                    None => max_wait.min(self.poll),
                }
            }
        };
        let file_change = async {
            match self.files.as_mut() {
                Some(f) => f.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.local.changed() => {}
            ok = file_change => {
                if ok {
                    self.active_until = Some(Instant::now() + ACTIVE_WINDOW);
                } else {
                    // The watch stopped: poll from now on.
                    self.files = None;
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
        Ok(())
    }
}

/// LISTENs on `CHANNEL`; reconnects after a lost connection. The stream re-reads by seq after
/// every wake-up, including the first one after a reconnect, so nothing sent while the listener
/// was down is missed.
pub struct NotifyWaker {
    pool: PgPool,
    listener: Option<PgListener>,
}

impl NotifyWaker {
    pub fn new(pool: PgPool) -> Self {
        NotifyWaker {
            pool,
            listener: None,
        }
    }
}

#[async_trait]
impl LedgerWaker for NotifyWaker {
    async fn wait(&mut self, max_wait: Duration) -> StoreResult<()> {
        let Some(listener) = self.listener.as_mut() else {
            let mut l = PgListener::connect_with(&self.pool)
                .await
                .map_err(map_err)?;
            l.listen(CHANNEL).await.map_err(map_err)?;
            self.listener = Some(l);
            // Listening now: return so the caller catches up on anything committed meanwhile.
            return Ok(());
        };
        match tokio::time::timeout(max_wait, listener.try_recv()).await {
            Err(_elapsed) => Ok(()),
            Ok(Ok(Some(_))) => {
                // Drain whatever else already arrived: one catch-up read covers them all.
                while let Ok(Ok(Some(_))) =
                    tokio::time::timeout(Duration::ZERO, listener.try_recv()).await
                {
                }
                Ok(())
            }
            // Connection lost; the listener reconnects and re-listens on the next call.
            Ok(Ok(None)) => Ok(()),
            Ok(Err(e)) => {
                self.listener = None;
                Err(map_err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Another process's commit shows as a write to the WAL file: the waker wakes on it, long
    /// before its fallback poll or its wait would end, and ignores other files.
    #[tokio::test]
    async fn a_write_to_the_wal_wakes_the_sqlite_waker() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let watch = FileWatch::start(&db).unwrap();
        let (_local_tx, local) = watch::channel(0i64);
        let mut w = SqliteWaker::new(local, Some(watch.subscribe()), Duration::from_secs(60));
        let path = dir.path().to_path_buf();
        let append = move |name: &str| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path.join(name))
                .unwrap();
            f.write_all(b"frame").unwrap();
        };
        // Another file in the directory does not count.
        append.clone()("other.txt");
        let start = Instant::now();
        w.wait(Duration::from_millis(300)).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(250),
            "woke for another file"
        );
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            append("x.db-wal");
        });
        let start = Instant::now();
        w.wait(Duration::from_secs(30)).await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "woken by the WAL write, not by the end of the wait"
        );
        writer.await.unwrap();
        assert!(w.active_until.is_some(), "looks again soon after a change");
    }
}
