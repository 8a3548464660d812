//! What a store reports of itself: counts kept with the writes, its pool, the database's own
//! figures and how its connections are protected.

use crate::domain::{Balance, Currency, PositionState};

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
    /// What the funded positions (FUNDED, PARTIALLY_RELEASED) hold, by currency; positions
    /// whose balance is not known are left out.
    #[serde(default)]
    pub held: Vec<(Currency, Balance)>,
}

/// The states in which a position's money is held in escrow.
pub const HOLDING: [PositionState; 2] = [PositionState::Funded, PositionState::PartiallyReleased];

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
