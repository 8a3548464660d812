//! The production backend: PostgreSQL through a sqlx pool, migrations applied on open. The ledger
//! stream listens on a channel that every append notifies inside its transaction (so listeners
//! hear of an event only once it is committed).

use super::sql::Dialect;
use super::sqldb::{Pools, SqlStore, map_err};
use super::{LedgerWaker, StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// The notification channel: its payload is the new seq (a hint; readers always read by seq).
pub const CHANNEL: &str = "escrowgrid_ledger";

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparseable database URL>".to_string(),
    }
}

pub fn connect_options(url: &str) -> StoreResult<PgConnectOptions> {
    let mut opts = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL {}: {e}", redact(url))))?;
    // sqlx logs in as "anonymous" when the URL names no user; use PGUSER or the OS user.
    if url::Url::parse(url).is_ok_and(|u| u.username().is_empty()) {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "postgres".into());
        opts = opts.username(&user);
    }
    // Name our connections (visible in pg_stat_activity) unless the URL names them itself.
    if !url.contains("application_name=") {
        opts = opts.application_name("escrowgrid");
    }
    Ok(opts)
}

pub async fn open(url: &str) -> StoreResult<SqlStore> {
    let opts = connect_options(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!("cannot connect to {}: {}", redact(url), map_err(e)))
        })?;
    let (schema,): (Option<String>,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(&pool)
        .await
        .map_err(map_err)?;
    if schema.is_none() {
        return Err(StoreError::Unavailable(
            "no schema of the search_path exists in this database; create it first".into(),
        ));
    }
    sqlx::migrate!("migrations/postgres")
        .run(&pool)
        .await
        .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
    let (head,): (i64,) = sqlx::query_as("SELECT seq FROM ledger_head WHERE id")
        .fetch_one(&pool)
        .await
        .map_err(map_err)?;
    Ok(SqlStore::new(
        Dialect::Postgres,
        Pools::Postgres(pool),
        redact(url),
        head,
    ))
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

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:5432/prod"),
            "postgres://app:***@db.example:5432/prod"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
    }
}
