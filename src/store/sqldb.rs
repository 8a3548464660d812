//! The `Store` implementation shared by SQLite and PostgreSQL. Queries come from `sql.rs` and run
//! through `sqlconn.rs`; every write goes through the batching writer (`writer.rs`), which stores
//! a change, its ledger event and its audit record in one transaction.

use super::anchors;
use super::replica::{Replica, ReplicaStatus};
use super::sql::{self, Dialect, Q};
use super::sqlconn::{self, AnyRow, Pools};
use super::sqlrows;
use super::wakers::{FileWatch, NotifyWaker, SqliteWaker};
use super::writer::{Writer, WriterHandle};
use super::{
    AssetQuery, AuditQuery, Backend, Committed, Counts, DbStats, Diagnostics, FaultInjector,
    InstitutionQuery, LedgerQuery, LedgerWaker, PoolStats, PositionFilter, PositionQuery, Store,
    StoreError, StoreResult, TableStats, TemplateQuery, Write, counters,
};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::LedgerEvent;
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, Position, PositionLifecycleEvent, Region,
};
use crate::metrics::SharedMetrics;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub struct SqlStore {
    d: Dialect,
    pools: Pools,
    target: String,
    faults: Arc<FaultInjector>,
    /// Head seq after this process's own commits, so in-process subscribers wake at once.
    head_tx: Arc<watch::Sender<i64>>,
    writer: WriterHandle,
    /// SQLite: how often the stream looks for other processes' events when it cannot watch
    /// the database file.
    poll: Duration,
    /// SQLite file databases: the watch on the database's files, started by the first stream.
    file_watch: std::sync::Mutex<Option<Result<Arc<FileWatch>, String>>>,
    db_file: Option<std::path::PathBuf>,
    durability: String,
    /// PostgreSQL: how the connections are protected.
    transport: Option<super::Transport>,
    /// PostgreSQL: why writes are refused (the schema is behind or ahead of this binary).
    writes_refused: std::sync::RwLock<Option<String>>,
    /// A read replica (PostgreSQL), if configured.
    replica: Option<Replica>,
    /// Said once on the Health tab (`DbStats::notes`): a missing index, a fallback in use.
    notes: Vec<String>,
    /// The anchors' outbox (always on the primary).
    anchors: anchors::SqlAnchors,
    /// The timing of every call (`store.<call>`), taken here, where the SQL runs.
    metrics: SharedMetrics,
}

/// Idle connections of two pools of `size` connections in all. sqlx counts a pool's idle
/// connections without a lock, and a count read while a connection changes hands can be far off
/// (seen: a sum that overflowed, failing `health`): the figure is only shown, so it is added
/// without overflow and never more than the pools hold.
fn idle_of(read: usize, write: usize, size: u32) -> u32 {
    read.saturating_add(write).min(size as usize) as u32
}

impl SqlStore {
    /// A store over `pools`; starts its writer (so it must be called inside a tokio runtime).
    pub(crate) fn new(d: Dialect, pools: Pools, target: String, head: i64, poll: Duration) -> Self {
        let faults = Arc::new(FaultInjector::default());
        let head_tx = Arc::new(watch::channel(head).0);
        let writer = Writer {
            d,
            pools: pools.clone(),
            faults: faults.clone(),
            head_tx: head_tx.clone(),
        }
        .spawn();
        SqlStore {
            d,
            pools: pools.clone(),
            target,
            faults,
            head_tx,
            writer,
            poll,
            file_watch: std::sync::Mutex::new(None),
            db_file: None,
            durability: String::new(),
            transport: None,
            writes_refused: std::sync::RwLock::new(None),
            notes: Vec::new(),
            replica: None,
            anchors: anchors::SqlAnchors { pools, d },
            metrics: crate::metrics::Metrics::new(),
        }
    }

    /// The SQLite file whose changes tell of other processes' commits.
    pub(crate) fn with_db_file(mut self, path: std::path::PathBuf) -> Self {
        self.db_file = Some(path);
        self
    }

    /// The store's file watch, started on first use; None (polling) where it cannot start.
    fn file_changes(&self) -> Option<watch::Receiver<u64>> {
        let path = self.db_file.as_ref()?;
        let mut w = self.file_watch.lock().unwrap_or_else(|p| p.into_inner());
        let w = w.get_or_insert_with(|| {
            FileWatch::start(path).map(Arc::new).inspect_err(|e| {
                tracing::warn!(error = %e, "cannot watch the SQLite database; the ledger stream polls instead");
            })
        });
        w.as_ref().ok().map(|w| w.subscribe())
    }

    pub(crate) fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes = notes;
        self
    }

    pub(crate) fn with_writes_refused(self, why: Option<String>) -> Self {
        *self
            .writes_refused
            .write()
            .unwrap_or_else(|p| p.into_inner()) = why;
        self
    }

    fn refuse_writes(&self) -> StoreResult<()> {
        match &*self
            .writes_refused
            .read()
            .unwrap_or_else(|p| p.into_inner())
        {
            Some(why) => Err(StoreError::Unavailable(why.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn with_transport(mut self, t: super::Transport) -> Self {
        self.transport = Some(t);
        self
    }

    pub(crate) fn with_durability(mut self, durability: String) -> Self {
        self.durability = durability;
        self
    }

    pub(crate) fn with_replica(mut self, replica: Replica) -> Self {
        self.replica = Some(replica);
        self
    }

    /// Gives every audit record written before the audit chain existed (by an earlier version)
    /// its place at the end of the chain, oldest first, in one transaction that holds the
    /// chain's head: run once at open, after the migrations. Returns how many it sealed.
    pub(crate) async fn chain_unchained_audit(&self) -> StoreResult<u64> {
        let mut conn = self.pools.writer_connection().await?;
        let probe = AuditQuery {
            unchained: true,
            limit: 1,
            ..Default::default()
        };
        if conn
            .fetch_all::<sqlrows::AuditRow>(sql::list_audit(self.d, &probe))
            .await?
            .is_empty()
        {
            return Ok(0);
        }
        conn.begin().await?;
        let mut tx = super::sqlconn::Tx(&mut conn);
        let r = async {
            let row = tx
                .fetch_optional::<sqlrows::HeadsRow>(sql::heads_for_update(self.d))
                .await?;
            let start = sqlrows::heads(row).audit;
            let (mut seq, mut prev) = start.clone();
            loop {
                let q = AuditQuery {
                    unchained: true,
                    limit: 1000,
                    ..Default::default()
                };
                let page: Vec<sqlrows::AuditRow> =
                    tx.fetch_all(sql::list_audit(self.d, &q)).await?;
                if page.is_empty() {
                    break;
                }
                for row in page {
                    let a = AuditEvent::try_from(row)?;
                    let hash = crate::domain::audit::link_hash(&a.digest(), &prev, seq + 1);
                    tx.exec(sql::seal_audit_record(
                        self.d,
                        &a.id,
                        (seq + 1, &prev, &hash),
                    ))
                    .await?;
                    seq += 1;
                    prev = hash;
                }
            }
            if self.d == Dialect::Postgres {
                let mut q = Q::new(self.d, "UPDATE ledger_head SET audit_seq = ");
                q.bind(sql::Ty::Int, sql::Arg::Int(seq))
                    .push(", audit_hash = ")
                    .bind(sql::Ty::Text, sql::Arg::Text(Some(prev.clone())))
                    .push(" WHERE id");
                tx.exec(q).await?;
            }
            Ok::<u64, StoreError>((seq - start.0) as u64)
        }
        .await;
        match r {
            Ok(n) => {
                tx.commit().await?;
                tracing::info!(
                    records = n,
                    "sealed audit records written before the audit chain"
                );
                Ok(n)
            }
            Err(e) => {
                tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Times `call` as `name` (`store.<call>`).
    async fn timed<T>(
        &self,
        name: &'static str,
        call: impl std::future::Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        self.metrics.time(name, call, StoreError::code).await
    }

    /// A read that may come from the replica (see `replica.rs`), else from the primary; timed
    /// as `name`.
    async fn fetch_all<T: AnyRow>(&self, name: &'static str, q: Q) -> StoreResult<Vec<T>> {
        self.timed(name, self.route(q)).await
    }

    async fn route<T: AnyRow>(&self, q: Q) -> StoreResult<Vec<T>> {
        if let (Some(r), Some((primary, bounds))) = (&self.replica, self.pools.postgres())
            && let Some(pool) = r.route(&self.head_tx, primary).await
        {
            match sqlconn::pg_fetch_all(pool, bounds, &q).await {
                Ok(rows) => return Ok(rows),
                Err(e) if r.failed(&e).await => {
                    tracing::warn!(error = %e, "the replica failed a read; reading from the primary");
                }
                Err(e) => return Err(e),
            }
        }
        self.pools.fetch_all(q).await
    }

    /// A read that must see the primary's latest commit: the chain head, API keys (a revoked
    /// key is refused at once), the database's own figures.
    async fn primary_all<T: AnyRow>(&self, name: &'static str, q: Q) -> StoreResult<Vec<T>> {
        self.timed(name, self.pools.fetch_all(q)).await
    }

    async fn primary_one<T: AnyRow>(&self, name: &'static str, q: Q) -> StoreResult<T> {
        self.primary_all(name, q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Other("query returned no row".into()))
    }

    async fn fetch_one<T: AnyRow>(&self, name: &'static str, q: Q) -> StoreResult<T> {
        self.fetch_all(name, q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Other("query returned no row".into()))
    }

    /// Fetches rows and converts each into its domain type.
    async fn list<R: AnyRow, T: TryFrom<R, Error = StoreError>>(
        &self,
        name: &'static str,
        q: Q,
    ) -> StoreResult<Vec<T>> {
        self.fetch_all::<R>(name, q)
            .await?
            .into_iter()
            .map(T::try_from)
            .collect()
    }

    /// Rows from the primary, each converted into its domain type.
    async fn primary_rows<R: AnyRow, T: TryFrom<R, Error = StoreError>>(
        &self,
        name: &'static str,
        q: Q,
    ) -> StoreResult<Vec<T>> {
        self.primary_all::<R>(name, q)
            .await?
            .into_iter()
            .map(T::try_from)
            .collect()
    }

    async fn first<R: AnyRow, T: TryFrom<R, Error = StoreError>>(
        &self,
        name: &'static str,
        q: Q,
    ) -> StoreResult<Option<T>> {
        Ok(self.list::<R, T>(name, q).await?.into_iter().next())
    }
}

#[async_trait]
impl Diagnostics for SqlStore {
    fn target(&self) -> String {
        self.target.clone()
    }

    fn durability(&self) -> String {
        self.durability.clone()
    }

    fn transport(&self) -> Option<super::Transport> {
        self.transport.clone()
    }

    fn writes_refused(&self) -> Option<String> {
        self.writes_refused
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn schema_status(&self) -> StoreResult<Option<super::schema::SchemaStatus>> {
        match &self.pools {
            Pools::Postgres { read, .. } => Ok(Some(
                super::schema::status(read, &super::schema::MIGRATOR).await?,
            )),
            _ => Ok(None),
        }
    }

    async fn apply_migrations(&self) -> StoreResult<Option<super::schema::SchemaStatus>> {
        let Pools::Postgres { read, .. } = &self.pools else {
            return Ok(None);
        };
        let before = super::schema::status(read, &super::schema::MIGRATOR).await?;
        if let Some(why) = before.reads_refused().or_else(|| {
            (!before.unknown.is_empty()).then(|| before.writes_refused().unwrap_or_default())
        }) {
            return Err(StoreError::Other(why));
        }
        super::schema::MIGRATOR
            .run(read)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let after = super::schema::status(read, &super::schema::MIGRATOR).await?;
        *self
            .writes_refused
            .write()
            .unwrap_or_else(|p| p.into_inner()) = after.writes_refused();
        Ok(Some(after))
    }

    async fn identity(&self) -> StoreResult<Option<String>> {
        match self.d {
            Dialect::Sqlite => {
                let Some(path) = &self.db_file else {
                    return Ok(None);
                };
                let canonical = std::fs::canonicalize(path).map_err(|e| {
                    StoreError::Unavailable(format!("cannot resolve {}: {e}", path.display()))
                })?;
                let meta = std::fs::metadata(&canonical).map_err(|e| {
                    StoreError::Unavailable(format!("cannot stat {}: {e}", canonical.display()))
                })?;
                #[cfg(unix)]
                let file = {
                    use std::os::unix::fs::MetadataExt;
                    format!("dev={},ino={}", meta.dev(), meta.ino())
                };
                #[cfg(not(unix))]
                let file = {
                    let _ = meta;
                    String::new()
                };
                Ok(Some(format!("sqlite:{}#{file}", canonical.display())))
            }
            Dialect::Postgres => {
                let rows: Vec<(String,)> = self
                    .primary_all("store.identity", Q::new(
                        self.d,
                        "SELECT 'postgres:' || (SELECT system_identifier FROM pg_control_system())::text \
                         || '/' || current_database() || '/' || current_schema()",
                    ))
                    .await?;
                Ok(rows.into_iter().next().map(|(s,)| s))
            }
        }
    }

    async fn ping(&self) -> StoreResult<Duration> {
        let start = Instant::now();
        let _: (i64,) = self
            .primary_one("store.ping", Q::new(self.d, "SELECT CAST(1 AS BIGINT)"))
            .await?;
        Ok(start.elapsed())
    }

    async fn schema_version(&self) -> StoreResult<Option<i64>> {
        let (v,): (Option<i64>,) = self
            .primary_one(
                "store.schema_version",
                Q::new(self.d, "SELECT max(version) FROM _sqlx_migrations"),
            )
            .await?;
        Ok(v)
    }

    async fn db_stats(&self) -> StoreResult<Option<DbStats>> {
        if self.d != Dialect::Postgres {
            return Ok(None);
        }
        let (size_bytes, deadlocks, conflicts, commits, rollbacks): (i64, i64, i64, i64, i64) =
            self.primary_one(
                "store.db_stats",
                Q::new(
                    self.d,
                    "SELECT pg_database_size(current_database()), deadlocks, conflicts, \
                 xact_commit, xact_rollback FROM pg_stat_database \
                 WHERE datname = current_database()",
                ),
            )
            .await?;
        let utc =
            |c: &str| format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
        let rows: Vec<(String, i64, i64, Option<String>, Option<String>)> = self
            .primary_all(
                "store.db_stats",
                Q::new(
                    self.d,
                    &format!(
                        "SELECT relname::text, n_live_tup, n_dead_tup, {}, {} \
                     FROM pg_stat_user_tables WHERE schemaname = current_schema() \
                     ORDER BY relname",
                        utc("greatest(last_vacuum, last_autovacuum)"),
                        utc("greatest(last_analyze, last_autoanalyze)")
                    ),
                ),
            )
            .await?;
        Ok(Some(DbStats {
            size_bytes,
            deadlocks,
            conflicts,
            commits,
            rollbacks,
            tables: rows
                .into_iter()
                .map(|(name, live, dead, vacuum, analyze)| TableStats {
                    name,
                    live_rows: live,
                    dead_rows: dead,
                    last_vacuum: vacuum,
                    last_analyze: analyze,
                })
                .collect(),
            notes: self.notes.clone(),
        }))
    }

    async fn replica_status(&self) -> Option<ReplicaStatus> {
        let (r, (primary, _)) = (self.replica.as_ref()?, self.pools.postgres()?);
        Some(r.status(primary).await)
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        let (size, idle, max, waits) = match &self.pools {
            Pools::Sqlite { read, write, .. } => (
                read.size() + write.size(),
                idle_of(
                    read.num_idle(),
                    write.num_idle(),
                    read.size() + write.size(),
                ),
                read.options().get_max_connections() + write.options().get_max_connections(),
                0,
            ),
            Pools::Postgres {
                read, write, waits, ..
            } => (
                read.size() + write.size(),
                idle_of(
                    read.num_idle(),
                    write.num_idle(),
                    read.size() + write.size(),
                ),
                read.options().get_max_connections() + write.options().get_max_connections(),
                waits.load(std::sync::atomic::Ordering::Relaxed),
            ),
        };
        Some(PoolStats {
            size,
            idle,
            max,
            waits,
        })
    }

    fn timings(&self) -> Vec<crate::metrics::OpFigures> {
        self.metrics.figures()
    }

    async fn explain_positions(&self, q: &PositionQuery) -> StoreResult<Option<String>> {
        let mut query = sql::list_positions(self.d, q);
        let lines: Vec<String> = match self.d {
            Dialect::Postgres => {
                query.sql.insert_str(0, "EXPLAIN ");
                let rows: Vec<(String,)> = self.primary_all("store.explain", query).await?;
                rows.into_iter().map(|(l,)| l).collect()
            }
            Dialect::Sqlite => {
                query.sql.insert_str(0, "EXPLAIN QUERY PLAN ");
                let rows: Vec<(i64, i64, i64, String)> =
                    self.primary_all("store.explain", query).await?;
                rows.into_iter().map(|(.., l)| l).collect()
            }
        };
        Ok(Some(lines.join("\n")))
    }
}

#[async_trait]
impl Store for SqlStore {
    fn diagnostics(&self) -> &dyn Diagnostics {
        self
    }

    fn outbox(&self) -> &dyn super::AnchorOutbox {
        &self.anchors
    }

    fn backend(&self) -> Backend {
        match self.d {
            Dialect::Sqlite => Backend::Sqlite,
            Dialect::Postgres => Backend::Postgres,
        }
    }

    fn faults(&self) -> &FaultInjector {
        &self.faults
    }

    async fn counts(&self, institution_id: Option<&str>) -> StoreResult<Counts> {
        let scope = institution_id.unwrap_or(counters::ALL);
        let rows: Vec<(String, i64)> = self
            .fetch_all("store.counts", sql::counters_of(self.d, scope))
            .await?;
        Ok(counters::counts_of(
            rows.iter().map(|(name, n)| (name.as_str(), *n)),
        ))
    }

    async fn held_totals(
        &self,
        institution_id: Option<&str>,
    ) -> StoreResult<Vec<(crate::domain::Currency, crate::domain::Balance)>> {
        let held: Vec<(String, String, String)> = self
            .fetch_all(
                "store.held_totals",
                sql::held_by_currency(self.d, institution_id),
            )
            .await?;
        let mut out = Vec::with_capacity(held.len());
        for (currency, int, frac) in held {
            let bad = |e: &dyn std::fmt::Display| StoreError::Corrupt(format!("held total: {e}"));
            let int: rust_decimal::Decimal = int.parse().map_err(|e| bad(&e))?;
            let frac: rust_decimal::Decimal = frac.parse().map_err(|e| bad(&e))?;
            let total = int + frac / rust_decimal::Decimal::from(100_000_000);
            let total = crate::domain::Balance::parse(&total.normalize().to_string())
                .map_err(|e| bad(&e))?;
            out.push((currency.parse().map_err(|e| bad(&e))?, total));
        }
        Ok(out)
    }

    async fn commit(&self, w: Write) -> StoreResult<Committed> {
        self.refuse_writes()?;
        self.timed("store.commit", self.writer.commit(&self.faults, w))
            .await
    }

    async fn get_institution(&self, id: &str) -> StoreResult<Option<Institution>> {
        self.first::<sqlrows::InstitutionRow, _>(
            "store.get_institution",
            sql::by_id(self.d, &sql::INSTITUTIONS, id),
        )
        .await
    }

    async fn list_institutions(&self, q: &InstitutionQuery) -> StoreResult<Vec<Institution>> {
        self.list::<sqlrows::InstitutionRow, _>(
            "store.list_institutions",
            sql::list_institutions(self.d, q),
        )
        .await
    }

    async fn get_template(&self, id: &str) -> StoreResult<Option<AssetTemplate>> {
        self.first::<sqlrows::TemplateRow, _>(
            "store.get_template",
            sql::by_id(self.d, &sql::TEMPLATES, id),
        )
        .await
    }

    async fn list_templates(&self, q: &TemplateQuery) -> StoreResult<Vec<AssetTemplate>> {
        self.list::<sqlrows::TemplateRow, _>("store.list_templates", sql::list_templates(self.d, q))
            .await
    }

    async fn get_asset(&self, id: &str) -> StoreResult<Option<Asset>> {
        self.first::<sqlrows::AssetRow, _>("store.get_asset", sql::by_id(self.d, &sql::ASSETS, id))
            .await
    }

    async fn list_assets(&self, q: &AssetQuery) -> StoreResult<Vec<Asset>> {
        self.list::<sqlrows::AssetRow, _>("store.list_assets", sql::list_assets(self.d, q))
            .await
    }

    async fn get_position(&self, id: &str) -> StoreResult<Option<Position>> {
        self.first::<sqlrows::PositionRow, _>(
            "store.get_position",
            sql::by_id(self.d, &sql::POSITIONS, id),
        )
        .await
    }

    async fn list_positions(&self, q: &PositionQuery) -> StoreResult<Vec<Position>> {
        let mut rows: Vec<Position> = self
            .list::<sqlrows::PositionRow, _>("store.list_positions", sql::list_positions(self.d, q))
            .await?;
        if q.backwards {
            rows.reverse();
        }
        Ok(rows)
    }

    async fn count_positions(&self, f: &PositionFilter) -> StoreResult<i64> {
        if let Some((scope, state)) = counters::answers(f) {
            let rows: Vec<(String, i64)> = self
                .fetch_all("store.count_positions", sql::counters_of(self.d, scope))
                .await?;
            let c = counters::counts_of(rows.iter().map(|(name, n)| (name.as_str(), *n)));
            return Ok(match state {
                Some(s) => c
                    .positions_by_state
                    .iter()
                    .find(|(k, _)| *k == s)
                    .map(|(_, n)| *n)
                    .unwrap_or(0),
                None => c.positions,
            });
        }
        let (n,): (i64,) = self
            .fetch_one("store.count_positions", sql::count_positions(self.d, f))
            .await?;
        Ok(n)
    }

    async fn position_events(&self, position_id: &str) -> StoreResult<Vec<PositionLifecycleEvent>> {
        self.list::<sqlrows::PositionEventRow, _>(
            "store.position_events",
            sql::position_events(self.d, position_id),
        )
        .await
    }

    async fn get_policy(
        &self,
        institution_id: &str,
        region: Region,
    ) -> StoreResult<Option<InstitutionPolicy>> {
        self.first::<sqlrows::PolicyRow, _>(
            "store.get_policy",
            sql::get_policy(self.d, institution_id, region.as_str()),
        )
        .await
    }

    async fn list_policies(
        &self,
        institution_id: Option<&str>,
    ) -> StoreResult<Vec<InstitutionPolicy>> {
        self.list::<sqlrows::PolicyRow, _>(
            "store.list_policies",
            sql::list_policies(self.d, institution_id),
        )
        .await
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKey>> {
        self.primary_rows::<sqlrows::ApiKeyRow, _>(
            "store.get_api_key",
            sql::by_id(self.d, &sql::API_KEYS, id),
        )
        .await
        .map(|rows| rows.into_iter().next())
    }

    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        self.primary_rows::<sqlrows::ApiKeyRow, _>(
            "store.find_api_key_by_hash",
            sql::api_key_by_hash(self.d, key_hash),
        )
        .await
        .map(|rows| rows.into_iter().next())
    }

    async fn list_api_keys(&self, institution_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        self.primary_rows::<sqlrows::ApiKeyRow, _>(
            "store.list_api_keys",
            sql::list_api_keys(self.d, institution_id),
        )
        .await
    }

    async fn read_ledger(&self, q: &LedgerQuery) -> StoreResult<Vec<LedgerEvent>> {
        self.list::<sqlrows::LedgerRow, _>("store.read_ledger", sql::read_ledger(self.d, q))
            .await
    }

    async fn ledger_head(&self) -> StoreResult<Option<(i64, String)>> {
        let rows: Vec<(i64, String)> = self
            .primary_all("store.ledger_head", sql::last_ledger_event(self.d))
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn import(
        &self,
        writes: Vec<Write>,
        after: Option<super::Heads>,
        expect: super::Heads,
    ) -> StoreResult<()> {
        self.refuse_writes()?;
        self.timed("store.import", self.writer.import(writes, after, expect))
            .await
    }

    async fn heads(&self) -> StoreResult<super::Heads> {
        let rows: Vec<sqlrows::HeadsRow> =
            self.primary_all("store.heads", sql::heads(self.d)).await?;
        Ok(sqlrows::heads(rows.into_iter().next()))
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        self.list::<sqlrows::AuditRow, _>("store.list_audit", sql::list_audit(self.d, q))
            .await
    }

    async fn mirror_of(&self) -> StoreResult<Option<super::MirrorOf>> {
        let rows: Vec<super::tables::MirrorOfRow> = self
            .primary_all("store.mirror_of", super::mirror_mark::read(self.d))
            .await?;
        rows.into_iter().next().map(TryFrom::try_from).transpose()
    }

    async fn set_mirror_of(&self, mark: Option<&super::MirrorOf>) -> StoreResult<()> {
        let _: Vec<(i64,)> = self
            .primary_all("store.set_mirror_of", super::mirror_mark::set(self.d, mark))
            .await?;
        Ok(())
    }

    async fn mirrored_to(&self) -> StoreResult<Vec<super::MirroredTo>> {
        self.list::<super::tables::MirroredToRow, _>(
            "store.mirrored_to",
            super::mirror_mark::read_mirrored_to(self.d),
        )
        .await
    }

    async fn set_mirrored_to(
        &self,
        target: &str,
        m: Option<&super::MirroredTo>,
    ) -> StoreResult<()> {
        let q = super::mirror_mark::set_mirrored_to(self.d, target, m);
        let _: Vec<(String,)> = self.primary_all("store.set_mirrored_to", q).await?;
        Ok(())
    }

    async fn ledger_waker(&self) -> StoreResult<Box<dyn LedgerWaker>> {
        match &self.pools {
            Pools::Sqlite { .. } => Ok(Box::new(SqliteWaker::new(
                self.head_tx.subscribe(),
                self.file_changes(),
                self.poll,
            ))),
            Pools::Postgres { read, .. } => Ok(Box::new(NotifyWaker::new(read.clone()))),
        }
    }
}
