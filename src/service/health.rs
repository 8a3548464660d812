//! The health report: backend, reachability, latency, pool, schema, counts, ledger head.
//! It never fails: what cannot be read is reported as missing, with the error.

use super::{Actor, Service};
use crate::store::{Counts, PoolStats};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    pub backend: String,
    pub target: String,
    /// What an acknowledged write survives.
    pub durability: String,
    pub connected: bool,
    pub ping_ms: Option<f64>,
    pub error: Option<String>,
    pub pool: Option<PoolStats>,
    pub schema_version: Option<i64>,
    pub counts: Option<Counts>,
    pub ledger_head: Option<LedgerHead>,
    pub log_file: Option<String>,
    pub uptime_seconds: u64,
    pub operator: String,
    /// True when the counts are limited to the operator's institution.
    pub scoped: bool,
    /// How long gathering this report took.
    pub elapsed_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerHead {
    pub seq: i64,
    pub hash: String,
}

impl Service {
    pub async fn health(&self, actor: &Actor) -> HealthReport {
        let start = std::time::Instant::now();
        let mut report = self.gather_health(actor).await;
        report.elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
        report
    }

    async fn gather_health(&self, actor: &Actor) -> HealthReport {
        let store = &self.store;
        let mut report = HealthReport {
            backend: store.backend().to_string(),
            target: store.target(),
            durability: store.durability(),
            connected: false,
            ping_ms: None,
            error: None,
            pool: store.pool_stats(),
            schema_version: None,
            counts: None,
            ledger_head: None,
            log_file: self.config().log_file.clone(),
            uptime_seconds: self.uptime().as_secs(),
            operator: actor.describe(),
            scoped: actor.scope().is_some(),
            elapsed_ms: 0.0,
        };
        match store.ping().await {
            Ok(d) => {
                report.connected = true;
                report.ping_ms = Some(d.as_secs_f64() * 1000.0);
            }
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        }
        let (schema, counts, head) = tokio::join!(
            store.schema_version(),
            store.counts(actor.scope()),
            store.ledger_head()
        );
        let mut errors = Vec::new();
        match schema {
            Ok(v) => report.schema_version = v,
            Err(e) => errors.push(e.to_string()),
        }
        match counts {
            Ok(c) => report.counts = Some(c),
            Err(e) => errors.push(e.to_string()),
        }
        match head {
            // The head hash names the newest event of the whole chain; institution operators
            // see only its seq.
            Ok(h) => {
                report.ledger_head = h.map(|(seq, hash)| LedgerHead {
                    seq,
                    hash: if actor.scope().is_some() {
                        String::new()
                    } else {
                        hash
                    },
                })
            }
            Err(e) => errors.push(e.to_string()),
        }
        if !errors.is_empty() {
            report.error = Some(errors.join("; "));
        }
        report
    }
}
