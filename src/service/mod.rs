//! The one API the console and the CLI use. It authenticates callers, enforces roles and scoping,
//! validates every input, applies the state machine and policies, and writes each change with its
//! ledger event and audit record in one atomic store commit. It never trusts its caller.

mod access;
pub mod actor;
pub mod anchoring;
pub mod api;
pub mod backup;
mod cache;
mod catalog;
mod check;
pub mod compare;
pub mod error;
mod export_file;
pub mod health;
mod ledger;
pub mod mirror;
pub mod paging;
mod positions;
mod reads;
pub mod session;
pub mod stream;
mod types;
mod walk;

/// The query, page and report types callers build and read: the console and the CLI go through
/// the service and never import the store.
pub use crate::store::{
    AuditQuery, Backend, Counts, LedgerQuery, Page, PoolStats, PositionCursor, PositionFilter,
    PositionQuery, PositionSortKey, StoreError,
};
pub use actor::Actor;
pub use check::{CheckReport, Finding};
pub use error::{ServiceError, ServiceResult};
pub use types::*;

use crate::domain::apikey::{self, ApiKey};
use crate::domain::audit::{AuditError, AuditEvent};
use crate::domain::error::Errors;
use crate::domain::ledger::{CanonicalJson, ChainVerifier, LedgerDraft, LedgerEvent};
use crate::domain::payloads::{self, Payload};
use crate::domain::policy::{PolicyConfig, PositionPolicy};
use crate::domain::template::{self, TemplateLimits};
use crate::domain::{
    Asset, AssetTemplate, EntityType, Institution, InstitutionPolicy, LedgerKind, Outcome,
    Position, PositionLifecycleEvent, PositionState, Region, Role, TemplateCode, Vertical, ids,
    lifecycle, model, text, time,
};
use crate::metrics::{Metrics, SharedMetrics};
use crate::store::{
    AssetQuery, Change, Committed, InstitutionQuery, PolicySeen, SharedStore, TemplateQuery, Write,
};
use crate::witness::Witnessed;
use reads::Read;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use subtle::ConstantTimeEq;

/// Service settings that do not belong to the store.
#[derive(Debug, Clone, Default)]
pub struct ServiceConfig {
    /// The root API key; when set, callers must authenticate.
    pub root_api_key: Option<String>,
    /// Refuse every write (console `--read-only`).
    pub read_only: bool,
    /// The log file, shown by `health`.
    pub log_file: Option<String>,
}

pub struct Service {
    store: SharedStore,
    metrics: SharedMetrics,
    config: ServiceConfig,
    started: Instant,
    institutions: cache::Immutable<Institution>,
    templates: cache::Immutable<AssetTemplate>,
    assets: cache::Immutable<Asset>,
    policies: cache::Policies,
    written: cache::Written,
    /// Key sessions checked again on every operation (and by their streams).
    sessions: Arc<session::Sessions>,
    /// What funded positions hold, by scope, as last summed (see `health::HELD_FOR`).
    held: health::HeldCache,
}

tokio::task_local! {
    /// The operation id of the service call running on this task, made when first asked for
    /// (an audit record, a log line): a read that writes neither never makes one.
    static OP_ID: OpId;
    /// The network address of the request running on this task (the server's callers).
    static CLIENT: Option<String>;
}

/// An operation's id, made on first use.
struct OpId(std::cell::OnceCell<String>);

impl OpId {
    fn get(&self) -> &str {
        self.0.get_or_init(new_op_id)
    }
}

/// A new operation id: `op_` and a time-ordered UUID, as every id here.
pub fn new_op_id() -> String {
    ids::new_id(ids::OPERATION)
}

/// Runs `f` as one request's work (the server's): every service call inside it takes `op_id`
/// as its operation id, so the audit records it writes and the response's
/// `X-Operation-Id` header name the same operation, and they record the caller's `client`
/// address.
pub async fn in_request<F: std::future::Future>(
    op_id: String,
    client: Option<String>,
    f: F,
) -> F::Output {
    CLIENT
        .scope(client, OP_ID.scope(OpId(op_id.into()), f))
        .await
}

/// Every action an audit record can name: each change's, a failed sign-in, each refused read.
pub fn audit_actions() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = LedgerKind::ALL.iter().map(|k| k.audit_action()).collect();
    v.push("AUTH_FAILED");
    v.extend(reads::Read::ALL.iter().map(|r| r.action()));
    v
}

/// The operation id of the service call running on this task, if any.
pub fn current_op_id() -> Option<String> {
    OP_ID.try_with(|id| id.get().to_string()).ok()
}

fn opt_text(s: Option<String>) -> Option<String> {
    s.filter(|x| !x.trim().is_empty())
}

/// What a successful change records, in the ledger and in the audit trail alike (the audit
/// action is the kind's).
#[derive(Clone)]
struct Record<'a> {
    entity: EntityType,
    entity_id: &'a str,
    institution_id: &'a str,
    position_id: Option<&'a str>,
    at: time::Timestamp,
    /// What happened; its kind is the ledger event's kind and the audit record's action.
    payload: Payload,
}

impl Service {
    pub fn new(store: SharedStore, config: ServiceConfig) -> Self {
        let metrics = Metrics::new();
        Service {
            written: cache::Written::for_store(store.backend()),
            store,
            metrics,
            config,
            started: Instant::now(),
            institutions: Default::default(),
            templates: Default::default(),
            assets: Default::default(),
            policies: Default::default(),
            sessions: Default::default(),
            held: Default::default(),
        }
    }

    /// This process's timings of service operations and store calls.
    pub fn metrics(&self) -> &SharedMetrics {
        &self.metrics
    }

    /// Runs one service operation for `actor` (None: an operation without a caller): the
    /// actor's key is checked first (`session.rs`), then the operation is timed under `name`
    /// and given an operation id that its audit records store and its log lines carry (the
    /// `op` span, at debug level; a failure's warning names it itself). An operation called
    /// from inside another keeps the outer one's id and is timed on its own.
    ///
    /// Nothing here is logged at info level: an operator's log is not a line per write (the
    /// audit trail records each), and at a hundred thousand writes a second it would cost more
    /// than the writes.
    pub(crate) fn op<'a, T: 'a>(
        &'a self,
        name: &'static str,
        actor: impl Into<Option<&'a Actor>>,
        f: impl std::future::Future<Output = ServiceResult<T>> + 'a,
    ) -> impl std::future::Future<Output = ServiceResult<T>> + 'a {
        let actor = actor.into();
        // On the heap at once (not when first polled): an operation's future holds its whole
        // call tree, and every future that awaits this one would otherwise hold a copy of it
        // and move it — nested operations overflowed a debug build's test thread, and on the
        // in-memory store moving them was a tenth of a write. `f` in a box of its own: awaiting
        // it in the timing block below moves the box, not the call tree (copied once, here).
        let f = Box::pin(f);
        let timed = Box::pin(async move {
            let t0 = Instant::now();
            let r = async {
                if let Some(a) = actor {
                    self.admit(a).await?;
                }
                f.await
            }
            .await;
            let now = Instant::now();
            let took = now - t0;
            self.metrics
                .record_at(name, took, r.as_ref().err().map(ServiceError::code), now);
            (r, took)
        });
        async move {
            if OP_ID.try_with(|_| ()).is_ok() {
                return timed.await.0;
            }
            let logged = async move {
                let (r, took) = timed.await;
                let ms = took.as_secs_f64() * 1000.0;
                match &r {
                    Err(e) => {
                        let op_id = current_op_id().unwrap_or_default();
                        tracing::warn!(op = name, op_id, code = e.code(), error = %e, ms, "failed")
                    }
                    Ok(_) => tracing::debug!(ms, "done"),
                }
                r
            };
            let id = OpId(std::cell::OnceCell::new());
            let span = tracing::debug_span!("op", op = name, op_id = tracing::field::Empty);
            if span.is_disabled() {
                return OP_ID.scope(id, logged).await;
            }
            span.record("op_id", id.get());
            OP_ID
                .scope(id, tracing::Instrument::instrument(logged, span))
                .await
        }
    }

    /// An operation answered at once, awaiting nothing (a store that reads in place): `op`'s
    /// checks and figures for a call that succeeds. None when it cannot be answered so — the
    /// actor's key needs a read, the store must be awaited, the call fails (a failure's log
    /// and audit record are `op`'s), or debug logging wants the operation's span — and the
    /// caller runs `op`. On the in-memory store a get through `op` spent a quarter of its time
    /// moving the nested futures and their results.
    pub(crate) fn op_now<T>(
        &self,
        name: &'static str,
        actor: &Actor,
        f: impl FnOnce() -> Option<ServiceResult<T>>,
    ) -> Option<T> {
        if tracing::enabled!(tracing::Level::DEBUG) {
            return None;
        }
        let t0 = Instant::now();
        self.sessions.admit_now(actor)?.ok()?;
        let r = f()?.ok()?;
        let now = Instant::now();
        self.metrics.record_at(name, now - t0, None, now);
        Some(r)
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// True when callers must present a key.
    pub fn requires_key(&self) -> bool {
        self.config.root_api_key.is_some()
    }

    // ---- authentication and authorisation ------------------------------------------------------

    /// Identifies the caller from an API key (or its absence).
    pub async fn authenticate(&self, token: Option<&str>) -> ServiceResult<Actor> {
        self.op("authenticate", None, async move {
            let token = token.map(str::trim).filter(|t| !t.is_empty());
            let result = self.authenticate_inner(token).await;
            if let Err(e) = &result {
                // Nothing of a failed token is kept: it may be a real key mistyped.
                let who = if token.is_some() {
                    "unknown key"
                } else {
                    "anonymous"
                }
                .to_string();
                let mut rec = self.audit_record(
                    &Actor::Local { user: who.clone() },
                    "AUTH_FAILED",
                    Outcome::Failure,
                    None,
                    None,
                    None,
                    None,
                );
                rec.actor = who;
                rec.error = Some(AuditError {
                    code: e.code().into(),
                    message: e.to_string(),
                });
                self.write_audit_only(rec).await;
            }
            result
        })
        .await
    }

    async fn authenticate_inner(&self, token: Option<&str>) -> ServiceResult<Actor> {
        let Some(token) = token else {
            return if self.config.root_api_key.is_some() {
                Err(ServiceError::Unauthenticated(
                    "an API key is required: pass --api-key, set ESCROWGRID_API_KEY, or set api_key in the config file".into(),
                ))
            } else {
                Ok(Actor::local())
            };
        };
        if let Some(root) = &self.config.root_api_key
            && bool::from(token.as_bytes().ct_eq(root.as_bytes()))
        {
            return Ok(Actor::Root);
        }
        if !apikey::looks_like_token(token) {
            return Err(ServiceError::Unauthenticated(
                "invalid API key: expected the root key or an institution key (ak_ followed by 48 hex characters)".into(),
            ));
        }
        let key_hash = apikey::hash_token(token);
        let key = self
            .store
            .find_api_key_by_hash(&key_hash)
            .await?
            .ok_or_else(|| ServiceError::Unauthenticated("unknown API key".into()))?;
        if let Some(at) = key.revoked_at {
            return Err(ServiceError::Unauthenticated(format!(
                "API key {} ({}) was revoked at {}",
                key.id,
                key.label,
                time::format(&at)
            )));
        }
        Ok(Actor::Key {
            key_id: key.id,
            institution_id: key.institution_id,
            role: key.role,
            label: key.label,
            key_hash,
        })
    }

    /// Refuses an operation of a session whose key was revoked, removed or changed since it
    /// signed in (`session.rs`); the refusal is audited as a failed authentication.
    async fn admit(&self, actor: &Actor) -> ServiceResult<()> {
        let r = self.sessions.admit(self.store.as_ref(), actor).await;
        if let Err(e @ ServiceError::Unauthenticated(_)) = &r {
            let mut rec = self.audit_record(
                actor,
                "AUTH_FAILED",
                Outcome::Failure,
                Some(EntityType::ApiKey),
                actor.key_id(),
                actor.scope(),
                None,
            );
            rec.error = Some(AuditError {
                code: e.code().into(),
                message: e.to_string(),
            });
            self.write_audit_only(rec).await;
        }
        r
    }

    fn forbidden(actor: &Actor, action: impl Into<String>) -> ServiceError {
        ServiceError::Forbidden {
            role: actor.role_name().to_string(),
            action: action.into(),
        }
    }

    /// The institution a write acts on: root names it; a key acts on its own.
    fn effective_institution(
        actor: &Actor,
        requested: Option<&str>,
        what: &str,
    ) -> ServiceResult<String> {
        let requested = requested.map(str::trim).filter(|s| !s.is_empty());
        match actor.scope() {
            Some(own) => match requested {
                Some(r) if r != own => Err(Self::forbidden(
                    actor,
                    format!("{what} in institution {r} (this key belongs to {own})"),
                )),
                _ => Ok(own.to_string()),
            },
            None => requested.map(str::to_string).ok_or_else(|| {
                ServiceError::field(
                    "institutionId",
                    "is required: name the institution (--institution)",
                )
            }),
        }
    }

    /// Refuses writes for read-only roles and read-only sessions.
    fn authorize_write(&self, actor: &Actor, what: &str) -> ServiceResult<()> {
        if self.config.read_only {
            return Err(ServiceError::Forbidden {
                role: format!("{} (read-only session)", actor.role_name()),
                action: what.to_string(),
            });
        }
        if !actor.can_write() {
            return Err(Self::forbidden(actor, what));
        }
        Ok(())
    }

    /// A record fetched by id, if the actor may see it: not found when missing, forbidden when it
    /// belongs to another institution.
    fn visible<T>(
        actor: &Actor,
        what: &'static str,
        id: &str,
        found: Option<T>,
        institution_of: impl Fn(&T) -> &str,
    ) -> ServiceResult<T> {
        let record = found.ok_or_else(|| ServiceError::NotFound {
            what,
            id: id.to_string(),
        })?;
        Self::check_scope(actor, institution_of(&record), what, id)?;
        Ok(record)
    }

    /// Refuses reads of another institution's record.
    fn check_scope(actor: &Actor, institution_id: &str, what: &str, id: &str) -> ServiceResult<()> {
        match actor.scope() {
            Some(own) if own != institution_id => Err(Self::forbidden(
                actor,
                format!("{what} {id} belongs to another institution"),
            )),
            _ => Ok(()),
        }
    }

    // ---- records that never change -------------------------------------------------------------

    /// The institution a write names: it must exist ("institution … does not exist" on the
    /// field, before anything that belongs to it is looked at).
    async fn existing_institution(&self, id: &str) -> ServiceResult<Arc<Institution>> {
        self.institution_record(id).await?.ok_or_else(|| {
            ServiceError::field("institutionId", format!("institution {id} does not exist"))
        })
    }

    async fn institution_record(&self, id: &str) -> ServiceResult<Option<Arc<Institution>>> {
        Ok(self
            .institutions
            .get(id, || self.store.get_institution(id))
            .await?)
    }

    async fn template_record(&self, id: &str) -> ServiceResult<Option<Arc<AssetTemplate>>> {
        Ok(self
            .templates
            .get(id, || self.store.get_template(id))
            .await?)
    }

    async fn asset_record(&self, id: &str) -> ServiceResult<Option<Arc<Asset>>> {
        Ok(self.assets.get(id, || self.store.get_asset(id)).await?)
    }

    // ---- audit ----------------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn audit_record(
        &self,
        actor: &Actor,
        action: &str,
        outcome: Outcome,
        resource_type: Option<EntityType>,
        resource_id: Option<&str>,
        subject_institution_id: Option<&str>,
        payload: Option<CanonicalJson>,
    ) -> AuditEvent {
        AuditEvent {
            id: ids::new_id(ids::AUDIT),
            occurred_at: time::now(),
            actor: actor.audit_name(),
            api_key_id: actor.key_id().map(str::to_string),
            institution_id: actor.scope().map(str::to_string),
            action: action.to_string(),
            outcome,
            resource_type: resource_type.map(|r| r.as_str().to_string()),
            resource_id: resource_id.map(str::to_string),
            subject_institution_id: subject_institution_id.map(str::to_string),
            payload,
            error: None,
            op_id: current_op_id(),
            client: CLIENT.try_with(|c| c.clone()).ok().flatten(),
            seq: None,
            prev_hash: None,
            hash: None,
        }
    }

    async fn write_audit_only(&self, rec: AuditEvent) {
        let w = Write {
            change: Change::None,
            ledger: None,
            audit: Some(rec),
        };
        if let Err(e) = self.store.commit(w).await {
            tracing::warn!(error = %e, "could not write audit record for a failed action");
        }
    }

    /// Passes a result through; a refused or failed action is recorded in the audit trail first.
    async fn audit_failure<T>(
        &self,
        actor: &Actor,
        kind: LedgerKind,
        resource: (EntityType, Option<&str>),
        subject: Option<&str>,
        result: ServiceResult<T>,
    ) -> ServiceResult<T> {
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let mut rec = self.audit_record(
            actor,
            kind.audit_action(),
            Outcome::Failure,
            Some(resource.0),
            resource.1,
            subject,
            None,
        );
        rec.error = Some(AuditError {
            code: err.code().to_string(),
            message: err.to_string(),
        });
        self.write_audit_only(rec).await;
        Err(err)
    }

    /// Commits a change together with its ledger event and its success audit record, both made
    /// from the one payload.
    async fn commit_recorded(
        &self,
        actor: &Actor,
        change: Change,
        r: Record<'_>,
    ) -> ServiceResult<Committed> {
        Ok(self
            .store
            .commit(self.recorded_write(actor, change, &r))
            .await?)
    }

    /// The write of `change` with its ledger event and audit record (see `commit_recorded`).
    fn recorded_write(&self, actor: &Actor, change: Change, r: &Record<'_>) -> Write {
        let kind = r.payload.kind();
        // One canonical text, shared by the event and the record.
        let payload = r.payload.canonical();
        let ledger = LedgerDraft {
            id: None,
            kind,
            entity_type: r.entity,
            entity_id: r.entity_id.to_string(),
            institution_id: r.institution_id.to_string(),
            position_id: r.position_id.map(str::to_string),
            at: r.at,
            payload: payload.clone(),
        };
        let audit = self.audit_record(
            actor,
            kind.audit_action(),
            Outcome::Success,
            Some(r.entity),
            Some(r.entity_id),
            Some(r.institution_id),
            Some(payload),
        );
        Write {
            change,
            ledger: Some(ledger),
            audit: Some(audit),
        }
    }
}
