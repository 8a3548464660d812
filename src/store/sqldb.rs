//! The `Store` implementation shared by SQLite and PostgreSQL. Queries come from `sql.rs`;
//! this module runs them, maps driver errors to `StoreError`, and holds the one commit path that
//! writes a change, its ledger event and its audit record in a single transaction.

use super::sql::{self, Arg, Dialect, Q};
use super::{
    AssetQuery, AuditQuery, Backend, Change, Committed, Counts, FaultInjector, InstitutionQuery,
    LedgerQuery, LedgerWaker, PoolStats, PositionFilter, PositionQuery, Store, StoreError,
    StoreResult, TemplateQuery, Write,
};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::{GENESIS_HASH, LedgerEvent};
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, Position, PositionLifecycleEvent,
    PositionState, Region, ids,
};
use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, FromRow};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub(crate) enum Pools {
    /// One writer connection (writes queue in-process, `BEGIN IMMEDIATE` across processes) and a
    /// few readers (WAL lets them run beside the writer).
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        poll: Duration,
    },
    Postgres(PgPool),
}

pub struct SqlStore {
    pub(crate) d: Dialect,
    pub(crate) pools: Pools,
    pub(crate) target: String,
    pub(crate) faults: FaultInjector,
    /// Head seq after this process's own commits, so in-process subscribers wake at once.
    pub(crate) head_tx: watch::Sender<i64>,
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

pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    async fn exec(&mut self, q: Q) -> StoreResult<u64> {
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

    async fn fetch_optional<T: AnyRow>(&mut self, q: Q) -> StoreResult<Option<T>> {
        let r = match self {
            Tx::Sqlite(tx) => {
                bound!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_optional(&mut **tx)
                    .await
            }
            Tx::Postgres(tx) => {
                bound!(sqlx::query_as::<_, T>(AssertSqlSafe(q.sql)), q.args)
                    .fetch_optional(&mut **tx)
                    .await
            }
        };
        r.map_err(map_err)
    }

    async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
        .map_err(map_err)
    }

    async fn rollback(self) {
        let _ = match self {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.rollback().await,
        };
    }
}

impl SqlStore {
    pub(crate) fn new(d: Dialect, pools: Pools, target: String, head: i64) -> Self {
        SqlStore {
            d,
            pools,
            target,
            faults: FaultInjector::default(),
            head_tx: watch::channel(head).0,
        }
    }

    async fn fetch_all<T: AnyRow>(&self, q: Q) -> StoreResult<Vec<T>> {
        let r = match &self.pools {
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

    async fn fetch_one<T: AnyRow>(&self, q: Q) -> StoreResult<T> {
        self.fetch_all(q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Other("query returned no row".into()))
    }

    /// Fetches rows and converts each into its domain type.
    async fn list<R: AnyRow, T: TryFrom<R, Error = StoreError>>(
        &self,
        q: Q,
    ) -> StoreResult<Vec<T>> {
        self.fetch_all::<R>(q)
            .await?
            .into_iter()
            .map(T::try_from)
            .collect()
    }

    async fn first<R: AnyRow, T: TryFrom<R, Error = StoreError>>(
        &self,
        q: Q,
    ) -> StoreResult<Option<T>> {
        Ok(self.list::<R, T>(q).await?.into_iter().next())
    }

    async fn begin(&self) -> StoreResult<Tx> {
        match &self.pools {
            Pools::Sqlite { write, .. } => write
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map(Tx::Sqlite)
                .map_err(map_err),
            Pools::Postgres(p) => p.begin().await.map(Tx::Postgres).map_err(map_err),
        }
    }

    /// Everything of one write inside one transaction.
    async fn apply(&self, tx: &mut Tx, w: Write) -> StoreResult<Committed> {
        let d = self.d;
        let mut committed = Committed {
            applied: true,
            ..Default::default()
        };
        let Write {
            change,
            mut ledger,
            mut audit,
        } = w;
        match change {
            Change::None => {}
            Change::CreateInstitution(x) => {
                tx.exec(sql::insert_institution(d, &x)).await?;
            }
            Change::CreateTemplate(x) => {
                tx.exec(sql::insert_template(d, &x)).await?;
            }
            Change::CreateAsset(x) => {
                tx.exec(sql::insert_asset(d, &x)).await?;
            }
            Change::CreatePosition(x) => {
                tx.exec(sql::insert_position(d, &x)).await?;
            }
            Change::CreateApiKey(x) => {
                tx.exec(sql::insert_api_key(d, &x)).await?;
            }
            Change::TransitionPosition {
                position,
                expected_state,
                expected_version,
                event,
            } => {
                let n = tx
                    .exec(sql::update_position_state(
                        d,
                        &position,
                        expected_state,
                        expected_version,
                    ))
                    .await?;
                if n == 0 {
                    let current: Option<(String, i64)> = tx
                        .fetch_optional(sql::position_state(d, &position.id))
                        .await?;
                    return Err(match current {
                        None => StoreError::NotFound {
                            entity: "position",
                            id: position.id,
                        },
                        Some((state, version)) => StoreError::Conflict {
                            id: position.id,
                            expected: expected_state,
                            expected_version,
                            actual: state
                                .parse::<PositionState>()
                                .map_err(|e| StoreError::Corrupt(format!("position state: {e}")))?,
                            actual_version: version,
                        },
                    });
                }
                tx.exec(sql::insert_position_event(d, &event)).await?;
            }
            Change::UpsertPolicy(p) => {
                let row: sql::PolicyRow = tx
                    .fetch_optional(sql::upsert_policy(d, &p))
                    .await?
                    .ok_or_else(|| StoreError::Other("policy upsert returned no row".into()))?;
                let stored = InstitutionPolicy::try_from(row)?;
                if let Some(l) = ledger.as_mut() {
                    l.entity_id = stored.id.clone();
                }
                if let Some(a) = audit.as_mut() {
                    a.resource_id = Some(stored.id.clone());
                }
                committed.policy = Some(stored);
            }
            Change::RevokeApiKey { id, at } => {
                if tx.exec(sql::revoke_api_key(d, &id, &at)).await? == 0 {
                    let exists: Option<sql::ApiKeyRow> = tx
                        .fetch_optional(sql::by_id(d, &sql::API_KEYS, &id))
                        .await?;
                    if exists.is_none() {
                        return Err(StoreError::NotFound {
                            entity: "API key",
                            id,
                        });
                    }
                    committed.applied = false;
                    return Ok(committed);
                }
            }
        }
        if let Some(draft) = ledger {
            self.faults.check_ledger_append()?;
            // PostgreSQL: the head row is locked until commit, which serialises appends across
            // every writer and keeps seq gap-free. SQLite: BEGIN IMMEDIATE already holds the
            // database's single write lock.
            let head: Option<(i64, String)> = match d {
                Dialect::Sqlite => tx.fetch_optional(sql::last_ledger_event(d)).await?,
                Dialect::Postgres => {
                    tx.fetch_optional(Q::new(
                        d,
                        "SELECT seq, hash FROM ledger_head WHERE id FOR UPDATE",
                    ))
                    .await?
                }
            };
            let (seq, prev) = head.unwrap_or((0, GENESIS_HASH.to_string()));
            let ev = draft.seal(ids::new_id(ids::LEDGER_EVENT), seq, &prev);
            tx.exec(sql::insert_ledger(d, &ev)).await?;
            if d == Dialect::Postgres {
                let mut q = Q::new(d, "UPDATE ledger_head SET seq = ");
                q.bind(sql::Ty::Int, Arg::Int(ev.seq))
                    .push(", hash = ")
                    .bind(sql::Ty::Text, Arg::Text(Some(ev.hash.clone())))
                    .push(" WHERE id");
                tx.exec(q).await?;
                // Delivered to listeners only when this transaction commits.
                let mut q = Q::new(d, "SELECT pg_notify('");
                q.push(super::postgres::CHANNEL)
                    .push("', ")
                    .bind(sql::Ty::Text, Arg::Text(Some(ev.seq.to_string())));
                q.push(")");
                tx.exec(q).await?;
            }
            committed.ledger = Some(ev);
        }
        if let Some(a) = audit {
            tx.exec(sql::insert_audit(d, &a)).await?;
        }
        Ok(committed)
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        match self.d {
            Dialect::Sqlite => Backend::Sqlite,
            Dialect::Postgres => Backend::Postgres,
        }
    }

    fn target(&self) -> String {
        self.target.clone()
    }

    fn faults(&self) -> &FaultInjector {
        &self.faults
    }

    async fn ping(&self) -> StoreResult<Duration> {
        let start = Instant::now();
        let _: (i64,) = self
            .fetch_one(Q::new(self.d, "SELECT CAST(1 AS BIGINT)"))
            .await?;
        Ok(start.elapsed())
    }

    async fn schema_version(&self) -> StoreResult<Option<i64>> {
        let (v,): (Option<i64>,) = self
            .fetch_one(Q::new(self.d, "SELECT max(version) FROM _sqlx_migrations"))
            .await?;
        Ok(v)
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        let (size, idle, max) = match &self.pools {
            Pools::Sqlite { read, write, .. } => (
                read.size() + write.size(),
                (read.num_idle() + write.num_idle()) as u32,
                read.options().get_max_connections() + write.options().get_max_connections(),
            ),
            Pools::Postgres(p) => (
                p.size(),
                p.num_idle() as u32,
                p.options().get_max_connections(),
            ),
        };
        Some(PoolStats { size, idle, max })
    }

    async fn counts(&self, institution_id: Option<&str>) -> StoreResult<Counts> {
        let (institutions, templates, assets, positions, ledger_events, audit_events): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = self.fetch_one(sql::counts(self.d, institution_id)).await?;
        let by_state: Vec<(String, i64)> = self
            .fetch_all(sql::positions_by_state(self.d, institution_id))
            .await?;
        let positions_by_state = PositionState::ALL
            .iter()
            .map(|s| {
                let n = by_state
                    .iter()
                    .find(|(k, _)| k == s.as_str())
                    .map(|(_, n)| *n)
                    .unwrap_or(0);
                (*s, n)
            })
            .collect();
        Ok(Counts {
            institutions,
            templates,
            assets,
            positions,
            ledger_events,
            audit_events,
            positions_by_state,
        })
    }

    async fn commit(&self, w: Write) -> StoreResult<Committed> {
        let mut tx = self.begin().await?;
        match self.apply(&mut tx, w).await {
            Ok(c) if c.applied => {
                tx.commit().await?;
                if let Some(ev) = &c.ledger {
                    self.head_tx.send_if_modified(|h| {
                        let newer = ev.seq > *h;
                        if newer {
                            *h = ev.seq;
                        }
                        newer
                    });
                }
                Ok(c)
            }
            Ok(c) => {
                tx.rollback().await;
                Ok(c)
            }
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn get_institution(&self, id: &str) -> StoreResult<Option<Institution>> {
        self.first::<sql::InstitutionRow, _>(sql::by_id(self.d, &sql::INSTITUTIONS, id))
            .await
    }

    async fn list_institutions(&self, q: &InstitutionQuery) -> StoreResult<Vec<Institution>> {
        self.list::<sql::InstitutionRow, _>(sql::list_institutions(self.d, q))
            .await
    }

    async fn get_template(&self, id: &str) -> StoreResult<Option<AssetTemplate>> {
        self.first::<sql::TemplateRow, _>(sql::by_id(self.d, &sql::TEMPLATES, id))
            .await
    }

    async fn list_templates(&self, q: &TemplateQuery) -> StoreResult<Vec<AssetTemplate>> {
        self.list::<sql::TemplateRow, _>(sql::list_templates(self.d, q))
            .await
    }

    async fn get_asset(&self, id: &str) -> StoreResult<Option<Asset>> {
        self.first::<sql::AssetRow, _>(sql::by_id(self.d, &sql::ASSETS, id))
            .await
    }

    async fn list_assets(&self, q: &AssetQuery) -> StoreResult<Vec<Asset>> {
        self.list::<sql::AssetRow, _>(sql::list_assets(self.d, q))
            .await
    }

    async fn get_position(&self, id: &str) -> StoreResult<Option<Position>> {
        self.first::<sql::PositionRow, _>(sql::by_id(self.d, &sql::POSITIONS, id))
            .await
    }

    async fn list_positions(&self, q: &PositionQuery) -> StoreResult<Vec<Position>> {
        let mut rows: Vec<Position> = self
            .list::<sql::PositionRow, _>(sql::list_positions(self.d, q))
            .await?;
        if q.backwards {
            rows.reverse();
        }
        Ok(rows)
    }

    async fn count_positions(&self, f: &PositionFilter) -> StoreResult<i64> {
        let (n,): (i64,) = self.fetch_one(sql::count_positions(self.d, f)).await?;
        Ok(n)
    }

    async fn position_events(&self, position_id: &str) -> StoreResult<Vec<PositionLifecycleEvent>> {
        self.list::<sql::PositionEventRow, _>(sql::position_events(self.d, position_id))
            .await
    }

    async fn get_policy(
        &self,
        institution_id: &str,
        region: Region,
    ) -> StoreResult<Option<InstitutionPolicy>> {
        self.first::<sql::PolicyRow, _>(sql::get_policy(self.d, institution_id, region.as_str()))
            .await
    }

    async fn list_policies(
        &self,
        institution_id: Option<&str>,
    ) -> StoreResult<Vec<InstitutionPolicy>> {
        self.list::<sql::PolicyRow, _>(sql::list_policies(self.d, institution_id))
            .await
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKey>> {
        self.first::<sql::ApiKeyRow, _>(sql::by_id(self.d, &sql::API_KEYS, id))
            .await
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.first::<sql::ApiKeyRow, _>(sql::api_key_by_hash(self.d, key_hash))
            .await
    }

    async fn list_api_keys(&self, institution_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        self.list::<sql::ApiKeyRow, _>(sql::list_api_keys(self.d, institution_id))
            .await
    }

    async fn read_ledger(&self, q: &LedgerQuery) -> StoreResult<Vec<LedgerEvent>> {
        self.list::<sql::LedgerRow, _>(sql::read_ledger(self.d, q))
            .await
    }

    async fn ledger_head(&self) -> StoreResult<Option<(i64, String)>> {
        let rows: Vec<(i64, String)> = self.fetch_all(sql::last_ledger_event(self.d)).await?;
        Ok(rows.into_iter().next())
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        self.list::<sql::AuditRow, _>(sql::list_audit(self.d, q))
            .await
    }

    async fn ledger_waker(&self) -> StoreResult<Box<dyn LedgerWaker>> {
        match &self.pools {
            Pools::Sqlite { poll, .. } => Ok(Box::new(super::sqlite::PollWaker::new(
                self.head_tx.subscribe(),
                *poll,
            ))),
            Pools::Postgres(p) => Ok(Box::new(super::postgres::NotifyWaker::new(p.clone()))),
        }
    }
}
