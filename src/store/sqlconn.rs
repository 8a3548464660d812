//! Connections of the two SQL backends: their pools, running a built query (`Q`) on a pool or in
//! a transaction, and mapping driver errors to `StoreError`. The reads (`sqldb.rs`) and the
//! batching writer (`writer.rs`) both run their SQL through here.

use super::sql::{Arg, Q};
use super::{StoreError, StoreResult};
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
    },
    Postgres(PgPool),
}

/// Binds every argument of a `Q` onto a sqlx query.
macro_rules! bound {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for a in $args {
            query = match a {
                Arg::Text(s) => query.bind(s),
                Arg::Int(i) => query.bind(i),
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

impl Pools {
    /// Runs a query on a reader connection.
    pub(crate) async fn fetch_all<T: AnyRow>(&self, q: Q) -> StoreResult<Vec<T>> {
        let r = match self {
            Pools::Sqlite { read, .. } => {
                bound!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(read)
                    .await
            }
            Pools::Postgres(p) => {
                bound!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(p)
                    .await
            }
        };
        r.map_err(map_err)
    }

    /// A write transaction. On SQLite `BEGIN IMMEDIATE` takes the database's write lock at once,
    /// so the transaction never fails half-way for want of it.
    pub(crate) async fn begin(&self) -> StoreResult<Tx> {
        match self {
            Pools::Sqlite { write, .. } => write
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map(Tx::Sqlite)
                .map_err(map_err),
            Pools::Postgres(p) => p.begin().await.map(Tx::Postgres).map_err(map_err),
        }
    }
}

pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub(crate) async fn exec(&mut self, q: Q) -> StoreResult<u64> {
        let r = match self {
            Tx::Sqlite(tx) => bound!(sqlx::query(AssertSqlSafe(q.sql)), q.args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            Tx::Postgres(tx) => bound!(sqlx::query(AssertSqlSafe(q.sql)), q.args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
        };
        r.map_err(map_err)
    }

    pub(crate) async fn fetch_all<T: AnyRow>(&mut self, q: Q) -> StoreResult<Vec<T>> {
        let r = match self {
            Tx::Sqlite(tx) => {
                bound!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(&mut **tx)
                    .await
            }
            Tx::Postgres(tx) => {
                bound!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_all(&mut **tx)
                    .await
            }
        };
        r.map_err(map_err)
    }

    pub(crate) async fn fetch_optional<T: AnyRow>(&mut self, q: Q) -> StoreResult<Option<T>> {
        Ok(self.fetch_all(q).await?.into_iter().next())
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
        .map_err(map_err)
    }

    pub(crate) async fn rollback(self) {
        let _ = match self {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        };
    }
}
