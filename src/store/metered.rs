//! A store that times every call (`store.<method>` in `Metrics`) and passes it on. The service
//! wraps whatever store it is given in one, so every backend is measured the same way.

use super::{
    AssetQuery, AuditQuery, Backend, Committed, Counts, DbStats, FaultInjector, InstitutionQuery,
    LedgerQuery, LedgerWaker, PoolStats, PositionFilter, PositionQuery, SharedStore, Store,
    StoreError, StoreResult, TemplateQuery, Write,
};
use crate::domain::anchor::{AnchorRecord, AnchorSummary};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::LedgerEvent;
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, Position, PositionLifecycleEvent, Region,
};
use crate::metrics::SharedMetrics;
use async_trait::async_trait;
use std::time::Duration;

pub struct Metered {
    inner: SharedStore,
    metrics: SharedMetrics,
}

impl Metered {
    pub fn new(inner: SharedStore, metrics: SharedMetrics) -> Self {
        Metered { inner, metrics }
    }
}

/// A store error's code in the metrics.
pub fn code(e: &StoreError) -> &'static str {
    match e {
        StoreError::NotFound { .. } => "NOT_FOUND",
        StoreError::Conflict { .. } => "CONFLICT",
        StoreError::Duplicate(_) => "DUPLICATE",
        StoreError::Constraint(_) => "CONSTRAINT",
        StoreError::Unavailable(m) if m.starts_with("timed out") => "TIMEOUT",
        StoreError::Unavailable(_) | StoreError::Retryable(_) => "UNAVAILABLE",
        StoreError::Corrupt(_) => "CORRUPT",
        StoreError::Other(_) => "OTHER",
    }
}

macro_rules! timed {
    ($self:ident, $name:literal, $call:expr) => {
        $self
            .metrics
            .time(concat!("store.", $name), $call, code)
            .await
    };
}

#[async_trait]
impl Store for Metered {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    fn target(&self) -> String {
        self.inner.target()
    }
    async fn identity(&self) -> StoreResult<Option<String>> {
        self.inner.identity().await
    }
    fn durability(&self) -> String {
        self.inner.durability()
    }
    fn transport(&self) -> Option<super::Transport> {
        self.inner.transport()
    }
    fn writes_refused(&self) -> Option<String> {
        self.inner.writes_refused()
    }
    async fn schema_status(&self) -> StoreResult<Option<super::schema::SchemaStatus>> {
        self.inner.schema_status().await
    }
    async fn apply_migrations(&self) -> StoreResult<Option<super::schema::SchemaStatus>> {
        self.inner.apply_migrations().await
    }
    fn faults(&self) -> &FaultInjector {
        self.inner.faults()
    }
    async fn ping(&self) -> StoreResult<Duration> {
        timed!(self, "ping", self.inner.ping())
    }
    async fn schema_version(&self) -> StoreResult<Option<i64>> {
        timed!(self, "schema_version", self.inner.schema_version())
    }
    async fn replica_status(&self) -> Option<super::replica::ReplicaStatus> {
        self.inner.replica_status().await
    }
    fn pool_stats(&self) -> Option<PoolStats> {
        self.inner.pool_stats()
    }
    async fn db_stats(&self) -> StoreResult<Option<DbStats>> {
        timed!(self, "db_stats", self.inner.db_stats())
    }
    async fn counts(&self, institution_id: Option<&str>) -> StoreResult<Counts> {
        timed!(self, "counts", self.inner.counts(institution_id))
    }
    async fn commit(&self, write: Write) -> StoreResult<Committed> {
        timed!(self, "commit", self.inner.commit(write))
    }
    async fn get_institution(&self, id: &str) -> StoreResult<Option<Institution>> {
        timed!(self, "get_institution", self.inner.get_institution(id))
    }
    async fn list_institutions(&self, q: &InstitutionQuery) -> StoreResult<Vec<Institution>> {
        timed!(self, "list_institutions", self.inner.list_institutions(q))
    }
    async fn get_template(&self, id: &str) -> StoreResult<Option<AssetTemplate>> {
        timed!(self, "get_template", self.inner.get_template(id))
    }
    async fn list_templates(&self, q: &TemplateQuery) -> StoreResult<Vec<AssetTemplate>> {
        timed!(self, "list_templates", self.inner.list_templates(q))
    }
    async fn get_asset(&self, id: &str) -> StoreResult<Option<Asset>> {
        timed!(self, "get_asset", self.inner.get_asset(id))
    }
    async fn list_assets(&self, q: &AssetQuery) -> StoreResult<Vec<Asset>> {
        timed!(self, "list_assets", self.inner.list_assets(q))
    }
    async fn get_position(&self, id: &str) -> StoreResult<Option<Position>> {
        timed!(self, "get_position", self.inner.get_position(id))
    }
    async fn list_positions(&self, q: &PositionQuery) -> StoreResult<Vec<Position>> {
        timed!(self, "list_positions", self.inner.list_positions(q))
    }
    async fn count_positions(&self, f: &PositionFilter) -> StoreResult<i64> {
        timed!(self, "count_positions", self.inner.count_positions(f))
    }
    async fn position_events(&self, position_id: &str) -> StoreResult<Vec<PositionLifecycleEvent>> {
        timed!(
            self,
            "position_events",
            self.inner.position_events(position_id)
        )
    }
    async fn get_policy(
        &self,
        institution_id: &str,
        region: Region,
    ) -> StoreResult<Option<InstitutionPolicy>> {
        timed!(
            self,
            "get_policy",
            self.inner.get_policy(institution_id, region)
        )
    }
    async fn list_policies(
        &self,
        institution_id: Option<&str>,
    ) -> StoreResult<Vec<InstitutionPolicy>> {
        timed!(
            self,
            "list_policies",
            self.inner.list_policies(institution_id)
        )
    }
    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKey>> {
        timed!(self, "get_api_key", self.inner.get_api_key(id))
    }
    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        timed!(
            self,
            "find_api_key_by_hash",
            self.inner.find_api_key_by_hash(key_hash)
        )
    }
    async fn list_api_keys(&self, institution_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        timed!(
            self,
            "list_api_keys",
            self.inner.list_api_keys(institution_id)
        )
    }
    async fn read_ledger(&self, q: &LedgerQuery) -> StoreResult<Vec<LedgerEvent>> {
        timed!(self, "read_ledger", self.inner.read_ledger(q))
    }
    async fn ledger_head(&self) -> StoreResult<Option<(i64, String)>> {
        timed!(self, "ledger_head", self.inner.ledger_head())
    }
    async fn import(&self, writes: Vec<Write>, expect: super::Heads) -> StoreResult<()> {
        timed!(self, "import", self.inner.import(writes, expect))
    }
    async fn heads(&self) -> StoreResult<super::Heads> {
        timed!(self, "heads", self.inner.heads())
    }
    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        timed!(self, "list_audit", self.inner.list_audit(q))
    }
    async fn ledger_waker(&self) -> StoreResult<Box<dyn LedgerWaker>> {
        self.inner.ledger_waker().await
    }
    async fn anchor_enqueue(&self, seq: i64, head: &str) -> StoreResult<bool> {
        timed!(self, "anchor_enqueue", self.inner.anchor_enqueue(seq, head))
    }
    async fn anchor_claim(
        &self,
        owner: &str,
        lease: Duration,
    ) -> StoreResult<Option<AnchorRecord>> {
        timed!(self, "anchor_claim", self.inner.anchor_claim(owner, lease))
    }
    async fn anchor_save(&self, a: &AnchorRecord) -> StoreResult<()> {
        timed!(self, "anchor_save", self.inner.anchor_save(a))
    }
    async fn list_anchors(&self, limit: u32) -> StoreResult<Vec<AnchorRecord>> {
        timed!(self, "list_anchors", self.inner.list_anchors(limit))
    }
    async fn anchor_summary(&self) -> StoreResult<AnchorSummary> {
        timed!(self, "anchor_summary", self.inner.anchor_summary())
    }
}
