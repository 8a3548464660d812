//! The anchoring worker: publishes the ledger head through the outbox. It never touches a store
//! write: it reads the head, adds an anchor when `every_events` or `every_seconds` is reached,
//! and sends the oldest due anchor, one at a time across every process on the database (the
//! claim's lease). A chain that is down makes an attempt fail and be tried again with exponential
//! backoff (1 s, 2 s, 4 s … at most 5 minutes); a restart picks up the outbox where it was.

use super::OnchainConfig;
use super::chain::{Chain, Sent};
use crate::domain::anchor::{self, AnchorRecord};
use crate::domain::time;
use crate::store::SharedStore;
use std::time::{Duration, Instant};

/// How long a claimed anchor is this sender's (longer than a send and its receipt wait).
const LEASE: Duration = Duration::from_secs(120);
/// A sent anchor's receipt is looked for again after this long.
const RECHECK: Duration = Duration::from_secs(2);
/// The worker's pace when there is nothing to do.
pub const IDLE: Duration = Duration::from_millis(250);

pub struct Worker {
    store: SharedStore,
    chain: Chain,
    cfg: OnchainConfig,
    owner: String,
    started: Instant,
}

/// The pause before attempt `n + 1` after `n` failed ones.
pub fn backoff(attempts: i64) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(1, 9).saturating_sub(1))
        .min(Duration::from_secs(300))
}

fn after(d: Duration) -> String {
    time::format(&(time::now() + chrono::Duration::from_std(d).unwrap_or_default()))
}

impl Worker {
    pub fn new(store: SharedStore, chain: Chain, cfg: OnchainConfig) -> Self {
        Worker {
            store,
            chain,
            cfg,
            owner: format!(
                "{}:{}",
                whoami::hostname().unwrap_or_else(|_| "host".into()),
                std::process::id()
            ),
            started: Instant::now(),
        }
    }

    /// Adds an anchor of the head when one is due; returns its seq.
    pub async fn enqueue_due(&self, force: bool) -> Result<Option<i64>, String> {
        let Some((seq, hash)) = self.store.ledger_head().await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let newest = self.newest().await?;
        let (last, since) = match &newest {
            Some(a) => (
                a.seq,
                time::parse(&a.created_at)
                    .ok()
                    .and_then(|t| (time::now() - t).to_std().ok())
                    .unwrap_or_default(),
            ),
            None => (0, self.started.elapsed()),
        };
        let due = seq > last
            && (force
                || (seq - last) as u64 >= self.cfg.every_events.max(1)
                || since >= Duration::from_secs(self.cfg.every_seconds));
        if !due {
            return Ok(None);
        }
        let added = self
            .store
            .anchor_enqueue(seq, &hash)
            .await
            .map_err(|e| e.to_string())?;
        Ok(added.then_some(seq))
    }

    /// Sends (or follows up) the oldest due anchor; false when there was none to claim.
    pub async fn send_one(&self) -> Result<bool, String> {
        let Some(a) = self
            .store
            .anchor_claim(&self.owner, LEASE)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(false);
        };
        let outcome = self.attempt(&a).await;
        let saved = match outcome {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(seq = a.seq, attempts = a.attempts, error = %e, "anchor failed; will try again");
                AnchorRecord {
                    status: if a.tx_hash.is_some() && a.status == anchor::SENT {
                        anchor::SENT.into()
                    } else {
                        anchor::FAILED.into()
                    },
                    last_error: Some(e),
                    next_attempt_at: after(backoff(a.attempts)),
                    ..a.clone()
                }
            }
        };
        if saved.status == anchor::CONFIRMED {
            tracing::info!(seq = saved.seq, tx = ?saved.tx_hash, block = ?saved.block_number, "ledger head anchored");
        }
        self.store
            .anchor_save(&saved)
            .await
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    async fn attempt(&self, a: &AnchorRecord) -> Result<AnchorRecord, String> {
        let done = |tx: Option<String>, block: Option<i64>| AnchorRecord {
            status: anchor::CONFIRMED.into(),
            last_error: None,
            tx_hash: tx,
            block_number: block,
            ..a.clone()
        };
        // Sent before: follow its receipt rather than send again.
        if let (anchor::SENT, Some(tx)) = (a.status.as_str(), &a.tx_hash) {
            return match self.chain.confirmed(tx).await? {
                Some(block) => Ok(done(Some(tx.clone()), Some(block as i64))),
                None => Ok(AnchorRecord {
                    next_attempt_at: after(RECHECK),
                    ..a.clone()
                }),
            };
        }
        // On the chain already (another sender, or a later anchor): nothing to send.
        let (latest, head) = self.chain.latest().await?;
        if latest >= a.seq {
            let same = latest == a.seq && head.eq_ignore_ascii_case(&a.head);
            return Ok(AnchorRecord {
                status: if same {
                    anchor::CONFIRMED
                } else {
                    anchor::SUPERSEDED
                }
                .into(),
                last_error: None,
                ..a.clone()
            });
        }
        match self.chain.anchor(a.seq, &a.head).await? {
            Sent::Confirmed(tx, block) => Ok(done(Some(tx), Some(block as i64))),
            Sent::Pending(tx) => Ok(AnchorRecord {
                status: anchor::SENT.into(),
                tx_hash: Some(tx),
                next_attempt_at: after(RECHECK),
                ..a.clone()
            }),
        }
    }

    /// Anchors the head now, whatever the schedule, and sends what is due (older anchors first)
    /// until that anchor is settled or `wait` has passed; it stays in the outbox either way.
    pub async fn publish_now(&self, wait: Duration) -> Result<AnchorRecord, String> {
        let seq = match self.enqueue_due(true).await? {
            Some(seq) => seq,
            None => match self.newest().await? {
                Some(a) => a.seq,
                None => return Err("the ledger is empty: nothing to anchor".into()),
            },
        };
        let deadline = Instant::now() + wait;
        loop {
            self.send_one().await?;
            let a = self
                .store
                .list_anchors(1000)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|a| a.seq == seq);
            match a {
                Some(a) if [anchor::CONFIRMED, anchor::SUPERSEDED].contains(&a.status.as_str()) => {
                    return Ok(a);
                }
                Some(a) if Instant::now() >= deadline => return Ok(a),
                None if Instant::now() >= deadline => {
                    return Err(format!("the anchor of seq {seq} is gone from the outbox"));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn newest(&self) -> Result<Option<AnchorRecord>, String> {
        Ok(self
            .store
            .list_anchors(1)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .next())
    }

    /// Runs until `stop` says so: enqueue when due, send what is due, rest when idle.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let worked = match self.enqueue_due(false).await {
                Ok(_) => self.send_one().await,
                Err(e) => Err(e),
            };
            let pause = match worked {
                Ok(true) => Duration::ZERO,
                Ok(false) => IDLE,
                Err(e) => {
                    tracing::warn!(error = %e, "anchoring worker: the store failed");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
