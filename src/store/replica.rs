//! A PostgreSQL streaming read replica. Lists, details, counts, the ledger and the audit trail
//! read from it; writes, the chain head, API keys and the stream's wake-ups stay on the primary.
//!
//! Two rules keep a replica read honest:
//! - **Lag**: the replica's state is asked at most every `REFRESH` (its replay LSN against the
//!   primary's current LSN, and the age of its last replayed transaction). While it is down,
//!   not a replica, paused, or behind by more than `replica_max_lag_ms`, reads go to the primary.
//! - **Read your writes**: once this process has committed, a read waits (up to
//!   `replica_wait_ms`) until the replica has replayed the primary's WAL position taken after
//!   that commit; if it has not by then, the read goes to the primary.

use super::sqlconn::{Bounds, worth_retrying};
use super::{StoreError, StoreResult};
use serde::Serialize;
use sqlx::postgres::PgPool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, watch};

/// How stale the replica's known state may be before a read asks again.
const REFRESH: Duration = Duration::from_millis(250);
/// How often a read waiting for the replica to replay this process's commit asks again.
const POLL: Duration = Duration::from_millis(5);

/// Replica settings (config `replica_url`, `replica_max_lag_ms`, `replica_wait_ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSettings {
    pub url: String,
    /// Behind the primary by more than this (seconds since its last replayed transaction, while
    /// it has WAL to replay), the replica is not read.
    pub max_lag: Duration,
    /// How long a read after this process's own write waits for the replica to replay it.
    pub wait: Duration,
}

/// Where the replica stands, as the Health tab and `health --json` show it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    pub target: String,
    /// streaming | lagging | paused | down | not a replica | unknown
    pub state: String,
    /// True while reads go to the replica.
    pub in_use: bool,
    pub lag_bytes: Option<i64>,
    pub lag_seconds: Option<f64>,
    pub error: Option<String>,
    /// How the replica's connections reach it (None while it cannot be reached).
    pub transport: Option<super::Transport>,
    /// Reads answered by the replica, and by the primary instead (lag, down, or a write of
    /// this process not yet replayed in time).
    pub replica_reads: u64,
    pub fallback_reads: u64,
    pub read_your_writes_fallbacks: u64,
}

impl ReplicaStatus {
    /// Why reads do not go to the replica now, in the words of the status bar (None while they
    /// do).
    pub fn stepped_aside(&self) -> Option<String> {
        if self.in_use {
            return None;
        }
        Some(match (self.state.as_str(), self.lag_seconds) {
            ("lagging" | "paused", Some(l)) => {
                format!(
                    "replica {} {l:.1} s behind: reading from the primary",
                    self.state
                )
            }
            (state, _) => format!("replica {state}: reading from the primary"),
        })
    }
}

struct Known {
    at: Option<Instant>,
    status: ReplicaStatus,
    /// The replica's replay LSN when last asked.
    replayed: u64,
    /// (own head seq, primary LSN after it): the WAL position the replica must have replayed
    /// for this process to see its own writes up to that seq.
    needed: (i64, u64),
    /// The own head seq the replica is known to have replayed.
    synced: i64,
    /// When the replica was last seen with nothing left to replay: WAL it lacks now was written
    /// since, so it is at most that far behind.
    caught_up: Option<Instant>,
}

pub struct Replica {
    pool: PgPool,
    ssl_mode: sqlx::postgres::PgSslMode,
    bounds: Bounds,
    settings: ReplicaSettings,
    target: String,
    known: Mutex<Known>,
    replica_reads: AtomicU64,
    fallback_reads: AtomicU64,
    ryw_fallbacks: AtomicU64,
}

/// A PostgreSQL LSN (`16/B374D848`) as a number of bytes.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

impl Replica {
    pub(crate) fn new(
        (pool, ssl_mode): (PgPool, sqlx::postgres::PgSslMode),
        bounds: Bounds,
        settings: ReplicaSettings,
        target: String,
    ) -> Self {
        Replica {
            pool,
            ssl_mode,
            bounds,
            settings,
            target: target.clone(),
            known: Mutex::new(Known {
                at: None,
                status: ReplicaStatus {
                    target,
                    state: "unknown".into(),
                    ..Default::default()
                },
                replayed: 0,
                needed: (0, 0),
                synced: 0,
                caught_up: None,
            }),
            replica_reads: AtomicU64::new(0),
            fallback_reads: AtomicU64::new(0),
            ryw_fallbacks: AtomicU64::new(0),
        }
    }

    /// The pool to read from: the replica's, or None for the primary's. `own_head` is the
    /// newest seq this process committed; `primary` asks the primary for its current LSN.
    pub(crate) async fn route(
        &self,
        own_head: &watch::Sender<i64>,
        primary: &PgPool,
    ) -> Option<&PgPool> {
        let mut k = self.known.lock().await;
        if k.at.is_none_or(|t| t.elapsed() >= REFRESH) {
            self.refresh(&mut k, primary).await;
        }
        if !k.status.in_use {
            self.fallback_reads.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let own = *own_head.borrow();
        if own > k.synced {
            if own > k.needed.0 {
                match current_lsn(primary, &self.bounds).await {
                    Ok(lsn) => k.needed = (own, lsn),
                    Err(_) => {
                        self.fallback_reads.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                }
            }
            let (seq, needed) = k.needed;
            let deadline = Instant::now() + self.settings.wait;
            while k.replayed < needed {
                if Instant::now() >= deadline {
                    self.ryw_fallbacks.fetch_add(1, Ordering::Relaxed);
                    self.fallback_reads.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                tokio::time::sleep(POLL).await;
                match self.replay_lsn().await {
                    Ok(lsn) => k.replayed = lsn,
                    Err(_) => {
                        self.fallback_reads.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                }
            }
            k.synced = seq;
        }
        self.replica_reads.fetch_add(1, Ordering::Relaxed);
        Some(&self.pool)
    }

    /// A read on the replica failed: mark it down (until the next refresh) so reads go to the
    /// primary, and say whether the read is worth running there.
    pub(crate) async fn failed(&self, e: &StoreError) -> bool {
        let mut k = self.known.lock().await;
        k.status.state = "down".into();
        k.status.in_use = false;
        k.status.error = Some(e.to_string());
        k.at = Some(Instant::now());
        worth_retrying(e) || e.is_unavailable()
    }

    async fn replay_lsn(&self) -> StoreResult<u64> {
        let q = sqlx::query_as::<_, (Option<String>,)>("SELECT pg_last_wal_replay_lsn()::text");
        let (lsn,) = self.bounds.run(true, q.fetch_one(&self.pool)).await?;
        Ok(lsn.as_deref().and_then(parse_lsn).unwrap_or(0))
    }

    /// Asks the replica (and the primary) where it stands.
    async fn refresh(&self, k: &mut Known, primary: &PgPool) {
        k.at = Some(Instant::now());
        let q = sqlx::query_as::<_, (bool, bool, Option<String>, Option<f64>)>(
            "SELECT pg_is_in_recovery(), \
             CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END, \
             pg_last_wal_replay_lsn()::text, \
             extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8",
        );
        let (s, st) = (
            &mut k.status,
            self.bounds.run(true, q.fetch_one(&self.pool)).await,
        );
        let (recovering, paused, replayed, age) = match st {
            Ok(row) => row,
            Err(e) => {
                s.state = "down".into();
                s.in_use = false;
                s.error = Some(e.to_string());
                (s.lag_bytes, s.lag_seconds) = (None, None);
                return;
            }
        };
        s.error = None;
        if !recovering {
            s.state = "not a replica".into();
            s.in_use = false;
            s.error = Some("the server is not in recovery (a primary?): not read".into());
            return;
        }
        k.replayed = replayed.as_deref().and_then(parse_lsn).unwrap_or(0);
        let primary_lsn = current_lsn(primary, &self.bounds).await.ok();
        let lag_bytes = primary_lsn.map(|p| p.saturating_sub(k.replayed) as i64);
        // Caught up: no lag, however long ago the last transaction was. Behind: the age of its
        // last replayed transaction, but no more than the time since it was last seen caught up
        // (after a quiet spell, the last transaction is old though the lag is new).
        let lag_seconds = match lag_bytes {
            Some(0) => {
                k.caught_up = Some(Instant::now());
                Some(0.0)
            }
            _ => {
                let since = k.caught_up.map(|t| t.elapsed().as_secs_f64());
                match (age.map(|a| a.max(0.0)), since) {
                    (Some(a), Some(s)) => Some(a.min(s)),
                    (a, s) => a.or(s),
                }
            }
        };
        let behind =
            lag_seconds.is_some_and(|l| l * 1000.0 > self.settings.max_lag.as_millis() as f64);
        (s.lag_bytes, s.lag_seconds) = (lag_bytes, lag_seconds);
        (s.state, s.in_use) = match (paused, behind) {
            (true, true) => ("paused".into(), false),
            (true, false) => ("paused".into(), true),
            (false, true) => ("lagging".into(), false),
            (false, false) => ("streaming".into(), true),
        };
        if primary_lsn.is_none() {
            s.in_use = false;
        }
    }

    /// The replica's state now (asked afresh), with this process's read counts.
    pub(crate) async fn status(&self, primary: &PgPool) -> ReplicaStatus {
        let mut k = self.known.lock().await;
        self.refresh(&mut k, primary).await;
        let mut s = k.status.clone();
        drop(k);
        s.target = self.target.clone();
        s.transport = super::sqlconn::transport(&self.pool, self.ssl_mode)
            .await
            .ok();
        s.replica_reads = self.replica_reads.load(Ordering::Relaxed);
        s.fallback_reads = self.fallback_reads.load(Ordering::Relaxed);
        s.read_your_writes_fallbacks = self.ryw_fallbacks.load(Ordering::Relaxed);
        s
    }
}

async fn current_lsn(primary: &PgPool, bounds: &Bounds) -> StoreResult<u64> {
    let q = sqlx::query_as::<_, (String,)>("SELECT pg_current_wal_lsn()::text");
    let (lsn,) = bounds.run(true, q.fetch_one(primary)).await?;
    parse_lsn(&lsn).ok_or_else(|| StoreError::Other(format!("unreadable LSN {lsn}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_parse_to_bytes() {
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374D848));
        assert_eq!(parse_lsn("nonsense"), None);
    }
}
