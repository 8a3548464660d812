//! The one API the console and the CLI use. It authenticates callers, enforces roles and scoping,
//! validates every input, applies the state machine and policies, and writes each change with its
//! ledger event and audit record in one atomic store commit. It never trusts its caller.

pub mod actor;
mod cache;
pub mod error;
pub mod health;
pub mod stream;

/// The query, page and report types callers build and read: the console and the CLI go through
/// the service and never import the store.
pub use crate::store::{
    AuditQuery, Backend, Counts, LedgerQuery, Page, PoolStats, PositionCursor, PositionFilter,
    PositionQuery, PositionSortKey, StoreError,
};
pub use actor::Actor;
pub use error::{ServiceError, ServiceResult};

use crate::domain::apikey::{self, ApiKey};
use crate::domain::audit::{AuditError, AuditEvent};
use crate::domain::error::Errors;
use crate::domain::ledger::{ChainBreak, ChainVerifier, LedgerDraft, LedgerEvent};
use crate::domain::policy::{PolicyConfig, PositionPolicy};
use crate::domain::template::{self, TemplateLimits};
use crate::domain::{
    Asset, AssetTemplate, EntityType, Institution, InstitutionPolicy, LedgerKind, Outcome,
    Position, PositionLifecycleEvent, PositionState, Region, Role, TemplateCode, Vertical, ids,
    lifecycle, model, text, time,
};
use crate::store::{
    AssetQuery, Change, Committed, InstitutionQuery, SharedStore, TemplateQuery, Write,
};
use serde::Serialize;
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
    config: ServiceConfig,
    started: Instant,
    institutions: cache::Immutable<Institution>,
    templates: cache::Immutable<AssetTemplate>,
    assets: cache::Immutable<Asset>,
}

// ---- inputs -------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct NewInstitution {
    pub name: String,
    pub regions: Vec<String>,
    pub verticals: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewTemplate {
    pub institution_id: Option<String>,
    pub code: String,
    pub name: String,
    pub vertical: String,
    pub region: String,
    pub config: Value,
}

#[derive(Debug, Clone, Default)]
pub struct NewAsset {
    pub institution_id: Option<String>,
    pub template_id: String,
    pub label: String,
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct NewPosition {
    pub institution_id: Option<String>,
    pub asset_id: String,
    pub holder_reference: String,
    pub currency: String,
    pub amount: String,
    pub external_reference: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TransitionRequest {
    pub to: String,
    pub reason: Option<String>,
    /// Refuse unless the position is in this state right now.
    pub expect_state: Option<String>,
    /// Refuse unless the position is at this version (what the operator saw).
    pub expect_version: Option<i64>,
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub institution_id: Option<String>,
    pub region: String,
    pub min_amount: Option<String>,
    pub max_amount: Option<String>,
    /// None: any currency. Some(empty): blocks every currency.
    pub allowed_currencies: Option<Vec<String>>,
}

// ---- outputs ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionOutcome {
    pub position: Position,
    /// False for a same-state request, which writes nothing.
    pub applied: bool,
    pub event: Option<PositionLifecycleEvent>,
    pub ledger_seq: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionDetail {
    #[serde(flatten)]
    pub position: Position,
    pub events: Vec<PositionLifecycleEvent>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    pub api_key: ApiKey,
    /// The token, shown this once; only its SHA-256 is stored.
    pub token: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeOutcome {
    pub api_key: ApiKey,
    /// True when the key was already revoked: nothing changed.
    pub already_revoked: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub ok: bool,
    pub checked: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub broken: Option<ChainBreak>,
}

/// Per-institution counts for the institutions table.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstitutionSummary {
    pub institution: Option<Institution>,
    pub templates: i64,
    pub assets: i64,
    pub positions: i64,
}

fn opt_text(s: Option<String>) -> Option<String> {
    s.filter(|x| !x.trim().is_empty())
}

/// What a successful change records, in the ledger and in the audit trail alike.
struct Record<'a> {
    action: &'static str,
    kind: LedgerKind,
    entity: EntityType,
    entity_id: &'a str,
    institution_id: &'a str,
    position_id: Option<&'a str>,
    at: time::Timestamp,
    payload: Value,
}

impl Service {
    pub fn new(store: SharedStore, config: ServiceConfig) -> Self {
        Service {
            store,
            config,
            started: Instant::now(),
            institutions: Default::default(),
            templates: Default::default(),
            assets: Default::default(),
        }
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
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let result = self.authenticate_inner(token).await;
        if let Err(e) = &result {
            let who = match token {
                Some(t) if apikey::looks_like_token(t) => format!("key:{}…", &t[..11]),
                Some(_) => "unknown key".to_string(),
                None => "anonymous".to_string(),
            };
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
        let key = self
            .store
            .find_api_key_by_hash(&apikey::hash_token(token))
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
        })
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
        payload: Option<Value>,
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
        action: &str,
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
            action,
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
        let ledger = LedgerDraft {
            kind: r.kind,
            entity_type: r.entity,
            entity_id: r.entity_id.to_string(),
            institution_id: r.institution_id.to_string(),
            position_id: r.position_id.map(str::to_string),
            at: r.at,
            payload: r.payload.clone(),
        };
        let audit = self.audit_record(
            actor,
            r.action,
            Outcome::Success,
            Some(r.entity),
            Some(r.entity_id),
            Some(r.institution_id),
            Some(r.payload),
        );
        Ok(self
            .store
            .commit(Write {
                change,
                ledger: Some(ledger),
                audit: Some(audit),
            })
            .await?)
    }

    // ---- institutions ---------------------------------------------------------------------------

    pub async fn create_institution(
        &self,
        actor: &Actor,
        input: NewInstitution,
    ) -> ServiceResult<Institution> {
        const ACTION: &str = "INSTITUTION_CREATED";
        let r = self.create_institution_inner(actor, input).await;
        self.audit_failure(actor, ACTION, (EntityType::Institution, None), None, r)
            .await
    }

    async fn create_institution_inner(
        &self,
        actor: &Actor,
        input: NewInstitution,
    ) -> ServiceResult<Institution> {
        self.authorize_write(actor, "create institutions")?;
        if !actor.is_root() {
            return Err(Self::forbidden(actor, "create institutions"));
        }
        let mut errs = Errors::new();
        let regions: Vec<Region> = input
            .regions
            .iter()
            .filter_map(|r| errs.take(Region::parse_field("regions", r)))
            .collect();
        let verticals: Vec<Vertical> = input
            .verticals
            .iter()
            .filter_map(|v| errs.take(Vertical::parse_field("verticals", v)))
            .collect();
        errs.finish()?;
        let (regions, verticals) = model::validate_institution(&input.name, &regions, &verticals)?;
        let now = time::now();
        let inst = Institution {
            id: ids::new_id(ids::INSTITUTION),
            name: input.name,
            regions,
            verticals,
            created_at: now,
            updated_at: now,
        };
        let payload = json!({"name": inst.name, "regions": inst.regions, "verticals": inst.verticals, "actor": actor.audit_name()});
        let record = Record {
            action: "INSTITUTION_CREATED",
            kind: LedgerKind::InstitutionCreated,
            entity: EntityType::Institution,
            entity_id: &inst.id,
            institution_id: &inst.id,
            position_id: None,
            at: now,
            payload,
        };
        self.commit_recorded(actor, Change::CreateInstitution(inst.clone()), record)
            .await?;
        Ok(inst)
    }

    pub async fn list_institutions(
        &self,
        actor: &Actor,
        page: Page,
    ) -> ServiceResult<Vec<Institution>> {
        Ok(self
            .store
            .list_institutions(&InstitutionQuery {
                id: actor.scope().map(str::to_string),
                page,
            })
            .await?)
    }

    pub async fn get_institution(&self, actor: &Actor, id: &str) -> ServiceResult<Institution> {
        let found = self.store.get_institution(id).await?;
        Self::visible(actor, "institution", id, found, |x| x.id.as_str())
    }

    /// Counts of templates, assets and positions of one institution.
    pub async fn institution_summary(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<InstitutionSummary> {
        let inst = self.get_institution(actor, id).await?;
        let c = self.store.counts(Some(id)).await?;
        Ok(InstitutionSummary {
            institution: Some(inst),
            templates: c.templates,
            assets: c.assets,
            positions: c.positions,
        })
    }

    // ---- templates ------------------------------------------------------------------------------

    pub async fn create_template(
        &self,
        actor: &Actor,
        input: NewTemplate,
    ) -> ServiceResult<AssetTemplate> {
        const ACTION: &str = "ASSET_TEMPLATE_CREATED";
        let subject = input.institution_id.clone();
        let r = self.create_template_inner(actor, input).await;
        self.audit_failure(
            actor,
            ACTION,
            (EntityType::AssetTemplate, None),
            subject.as_deref(),
            r,
        )
        .await
    }

    async fn create_template_inner(
        &self,
        actor: &Actor,
        input: NewTemplate,
    ) -> ServiceResult<AssetTemplate> {
        self.authorize_write(actor, "create asset templates")?;
        let inst_id = Self::effective_institution(
            actor,
            input.institution_id.as_deref(),
            "create templates",
        )?;
        let mut errs = Errors::new();
        let code = errs.take(TemplateCode::parse_field("code", &input.code));
        let vertical = errs.take(Vertical::parse_field("vertical", &input.vertical));
        let region = errs.take(Region::parse_field("region", &input.region));
        errs.take(text::required("name", &input.name, model::NAME_MAX));
        errs.finish()?;
        let (code, vertical, region) = (
            code.expect("ok"),
            vertical.expect("ok"),
            region.expect("ok"),
        );
        let inst = self.institution_record(&inst_id).await?.ok_or_else(|| {
            ServiceError::field(
                "institutionId",
                format!("institution {inst_id} does not exist"),
            )
        })?;
        template::validate_template(&inst, code, &input.name, vertical, region, &input.config)?;
        let now = time::now();
        let t = AssetTemplate {
            id: ids::new_id(ids::TEMPLATE),
            institution_id: inst_id.clone(),
            code,
            name: input.name,
            vertical,
            region,
            config: input.config,
            created_at: now,
            updated_at: now,
        };
        let payload = json!({
            "institutionId": t.institution_id, "code": t.code, "name": t.name,
            "vertical": t.vertical, "region": t.region, "config": t.config, "actor": actor.audit_name(),
        });
        let record = Record {
            action: "ASSET_TEMPLATE_CREATED",
            kind: LedgerKind::TemplateCreated,
            entity: EntityType::AssetTemplate,
            entity_id: &t.id,
            institution_id: &inst_id,
            position_id: None,
            at: now,
            payload,
        };
        self.commit_recorded(actor, Change::CreateTemplate(t.clone()), record)
            .await?;
        Ok(t)
    }

    pub async fn list_templates(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
        page: Page,
    ) -> ServiceResult<Vec<AssetTemplate>> {
        let institution_id = actor.scope().map(str::to_string).or(institution_id);
        Ok(self
            .store
            .list_templates(&TemplateQuery {
                institution_id,
                page,
            })
            .await?)
    }

    pub async fn get_template(&self, actor: &Actor, id: &str) -> ServiceResult<AssetTemplate> {
        let found = self.store.get_template(id).await?;
        Self::visible(actor, "template", id, found, |x| x.institution_id.as_str())
    }

    // ---- assets ---------------------------------------------------------------------------------

    pub async fn create_asset(&self, actor: &Actor, input: NewAsset) -> ServiceResult<Asset> {
        const ACTION: &str = "ASSET_CREATED";
        let subject = input.institution_id.clone();
        self.audit_failure(
            actor,
            ACTION,
            (EntityType::Asset, None),
            subject.as_deref(),
            self.create_asset_inner(actor, input).await,
        )
        .await
    }

    async fn create_asset_inner(&self, actor: &Actor, input: NewAsset) -> ServiceResult<Asset> {
        self.authorize_write(actor, "create assets")?;
        let inst_id =
            Self::effective_institution(actor, input.institution_id.as_deref(), "create assets")?;
        let mut errs = Errors::new();
        errs.take(text::required("label", &input.label, model::NAME_MAX));
        let metadata = input.metadata.unwrap_or_else(|| json!({}));
        errs.take(model::validate_metadata("metadata", &metadata));
        if input.template_id.trim().is_empty() {
            errs.add("templateId", "is required");
        }
        errs.finish()?;
        let t = self
            .template_record(&input.template_id)
            .await?
            .ok_or_else(|| {
                ServiceError::field(
                    "templateId",
                    format!("template {} does not exist", input.template_id),
                )
            })?;
        if t.institution_id != inst_id {
            return Err(ServiceError::field(
                "templateId",
                format!(
                    "template {} belongs to another institution, not {inst_id}",
                    t.id
                ),
            ));
        }
        let now = time::now();
        let a = Asset {
            id: ids::new_id(ids::ASSET),
            institution_id: inst_id.clone(),
            template_id: t.id.clone(),
            label: input.label,
            metadata,
            created_at: now,
            updated_at: now,
        };
        let payload = json!({
            "institutionId": a.institution_id, "templateId": a.template_id, "label": a.label,
            "metadata": a.metadata, "actor": actor.audit_name(),
        });
        let record = Record {
            action: "ASSET_CREATED",
            kind: LedgerKind::AssetCreated,
            entity: EntityType::Asset,
            entity_id: &a.id,
            institution_id: &inst_id,
            position_id: None,
            at: now,
            payload,
        };
        self.commit_recorded(actor, Change::CreateAsset(a.clone()), record)
            .await?;
        Ok(a)
    }

    pub async fn list_assets(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
        template_id: Option<String>,
        page: Page,
    ) -> ServiceResult<Vec<Asset>> {
        let institution_id = actor.scope().map(str::to_string).or(institution_id);
        Ok(self
            .store
            .list_assets(&AssetQuery {
                institution_id,
                template_id,
                page,
            })
            .await?)
    }

    pub async fn get_asset(&self, actor: &Actor, id: &str) -> ServiceResult<Asset> {
        let found = self.store.get_asset(id).await?;
        Self::visible(actor, "asset", id, found, |x| x.institution_id.as_str())
    }

    // ---- positions ------------------------------------------------------------------------------

    pub async fn create_position(
        &self,
        actor: &Actor,
        input: NewPosition,
    ) -> ServiceResult<Position> {
        const ACTION: &str = "POSITION_CREATED";
        let subject = input.institution_id.clone();
        self.audit_failure(
            actor,
            ACTION,
            (EntityType::Position, None),
            subject.as_deref(),
            self.create_position_inner(actor, input).await,
        )
        .await
    }

    async fn create_position_inner(
        &self,
        actor: &Actor,
        input: NewPosition,
    ) -> ServiceResult<Position> {
        self.authorize_write(actor, "create positions")?;
        let inst_id = Self::effective_institution(
            actor,
            input.institution_id.as_deref(),
            "create positions",
        )?;
        let external = opt_text(input.external_reference);
        let mut errs = Errors::new();
        if input.asset_id.trim().is_empty() {
            errs.add("assetId", "is required");
        }
        let fields = errs.take(model::validate_position_fields(
            &input.holder_reference,
            &input.currency,
            &input.amount,
            external.as_deref(),
        ));
        errs.finish()?;
        let (currency, amount) = fields.expect("validated");
        let asset = self.asset_record(&input.asset_id).await?.ok_or_else(|| {
            ServiceError::field(
                "assetId",
                format!("asset {} does not exist", input.asset_id),
            )
        })?;
        if asset.institution_id != inst_id {
            return Err(ServiceError::field(
                "assetId",
                format!(
                    "asset {} belongs to another institution, not {inst_id}",
                    asset.id
                ),
            ));
        }
        let tmpl = self
            .template_record(&asset.template_id)
            .await?
            .ok_or_else(|| {
                ServiceError::field(
                    "assetId",
                    format!(
                        "the template {} of asset {} does not exist",
                        asset.template_id, asset.id
                    ),
                )
            })?;
        let limits = TemplateLimits::from_config(tmpl.code, &tmpl.config);
        if let Some(c) = limits.currency
            && c != currency
        {
            return Err(ServiceError::field(
                "currency",
                format!("{currency} does not match the template's currency {c}"),
            ));
        }
        if let Some(min) = limits.min_amount
            && amount < min
        {
            return Err(ServiceError::field(
                "amount",
                format!("{amount} is below the template minimum of {min}"),
            ));
        }
        if let Some(max) = limits.max_amount
            && amount > max
        {
            return Err(ServiceError::field(
                "amount",
                format!("{amount} is above the template maximum of {max}"),
            ));
        }
        if let Some(policy) = self.store.get_policy(&inst_id, tmpl.region).await? {
            policy
                .config
                .position
                .check(amount, currency, tmpl.region)?;
        }
        let now = time::now();
        let p = Position {
            id: ids::new_id(ids::POSITION),
            institution_id: inst_id.clone(),
            asset_id: asset.id.clone(),
            holder_reference: input.holder_reference,
            currency,
            amount,
            state: PositionState::Created,
            external_reference: external,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        let payload = json!({
            "institutionId": p.institution_id, "assetId": p.asset_id,
            "holderReference": p.holder_reference, "currency": p.currency, "amount": p.amount,
            "externalReference": p.external_reference, "state": p.state, "actor": actor.audit_name(),
        });
        let record = Record {
            action: "POSITION_CREATED",
            kind: LedgerKind::PositionCreated,
            entity: EntityType::Position,
            entity_id: &p.id,
            institution_id: &inst_id,
            position_id: Some(&p.id),
            at: now,
            payload,
        };
        self.commit_recorded(actor, Change::CreatePosition(p.clone()), record)
            .await?;
        Ok(p)
    }

    pub async fn get_position(&self, actor: &Actor, id: &str) -> ServiceResult<Position> {
        let found = self.store.get_position(id).await?;
        Self::visible(actor, "position", id, found, |x| x.institution_id.as_str())
    }

    /// A position with its lifecycle history.
    pub async fn position_detail(&self, actor: &Actor, id: &str) -> ServiceResult<PositionDetail> {
        let position = self.get_position(actor, id).await?;
        let events = self.store.position_events(id).await?;
        Ok(PositionDetail { position, events })
    }

    pub async fn list_positions(
        &self,
        actor: &Actor,
        mut q: PositionQuery,
    ) -> ServiceResult<Vec<Position>> {
        if let Some(own) = actor.scope() {
            q.filter.institution_id = Some(own.to_string());
        }
        Ok(self.store.list_positions(&q).await?)
    }

    pub async fn count_positions(
        &self,
        actor: &Actor,
        mut f: PositionFilter,
    ) -> ServiceResult<i64> {
        if let Some(own) = actor.scope() {
            f.institution_id = Some(own.to_string());
        }
        Ok(self.store.count_positions(&f).await?)
    }

    pub async fn transition_position(
        &self,
        actor: &Actor,
        id: &str,
        req: TransitionRequest,
    ) -> ServiceResult<TransitionOutcome> {
        const ACTION: &str = "POSITION_TRANSITIONED";
        let r = self.transition_inner(actor, id, req).await;
        if r.is_ok() {
            return r;
        }
        // The record is about the position's institution, whoever tried.
        let subject = match self.store.get_position(id).await {
            Ok(Some(p)) => Some(p.institution_id),
            _ => actor.scope().map(str::to_string),
        };
        self.audit_failure(
            actor,
            ACTION,
            (EntityType::Position, Some(id)),
            subject.as_deref(),
            r,
        )
        .await
    }

    async fn transition_inner(
        &self,
        actor: &Actor,
        id: &str,
        req: TransitionRequest,
    ) -> ServiceResult<TransitionOutcome> {
        self.authorize_write(actor, "transition positions")?;
        let mut errs = Errors::new();
        let to = errs.take(PositionState::parse_field("toState", &req.to));
        let expect = req
            .expect_state
            .as_deref()
            .and_then(|s| errs.take(PositionState::parse_field("expectState", s)));
        let reason = opt_text(req.reason);
        errs.take(model::validate_reason(reason.as_deref()));
        if let Some(m) = &req.metadata {
            errs.take(model::validate_metadata("metadata", m));
        }
        errs.finish()?;
        let to = to.expect("validated");
        let current = self.get_position(actor, id).await?;
        if expect.is_some_and(|exp| exp != current.state)
            || req.expect_version.is_some_and(|v| v != current.version)
        {
            let expected = expect.unwrap_or(current.state);
            return Err(ServiceError::Conflict {
                id: id.to_string(),
                expected,
                current: Some(Box::new(current)),
            });
        }
        if lifecycle::check(current.state, to)? == lifecycle::TransitionCheck::NoOp {
            return Ok(TransitionOutcome {
                position: current,
                applied: false,
                event: None,
                ledger_seq: None,
            });
        }
        let now = time::now();
        let mut next = current.clone();
        next.state = to;
        next.version += 1;
        next.updated_at = now;
        let event = PositionLifecycleEvent {
            id: ids::new_id(ids::LIFECYCLE_EVENT),
            position_id: id.to_string(),
            from_state: current.state,
            to_state: to,
            reason: reason.clone(),
            at: now,
            metadata: req.metadata.clone(),
        };
        let payload = json!({
            "fromState": current.state, "toState": to, "reason": reason,
            "lifecycleEventId": event.id, "version": next.version, "actor": actor.audit_name(),
        });
        let record = Record {
            action: "POSITION_TRANSITIONED",
            kind: LedgerKind::PositionStateChanged,
            entity: EntityType::Position,
            entity_id: id,
            institution_id: &current.institution_id,
            position_id: Some(id),
            at: now,
            payload,
        };
        let change = Change::TransitionPosition {
            position: next.clone(),
            expected_state: current.state,
            expected_version: current.version,
            event: event.clone(),
        };
        match self.commit_recorded(actor, change, record).await {
            Ok(c) => Ok(TransitionOutcome {
                position: next,
                applied: true,
                event: Some(event),
                ledger_seq: c.ledger.map(|l| l.seq),
            }),
            Err(ServiceError::Conflict { id, expected, .. }) => {
                let fresh = self.store.get_position(&id).await.ok().flatten();
                Err(ServiceError::Conflict {
                    id,
                    expected,
                    current: fresh.map(Box::new),
                })
            }
            Err(e) => Err(e),
        }
    }

    // ---- policies -------------------------------------------------------------------------------

    pub async fn set_policy(
        &self,
        actor: &Actor,
        input: PolicyInput,
    ) -> ServiceResult<InstitutionPolicy> {
        const ACTION: &str = "POLICY_UPSERTED";
        let subject = input
            .institution_id
            .clone()
            .or(actor.scope().map(str::to_string));
        self.audit_failure(
            actor,
            ACTION,
            (EntityType::Policy, None),
            subject.as_deref(),
            self.set_policy_inner(actor, input).await,
        )
        .await
    }

    async fn set_policy_inner(
        &self,
        actor: &Actor,
        input: PolicyInput,
    ) -> ServiceResult<InstitutionPolicy> {
        self.authorize_write(actor, "set policies")?;
        let inst_id =
            Self::effective_institution(actor, input.institution_id.as_deref(), "set policies")?;
        let mut errs = Errors::new();
        let region = errs.take(Region::parse_field("region", &input.region));
        let position = errs.take(PositionPolicy::parse(
            input.min_amount.as_deref(),
            input.max_amount.as_deref(),
            input.allowed_currencies.as_deref(),
        ));
        errs.finish()?;
        let (region, position) = (region.expect("ok"), position.expect("ok"));
        let inst = self.institution_record(&inst_id).await?.ok_or_else(|| {
            ServiceError::field(
                "institutionId",
                format!("institution {inst_id} does not exist"),
            )
        })?;
        if !inst.regions.contains(&region) {
            return Err(ServiceError::field(
                "region",
                format!(
                    "{region} is not one of the institution's regions ({})",
                    inst.regions
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let now = time::now();
        let policy = InstitutionPolicy {
            id: ids::new_id(ids::POLICY),
            institution_id: inst_id.clone(),
            region,
            config: PolicyConfig { region, position },
            created_at: now,
            updated_at: now,
        };
        let payload = json!({
            "institutionId": inst_id, "region": region, "config": policy.config, "actor": actor.audit_name(),
        });
        // The store names the stored policy's id in both records (an existing policy keeps it).
        let record = Record {
            action: "POLICY_UPSERTED",
            kind: LedgerKind::PolicyUpserted,
            entity: EntityType::Policy,
            entity_id: &policy.id,
            institution_id: &inst_id,
            position_id: None,
            at: now,
            payload,
        };
        let c = self
            .commit_recorded(actor, Change::UpsertPolicy(policy.clone()), record)
            .await?;
        Ok(c.policy.unwrap_or(policy))
    }

    /// The policy of an institution for a region, if one is set.
    pub async fn get_policy(
        &self,
        actor: &Actor,
        institution_id: &str,
        region: Region,
    ) -> ServiceResult<Option<InstitutionPolicy>> {
        Self::check_scope(
            actor,
            institution_id,
            "policies of institution",
            institution_id,
        )?;
        Ok(self.store.get_policy(institution_id, region).await?)
    }

    pub async fn list_policies(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
    ) -> ServiceResult<Vec<InstitutionPolicy>> {
        let institution_id = actor.scope().map(str::to_string).or(institution_id);
        Ok(self.store.list_policies(institution_id.as_deref()).await?)
    }

    // ---- API keys -------------------------------------------------------------------------------

    pub async fn create_api_key(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
        label: String,
        role: String,
    ) -> ServiceResult<CreatedKey> {
        const ACTION: &str = "API_KEY_CREATED";
        let subject = institution_id.clone().or(actor.scope().map(str::to_string));
        let r = self
            .create_api_key_inner(actor, institution_id, label, role)
            .await;
        self.audit_failure(
            actor,
            ACTION,
            (EntityType::ApiKey, None),
            subject.as_deref(),
            r,
        )
        .await
    }

    async fn create_api_key_inner(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
        label: String,
        role: String,
    ) -> ServiceResult<CreatedKey> {
        self.authorize_write(actor, "create API keys")?;
        let inst_id =
            Self::effective_institution(actor, institution_id.as_deref(), "create API keys")?;
        let mut errs = Errors::new();
        errs.take(text::required("label", &label, model::NAME_MAX));
        let role = errs.take(Role::parse_field("role", &role));
        errs.finish()?;
        let role = role.expect("ok");
        if self.institution_record(&inst_id).await?.is_none() {
            return Err(ServiceError::field(
                "institutionId",
                format!("institution {inst_id} does not exist"),
            ));
        }
        let token = apikey::generate_token();
        let key = ApiKey {
            id: ids::new_id(ids::API_KEY),
            institution_id: inst_id.clone(),
            key_hash: apikey::hash_token(&token),
            label,
            role,
            created_at: time::now(),
            revoked_at: None,
        };
        let payload = json!({"institutionId": inst_id, "label": key.label, "role": key.role, "actor": actor.audit_name()});
        let record = Record {
            action: "API_KEY_CREATED",
            kind: LedgerKind::ApiKeyCreated,
            entity: EntityType::ApiKey,
            entity_id: &key.id,
            institution_id: &inst_id,
            position_id: None,
            at: key.created_at,
            payload,
        };
        self.commit_recorded(actor, Change::CreateApiKey(key.clone()), record)
            .await?;
        Ok(CreatedKey {
            api_key: key,
            token,
        })
    }

    pub async fn list_api_keys(
        &self,
        actor: &Actor,
        institution_id: Option<String>,
    ) -> ServiceResult<Vec<ApiKey>> {
        if !actor.can_write() {
            return Err(Self::forbidden(actor, "list API keys"));
        }
        let institution_id = actor.scope().map(str::to_string).or(institution_id);
        Ok(self.store.list_api_keys(institution_id.as_deref()).await?)
    }

    pub async fn revoke_api_key(
        &self,
        actor: &Actor,
        key_id: &str,
    ) -> ServiceResult<RevokeOutcome> {
        const ACTION: &str = "API_KEY_REVOKED";
        self.audit_failure(
            actor,
            ACTION,
            (EntityType::ApiKey, Some(key_id)),
            actor.scope(),
            self.revoke_inner(actor, key_id).await,
        )
        .await
    }

    async fn revoke_inner(&self, actor: &Actor, key_id: &str) -> ServiceResult<RevokeOutcome> {
        self.authorize_write(actor, "revoke API keys")?;
        let key = self
            .store
            .get_api_key(key_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound {
                what: "API key",
                id: key_id.to_string(),
            })?;
        Self::check_scope(actor, &key.institution_id, "API key", key_id)?;
        if key.revoked_at.is_some() {
            return Ok(RevokeOutcome {
                api_key: key,
                already_revoked: true,
            });
        }
        let now = time::now();
        let payload = json!({"institutionId": key.institution_id, "label": key.label, "role": key.role, "actor": actor.audit_name()});
        let record = Record {
            action: "API_KEY_REVOKED",
            kind: LedgerKind::ApiKeyRevoked,
            entity: EntityType::ApiKey,
            entity_id: &key.id,
            institution_id: &key.institution_id,
            position_id: None,
            at: now,
            payload,
        };
        let c = self
            .commit_recorded(
                actor,
                Change::RevokeApiKey {
                    id: key.id.clone(),
                    at: now,
                },
                record,
            )
            .await?;
        let mut key = key;
        if c.applied {
            key.revoked_at = Some(now);
        } else if let Some(k) = self.store.get_api_key(key_id).await? {
            key = k;
        }
        Ok(RevokeOutcome {
            api_key: key,
            already_revoked: !c.applied,
        })
    }

    // ---- ledger and audit -----------------------------------------------------------------------

    /// The seq of the newest ledger event (0 for an empty ledger). Seqs are global, so this is the
    /// same for every caller; the head's hash is shown to root only (see `health`).
    pub async fn ledger_head_seq(&self, _actor: &Actor) -> ServiceResult<i64> {
        Ok(self.store.ledger_head().await?.map(|(s, _)| s).unwrap_or(0))
    }

    /// Entity, ledger and audit counts, limited to the caller's institution if it has one.
    pub async fn counts(&self, actor: &Actor) -> ServiceResult<Counts> {
        Ok(self.store.counts(actor.scope()).await?)
    }

    /// The store's backend and the newest migration applied to it.
    pub async fn schema(&self) -> ServiceResult<(Backend, Option<i64>)> {
        Ok((self.store.backend(), self.store.schema_version().await?))
    }

    pub async fn ledger(
        &self,
        actor: &Actor,
        mut q: LedgerQuery,
    ) -> ServiceResult<Vec<LedgerEvent>> {
        if let Some(own) = actor.scope() {
            q.institution_id = Some(own.to_string());
        }
        Ok(self.store.read_ledger(&q).await?)
    }

    /// Walks the whole chain from seq 1, page by page; reports the first broken seq.
    pub async fn verify_ledger(&self, actor: &Actor) -> ServiceResult<VerifyReport> {
        if !actor.is_root() {
            return Err(Self::forbidden(
                actor,
                "verify the whole ledger (it spans every institution)",
            ));
        }
        let mut v = ChainVerifier::default();
        let mut after = 0;
        loop {
            let page = self
                .store
                .read_ledger(&LedgerQuery {
                    after_seq: after,
                    limit: 1000,
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for ev in &page {
                if let Err(b) = v.push(ev) {
                    let (seq, hash) = v.head();
                    return Ok(VerifyReport {
                        ok: false,
                        checked: v.checked,
                        head_seq: seq,
                        head_hash: hash.to_string(),
                        broken: Some(b),
                    });
                }
            }
        }
        let (seq, hash) = v.head();
        Ok(VerifyReport {
            ok: true,
            checked: v.checked,
            head_seq: seq,
            head_hash: hash.to_string(),
            broken: None,
        })
    }

    pub async fn audit(&self, actor: &Actor, mut q: AuditQuery) -> ServiceResult<Vec<AuditEvent>> {
        if let Some(own) = actor.scope() {
            q.institution_id = Some(own.to_string());
        }
        Ok(self.store.list_audit(&q).await?)
    }
}
