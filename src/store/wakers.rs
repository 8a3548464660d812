//! Wake-ups for the ledger stream, one kind per SQL backend: "there may be new events now".
//! PostgreSQL: LISTEN on the channel every batch notifies inside its transaction. SQLite: this
//! process's own commits at once, and other processes' commits by polling.

use super::sqlconn::map_err;
use super::{LedgerWaker, StoreResult};
use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool};
use std::time::Duration;
use tokio::sync::watch;

/// The PostgreSQL notification channel: its payload is the newest seq of the batch (a hint;
/// readers always read by seq).
pub const CHANNEL: &str = "escrowgrid_ledger";

/// Wakes on this process's commits at once, and every `poll` for other processes' commits.
pub struct PollWaker {
    local: watch::Receiver<i64>,
    poll: Duration,
}

impl PollWaker {
    pub fn new(local: watch::Receiver<i64>, poll: Duration) -> Self {
        PollWaker { local, poll }
    }
}

#[async_trait]
impl LedgerWaker for PollWaker {
    async fn wait(&mut self, max_wait: Duration) -> StoreResult<()> {
        let _ = tokio::time::timeout(max_wait.min(self.poll), self.local.changed()).await;
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
