//! The rows of `tables.rs` and the domain types, both ways: what a read decodes (every value as
//! text or an integer, so one row type decodes both backends; a value that does not parse is
//! `StoreError::Corrupt`), and what a write stores. Each conversion names every field, so a
//! column added to a table's declaration does not compile until both directions carry it.

use super::sql::{Dialect, json_text};
pub use super::tables::{
    ApiKeyRow, AssetRow, AuditRow, InstitutionRow, LedgerRow, PolicyRow, PositionEventRow,
    PositionRow, TemplateRow,
};
use super::{StoreError, StoreResult};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::{AuditError, AuditEvent};
use crate::domain::ledger::{CanonicalJson, LedgerEvent, PreparedEvent};
use crate::domain::policy::PolicyConfig;
use crate::domain::{
    Asset, AssetTemplate, Balance, Institution, InstitutionPolicy, Money, Position,
    PositionLifecycleEvent, time,
};

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn parse_ts(s: &str) -> StoreResult<time::Timestamp> {
    time::parse(s).map_err(|e| corrupt("timestamp", e))
}

fn balance(what: &str, s: &str) -> StoreResult<Balance> {
    Balance::parse(s).map_err(|e| corrupt(what, e))
}

/// A balance as stored: SQLite's fixed-width text (text order is numeric order), PostgreSQL's
/// NUMERIC from plain text.
pub fn stored_balance(d: Dialect, b: Balance) -> String {
    match d {
        Dialect::Sqlite => b.to_sortable(),
        Dialect::Postgres => b.to_string(),
    }
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

impl TryFrom<PositionRow> for Position {
    type Error = StoreError;
    fn try_from(r: PositionRow) -> StoreResult<Self> {
        let released = r
            .released
            .as_deref()
            .map(|v| balance("released", v))
            .transpose()?;
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
            released,
            held: match released {
                Some(_) => Some(balance("held", &r.held)?),
                None => None,
            },
            created_at: parse_ts(&r.created_at)?,
            updated_at: parse_ts(&r.updated_at)?,
        })
    }
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
            amount: r
                .amount
                .as_deref()
                .map(|v| balance("amount", v))
                .transpose()?,
            held: r.held.as_deref().map(|v| balance("held", v)).transpose()?,
        })
    }
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
                .map(|p| parse_json::<CanonicalJson>("audit payload", &p))
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

// ---- what a write stores -------------------------------------------------------------------------

fn ts(t: &time::Timestamp) -> String {
    time::format(t)
}

impl InstitutionRow {
    pub fn of(i: &Institution) -> Self {
        InstitutionRow {
            id: i.id.clone(),
            name: i.name.clone(),
            regions: json_text(&i.regions),
            verticals: json_text(&i.verticals),
            created_at: ts(&i.created_at),
            updated_at: ts(&i.updated_at),
        }
    }
}

impl TemplateRow {
    pub fn of(x: &AssetTemplate) -> Self {
        TemplateRow {
            id: x.id.clone(),
            institution_id: x.institution_id.clone(),
            code: x.code.as_str().into(),
            name: x.name.clone(),
            vertical: x.vertical.as_str().into(),
            region: x.region.as_str().into(),
            config: json_text(&x.config),
            created_at: ts(&x.created_at),
            updated_at: ts(&x.updated_at),
        }
    }
}

impl AssetRow {
    pub fn of(x: &Asset) -> Self {
        AssetRow {
            id: x.id.clone(),
            institution_id: x.institution_id.clone(),
            template_id: x.template_id.clone(),
            label: x.label.clone(),
            metadata: json_text(&x.metadata),
            created_at: ts(&x.created_at),
            updated_at: ts(&x.updated_at),
        }
    }
}

impl PositionRow {
    /// SQLite keeps amounts as fixed-width text (text order is numeric order); PostgreSQL as
    /// NUMERIC, from their plain text.
    pub fn of(d: Dialect, p: &Position) -> Self {
        PositionRow {
            id: p.id.clone(),
            institution_id: p.institution_id.clone(),
            asset_id: p.asset_id.clone(),
            holder_reference: p.holder_reference.clone(),
            currency: p.currency.as_str().into(),
            amount: match d {
                Dialect::Sqlite => p.amount.to_sortable(),
                Dialect::Postgres => p.amount.to_string(),
            },
            state: p.state.as_str().into(),
            external_reference: p.external_reference.clone(),
            version: p.version,
            created_at: ts(&p.created_at),
            updated_at: ts(&p.updated_at),
            released: p.released.map(|b| stored_balance(d, b)),
            held: stored_balance(d, p.held_for_sorting()),
        }
    }
}

impl PositionEventRow {
    pub fn of(d: Dialect, e: &PositionLifecycleEvent) -> Self {
        PositionEventRow {
            id: e.id.clone(),
            position_id: e.position_id.clone(),
            from_state: e.from_state.as_str().into(),
            to_state: e.to_state.as_str().into(),
            reason: e.reason.clone(),
            at: ts(&e.at),
            metadata: e.metadata.as_ref().map(json_text),
            actor: e.actor.clone(),
            amount: e.amount.map(|b| stored_balance(d, b)),
            held: e.held.map(|b| stored_balance(d, b)),
        }
    }
}

impl PolicyRow {
    pub fn of(p: &InstitutionPolicy) -> Self {
        PolicyRow {
            id: p.id.clone(),
            institution_id: p.institution_id.clone(),
            region: p.region.as_str().into(),
            config: json_text(&p.config),
            created_at: ts(&p.created_at),
            updated_at: ts(&p.updated_at),
        }
    }
}

impl ApiKeyRow {
    pub fn of(k: &ApiKey) -> Self {
        ApiKeyRow {
            id: k.id.clone(),
            institution_id: k.institution_id.clone(),
            key_hash: k.key_hash.clone(),
            label: k.label.clone(),
            role: k.role.as_str().into(),
            created_at: ts(&k.created_at),
            revoked_at: k.revoked_at.as_ref().map(ts),
        }
    }
}

impl LedgerRow {
    /// A prepared event at its place in the chain; the payload is stored as the canonical text
    /// that was hashed.
    pub fn of(e: &PreparedEvent, seq: i64, prev_hash: &str, hash: &str) -> Self {
        let x = &e.draft;
        LedgerRow {
            seq,
            id: e.id.clone(),
            kind: x.kind.as_str().into(),
            entity_type: x.entity_type.as_str().into(),
            entity_id: x.entity_id.clone(),
            institution_id: x.institution_id.clone(),
            position_id: x.position_id.clone(),
            at: ts(&x.at),
            payload: e.draft.payload.as_str().to_string(),
            prev_hash: prev_hash.into(),
            hash: hash.into(),
        }
    }
}

impl AuditRow {
    /// A record at its place in the audit chain: (seq, prev hash, hash).
    pub fn of(a: &AuditEvent, (seq, prev, hash): (i64, &str, &str)) -> Self {
        AuditRow {
            id: a.id.clone(),
            occurred_at: ts(&a.occurred_at),
            actor: a.actor.clone(),
            api_key_id: a.api_key_id.clone(),
            institution_id: a.institution_id.clone(),
            action: a.action.clone(),
            outcome: a.outcome.as_str().into(),
            resource_type: a.resource_type.clone(),
            resource_id: a.resource_id.clone(),
            subject_institution_id: a.subject_institution_id.clone(),
            payload: a.payload.as_ref().map(|p| p.as_str().to_string()),
            error: a.error.as_ref().map(json_text),
            op_id: a.op_id.clone(),
            client: a.client.clone(),
            seq: Some(seq),
            prev_hash: Some(prev.into()),
            hash: Some(hash.into()),
        }
    }
}
