//! Connections of the two SQL backends: their pools, running a built query (`Q`) on a pool or in
//! a transaction, and mapping driver errors to `StoreError`. The reads (`sqldb.rs`) and the
//! batching writer (`writer.rs`) both run their SQL through here.

use super::sql::{Arg, Q};
use super::{StoreError, StoreResult, TimeoutKind};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, FromRow};
use std::time::Duration;

#[derive(Clone)]
pub(crate) enum Pools {
    /// One writer connection (the batching writer is its only user; `BEGIN IMMEDIATE` orders
    /// writers across processes) and a few readers (WAL lets them run beside the writer).
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        /// One pool for both (an in-memory database lives in its one connection).
        shared: bool,
    },
    /// Readers, and a connection of the writer's own, so writes never queue behind reads.
    Postgres {
        read: PgPool,
        write: PgPool,
        bounds: Bounds,
        /// Reads that found every reader busy and the pool at its maximum.
        waits: std::sync::Arc<std::sync::atomic::AtomicU64>,
    },
}

/// How long a PostgreSQL call may take (`PgSettings`): every call is bounded, so a database that
/// hangs gives "timed out after N ms" and never a caller that waits for ever.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub(crate) statement: Duration,
    pub(crate) acquire: Duration,
}

/// Beyond `statement_timeout`, how long the client waits for the server's own cancellation
/// before it gives up on a server that stopped answering.
const GRACE: Duration = Duration::from_secs(1);

/// How often a read that failed for a reason worth retrying is tried in all, and the pause
/// before the second try (doubled before each next).
const READ_TRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

impl Bounds {
    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    /// A driver error in words: a statement cancelled by `statement_timeout` and a pool that had
    /// no connection to give say which setting bounded them.
    pub(crate) fn map(&self, e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::Database(db)
                if db.code().as_deref() == Some("57014") && db.message().contains("timeout") =>
            {
                StoreError::Timeout {
                    kind: TimeoutKind::Statement,
                    message: format!(
                        "timed out after {} ms (statement_timeout_ms)",
                        Self::ms(self.statement)
                    ),
                }
            }
            sqlx::Error::PoolTimedOut => StoreError::Timeout {
                kind: TimeoutKind::Acquire,
                message: format!(
                    "timed out after {} ms waiting for a free connection (pg_acquire_timeout_ms; raise pg_max_connections if this persists)",
                    Self::ms(self.acquire)
                ),
            },
            _ => map_err(e),
        }
    }

    /// Runs one call against the server within the client-side bound (`wait` for a connection,
    /// plus the statement timeout and a grace for the server's own cancellation).
    pub(crate) async fn run<T>(
        &self,
        wait: bool,
        call: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> StoreResult<T> {
        let bound = self.statement + GRACE + if wait { self.acquire } else { Duration::ZERO };
        match tokio::time::timeout(bound, call).await {
            Ok(r) => r.map_err(|e| self.map(e)),
            Err(_) => Err(StoreError::Timeout {
                kind: TimeoutKind::NoAnswer,
                message: format!(
                    "timed out after {} ms: the database server did not answer",
                    Self::ms(bound)
                ),
            }),
        }
    }
}

/// Whether a failed read may be tried again: the transaction was aborted for a conflict, or the
/// connection broke (never a timeout: that wait is over already).
pub(crate) fn worth_retrying(e: &StoreError) -> bool {
    matches!(e, StoreError::Retryable(_) | StoreError::Unavailable(_))
}

/// The pause before try `n` (1-based) of a retried call.
pub(crate) fn backoff(n: u32) -> Duration {
    FIRST_BACKOFF * 2u32.pow(n.saturating_sub(1).min(6))
}

/// Binds every argument of a `Q` onto a sqlx query: `bound!(sqlite …)` or `bound!(pg …)`.
/// Array arguments exist only in PostgreSQL statements (`sql.rs` builds `VALUES` lists for
/// SQLite), so SQLite never meets one.
macro_rules! bound {
    (sqlite $query:expr, $args:expr) => {{
        let mut query = $query;
        for a in $args {
            query = match a {
                Arg::Text(s) => query.bind(s),
                Arg::Int(i) => query.bind(i),
                Arg::OptInt(i) => query.bind(i),
                Arg::Texts(_) | Arg::Ints(_) => {
                    unreachable!("array arguments are built for PostgreSQL only")
                }
            };
        }
        query
    }};
    (pg $query:expr, $args:expr) => {{
        let mut query = $query;
        for a in $args {
            query = match a {
                Arg::Text(s) => query.bind(s),
                Arg::Int(i) => query.bind(i),
                Arg::OptInt(i) => query.bind(i),
                Arg::Texts(v) => query.bind(v),
                Arg::Ints(v) => query.bind(v),
            };
        }
        query
    }};
}

/// Rows that decode from either backend.
pub(crate) trait AnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> AnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    use sqlx::error::ErrorKind;
    match &e {
        sqlx::Error::Database(db) => {
            let msg = db.message().to_string();
            match db.kind() {
                ErrorKind::UniqueViolation => StoreError::Duplicate(msg),
                ErrorKind::ForeignKeyViolation => {
                    StoreError::Constraint(format!("referenced record does not exist ({msg})"))
                }
                ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                    StoreError::Constraint(msg)
                }
                _ => {
                    let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                    // SQLITE_BUSY / SQLITE_LOCKED and their extended codes; PostgreSQL
                    // "admin shutdown", "cannot connect now", connection exceptions.
                    let busy = matches!(code.as_str(), "5" | "6" | "261" | "517" | "262");
                    if busy {
                        StoreError::Unavailable(format!("database is busy: {msg}"))
                    } else if code == "40001" || code == "40P01" {
                        StoreError::Retryable(msg)
                    } else if code.starts_with("08") || code.starts_with("57P") {
                        StoreError::Unavailable(msg)
                    } else {
                        StoreError::Other(msg)
                    }
                }
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// A pooled connection idle for longer than this is checked (pinged) before use; one in steady
/// use is not, which saves a round trip on every read and every batch. A connection that broke
/// while idle is replaced before anyone sees it fail.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Pool options shared by every pool of both backends (see `PING_IF_IDLE_FOR`).
pub(crate) fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < PING_IF_IDLE_FOR {
                    return Ok(true);
                }
                Ok(sqlx::Connection::ping(conn).await.is_ok())
            })
        })
}

/// Runs a built query once on a PostgreSQL pool, within `bounds`.
pub(crate) async fn pg_fetch_all<T: AnyRow>(
    pool: &PgPool,
    bounds: &Bounds,
    q: &Q,
) -> StoreResult<Vec<T>> {
    let query = bound!(pg sqlx::query_as::<_, T>(AssertSqlSafe(q.sql.clone())), q.args.clone());
    bounds.run(true, query.fetch_all(pool)).await
}

/// Runs a built statement on a PostgreSQL connection of the caller's own (benchmarks).
pub(crate) async fn pg_execute(conn: &mut sqlx::PgConnection, q: Q) -> Result<u64, sqlx::Error> {
    let query = bound!(pg sqlx::query(AssertSqlSafe(q.sql)), q.args);
    Ok(query.execute(conn).await?.rows_affected())
}

impl Pools {
    /// Runs a query on a reader connection. PostgreSQL: bounded (`Bounds`), and tried again
    /// with backoff when it failed for a reason worth retrying (`worth_retrying`).
    pub(crate) async fn fetch_all<T: AnyRow>(&self, q: Q) -> StoreResult<Vec<T>> {
        match self {
            Pools::Sqlite { read, .. } => {
                bound!(sqlite sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(read)
                    .await
                    .map_err(map_err)
            }
            Pools::Postgres {
                read,
                bounds,
                waits,
                ..
            } => {
                if read.num_idle() == 0 && read.size() >= read.options().get_max_connections() {
                    waits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                let mut tries = 1;
                loop {
                    match pg_fetch_all(read, bounds, &q).await {
                        Err(e) if tries < READ_TRIES && worth_retrying(&e) => {
                            tracing::debug!(error = %e, tries, "read failed; trying again");
                            tokio::time::sleep(backoff(tries)).await;
                            tries += 1;
                        }
                        r => return r,
                    }
                }
            }
        }
    }

    /// The primary's reader pool and bounds (PostgreSQL).
    pub(crate) fn postgres(&self) -> Option<(&PgPool, &Bounds)> {
        match self {
            Pools::Postgres { read, bounds, .. } => Some((read, bounds)),
            Pools::Sqlite { .. } => None,
        }
    }

    /// A connection for the writer. It keeps it across batches (no pool round trip, no ping
    /// on release) unless `shared_writer`: an in-memory SQLite database is one connection that
    /// readers need too.
    pub(crate) async fn writer_connection(&self) -> StoreResult<WriteConn> {
        match self {
            Pools::Sqlite { write, .. } => write
                .acquire()
                .await
                .map(WriteConn::Sqlite)
                .map_err(map_err),
            Pools::Postgres { write, bounds, .. } => bounds
                .run(true, write.acquire())
                .await
                .map(|c| WriteConn::Postgres(c, *bounds)),
        }
    }

    pub(crate) fn shared_writer(&self) -> bool {
        matches!(self, Pools::Sqlite { shared: true, .. })
    }
}

pub(crate) enum WriteConn {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(PoolConnection<sqlx::Postgres>, Bounds),
}

impl WriteConn {
    /// Runs a statement without parameters (transaction control) by the simple protocol.
    pub(crate) async fn simple(&mut self, sql: &'static str) -> StoreResult<()> {
        match self {
            WriteConn::Sqlite(c) => sqlx::Executor::execute(&mut **c, sql)
                .await
                .map(|_| ())
                .map_err(map_err),
            WriteConn::Postgres(c, b) => b
                .run(false, sqlx::Executor::execute(&mut **c, sql))
                .await
                .map(|_| ()),
        }
    }

    /// Opens a write transaction. On SQLite `BEGIN IMMEDIATE` takes the database's write lock
    /// at once, so the transaction never fails half-way for want of it.
    pub(crate) async fn begin(&mut self) -> StoreResult<()> {
        let sql = match self {
            WriteConn::Sqlite(_) => "BEGIN IMMEDIATE",
            WriteConn::Postgres(..) => "BEGIN",
        };
        self.simple(sql).await
    }
}

/// An open write transaction on the writer's connection (see `WriteConn::begin`). Every path
/// ends it with `commit` or `rollback`.
pub(crate) struct Tx<'c>(pub(crate) &'c mut WriteConn);

impl WriteConn {
    /// Runs a statement; outside a transaction it commits on its own.
    pub(crate) async fn exec(&mut self, q: Q) -> StoreResult<u64> {
        match self {
            WriteConn::Sqlite(c) => bound!(sqlite sqlx::query(AssertSqlSafe(q.sql)), q.args)
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected())
                .map_err(map_err),
            WriteConn::Postgres(c, b) => {
                let query = bound!(pg sqlx::query(AssertSqlSafe(q.sql)), q.args);
                b.run(false, query.execute(&mut **c))
                    .await
                    .map(|r| r.rows_affected())
            }
        }
    }

    pub(crate) async fn fetch_all<T: AnyRow>(&mut self, q: Q) -> StoreResult<Vec<T>> {
        match self {
            WriteConn::Sqlite(c) => {
                bound!(sqlite sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(&mut **c)
                    .await
                    .map_err(map_err)
            }
            WriteConn::Postgres(c, b) => {
                let query = bound!(pg sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args);
                b.run(false, query.fetch_all(&mut **c)).await
            }
        }
    }
}

impl Tx<'_> {
    pub(crate) async fn exec(&mut self, q: Q) -> StoreResult<u64> {
        self.0.exec(q).await
    }

    pub(crate) async fn fetch_all<T: AnyRow>(&mut self, q: Q) -> StoreResult<Vec<T>> {
        self.0.fetch_all(q).await
    }

    pub(crate) async fn fetch_optional<T: AnyRow>(&mut self, q: Q) -> StoreResult<Option<T>> {
        Ok(self.fetch_all(q).await?.into_iter().next())
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        self.0.simple("COMMIT").await
    }

    pub(crate) async fn rollback(self) {
        let _ = self.0.simple("ROLLBACK").await;
    }
}

/// libpq's name of a mode.
pub(crate) fn ssl_mode_name(mode: sqlx::postgres::PgSslMode) -> &'static str {
    use sqlx::postgres::PgSslMode::*;
    match mode {
        Disable => "disable",
        Allow => "allow",
        Prefer => "prefer",
        Require => "require",
        VerifyCa => "verify-ca",
        VerifyFull => "verify-full",
    }
}

/// How this process's connections reach the server: what the server says of the connection
/// (`pg_stat_ssl`, readable by any role for its own backend) and what `sslmode` checked.
pub(crate) async fn transport(
    pool: &sqlx::PgPool,
    mode: sqlx::postgres::PgSslMode,
) -> StoreResult<super::Transport> {
    use sqlx::postgres::PgSslMode;
    let (encrypted, protocol, cipher): (bool, Option<String>, Option<String>) =
        sqlx::query_as("SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_optional(pool)
            .await
            .map_err(map_err)?
            .unwrap_or((false, None, None));
    let ssl_mode = ssl_mode_name(mode);
    Ok(super::Transport {
        encrypted,
        protocol,
        cipher,
        ssl_mode: ssl_mode.into(),
        certificate_verified: encrypted
            && matches!(mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull),
        host_name_verified: encrypted && matches!(mode, PgSslMode::VerifyFull),
    })
}
