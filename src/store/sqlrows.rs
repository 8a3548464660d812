//! Rows as the SQL backends return them (every value as text or an integer, so one row type
//! decodes both) and their conversion into domain types; a value that does not parse is
//! `StoreError::Corrupt`.

use super::{StoreError, StoreResult};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::{AuditError, AuditEvent};
use crate::domain::ledger::LedgerEvent;
use crate::domain::policy::PolicyConfig;
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, Money, Position, PositionLifecycleEvent,
    time,
};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn parse_ts(s: &str) -> StoreResult<time::Timestamp> {
    time::parse(s).map_err(|e| corrupt("timestamp", e))
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

fn parse_enum<T: std::str::FromStr>(s: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt("enum", e))
}

#[derive(sqlx::FromRow)]
pub struct InstitutionRow {
    id: String,
    name: String,
    regions: String,
    verticals: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<InstitutionRow> for Institution {
    type Error = StoreError;
    fn try_from(r: InstitutionRow) -> StoreResult<Self> {
        Ok(Institution {
            id: r.id,
            name: r.name,
            regions: parse_json("regions", &r.regions)?,
            verticals: parse_json("verticals", &r.verticals)?,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct TemplateRow {
    id: String,
    institution_id: String,
    code: String,
    name: String,
    vertical: String,
    region: String,
    config: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<TemplateRow> for AssetTemplate {
    type Error = StoreError;
    fn try_from(r: TemplateRow) -> StoreResult<Self> {
        Ok(AssetTemplate {
            id: r.id,
            institution_id: r.institution_id,
            code: parse_enum(&r.code)?,
            name: r.name,
            vertical: parse_enum(&r.vertical)?,
            region: parse_enum(&r.region)?,
            config: parse_json("config", &r.config)?,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AssetRow {
    id: String,
    institution_id: String,
    template_id: String,
    label: String,
    metadata: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<AssetRow> for Asset {
    type Error = StoreError;
    fn try_from(r: AssetRow) -> StoreResult<Self> {
        Ok(Asset {
            id: r.id,
            institution_id: r.institution_id,
            template_id: r.template_id,
            label: r.label,
            metadata: parse_json("metadata", &r.metadata)?,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct PositionRow {
    id: String,
    institution_id: String,
    asset_id: String,
    holder_reference: String,
    currency: String,
    amount: String,
    state: String,
    external_reference: Option<String>,
    version: i64,
    created_at: String,
    updated_at: String,
}

impl TryFrom<PositionRow> for Position {
    type Error = StoreError;
    fn try_from(r: PositionRow) -> StoreResult<Self> {
        Ok(Position {
            id: r.id,
            institution_id: r.institution_id,
            asset_id: r.asset_id,
            holder_reference: r.holder_reference,
            currency: parse_enum(&r.currency)?,
            amount: Money::parse(&r.amount).map_err(|e| corrupt("amount", e))?,
            state: parse_enum(&r.state)?,
            external_reference: r.external_reference,
            version: r.version,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct PositionEventRow {
    id: String,
    position_id: String,
    from_state: String,
    to_state: String,
    reason: Option<String>,
    at: String,
    metadata: Option<String>,
    actor: Option<String>,
}

impl TryFrom<PositionEventRow> for PositionLifecycleEvent {
    type Error = StoreError;
    fn try_from(r: PositionEventRow) -> StoreResult<Self> {
        Ok(PositionLifecycleEvent {
            id: r.id,
            position_id: r.position_id,
            from_state: parse_enum(&r.from_state)?,
            to_state: parse_enum(&r.to_state)?,
            reason: r.reason,
            at: parse_ts(&r.at)?,
            metadata: r.metadata.map(|m| parse_json("metadata", &m)).transpose()?,
            actor: r.actor,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct PolicyRow {
    id: String,
    institution_id: String,
    region: String,
    config: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<PolicyRow> for InstitutionPolicy {
    type Error = StoreError;
    fn try_from(r: PolicyRow) -> StoreResult<Self> {
        let config: PolicyConfig = parse_json("policy config", &r.config)?;
        Ok(InstitutionPolicy {
            id: r.id,
            institution_id: r.institution_id,
            region: parse_enum(&r.region)?,
            config,
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ApiKeyRow {
    id: String,
    institution_id: String,
    key_hash: String,
    label: String,
    role: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> StoreResult<Self> {
        Ok(ApiKey {
            id: r.id,
            institution_id: r.institution_id,
            key_hash: r.key_hash,
            label: r.label,
            role: parse_enum(&r.role)?,
            created_at: parse_ts(&r.created_at)?,
            revoked_at: r.revoked_at.as_deref().map(parse_ts).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct LedgerRow {
    seq: i64,
    id: String,
    kind: String,
    entity_type: String,
    entity_id: String,
    institution_id: String,
    position_id: Option<String>,
    at: String,
    payload: String,
    prev_hash: String,
    hash: String,
}

/// Writes are refused on a broken chain: the head (`seq`, `hash`) must be an event whose content
/// hashes to that hash. None when it does; else the error every write of the batch gets.
/// Both chains' heads as read: (ledger seq, ledger hash, audit seq, audit hash), NULL for a
/// chain that is empty.
pub type HeadsRow = (Option<i64>, Option<String>, Option<i64>, Option<String>);

/// The heads of a `HeadsRow` (genesis for an empty chain).
pub fn heads(row: Option<HeadsRow>) -> crate::store::Heads {
    let mut h = crate::store::Heads::default();
    if let Some((ls, lh, a_s, ah)) = row {
        if let (Some(s), Some(x)) = (ls, lh) {
            h.ledger = (s, x);
        }
        if let (Some(s), Some(x)) = (a_s, ah) {
            h.audit = (s, x);
        }
    }
    h
}

pub fn broken_head(head: &(i64, String), row: Option<LedgerRow>) -> Option<StoreError> {
    let (seq, hash) = head;
    if *seq == 0 {
        return None;
    }
    let why = match row.map(LedgerEvent::try_from) {
        None => format!("the head names seq {seq}, which is not stored"),
        Some(Err(e)) => format!("seq {seq} does not read: {e}"),
        Some(Ok(ev)) if ev.hash != *hash => {
            format!("the head's hash is not seq {seq}'s")
        }
        Some(Ok(ev)) => {
            let mut v = crate::domain::ledger::ChainVerifier::from_head(seq - 1, &ev.prev_hash);
            match v.push(&ev) {
                Ok(()) => return None,
                Err(b) => b.reason,
            }
        }
    };
    Some(StoreError::Other(format!(
        "the ledger is broken at seq {seq} ({why}); writes are refused until it is repaired \
         (`escrowgrid check` lists what differs)"
    )))
}

impl TryFrom<LedgerRow> for LedgerEvent {
    type Error = StoreError;
    fn try_from(r: LedgerRow) -> StoreResult<Self> {
        Ok(LedgerEvent {
            seq: r.seq,
            id: r.id,
            kind: parse_enum(&r.kind)?,
            entity_type: parse_enum(&r.entity_type)?,
            entity_id: r.entity_id,
            institution_id: r.institution_id,
            position_id: r.position_id,
            at: parse_ts(&r.at)?,
            payload: parse_json("ledger payload", &r.payload)?,
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    id: String,
    occurred_at: String,
    actor: String,
    api_key_id: Option<String>,
    institution_id: Option<String>,
    action: String,
    outcome: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    subject_institution_id: Option<String>,
    payload: Option<String>,
    error: Option<String>,
    op_id: Option<String>,
    client: Option<String>,
    seq: Option<i64>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> StoreResult<Self> {
        Ok(AuditEvent {
            id: r.id,
            occurred_at: parse_ts(&r.occurred_at)?,
            actor: r.actor,
            api_key_id: r.api_key_id,
            institution_id: r.institution_id,
            action: r.action,
            outcome: parse_enum(&r.outcome)?,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            subject_institution_id: r.subject_institution_id,
            payload: r
                .payload
                .map(|p| parse_json("audit payload", &p))
                .transpose()?,
            error: r
                .error
                .map(|e| parse_json::<AuditError>("audit error", &e))
                .transpose()?,
            op_id: r.op_id,
            client: r.client,
            seq: r.seq,
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}
