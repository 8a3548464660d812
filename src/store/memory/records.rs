//! What the in-memory store keeps of each write, kept small: a write's records stay in memory for
//! the life of the process, and on a busy demo or test every kilobyte kept per write is fresh
//! memory the kernel must hand over (zeroed) — in a profile of the old layout, which kept each
//! payload twice as a JSON tree and every hash as text, that was a quarter of the write path.
//!
//! - ledger events and audit records keep their payload once, as the canonical JSON text the
//!   hash covers (shared between a write's event and its audit record), and neither their hash
//!   (the chains' hashes are kept apart, as bytes, by the thread that links them: `seal.rs`) nor
//!   the previous hash (it is the record before's); their seq is their place;
//! - names that repeat (institutions, actors, actions) are kept once and shared;
//! - positions are keyed by the UUID of their `pos_…` id, compared as integers;
//! - ids are kept as their prefix's number and their UUID's bits, inline (`sid.rs`).
//!
//! Reads build the domain types back from these.

use super::sid::Sid;
use crate::domain::audit::{AuditError, AuditEvent};
use crate::domain::ledger::{CanonicalJson, GENESIS_HASH, LedgerEvent, hex32};
use crate::domain::time::Timestamp;
use crate::domain::{EntityType, LedgerKind, Outcome, PositionLifecycleEvent, PositionState};
use rustc_hash::FxHashSet as HashSet;
use serde_json::Value;
use std::sync::Arc;

/// What comes before the UUID in an audit record's id (`ids::AUDIT` and its separator).
const AUD: &str = "aud_";

/// The audit records' ids, for refusing a second record with one of them: the ids this service
/// makes as their 128 bits, any other (imported) id as its text.
#[derive(Default)]
pub(super) struct AuditIds {
    uuids: HashSet<u128>,
    other: HashSet<Box<str>>,
}

impl AuditIds {
    /// The bits of an id this service makes (`aud_` + UUID), taken from the id as kept (read
    /// once per write) and handed to `contains` and `insert` with the id.
    pub(super) fn key(id: &Sid) -> Option<u128> {
        id.bits_with(AUD)
    }

    pub(super) fn contains(&self, id: &str, key: Option<u128>) -> bool {
        match key {
            Some(v) => self.uuids.contains(&v),
            None => self.other.contains(id),
        }
    }

    pub(super) fn insert(&mut self, id: &str, key: Option<u128>) {
        match key {
            Some(v) => self.uuids.insert(v),
            None => self.other.insert(id.into()),
        };
    }
}

/// Names that repeat across records, each kept once.
#[derive(Default)]
pub(super) struct Names(HashSet<Arc<str>>);

impl Names {
    pub(super) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        self.0.insert(a.clone());
        a
    }

    pub(super) fn opt(&mut self, s: Option<&str>) -> Option<Arc<str>> {
        s.map(|s| self.get(s))
    }
}

/// Records appended and never moved: fixed-size chunks, so a growing ledger is never copied
/// to a larger block (at a million events that copy was a pause of its own).
pub(super) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

const CHUNK: usize = 4096;

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn push(&mut self, v: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("a chunk with room").push(v);
        self.len += 1;
    }

    pub(super) fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    pub(super) fn last(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    /// Records from index `from` on, oldest first, without collecting them.
    pub(super) fn forward_from(&self, from: usize) -> impl Iterator<Item = (usize, &T)> {
        let from = from.min(self.len);
        self.chunks[from / CHUNK..]
            .iter()
            .flatten()
            .skip(from % CHUNK)
            .enumerate()
            .map(move |(i, v)| (from + i, v))
    }

    /// Records from the newest down to index `from`, newest first.
    pub(super) fn backward_to(&self, from: usize) -> impl Iterator<Item = (usize, &T)> {
        let from = from.min(self.len);
        let len = self.len;
        self.chunks
            .iter()
            .rev()
            .flat_map(|c| c.iter().rev())
            .enumerate()
            .map(move |(i, v)| (len - 1 - i, v))
            .take(len - from)
    }
}

/// The hash of the record before `i` in a chain's `hashes`, in hex; the genesis hash for the
/// first.
pub(super) fn prev_hex(hashes: &Chunked<[u8; 32]>, i: usize) -> String {
    match i.checked_sub(1).and_then(|p| hashes.get(p)) {
        Some(h) => hex32(h),
        None => GENESIS_HASH.to_string(),
    }
}

/// Whom a ledger event is about besides its entity.
pub(super) enum PosOf {
    None,
    /// The event's entity is the position.
    Entity,
    Other(Sid),
}

/// A ledger event as the store keeps it (its seq is its index + 1).
pub(super) struct Ev {
    pub id: Sid,
    pub kind: LedgerKind,
    pub entity_type: EntityType,
    pub entity_id: Sid,
    pub institution_id: Arc<str>,
    pub position: PosOf,
    pub at: Timestamp,
    /// The payload's canonical JSON, as hashed.
    pub payload: Arc<str>,
}

impl Ev {
    pub(super) fn position_id(&self) -> Option<&Sid> {
        match &self.position {
            PosOf::None => None,
            PosOf::Entity => Some(&self.entity_id),
            PosOf::Other(p) => Some(p),
        }
    }

    /// The event at `seq` with its `hash`, after the event whose hash is `prev_hash`.
    pub(super) fn to_event(&self, seq: i64, prev_hash: String, hash: &[u8; 32]) -> LedgerEvent {
        LedgerEvent {
            seq,
            id: self.id.to_string(),
            kind: self.kind,
            entity_type: self.entity_type,
            entity_id: self.entity_id.to_string(),
            institution_id: self.institution_id.to_string(),
            position_id: self.position_id().map(Sid::to_string),
            at: self.at,
            payload: parse(&self.payload),
            prev_hash,
            hash: hex32(hash),
        }
    }

    pub(super) fn text_matches(&self, text: &str) -> bool {
        let position = self.position_id().map(Sid::text);
        super::super::ledger_text_hit(
            text,
            &super::super::LedgerText {
                kind: self.kind.as_str(),
                id: &self.id.text(),
                entity_id: &self.entity_id.text(),
                position_id: position.as_deref(),
                institution_id: &self.institution_id,
                payload_json: &self.payload,
            },
        )
    }
}

/// Canonical JSON made by this store reads back as a value (names in canonical order).
fn parse(canonical: &str) -> Value {
    serde_json::from_str(canonical).unwrap_or_else(|_| Value::String(canonical.to_string()))
}

/// An audit record's ids as `Au` keeps them.
pub(super) struct AuditSids {
    pub id: Sid,
    pub resource: Option<Sid>,
    pub op: Option<Sid>,
}

/// An audit record as the store keeps it (its seq is its index + 1).
pub(super) struct Au {
    pub id: Sid,
    pub occurred_at: Timestamp,
    pub actor: Arc<str>,
    pub api_key_id: Option<Arc<str>>,
    pub institution_id: Option<Arc<str>>,
    pub action: Arc<str>,
    pub outcome: Outcome,
    pub resource_type: Option<Arc<str>>,
    pub resource_id: Option<Sid>,
    pub subject_institution_id: Option<Arc<str>>,
    pub payload: Option<CanonicalJson>,
    pub error: Option<Box<AuditError>>,
    pub op_id: Option<Sid>,
    pub client: Option<Arc<str>>,
}

impl Au {
    /// What the store keeps of `a`, whose ids were read as `ids` before the lock.
    pub(super) fn keep(a: AuditEvent, ids: AuditSids, names: &mut Names) -> Au {
        Au {
            id: ids.id,
            occurred_at: a.occurred_at,
            actor: names.get(&a.actor),
            api_key_id: names.opt(a.api_key_id.as_deref()),
            institution_id: names.opt(a.institution_id.as_deref()),
            action: names.get(&a.action),
            outcome: a.outcome,
            resource_type: names.opt(a.resource_type.as_deref()),
            resource_id: ids.resource,
            subject_institution_id: names.opt(a.subject_institution_id.as_deref()),
            payload: a.payload,
            error: a.error.map(Box::new),
            op_id: ids.op,
            client: names.opt(a.client.as_deref()),
        }
    }

    pub(super) fn to_event(&self, seq: i64, prev_hash: String, hash: &[u8; 32]) -> AuditEvent {
        let s = |v: &Option<Arc<str>>| v.as_deref().map(str::to_string);
        AuditEvent {
            id: self.id.to_string(),
            occurred_at: self.occurred_at,
            actor: self.actor.to_string(),
            api_key_id: s(&self.api_key_id),
            institution_id: s(&self.institution_id),
            action: self.action.to_string(),
            outcome: self.outcome,
            resource_type: s(&self.resource_type),
            resource_id: self.resource_id.as_ref().map(Sid::to_string),
            subject_institution_id: s(&self.subject_institution_id),
            payload: self.payload.clone(),
            error: self.error.as_deref().cloned(),
            op_id: self.op_id.as_ref().map(Sid::to_string),
            client: s(&self.client),
            seq: Some(seq),
            prev_hash: Some(prev_hash),
            hash: Some(hex32(hash)),
        }
    }

    pub(super) fn text_matches(&self, text: &str) -> bool {
        let resource_id = self.resource_id.as_ref().map(Sid::text);
        let op_id = self.op_id.as_ref().map(Sid::text);
        super::super::audit_text_hit(
            text,
            &super::super::AuditText {
                id: &self.id.text(),
                actor: &self.actor,
                api_key_id: self.api_key_id.as_deref(),
                action: &self.action,
                outcome: self.outcome.as_str(),
                resource_id: resource_id.as_deref(),
                op_id: op_id.as_deref(),
                error_code: self.error.as_ref().map(|e| e.code.as_str()),
            },
        )
    }
}

/// A lifecycle event as the store keeps it, beside its position.
pub(super) struct Lc {
    id: Sid,
    from: PositionState,
    to: PositionState,
    reason: Option<Box<str>>,
    at: Timestamp,
    metadata: Option<Box<Value>>,
    actor: Option<Arc<str>>,
    amount: Option<crate::domain::Balance>,
    held: Option<crate::domain::Balance>,
}

impl Lc {
    pub(super) fn keep(e: PositionLifecycleEvent, names: &mut Names) -> Lc {
        Lc {
            id: Sid::of_string(e.id),
            from: e.from_state,
            to: e.to_state,
            reason: e.reason.map(String::into_boxed_str),
            at: e.at,
            metadata: e.metadata.map(Box::new),
            actor: names.opt(e.actor.as_deref()),
            amount: e.amount,
            held: e.held,
        }
    }

    pub(super) fn to_event(&self, position_id: &str) -> PositionLifecycleEvent {
        PositionLifecycleEvent {
            id: self.id.to_string(),
            position_id: position_id.to_string(),
            from_state: self.from,
            to_state: self.to,
            reason: self.reason.as_deref().map(str::to_string),
            at: self.at,
            metadata: self.metadata.as_deref().cloned(),
            actor: self.actor.as_deref().map(str::to_string),
            amount: self.amount,
            held: self.held,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_records_read_back_in_order_either_way() {
        let mut c = Chunked::default();
        for i in 0..(CHUNK * 2 + 5) {
            c.push(i);
        }
        assert_eq!(c.len(), CHUNK * 2 + 5);
        assert_eq!(c.get(CHUNK), Some(&CHUNK));
        assert_eq!(c.last(), Some(&(CHUNK * 2 + 4)));
        let fwd: Vec<usize> = c
            .forward_from(CHUNK - 2)
            .map(|(i, v)| {
                assert_eq!(i, *v);
                *v
            })
            .collect();
        assert_eq!(fwd, (CHUNK - 2..CHUNK * 2 + 5).collect::<Vec<_>>());
        let back: Vec<usize> = c
            .backward_to(CHUNK + 1)
            .map(|(i, v)| {
                assert_eq!(i, *v);
                *v
            })
            .collect();
        assert_eq!(back, (CHUNK + 1..CHUNK * 2 + 5).rev().collect::<Vec<_>>());
        assert_eq!(c.forward_from(10_000_000).count(), 0);
        assert_eq!(c.backward_to(10_000_000).count(), 0);
    }

    #[test]
    fn audit_ids_are_found_whatever_their_shape() {
        let mut ids = AuditIds::default();
        let a = crate::domain::ids::new_id(crate::domain::ids::AUDIT);
        let k = |id: &str| AuditIds::key(&Sid::of(id));
        assert!(!ids.contains(&a, k(&a)));
        ids.insert(&a, k(&a));
        ids.insert("imported-1", k("imported-1"));
        assert!(ids.contains(&a, k(&a)) && ids.contains("imported-1", k("imported-1")));
        assert!(!ids.contains("imported-2", k("imported-2")));
        // The service's own ids are kept as numbers, not text (a first version looked for
        // "aud" + UUID and kept every id as text).
        assert_eq!((ids.uuids.len(), ids.other.len()), (1, 1));
    }
}
