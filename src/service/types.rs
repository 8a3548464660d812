//! What callers give the service and what it gives back.

use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::{ChainBreak, LedgerEvent};
use crate::domain::{
    Asset, AssetTemplate, Institution, InstitutionPolicy, Position, PositionLifecycleEvent,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---- inputs -------------------------------------------------------------------------------------
// As JSON (the HTTP API's request bodies): camelCase fields, unknown ones refused.

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NewInstitution {
    pub name: String,
    pub regions: Vec<String>,
    pub verticals: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NewTemplate {
    pub institution_id: Option<String>,
    pub code: String,
    pub name: String,
    pub vertical: String,
    pub region: String,
    pub config: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NewAsset {
    pub institution_id: Option<String>,
    pub template_id: String,
    pub label: String,
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NewPosition {
    pub institution_id: Option<String>,
    pub asset_id: String,
    pub holder_reference: String,
    pub currency: String,
    pub amount: String,
    pub external_reference: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: String,
    pub reason: Option<String>,
    /// Refuse unless the position is in this state right now.
    pub expect_state: Option<String>,
    /// Refuse unless the position is at this version (what the operator saw).
    pub expect_version: Option<i64>,
    pub metadata: Option<Value>,
    /// The money a release moves: required for PARTIALLY_RELEASED (less than what is held),
    /// optional for RELEASED (all that is held), refused for other moves.
    pub amount: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PolicyInput {
    pub institution_id: Option<String>,
    pub region: String,
    pub min_amount: Option<String>,
    pub max_amount: Option<String>,
    /// None: any currency. Some(empty): blocks every currency.
    pub allowed_currencies: Option<Vec<String>>,
    /// The most one release may move (none: no cap).
    pub max_release_amount: Option<String>,
}

// ---- outputs ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionOutcome {
    pub position: Position,
    /// False for a same-state request, which writes nothing.
    pub applied: bool,
    pub event: Option<PositionLifecycleEvent>,
    pub ledger_seq: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionDetail {
    #[serde(flatten)]
    pub position: Position,
    pub events: Vec<PositionLifecycleEvent>,
}

/// A ledger event whole, with the audit record of the action that wrote it (who, which key,
/// which operation).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    pub event: LedgerEvent,
    pub audit: Option<AuditEvent>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    pub api_key: ApiKey,
    /// The token, shown this once; only its SHA-256 is stored.
    pub token: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeOutcome {
    pub api_key: ApiKey,
    /// True when the key was already revoked: nothing changed.
    pub already_revoked: bool,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub ok: bool,
    /// The first seq whose hash was computed again (1: from the genesis; after a head verified
    /// before, the seq after it).
    pub from_seq: i64,
    pub checked: u64,
    /// True when it stopped at its limit before the end of the chain (`verify_slice`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    pub head_seq: i64,
    pub head_hash: String,
    pub broken: Option<ChainBreak>,
    /// The audit trail's chain, when it was verified too (`ledger verify`, `check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditChainReport>,
}

/// The audit trail's chain as verified.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditChainReport {
    pub ok: bool,
    pub checked: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub broken: Option<ChainBreak>,
    /// Records outside the chain (written by a version before it, since the store was opened).
    pub unchained: u64,
}

/// Per-institution counts for the institutions table.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstitutionSummary {
    pub institution: Option<Institution>,
    pub templates: i64,
    pub assets: i64,
    pub positions: i64,
}

/// One institution whole, as its detail screen and `institution show` present it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstitutionDetail {
    pub institution: Institution,
    pub summary: InstitutionSummary,
    pub policies: Vec<InstitutionPolicy>,
    pub templates: Vec<AssetTemplate>,
    pub assets: Vec<Asset>,
    /// None when the caller may not see keys (a read-only role).
    pub keys: Option<Vec<ApiKey>>,
}
