//! The hash-chained ledger. Each event's `hash` is the lower-case hex SHA-256 of the RFC 8785 (JCS)
//! canonical JSON of the event exactly as exported, without its `hash` field; `prevHash` links it to
//! the event before (64 zeros for seq 1). Anyone can re-verify an export with stock libraries.

use super::time::{Timestamp, rfc3339};
use super::{EntityType, LedgerKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event before the store gives it its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerDraft {
    pub kind: LedgerKind,
    pub entity_type: EntityType,
    pub entity_id: String,
    pub institution_id: String,
    pub position_id: Option<String>,
    pub at: Timestamp,
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEvent {
    pub seq: i64,
    pub id: String,
    pub kind: LedgerKind,
    pub entity_type: EntityType,
    pub entity_id: String,
    pub institution_id: String,
    /// Always present in the export (null when the event is not about a position), so the hashed
    /// form never depends on how a serializer treats absent fields.
    pub position_id: Option<String>,
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
    pub payload: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl LedgerDraft {
    /// Places the draft after the chain head (`prev_seq`, `prev_hash`) and computes its hash.
    pub fn seal(self, id: String, prev_seq: i64, prev_hash: &str) -> LedgerEvent {
        let mut ev = LedgerEvent {
            seq: prev_seq + 1,
            id,
            kind: self.kind,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            institution_id: self.institution_id,
            position_id: self.position_id,
            at: self.at,
            payload: self.payload,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        ev.hash = compute_hash(&ev);
        ev
    }
}

/// The canonical (RFC 8785) JSON that an event's hash covers: the exported object minus `hash`.
pub fn canonical_json(ev: &LedgerEvent) -> String {
    let mut v = serde_json::to_value(ev).expect("ledger events serialise");
    if let Value::Object(m) = &mut v {
        m.remove("hash");
    }
    serde_json_canonicalizer::to_string(&v).expect("canonical JSON of a JSON value")
}

pub fn compute_hash(ev: &LedgerEvent) -> String {
    hex::encode(Sha256::digest(canonical_json(ev).as_bytes()))
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Walks a chain one event at a time, in seq order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last_seq: i64,
    last_hash: String,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_string(),
            checked: 0,
        }
    }
}

impl ChainVerifier {
    /// Checks the next event; the first error is the first broken seq.
    pub fn push(&mut self, ev: &LedgerEvent) -> Result<(), ChainBreak> {
        let expected = self.last_seq + 1;
        if ev.seq != expected {
            return Err(ChainBreak {
                seq: expected,
                reason: if ev.seq > expected {
                    format!(
                        "event seq {expected} is missing (next stored event is seq {})",
                        ev.seq
                    )
                } else {
                    format!(
                        "seq {} appears out of order after seq {}",
                        ev.seq, self.last_seq
                    )
                },
            });
        }
        if ev.prev_hash != self.last_hash {
            return Err(ChainBreak {
                seq: ev.seq,
                reason: format!(
                    "prevHash {} does not match the hash of seq {} ({})",
                    short(&ev.prev_hash),
                    self.last_seq,
                    short(&self.last_hash)
                ),
            });
        }
        let actual = compute_hash(ev);
        if ev.hash != actual {
            return Err(ChainBreak {
                seq: ev.seq,
                reason: format!(
                    "stored hash {} does not match the event's content (computed {})",
                    short(&ev.hash),
                    short(&actual)
                ),
            });
        }
        self.last_seq = ev.seq;
        self.last_hash = ev.hash.clone();
        self.checked += 1;
        Ok(())
    }

    pub fn head(&self) -> (i64, &str) {
        (self.last_seq, &self.last_hash)
    }
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time;
    use serde_json::json;

    fn draft(n: u32) -> LedgerDraft {
        LedgerDraft {
            kind: LedgerKind::PositionCreated,
            entity_type: EntityType::Position,
            entity_id: format!("pos_{n}"),
            institution_id: "inst_1".into(),
            position_id: Some(format!("pos_{n}")),
            at: time::parse("2026-11-28T20:46:40.123Z").unwrap(),
            payload: json!({"amount": "10.5", "n": n}),
        }
    }

    fn chain(n: u32) -> Vec<LedgerEvent> {
        let mut out: Vec<LedgerEvent> = Vec::new();
        for i in 0..n {
            let (s, h) = out
                .last()
                .map(|e| (e.seq, e.hash.clone()))
                .unwrap_or((0, GENESIS_HASH.into()));
            out.push(draft(i).seal(format!("led_{i}"), s, &h));
        }
        out
    }

    fn verify(events: &[LedgerEvent]) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in events {
            v.push(e)?;
        }
        Ok(v.checked)
    }

    #[test]
    fn canonical_form_is_sorted_compact_and_complete() {
        let ev = draft(7).seal("led_a".into(), 0, GENESIS_HASH);
        let c = canonical_json(&ev);
        assert_eq!(
            c,
            format!(
                r#"{{"at":"2026-11-28T20:46:40.123Z","entityId":"pos_7","entityType":"position","id":"led_a","institutionId":"inst_1","kind":"POSITION_CREATED","payload":{{"amount":"10.5","n":7}},"positionId":"pos_7","prevHash":"{GENESIS_HASH}","seq":1}}"#
            )
        );
        assert_eq!(ev.hash, hex::encode(Sha256::digest(c.as_bytes())));
        assert_eq!(ev.hash.len(), 64);
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn edited_payload_is_detected_at_its_seq() {
        let mut c = chain(5);
        c[2].payload = json!({"amount": "99999", "n": 2});
        let b = verify(&c).unwrap_err();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("does not match the event's content"));
    }

    #[test]
    fn edited_and_rehashed_event_breaks_the_next_link() {
        let mut c = chain(5);
        c[2].payload = json!({"amount": "99999"});
        c[2].hash = compute_hash(&c[2]);
        let b = verify(&c).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("prevHash"));
    }

    #[test]
    fn deleted_event_is_detected() {
        let mut c = chain(5);
        c.remove(1);
        let b = verify(&c).unwrap_err();
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("missing"));
        let mut tail = chain(5);
        tail.pop();
        assert_eq!(
            verify(&tail),
            Ok(4),
            "a truncated tail is still a valid prefix"
        );
    }

    #[test]
    fn reordered_pair_is_detected() {
        let mut c = chain(5);
        c.swap(1, 2);
        assert_eq!(verify(&c).unwrap_err().seq, 2);
        // swapping the seq numbers too, so the order looks right, still breaks the links
        let mut c = chain(5);
        c.swap(1, 2);
        c[1].seq = 2;
        c[2].seq = 3;
        assert_eq!(verify(&c).unwrap_err().seq, 2);
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// The README's worked example must be true: its hash and canonical form are what we compute.
    #[test]
    fn readme_worked_example_is_correct() {
        let readme = include_str!("../../README.md");
        let block = |marker: &str| -> String {
            let after = readme.split(marker).nth(1).expect("marker present");
            let start = after.find("```").unwrap();
            let body = &after[start..];
            let body = &body[body.find('\n').unwrap() + 1..];
            body[..body.find("```").unwrap()].trim().to_string()
        };
        let ev: LedgerEvent =
            serde_json::from_str(&block("<!-- ledger-example:event -->")).unwrap();
        assert_eq!(
            canonical_json(&ev),
            block("<!-- ledger-example:canonical -->")
        );
        assert_eq!(compute_hash(&ev), ev.hash);
        let mut v = ChainVerifier::default();
        v.push(&ev).unwrap();
    }
}
