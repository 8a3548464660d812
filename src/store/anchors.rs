//! The anchors' outbox in each backend (`domain::anchor`): SQL for SQLite and PostgreSQL (always
//! on the primary), and the memory store's map. A claim leases the oldest anchor that is due, and
//! only while no other anchor is leased: every anchor goes out from one signer, whose transaction
//! nonces two senders at once would fight over. Several processes on one database therefore take
//! turns. On PostgreSQL two claims at the same moment meet on the same row (`FOR UPDATE`, not
//! `SKIP LOCKED`, which would hand the second claim the next anchor): the second waits, sees the
//! lease and claims nothing. SQLite's single writer orders claims by itself.

use super::sql::{Dialect, Q, Ty::*, select_list, t};
use super::sqlconn::Pools;
use super::tables::{ANCHORS, AnchorRow};
use super::{AnchorOutbox, StoreError, StoreResult};
use crate::domain::anchor::{self, AnchorRecord, AnchorSummary};
use crate::domain::time;
use std::collections::BTreeMap;
use std::time::Duration;

impl From<AnchorRow> for AnchorRecord {
    fn from(r: AnchorRow) -> Self {
        AnchorRecord {
            seq: r.seq,
            head: r.head,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            tx_hash: r.tx_hash,
            block_number: r.block_number,
            created_at: r.created_at,
            updated_at: r.updated_at,
            next_attempt_at: r.next_attempt_at,
        }
    }
}

fn at(d: Duration) -> String {
    time::format(&(time::now() + chrono::Duration::from_std(d).unwrap_or_default()))
}

fn open_states() -> String {
    format!(
        "('{}', '{}', '{}')",
        anchor::PENDING,
        anchor::SENT,
        anchor::FAILED
    )
}

async fn rows(pools: &Pools, q: Q) -> StoreResult<Vec<AnchorRecord>> {
    Ok(pools
        .fetch_all::<AnchorRow>(q)
        .await?
        .into_iter()
        .map(AnchorRecord::from)
        .collect())
}

/// The SQL stores' outbox (always on the primary).
pub(crate) struct SqlAnchors {
    pub(crate) pools: Pools,
    pub(crate) d: Dialect,
}

#[async_trait::async_trait]
impl AnchorOutbox for SqlAnchors {
    async fn enqueue(&self, seq: i64, head: &str) -> StoreResult<bool> {
        let (pools, d) = (&self.pools, self.d);
        let now = time::format(&time::now());
        let row = AnchorRow {
            seq,
            head: head.to_string(),
            status: anchor::PENDING.into(),
            attempts: 0,
            last_error: None,
            tx_hash: None,
            block_number: None,
            created_at: now.clone(),
            updated_at: now.clone(),
            next_attempt_at: now,
            lease_owner: None,
            lease_until: None,
        };
        let mut q = super::sql::insert(d, &ANCHORS, row.args());
        q.push(" ON CONFLICT (seq) DO NOTHING RETURNING seq");
        Ok(!pools.fetch_all::<(i64,)>(q).await?.is_empty())
    }
    async fn claim(&self, owner: &str, lease: Duration) -> StoreResult<Option<AnchorRecord>> {
        let (pools, d) = (&self.pools, self.d);
        let mut q = Q::new(d, "UPDATE anchors SET lease_owner = ");
        q.bind(Text, t(owner))
            .push(", lease_until = ")
            .bind(Ts, t(at(lease)))
            .push(", attempts = attempts + 1, updated_at = ")
            .bind(Ts, t(time::format(&time::now())));
        let now = q.args.len();
        q.push(&format!(
            " WHERE seq = (SELECT seq FROM anchors WHERE status IN {} AND next_attempt_at <= ",
            open_states()
        ))
        .again(now, Ts)
        .push(" AND NOT EXISTS (SELECT 1 FROM anchors WHERE lease_until >= ")
        .again(now, Ts)
        .push(") ORDER BY seq LIMIT 1");
        if d == Dialect::Postgres {
            q.push(" FOR UPDATE");
        }
        // Checked again on the row itself: a claim that waited for another's sees its lease.
        q.push(") AND (lease_until IS NULL OR lease_until < ")
            .again(now, Ts)
            .push(&format!(") RETURNING {}", select_list(d, &ANCHORS)));
        Ok(rows(pools, q).await?.into_iter().next())
    }
    async fn save(&self, a: &AnchorRecord) -> StoreResult<()> {
        let (pools, d) = (&self.pools, self.d);
        let mut q = Q::new(d, "UPDATE anchors SET status = ");
        q.bind(Text, t(&a.status))
            .push(", last_error = ")
            .bind(Text, super::sql::ot(a.last_error.clone()))
            .push(", tx_hash = ")
            .bind(Text, super::sql::ot(a.tx_hash.clone()))
            .push(", block_number = ");
        match a.block_number {
            Some(b) => q.bind(Int, super::sql::Arg::Int(b)),
            None => q.push("NULL"),
        };
        q.push(", updated_at = ")
            .bind(Ts, t(time::format(&time::now())))
            .push(", next_attempt_at = ")
            .bind(Ts, t(a.next_attempt_at.clone()))
            .push(", lease_owner = NULL, lease_until = NULL WHERE seq = ")
            .bind(Int, super::sql::Arg::Int(a.seq))
            .push(" RETURNING seq");
        match pools.fetch_all::<(i64,)>(q).await?.len() {
            1 => Ok(()),
            _ => Err(StoreError::NotFound {
                entity: "anchor",
                id: a.seq.to_string(),
            }),
        }
    }
    async fn list(&self, limit: u32) -> StoreResult<Vec<AnchorRecord>> {
        let (pools, d) = (&self.pools, self.d);
        let mut q = Q::new(
            d,
            &format!(
                "SELECT {} FROM anchors ORDER BY seq DESC LIMIT ",
                select_list(d, &ANCHORS)
            ),
        );
        q.bind(Int, super::sql::Arg::Int(super::clamp_limit(limit) as i64));
        rows(pools, q).await
    }
    async fn summary(&self) -> StoreResult<AnchorSummary> {
        let (pools, d) = (&self.pools, self.d);
        let confirmed = Q::new(
            d,
            &format!(
                "SELECT {} FROM anchors WHERE status = '{}' ORDER BY seq DESC LIMIT 1",
                select_list(d, &ANCHORS),
                anchor::CONFIRMED
            ),
        );
        let pending = Q::new(
            d,
            &format!(
                "SELECT count(*) FROM anchors WHERE status IN {}",
                open_states()
            ),
        );
        let newest = Q::new(
            d,
            &format!(
                "SELECT {} FROM anchors ORDER BY seq DESC LIMIT 1",
                select_list(d, &ANCHORS)
            ),
        );
        let (pending,): (i64,) = pools
            .fetch_all(pending)
            .await?
            .into_iter()
            .next()
            .unwrap_or((0,));
        let newest = rows(pools, newest).await?.into_iter().next();
        Ok(AnchorSummary {
            last_confirmed: rows(pools, confirmed).await?.into_iter().next(),
            pending,
            last_error: newest
                .filter(|a| a.status != anchor::CONFIRMED)
                .and_then(|a| a.last_error),
        })
    }
}

/// An anchor with its lease (owner, until), as the memory store keeps it.
type Leased = (AnchorRecord, Option<(String, String)>);

/// The memory store's outbox: each anchor with its lease (owner, until).
#[derive(Default)]
pub(crate) struct MemoryAnchors(std::sync::Mutex<BTreeMap<i64, Leased>>);

#[async_trait::async_trait]
impl AnchorOutbox for MemoryAnchors {
    async fn enqueue(&self, seq: i64, head: &str) -> StoreResult<bool> {
        Ok(self.add(seq, head))
    }
    async fn claim(&self, owner: &str, lease: Duration) -> StoreResult<Option<AnchorRecord>> {
        Ok(self.lease(owner, lease))
    }
    async fn save(&self, a: &AnchorRecord) -> StoreResult<()> {
        self.store(a)
    }
    async fn list(&self, limit: u32) -> StoreResult<Vec<AnchorRecord>> {
        Ok(self.newest(limit))
    }
    async fn summary(&self) -> StoreResult<AnchorSummary> {
        Ok(self.sum_up())
    }
}

impl MemoryAnchors {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Leased>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, seq: i64, head: &str) -> bool {
        let now = time::format(&time::now());
        let mut m = self.map();
        if m.contains_key(&seq) {
            return false;
        }
        m.insert(
            seq,
            (
                AnchorRecord {
                    seq,
                    head: head.to_string(),
                    status: anchor::PENDING.into(),
                    attempts: 0,
                    last_error: None,
                    tx_hash: None,
                    block_number: None,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    next_attempt_at: now,
                },
                None,
            ),
        );
        true
    }

    fn lease(&self, owner: &str, lease: Duration) -> Option<AnchorRecord> {
        let now = time::format(&time::now());
        let mut m = self.map();
        let leased =
            |held: &Option<(String, String)>| held.as_ref().is_some_and(|(_, u)| *u >= now);
        if m.values().any(|(_, held)| leased(held)) {
            return None;
        }
        let (rec, held) = m.values_mut().find(|(a, _)| {
            [anchor::PENDING, anchor::SENT, anchor::FAILED].contains(&a.status.as_str())
                && a.next_attempt_at <= now
        })?;
        *held = Some((owner.to_string(), at(lease)));
        rec.attempts += 1;
        rec.updated_at = now;
        Some(rec.clone())
    }

    fn store(&self, a: &AnchorRecord) -> StoreResult<()> {
        let mut m = self.map();
        let Some((rec, held)) = m.get_mut(&a.seq) else {
            return Err(StoreError::NotFound {
                entity: "anchor",
                id: a.seq.to_string(),
            });
        };
        *rec = AnchorRecord {
            updated_at: time::format(&time::now()),
            ..a.clone()
        };
        *held = None;
        Ok(())
    }

    fn newest(&self, limit: u32) -> Vec<AnchorRecord> {
        self.map()
            .values()
            .rev()
            .take(super::clamp_limit(limit) as usize)
            .map(|(a, _)| a.clone())
            .collect()
    }

    fn sum_up(&self) -> AnchorSummary {
        let m = self.map();
        let open = [anchor::PENDING, anchor::SENT, anchor::FAILED];
        AnchorSummary {
            last_confirmed: m
                .values()
                .rev()
                .find(|(a, _)| a.status == anchor::CONFIRMED)
                .map(|(a, _)| a.clone()),
            pending: m
                .values()
                .filter(|(a, _)| open.contains(&a.status.as_str()))
                .count() as i64,
            last_error: m
                .values()
                .next_back()
                .filter(|(a, _)| a.status != anchor::CONFIRMED)
                .and_then(|(a, _)| a.last_error.clone()),
        }
    }
}
