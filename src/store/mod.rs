//! Persistence. One trait, three backends (memory, SQLite, PostgreSQL), one conformance suite
//! (`tests/it/conformance.rs`). Stores persist; they do not decide business rules. Every change is
//! committed together with its ledger event and audit record in one atomic step (`Store::commit`).

mod anchors;
pub mod counters;
pub mod memory;
pub mod postgres;
pub mod replica;
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

pub use sqldb::SqlStore;

use crate::domain::anchor::{AnchorRecord, AnchorSummary};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::{LedgerDraft, LedgerEvent};
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, LedgerKind, Outcome, Position,
    PositionLifecycleEvent, PositionState, Region,
};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
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
            StoreError::Conflict { .. } => "CONFLICT",
            StoreError::Duplicate(_) => "DUPLICATE",
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

#[derive(Debug, Clone)]
pub enum Change {
    /// Nothing but the audit record (a refused or failed action).
    None,
    CreateInstitution(Institution),
    CreateTemplate(AssetTemplate),
    CreateAsset(Asset),
    CreatePosition(Position),
    /// `position` carries the new state, version and updatedAt; the store applies it only if the
    /// stored row still has `expected_state` and `expected_version` (else `StoreError::Conflict`).
    TransitionPosition {
        position: Position,
        expected_state: PositionState,
        expected_version: i64,
        event: PositionLifecycleEvent,
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
    /// The ledger event's place in the chain: (seq, hash).
    pub ledger: Option<(i64, String)>,
    /// The audit record's place in the audit chain: (seq, hash).
    pub audit: Option<(i64, String)>,
    /// The stored policy of an upsert (with the id it kept).
    pub policy: Option<InstitutionPolicy>,
    /// False when a revoke found the key already revoked (nothing was written).
    pub applied: bool,
    /// How many writes were committed in the same transaction as this one (1 when alone).
    pub batch: usize,
}

/// Keyset page request: items strictly after `after` (an id), at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub after: Option<String>,
    pub limit: u32,
}

impl Page {
    pub fn first(limit: u32) -> Self {
        Page { after: None, limit }
    }
}

#[derive(Debug, Clone, Default)]
pub struct InstitutionQuery {
    /// Restrict to one institution (scoping).
    pub id: Option<String>,
    pub page: Page,
}

#[derive(Debug, Clone, Default)]
pub struct TemplateQuery {
    pub institution_id: Option<String>,
    pub page: Page,
}

#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    pub institution_id: Option<String>,
    pub template_id: Option<String>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PositionFilter {
    pub institution_id: Option<String>,
    pub asset_id: Option<String>,
    pub template_id: Option<String>,
    pub state: Option<PositionState>,
    pub holder_reference: Option<String>,
    /// Case-insensitive substring of the id, holder reference or external reference.
    pub text: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PositionSortKey {
    /// Creation order (the id is time-ordered).
    #[default]
    Created,
    Updated,
    Institution,
    Asset,
    Holder,
    Amount,
    Currency,
    State,
}

impl PositionSortKey {
    pub const ALL: &'static [PositionSortKey] = &[
        PositionSortKey::Created,
        PositionSortKey::Institution,
        PositionSortKey::Asset,
        PositionSortKey::Holder,
        PositionSortKey::Amount,
        PositionSortKey::Currency,
        PositionSortKey::State,
        PositionSortKey::Updated,
    ];

    /// The key's name (`sort=` in the HTTP API).
    pub fn as_str(&self) -> &'static str {
        match self {
            PositionSortKey::Created => "created",
            PositionSortKey::Updated => "updated",
            PositionSortKey::Institution => "institution",
            PositionSortKey::Asset => "asset",
            PositionSortKey::Holder => "holder",
            PositionSortKey::Amount => "amount",
            PositionSortKey::Currency => "currency",
            PositionSortKey::State => "state",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// The value of this key for a position, in a form whose text order is the key's order.
    pub fn cursor_value(&self, p: &Position) -> String {
        match self {
            PositionSortKey::Created => String::new(),
            PositionSortKey::Updated => crate::domain::time::format(&p.updated_at),
            PositionSortKey::Institution => p.institution_id.clone(),
            PositionSortKey::Asset => p.asset_id.clone(),
            PositionSortKey::Holder => p.holder_reference.clone(),
            PositionSortKey::Amount => p.amount.to_sortable(),
            PositionSortKey::Currency => p.currency.as_str().to_string(),
            PositionSortKey::State => p.state.as_str().to_string(),
        }
    }
}

/// Where a position page starts: after (or, going backwards, before) this row in sort order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionCursor {
    pub value: String,
    pub id: String,
}

impl PositionCursor {
    pub fn of(key: PositionSortKey, p: &Position) -> Self {
        PositionCursor {
            value: key.cursor_value(p),
            id: p.id.clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PositionQuery {
    pub filter: PositionFilter,
    pub sort: PositionSortKey,
    pub descending: bool,
    pub cursor: Option<PositionCursor>,
    /// Read towards the start: the `limit` rows before `cursor` (the last page if no cursor).
    /// The result is still in display order.
    pub backwards: bool,
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct LedgerQuery {
    /// Only events with seq > after_seq.
    pub after_seq: i64,
    /// Only events with seq < before_seq.
    pub before_seq: Option<i64>,
    pub position_id: Option<String>,
    pub kind: Option<LedgerKind>,
    pub institution_id: Option<String>,
    /// Only events written at or after this time.
    pub since: Option<crate::domain::time::Timestamp>,
    /// Only events whose kind, id, entity id, position id, institution id or payload (its
    /// canonical JSON: the actor, amounts, states, reasons) contains this text, ignoring ASCII
    /// case (PostgreSQL folds every letter's case).
    pub text: Option<String>,
    /// Newest first (for "the last N events"); otherwise seq ascending.
    pub newest_first: bool,
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    /// Records made by, or about, this institution.
    pub institution_id: Option<String>,
    /// Only records with id < before (newest-first paging).
    pub before: Option<String>,
    /// Only records with id > after, oldest first (paging towards the newest).
    pub after: Option<String>,
    /// Oldest first (by id) instead of newest first.
    pub oldest_first: bool,
    /// Only the record with this id.
    pub id: Option<String>,
    /// Only records about this resource.
    pub resource_id: Option<String>,
    /// The audit chain in order: only records with seq > this, oldest first (instead of newest
    /// first by id).
    pub after_seq: Option<i64>,
    /// Only records that have no place in the audit chain (written by a version before it).
    pub unchained: bool,
    /// Only records whose id, actor, key id, action, outcome, resource id, operation id or
    /// error code contains this text, ignoring ASCII case (PostgreSQL folds every letter's).
    pub text: Option<String>,
    pub limit: u32,
}

/// "Contains `needle`", ignoring ASCII case as SQLite's LIKE does.
fn contains_ascii_ci(needle: &str) -> impl Fn(&str) -> bool {
    let needle = needle.to_ascii_lowercase();
    move |s: &str| s.to_ascii_lowercase().contains(&needle)
}

/// The fields of a ledger event that `LedgerQuery.text` searches.
pub struct LedgerText<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub entity_id: &'a str,
    pub position_id: Option<&'a str>,
    pub institution_id: &'a str,
    /// The payload's canonical JSON.
    pub payload_json: &'a str,
}

/// Whether an event with these fields matches `LedgerQuery.text`: its kind, ids or canonical
/// payload contain the text.
pub fn ledger_text_hit(text: &str, e: &LedgerText<'_>) -> bool {
    if text.is_empty() {
        return true;
    }
    let hit = contains_ascii_ci(text);
    hit(e.kind)
        || hit(e.id)
        || hit(e.entity_id)
        || e.position_id.is_some_and(&hit)
        || hit(e.institution_id)
        || hit(e.payload_json)
}

/// Whether a ledger event matches `LedgerQuery.text` (the console's test for events that
/// stream in).
pub fn ledger_text_matches(e: &LedgerEvent, text: &str) -> bool {
    text.is_empty()
        || ledger_text_hit(
            text,
            &LedgerText {
                kind: e.kind.as_str(),
                id: &e.id,
                entity_id: &e.entity_id,
                position_id: e.position_id.as_deref(),
                institution_id: &e.institution_id,
                payload_json: &crate::domain::ledger::canonical_value(&e.payload),
            },
        )
}

/// The fields of an audit record that `AuditQuery.text` searches.
pub struct AuditText<'a> {
    pub id: &'a str,
    pub actor: &'a str,
    pub api_key_id: Option<&'a str>,
    pub action: &'a str,
    pub outcome: &'a str,
    pub resource_id: Option<&'a str>,
    pub op_id: Option<&'a str>,
    pub error_code: Option<&'a str>,
}

/// Whether a record with these fields matches `AuditQuery.text`.
pub fn audit_text_hit(text: &str, a: &AuditText<'_>) -> bool {
    if text.is_empty() {
        return true;
    }
    let hit = contains_ascii_ci(text);
    hit(a.id)
        || hit(a.actor)
        || a.api_key_id.is_some_and(&hit)
        || hit(a.action)
        || hit(a.outcome)
        || a.resource_id.is_some_and(&hit)
        || a.op_id.is_some_and(&hit)
        || a.error_code.is_some_and(&hit)
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub institutions: i64,
    pub templates: i64,
    pub assets: i64,
    pub positions: i64,
    pub ledger_events: i64,
    pub audit_events: i64,
    pub positions_by_state: Vec<(PositionState, i64)>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
    /// Reads that found every connection busy and the pool at its maximum, so waited.
    pub waits: u64,
}

/// What the database itself says of its size and health (PostgreSQL: `pg_database_size`,
/// `pg_stat_user_tables`, `pg_stat_database`).
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DbStats {
    pub size_bytes: i64,
    pub deadlocks: i64,
    /// Queries on a standby cancelled for conflicts with recovery.
    pub conflicts: i64,
    pub commits: i64,
    pub rollbacks: i64,
    pub tables: Vec<TableStats>,
    /// Things the operator should know once (a missing index, a fallback in use).
    pub notes: Vec<String>,
}

/// The connection to a database server: encrypted or not, and what of the server was checked.
#[derive(Debug, Clone, serde::Serialize, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transport {
    pub encrypted: bool,
    /// TLS version and cipher, as the server reports them (`pg_stat_ssl`).
    pub protocol: Option<String>,
    pub cipher: Option<String>,
    /// libpq's `sslmode`: disable, allow, prefer, require, verify-ca or verify-full.
    pub ssl_mode: String,
    /// Whether the server's certificate was checked against the trusted CAs, and its host name.
    pub certificate_verified: bool,
    pub host_name_verified: bool,
}

impl Transport {
    /// One line for `health` and the Health tab.
    pub fn describe(&self) -> String {
        if !self.encrypted {
            return format!(
                "NOT encrypted (sslmode={}): passwords and data cross the network in the clear",
                self.ssl_mode
            );
        }
        let what = [self.protocol.as_deref(), self.cipher.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let checked = match (self.certificate_verified, self.host_name_verified) {
            (true, true) => "certificate and host name verified",
            (true, false) => "certificate verified, host name not checked",
            _ => "server NOT verified (any certificate is accepted)",
        };
        format!("encrypted ({what}), {checked} (sslmode={})", self.ssl_mode)
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableStats {
    pub name: String,
    pub live_rows: i64,
    pub dead_rows: i64,
    /// The newest of the last vacuum and autovacuum, RFC 3339; None if never.
    pub last_vacuum: Option<String>,
    pub last_analyze: Option<String>,
}

/// Backend-specific wake-ups for the ledger stream: "there may be new events now".
#[async_trait]
pub trait LedgerWaker: Send {
    /// Waits until new events may have been committed, or `max_wait` elapses. Spurious wake-ups
    /// are allowed: the stream always re-reads by seq. Returns an error while the backend's
    /// notification channel is down (the stream then falls back to polling and reports it).
    async fn wait(&mut self, max_wait: Duration) -> StoreResult<()>;
}

/// Test hooks shared by all backends: a ledger append that fails after the entity write (to
/// prove that a write rolls back whole), and a gate that holds the writer while writes queue (to
/// put chosen writes into one batch).
#[derive(Debug, Default)]
pub struct FaultInjector {
    fail_next_ledger_append: AtomicBool,
    /// 0: none; 1: the next commit lands but its answer is lost; 2: the next commit is lost
    /// before it reaches the database (PostgreSQL writer).
    lose_next_commit: std::sync::atomic::AtomicU8,
    gate: tokio::sync::Mutex<()>,
    /// Whether a test holds the gate (so a write need not take the gate's lock otherwise).
    holding: AtomicBool,
    queued: AtomicI64,
}

/// The writer held by a test (`FaultInjector::hold_writer`) until this is dropped.
pub struct WriterHold<'a> {
    _gate: tokio::sync::MutexGuard<'a, ()>,
    holding: &'a AtomicBool,
}

impl Drop for WriterHold<'_> {
    fn drop(&mut self) {
        self.holding.store(false, Ordering::SeqCst);
    }
}

impl FaultInjector {
    pub fn fail_next_ledger_append(&self) {
        self.fail_next_ledger_append.store(true, Ordering::SeqCst);
    }
    /// Called by a store right before it appends a ledger event.
    pub(crate) fn check_ledger_append(&self) -> StoreResult<()> {
        if self.fail_next_ledger_append.swap(false, Ordering::SeqCst) {
            Err(StoreError::Other("injected ledger append failure".into()))
        } else {
            Ok(())
        }
    }
    /// The next PostgreSQL commit lands, but the writer hears nothing back (`landed`: true), or
    /// it never reaches the database (false), as when the connection breaks at that moment.
    pub fn lose_next_commit(&self, landed: bool) {
        self.lose_next_commit
            .store(if landed { 1 } else { 2 }, Ordering::SeqCst);
    }
    /// Called by the writer at a commit: Some(landed) when the commit is to be lost.
    pub(crate) fn take_commit_loss(&self) -> Option<bool> {
        match self.lose_next_commit.swap(0, Ordering::SeqCst) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }
    /// Holds the writer (before it takes its next batch) until the guard is dropped.
    pub async fn hold_writer(&self) -> WriterHold<'_> {
        self.holding.store(true, Ordering::SeqCst);
        WriterHold {
            _gate: self.gate.lock().await,
            holding: &self.holding,
        }
    }
    pub(crate) async fn writer_gate(&self) {
        if self.holding.load(Ordering::SeqCst) {
            drop(self.gate.lock().await);
        }
    }
    /// A write of a store without a writer task (memory) passes the gate: counted as queued
    /// while a test holds it.
    pub(crate) async fn pass_gate(&self) {
        if self.holding.load(Ordering::SeqCst) {
            self.queued(1);
            drop(self.gate.lock().await);
            self.queued(-1);
        }
    }
    /// Writes queued and not yet taken by the writer.
    pub fn queued_writes(&self) -> i64 {
        self.queued.load(Ordering::SeqCst)
    }
    pub(crate) fn queued(&self, n: i64) {
        self.queued.fetch_add(n, Ordering::SeqCst);
    }
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

    /// Stores a change with its ledger event and audit record atomically.
    async fn commit(&self, write: Write) -> StoreResult<Committed>;

    /// Loads a whole store: `writes` applied in order into this store, which must be empty, in
    /// one transaction — all of them, or (on any failure, or when the chains would not end on
    /// `expect`) none. Nothing of a failed or interrupted import remains.
    async fn import(&self, writes: Vec<Write>, expect: Heads) -> StoreResult<()>;

    async fn get_institution(&self, id: &str) -> StoreResult<Option<Institution>>;
    async fn list_institutions(&self, q: &InstitutionQuery) -> StoreResult<Vec<Institution>>;
    async fn get_template(&self, id: &str) -> StoreResult<Option<AssetTemplate>>;
    async fn list_templates(&self, q: &TemplateQuery) -> StoreResult<Vec<AssetTemplate>>;
    async fn get_asset(&self, id: &str) -> StoreResult<Option<Asset>>;
    async fn list_assets(&self, q: &AssetQuery) -> StoreResult<Vec<Asset>>;
    async fn get_position(&self, id: &str) -> StoreResult<Option<Position>>;
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
