//! Anchors: the ledger's head published on an EVM chain (`contracts/Anchor.sol`). Each is one row
//! of a durable outbox — created for a head, claimed by one sender at a time, sent, confirmed —
//! so a chain outage never touches a store write and a restart picks up where it left off.

use serde::{Deserialize, Serialize};

pub const PENDING: &str = "pending";
/// The transaction is on its way (its hash is known); the next look checks its receipt.
pub const SENT: &str = "sent";
pub const CONFIRMED: &str = "confirmed";
/// The last attempt failed (`last_error`); it is tried again after `next_attempt_at`.
pub const FAILED: &str = "failed";
/// A later anchor reached the chain first: this one needs no transaction of its own.
pub const SUPERSEDED: &str = "superseded";

/// One anchor of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnchorRecord {
    pub seq: i64,
    /// The hash of ledger event `seq` (hex), which the chain records.
    pub head: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub tx_hash: Option<String>,
    pub block_number: Option<i64>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    pub next_attempt_at: String,
}

/// What the Health tab and `anchor status` show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnchorSummary {
    pub last_confirmed: Option<AnchorRecord>,
    /// Anchors not yet on the chain (pending, sent or failed).
    pub pending: i64,
    /// The newest anchor's error, while it has one.
    pub last_error: Option<String>,
}
