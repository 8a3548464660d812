//! Audit records: who did what, with which outcome. Written with the change they describe.

use super::Outcome;
use super::time::{Timestamp, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    #[serde(with = "rfc3339")]
    pub occurred_at: Timestamp,
    /// Who: `root`, `local:<os user>` or the API key id.
    pub actor: String,
    pub api_key_id: Option<String>,
    /// The caller's institution (none for root and the local operator).
    pub institution_id: Option<String>,
    pub action: String,
    pub outcome: Outcome,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// The institution the action concerned, for scoping reads.
    pub subject_institution_id: Option<String>,
    pub payload: Option<Value>,
    pub error: Option<AuditError>,
    /// The service operation that wrote it: the `op_id` on the log lines of the same action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditError {
    pub code: String,
    pub message: String,
}
