//! Persistence. One trait, three backends (memory, SQLite, PostgreSQL), one conformance suite
//! (`tests/it/conformance.rs`). Stores persist; they do not decide business rules. Every change is
//! committed together with its ledger event and audit record in one atomic step (`Store::commit`).

mod anchors;
pub mod counters;
mod faults;
pub mod memory;
pub(crate) mod mirror_mark;
pub mod postgres;
mod query;
pub mod replica;
mod report;
pub mod schema;
pub(crate) mod sql;
pub(crate) mod sqlconn;
mod sqldb;
pub mod sqlite;
pub(crate) mod sqlrows;
pub(crate) mod sqlwrite;
pub mod tables;
mod wakers;
mod writer;

pub use faults::{FaultInjector, WriterHold};
pub use query::*;
pub use report::{Counts, DbStats, PoolStats, TableStats, Transport};
pub use sqldb::SqlStore;

use crate::domain::anchor::{AnchorRecord, AnchorSummary};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::{LedgerDraft, LedgerEvent};
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, Position, PositionLifecycleEvent,
    PositionState, Region,
};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error(
        "concurrent modification of {id}: expected {expected} (version {expected_version}), found {actual} (version {actual_version})"
    )]
    Conflict {
        id: String,
        expected: PositionState,
        expected_version: i64,
        actual: PositionState,
        actual_version: i64,
    },
    /// The policy a create was checked against is no longer the one in force (see
    /// `PolicySeen`): nothing was written; the service reads the policy again and retries.
    #[error(
        "the {region} policy of institution {institution_id} changed while the write was checked against it"
    )]
    PolicyChanged {
        institution_id: String,
        region: Region,
    },
    /// This store is a mirror's target (see `MirrorOf`): it takes writes from its mirror only.
    #[error(
        "this store is a mirror of {of}: it takes writes from its mirror only, until \
         `escrowgrid mirror promote` is run on it"
    )]
    Mirrored { of: String },
    #[error("{0}")]
    Duplicate(String),
    #[error("{0}")]
    Constraint(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A bound on a call ran out; `message` names the setting that bounded it.
    #[error("store unavailable: {message}")]
    Timeout { kind: TimeoutKind, message: String },
    /// The database aborted the transaction to resolve a conflict with another (serialization
    /// failure or deadlock, SQLSTATE 40001 / 40P01): nothing was changed, and trying again is
    /// safe. The writer and the reads retry it with backoff before anyone sees it.
    #[error("store unavailable: {0}")]
    Retryable(String),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Other(String),
}

/// Which bound ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Opening a connection (`pg_connect_timeout_ms`).
    Connect,
    /// Waiting for a free pooled connection (`pg_acquire_timeout_ms`): nothing was sent.
    Acquire,
    /// The server cancelled the statement (`statement_timeout_ms`): nothing of it was done.
    Statement,
    /// The server stopped answering: what became of the call is unknown.
    NoAnswer,
}

impl StoreError {
    /// What went wrong, without the "store unavailable: " its display begins with (for a
    /// message that wraps it, so the words never come twice).
    pub fn reason(&self) -> String {
        match self {
            StoreError::Unavailable(m) | StoreError::Retryable(m) => m.clone(),
            StoreError::Timeout { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The store could not be reached or did not answer in time (the call may be tried later).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Timeout { .. }
        )
    }

    /// The error's code in the metrics.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "NOT_FOUND",
            StoreError::Conflict { .. } | StoreError::PolicyChanged { .. } => "CONFLICT",
            StoreError::Duplicate(_) => "DUPLICATE",
            StoreError::Mirrored { .. } => "MIRRORED",
            StoreError::Constraint(_) => "CONSTRAINT",
            StoreError::Timeout { .. } => "TIMEOUT",
            StoreError::Unavailable(_) | StoreError::Retryable(_) => "UNAVAILABLE",
            StoreError::Corrupt(_) => "CORRUPT",
            StoreError::Other(_) => "OTHER",
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One atomic write: a change, the ledger event that records it, and the audit record that says
/// who made it. Either all of them are stored or none is.
#[derive(Debug, Clone)]
pub struct Write {
    pub change: Change,
    pub ledger: Option<LedgerDraft>,
    pub audit: Option<AuditEvent>,
}

// A write holds one, moved from the service to the store and applied: a transition's position
// and lifecycle step inline cost nothing a box would save.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Change {
    /// Nothing but the audit record (a refused or failed action).
    None,
    CreateInstitution(Institution),
    CreateTemplate(AssetTemplate),
    CreateAsset(Asset),
    /// A new position, and the policy the service checked it against (None: not checked, as an
    /// import's): the store writes it only if that is still the policy in force.
    CreatePosition(Position, Option<PolicySeen>),
    /// `position` carries the new state, version and updatedAt; the store applies it only if the
    /// stored row still has `expected_state` and `expected_version` (else `StoreError::Conflict`)
    /// and, when `policy` is given (a release checked against its policy's cap), that is still
    /// the policy in force (else `StoreError::PolicyChanged`).
    TransitionPosition {
        position: Position,
        expected_state: PositionState,
        expected_version: i64,
        event: PositionLifecycleEvent,
        policy: Option<PolicySeen>,
    },
    /// Insert or replace the policy for (institution, region). An existing policy keeps its id and
    /// createdAt; the ledger event and audit record are made to name the stored id.
    UpsertPolicy(InstitutionPolicy),
    CreateApiKey(ApiKey),
    /// Sets revokedAt if the key is not revoked yet. A key already revoked is left alone and the
    /// commit reports `applied: false` (nothing is written); a missing key is `NotFound`.
    RevokeApiKey {
        id: String,
        at: crate::domain::time::Timestamp,
    },
}

/// The policy a new position (or a release) was checked against, as the service last read it
/// from this store: the policy of (the position's institution, `region`), or none. The store
/// writes the change only if that is still the policy in force — else
/// `StoreError::PolicyChanged` and nothing is written — so a create or a release needs no read
/// of the policy of its own, whoever changed it since.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySeen {
    pub region: Region,
    pub policy: Option<Arc<InstitutionPolicy>>,
}

impl Change {
    /// The policy this change was checked against, with its institution: a create's, or a
    /// release's cap (see `PolicySeen`).
    pub fn policy_seen(&self) -> Option<(&str, &PolicySeen)> {
        match self {
            Change::CreatePosition(p, Some(seen))
            | Change::TransitionPosition {
                position: p,
                policy: Some(seen),
                ..
            } => Some((p.institution_id.as_str(), seen)),
            _ => None,
        }
    }
}

impl PolicySeen {
    /// Whether `stored` (the policy in force now) is the one seen.
    pub fn is_current(&self, stored: Option<&InstitutionPolicy>) -> bool {
        self.policy.as_deref() == stored
    }
}

/// The mark of a store that `escrowgrid mirror --to` writes into: while it is there, the store
/// takes writes from its mirror only (a mirror's steps come through `Store::import`); every
/// other write is refused with `StoreError::Mirrored`. With the mirror's last step, for health.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorOf {
    /// Where the mirror reads from (a PostgreSQL password replaced by `***`).
    pub source: String,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub started_at: crate::domain::time::Timestamp,
    #[serde(flatten)]
    pub last: MirrorLast,
}

/// On the source's side: a store this one is mirrored to, with the mirror's last step.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MirroredTo {
    /// Where the mirror writes (a PostgreSQL password replaced by `***`).
    pub target: String,
    #[serde(with = "crate::domain::time::rfc3339")]
    pub started_at: crate::domain::time::Timestamp,
    #[serde(flatten)]
    pub last: MirrorLast,
}

/// A mirror's last step: when it ended, both heads after it and how far behind the target was.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorLast {
    #[serde(with = "crate::domain::time::rfc3339")]
    pub step_at: crate::domain::time::Timestamp,
    /// The target's ledger head, and the source's.
    pub head_seq: i64,
    pub source_head_seq: i64,
    pub behind_events: i64,
    pub behind_ms: i64,
}

/// A mirror whose last step is older than this has stopped (health says so).
pub const MIRROR_STOPPED_AFTER: Duration = Duration::from_secs(10);

impl MirrorLast {
    /// How long ago the step ended.
    pub fn step_age(&self) -> Duration {
        (crate::domain::time::now() - self.step_at)
            .to_std()
            .unwrap_or_default()
    }

    /// The mirror has made no step for `MIRROR_STOPPED_AFTER`.
    pub fn stopped(&self) -> bool {
        self.step_age() > MIRROR_STOPPED_AFTER
    }
}

/// Both chains' heads, each (seq, hash): the ledger's and the audit trail's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heads {
    pub ledger: (i64, String),
    pub audit: (i64, String),
}

impl Default for Heads {
    fn default() -> Self {
        let genesis = crate::domain::ledger::GENESIS_HASH.to_string();
        Heads {
            ledger: (0, genesis.clone()),
            audit: (0, genesis),
        }
    }
}

/// What a commit stored.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// The ledger event's place in the chain (its seq).
    pub ledger: Option<i64>,
    /// The audit record's place in the audit chain (its seq).
    pub audit: Option<i64>,
    /// The stored policy of an upsert (with the id it kept).
    pub policy: Option<InstitutionPolicy>,
    /// False when a revoke found the key already revoked (nothing was written).
    pub applied: bool,
    /// How many writes were committed in the same transaction as this one (1 when alone).
    pub batch: usize,
}

/// Backend-specific wake-ups for the ledger stream: "there may be new events now".
#[async_trait]
pub trait LedgerWaker: Send {
    /// Waits until new events may have been committed, or `max_wait` elapses. Spurious wake-ups
    /// are allowed: the stream always re-reads by seq. Returns an error while the backend's
    /// notification channel is down (the stream then falls back to polling and reports it).
    async fn wait(&mut self, max_wait: Duration) -> StoreResult<()>;
}

/// The data: what the service reads and writes. A backend implements this, `Diagnostics` and
/// `AnchorOutbox`; timing its calls is the backend's own (the SQL stores time every call where
/// it runs; the memory store's calls are the service operations' own time).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    fn faults(&self) -> &FaultInjector;
    /// What the store says of itself: where it is, how it is doing.
    fn diagnostics(&self) -> &dyn Diagnostics;
    /// The anchors' outbox (`anchors.rs`).
    fn outbox(&self) -> &dyn AnchorOutbox;

    async fn counts(&self, institution_id: Option<&str>) -> StoreResult<Counts>;
    /// What the funded positions (FUNDED, PARTIALLY_RELEASED) hold, by currency, summed from
    /// their rows (positions whose balance is not known left out).
    async fn held_totals(
        &self,
        institution_id: Option<&str>,
    ) -> StoreResult<Vec<(crate::domain::Currency, crate::domain::Balance)>>;

    /// Stores a change with its ledger event and audit record atomically.
    async fn commit(&self, write: Write) -> StoreResult<Committed>;

    /// `writes` applied in order in one transaction — all of them, or (on any failure, or when
    /// the chains would not end on `expect`) none; nothing of a failed or interrupted one
    /// remains. `after` None: a whole store loaded into this one, which must be empty (an
    /// import); `Some(heads)`: appended where the chains end now, which must be `heads` (a
    /// mirror's step; the memory store keeps the writes before a failed one, each whole).
    async fn import(
        &self,
        writes: Vec<Write>,
        after: Option<Heads>,
        expect: Heads,
    ) -> StoreResult<()>;

    async fn get_institution(&self, id: &str) -> StoreResult<Option<Institution>>;
    async fn list_institutions(&self, q: &InstitutionQuery) -> StoreResult<Vec<Institution>>;
    async fn get_template(&self, id: &str) -> StoreResult<Option<AssetTemplate>>;
    async fn list_templates(&self, q: &TemplateQuery) -> StoreResult<Vec<AssetTemplate>>;
    async fn get_asset(&self, id: &str) -> StoreResult<Option<Asset>>;
    async fn list_assets(&self, q: &AssetQuery) -> StoreResult<Vec<Asset>>;
    async fn get_position(&self, id: &str) -> StoreResult<Option<Position>>;
    /// `get_position` answered at once by a store that reads in place, without waiting on
    /// anything (the in-memory store, while no write holds its data); None when the read must be
    /// awaited.
    fn get_position_now(&self, _id: &str) -> Option<StoreResult<Option<Position>>> {
        None
    }
    async fn list_positions(&self, q: &PositionQuery) -> StoreResult<Vec<Position>>;
    async fn count_positions(&self, f: &PositionFilter) -> StoreResult<i64>;
    /// Lifecycle events of a position, oldest first.
    async fn position_events(&self, position_id: &str) -> StoreResult<Vec<PositionLifecycleEvent>>;
    async fn get_policy(
        &self,
        institution_id: &str,
        region: Region,
    ) -> StoreResult<Option<InstitutionPolicy>>;
    async fn list_policies(
        &self,
        institution_id: Option<&str>,
    ) -> StoreResult<Vec<InstitutionPolicy>>;
    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKey>>;
    async fn find_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
    /// Keys of an institution (all institutions if `None`), revoked ones included, oldest first.
    async fn list_api_keys(&self, institution_id: Option<&str>) -> StoreResult<Vec<ApiKey>>;

    async fn read_ledger(&self, q: &LedgerQuery) -> StoreResult<Vec<LedgerEvent>>;
    /// (seq, hash) of the newest ledger event.
    async fn ledger_head(&self) -> StoreResult<Option<(i64, String)>>;
    /// Audit records, newest first (or in chain order: `AuditQuery::after_seq`).
    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    /// Both chains' heads, read together (genesis for an empty chain): what one export or
    /// check stands on, never the ledger of one moment and the audit trail of another.
    async fn heads(&self) -> StoreResult<Heads>;

    /// The mark of a mirror's target (see `MirrorOf`), if this store is one.
    async fn mirror_of(&self) -> StoreResult<Option<MirrorOf>>;
    /// Marks this store a mirror's target, or records its mirror's last step; `None` removes
    /// the mark (`mirror promote`), and the store takes writes again.
    async fn set_mirror_of(&self, mark: Option<&MirrorOf>) -> StoreResult<()>;
    /// The stores this one is mirrored to, as their mirrors last said.
    async fn mirrored_to(&self) -> StoreResult<Vec<MirroredTo>>;
    /// Records a mirror's last step on its source's side, or (`last` None) forgets the mirror
    /// to `target` (it ended).
    async fn set_mirrored_to(&self, target: &str, m: Option<&MirroredTo>) -> StoreResult<()>;

    /// A waker for the ledger stream (see `LedgerWaker`).
    async fn ledger_waker(&self) -> StoreResult<Box<dyn LedgerWaker>>;
}

/// What a store says of itself, for `health`, the Health tab, `migrate` and the witness file.
#[async_trait]
pub trait Diagnostics: Send + Sync {
    /// Where the data lives, with any password redacted.
    fn target(&self) -> String;
    /// What an acknowledged write survives, in words (for `health`).
    fn durability(&self) -> String;
    /// How the connection to the database server is protected (PostgreSQL); None for a store
    /// in this process or a file.
    fn transport(&self) -> Option<Transport> {
        None
    }
    /// Why this store refuses writes (its schema is behind or ahead of this binary), if it does.
    fn writes_refused(&self) -> Option<String> {
        None
    }
    /// The schema beside this binary's migrations (PostgreSQL; None elsewhere: SQLite files
    /// are migrated on open, memory stores have no schema).
    async fn schema_status(&self) -> StoreResult<Option<schema::SchemaStatus>> {
        Ok(None)
    }
    /// Applies the pending migrations (PostgreSQL), and lifts the refusal of writes they caused.
    async fn apply_migrations(&self) -> StoreResult<Option<schema::SchemaStatus>> {
        Ok(None)
    }
    /// What this store is, however its URL is spelled: witnessed heads are kept under it
    /// (SQLite: the file's canonical path, device and inode; PostgreSQL: the cluster's system
    /// identifier, the database and the schema). None for a store that lives in this process
    /// only (memory, `sqlite::memory:`), whose heads are never witnessed.
    async fn identity(&self) -> StoreResult<Option<String>> {
        Ok(None)
    }
    async fn ping(&self) -> StoreResult<Duration>;
    async fn schema_version(&self) -> StoreResult<Option<i64>>;
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
    /// The read replica's state, where one is configured.
    async fn replica_status(&self) -> Option<replica::ReplicaStatus> {
        None
    }
    /// The database's own statistics, where the backend has them.
    async fn db_stats(&self) -> StoreResult<Option<DbStats>> {
        Ok(None)
    }
    /// The timings of the store's own calls (`store.<call>`), where it keeps them.
    fn timings(&self) -> Vec<crate::metrics::OpFigures> {
        Vec::new()
    }
    /// How the database would read a page of positions (its query plan, a line per step), where
    /// there is a database to ask.
    async fn explain_positions(&self, _q: &PositionQuery) -> StoreResult<Option<String>> {
        Ok(None)
    }
}

/// The anchors' outbox: anchors of the ledger head waiting to be published (`anchors.rs`).
#[async_trait]
pub trait AnchorOutbox: Send + Sync {
    /// Adds an anchor of ledger head (`seq`, `head`) unless `seq` has one; true when added.
    async fn enqueue(&self, seq: i64, head: &str) -> StoreResult<bool>;
    /// Leases the oldest anchor that is due (pending, sent, or failed past its next attempt) and
    /// not leased to another sender, counting the attempt.
    async fn claim(&self, owner: &str, lease: Duration) -> StoreResult<Option<AnchorRecord>>;
    /// Stores what became of a claimed anchor and releases its lease.
    async fn save(&self, a: &AnchorRecord) -> StoreResult<()>;
    /// Anchors, newest first.
    async fn list(&self, limit: u32) -> StoreResult<Vec<AnchorRecord>>;
    async fn summary(&self) -> StoreResult<AnchorSummary>;
}

/// The outbox's calls on a store itself, as its callers name them.
impl dyn Store {
    pub async fn anchor_enqueue(&self, seq: i64, head: &str) -> StoreResult<bool> {
        self.outbox().enqueue(seq, head).await
    }
    pub async fn anchor_claim(
        &self,
        owner: &str,
        lease: Duration,
    ) -> StoreResult<Option<AnchorRecord>> {
        self.outbox().claim(owner, lease).await
    }
    pub async fn anchor_save(&self, a: &AnchorRecord) -> StoreResult<()> {
        self.outbox().save(a).await
    }
    pub async fn list_anchors(&self, limit: u32) -> StoreResult<Vec<AnchorRecord>> {
        self.outbox().list(limit).await
    }
    pub async fn anchor_summary(&self) -> StoreResult<AnchorSummary> {
        self.outbox().summary().await
    }
}

pub type SharedStore = Arc<dyn Store>;

/// The most rows a page holds.
pub const PAGE_MAX: u32 = 1000;

/// Clamps a requested page size to 1..=PAGE_MAX + 1 (default 100 when 0): a caller may ask for
/// one row beyond a full page, to tell whether another page follows.
pub fn clamp_limit(limit: u32) -> u32 {
    match limit {
        0 => 100,
        n => n.min(PAGE_MAX + 1),
    }
}

/// How SQLite makes a commit durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// No fsync: a commit can be lost on a crash of the machine (not of the process).
    Off,
    /// WAL fsynced at checkpoints only: the last commits can be lost on power failure.
    Normal,
    /// The WAL is fsynced at every commit: an acknowledged write survives power failure.
    #[default]
    Full,
    /// Full, and the directory too after a WAL reset.
    Extra,
}

impl SqliteSync {
    pub const ALL: [SqliteSync; 4] = [
        SqliteSync::Off,
        SqliteSync::Normal,
        SqliteSync::Full,
        SqliteSync::Extra,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            SqliteSync::Off => "off",
            SqliteSync::Normal => "normal",
            SqliteSync::Full => "full",
            SqliteSync::Extra => "extra",
        }
    }

    pub fn parse(s: &str) -> Option<SqliteSync> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// Settings of the stores beyond their URL.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often the SQLite ledger stream looks for other processes' events when it cannot
    /// watch the database file.
    pub sqlite_poll: Duration,
    pub sqlite_synchronous: SqliteSync,
    pub pg: PgSettings,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sqlite_poll: sqlite::DEFAULT_POLL,
            sqlite_synchronous: SqliteSync::default(),
            pg: PgSettings::default(),
        }
    }
}

/// PostgreSQL connection settings (config keys `pg_*` and `statement_timeout_ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// Reader connections at most (the writer has one more of its own).
    pub max_connections: u32,
    /// Reader connections kept open while idle.
    pub min_connections: u32,
    /// How long a call waits for a free pooled connection before it fails.
    pub acquire_timeout: Duration,
    /// A pooled connection idle this long is closed (down to `min_connections`).
    pub idle_timeout: Duration,
    /// How long opening one connection may take (TCP, TLS, authentication).
    pub connect_timeout: Duration,
    /// Set as `statement_timeout` on every connection; also the bound on one call's round trip
    /// when the server stops answering altogether.
    pub statement_timeout: Duration,
    /// A streaming read replica of the same database, if any.
    pub replica: Option<replica::ReplicaSettings>,
    /// Apply pending migrations to a database in use when it opens (an empty database is
    /// always given the schema). Off: `escrowgrid migrate apply` is a deliberate step.
    pub auto_migrate: bool,
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(15),
            replica: None,
            auto_migrate: false,
        }
    }
}

/// Opens the configured store (see `open_with` for the schema) with default options but the
/// SQLite polling interval.
pub async fn open(backend: Backend, url: &str, sqlite_poll: Duration) -> StoreResult<SharedStore> {
    let opts = Options {
        sqlite_poll,
        ..Options::default()
    };
    open_with(backend, url, &opts).await
}

/// Opens the configured store. SQLite applies its migrations on open; PostgreSQL gives an empty
/// database the schema and otherwise applies migrations only with `auto_migrate` (else writes are
/// refused until `migrate apply`).
pub async fn open_with(backend: Backend, url: &str, opts: &Options) -> StoreResult<SharedStore> {
    Ok(match backend {
        Backend::Memory => Arc::new(memory::MemoryStore::new()),
        Backend::Sqlite => Arc::new(sqlite::open(url, opts).await?),
        Backend::Postgres => Arc::new(postgres::open(url, &opts.pg).await?),
    })
}

/// A mirror's step found the target's chains ending elsewhere than where it was to start:
/// something else wrote to the target.
pub(crate) fn moved(now: &Heads, after: &Heads) -> StoreError {
    StoreError::Constraint(format!(
        "the target's chains end at ledger seq {} and audit seq {}, not at {} and {}: something \
         else wrote to it",
        now.ledger.0, now.audit.0, after.ledger.0, after.audit.0
    ))
}
