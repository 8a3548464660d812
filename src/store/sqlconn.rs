//! Connections of the two SQL backends: their pools, running a built query (`Q`) on a pool or in
//! a transaction, and mapping driver errors to `StoreError`. The reads (`sqldb.rs`) and the
//! batching writer (`writer.rs`) both run their SQL through here.

use super::sql::{Arg, Q};
use super::{StoreError, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, FromRow};

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
    Postgres { read: PgPool, write: PgPool },
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

impl Pools {
    /// Runs a query on a reader connection.
    pub(crate) async fn fetch_all<T: AnyRow>(&self, q: Q) -> StoreResult<Vec<T>> {
        let r = match self {
            Pools::Sqlite { read, .. } => {
                bound!(sqlite sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(read)
                    .await
            }
            Pools::Postgres { read, .. } => {
                bound!(pg sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(read)
                    .await
            }
        };
        r.map_err(map_err)
    }

    /// A connection for the writer. It keeps it across batches (no pool round trip, no ping
    /// on release) unless `shared_writer`: an in-memory SQLite database is one connection that
    /// readers need too.
    pub(crate) async fn writer_connection(&self) -> StoreResult<WriteConn> {
        match self {
            Pools::Sqlite { write, .. } => write.acquire().await.map(WriteConn::Sqlite),
            Pools::Postgres { write, .. } => write.acquire().await.map(WriteConn::Postgres),
        }
        .map_err(map_err)
    }

    pub(crate) fn shared_writer(&self) -> bool {
        matches!(self, Pools::Sqlite { shared: true, .. })
    }
}

pub(crate) enum WriteConn {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(PoolConnection<sqlx::Postgres>),
}

impl WriteConn {
    /// Runs a statement without parameters (transaction control) by the simple protocol.
    pub(crate) async fn simple(&mut self, sql: &'static str) -> StoreResult<()> {
        match self {
            WriteConn::Sqlite(c) => sqlx::Executor::execute(&mut **c, sql).await.map(|_| ()),
            WriteConn::Postgres(c) => sqlx::Executor::execute(&mut **c, sql).await.map(|_| ()),
        }
        .map_err(map_err)
    }

    /// Opens a write transaction. On SQLite `BEGIN IMMEDIATE` takes the database's write lock
    /// at once, so the transaction never fails half-way for want of it.
    pub(crate) async fn begin(&mut self) -> StoreResult<()> {
        let sql = match self {
            WriteConn::Sqlite(_) => "BEGIN IMMEDIATE",
            WriteConn::Postgres(_) => "BEGIN",
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
        let r = match self {
            WriteConn::Sqlite(c) => bound!(sqlite sqlx::query(AssertSqlSafe(q.sql)), q.args)
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected()),
            WriteConn::Postgres(c) => bound!(pg sqlx::query(AssertSqlSafe(q.sql)), q.args)
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected()),
        };
        r.map_err(map_err)
    }

    pub(crate) async fn fetch_all<T: AnyRow>(&mut self, q: Q) -> StoreResult<Vec<T>> {
        let r = match self {
            WriteConn::Sqlite(c) => {
                bound!(sqlite sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(&mut **c)
                    .await
            }
            WriteConn::Postgres(c) => {
                bound!(pg sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(&mut **c)
                    .await
            }
        };
        r.map_err(map_err)
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
