//! The hash-chained ledger. Each event's `hash` is the lower-case hex SHA-256 of the RFC 8785 (JCS)
//! canonical JSON of the event exactly as exported, without its `hash` field; `prevHash` links it to
//! the event before (64 zeros for seq 1). Anyone can re-verify an export with stock libraries.

pub use super::json::{CanonicalJson, as_recorded, canonical_value};
pub(crate) use super::json::{write_integer, write_json_string, write_opt_json_string};
use super::time::{Timestamp, rfc3339};
use super::{EntityType, LedgerKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Each byte as its two lower-case hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    t
};

/// A SHA-256 as lower-case hex, a byte at a time from a table (every write hexes four or five
/// hashes; the `hex` crate's nibble at a time showed in the write path's profile).
pub fn hex32(h: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    hex32_in(h, &mut out).to_string()
}

/// `hex32` written into `buf` (no allocation): for a hash that is only hashed again, as a
/// previous hash is under a store's lock.
pub fn hex32_in<'a>(h: &[u8; 32], buf: &'a mut [u8; 64]) -> &'a str {
    for (pair, b) in buf.chunks_exact_mut(2).zip(h) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    std::str::from_utf8(buf).expect("hex is ASCII")
}

/// An event before the store gives it its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerDraft {
    /// The id the event is to take; None (the rule) gives it a new one. An import keeps the
    /// exported event's id, so its hash comes out the same.
    pub id: Option<String>,
    pub kind: LedgerKind,
    pub entity_type: EntityType,
    pub entity_id: String,
    pub institution_id: String,
    pub position_id: Option<String>,
    pub at: Timestamp,
    /// As its canonical text: hashed and stored as it is.
    pub payload: CanonicalJson,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub payload: Value,
    pub prev_hash: String,
    pub hash: String,
}

impl LedgerDraft {
    /// Prepares the draft under its own id, or a new one.
    pub fn prepare_with_id(self) -> PreparedEvent {
        self.prepare_unhashed_with_id().hashed()
    }

    /// Places the draft after the chain head (`prev_seq`, `prev_hash`) and computes its hash.
    pub fn seal(self, id: String, prev_seq: i64, prev_hash: &str) -> LedgerEvent {
        let p = self.prepare(id);
        let hash = p.chain_hash(prev_seq, prev_hash);
        p.into_event(prev_seq, prev_hash, hash).event
    }

    /// Does every part of sealing that does not depend on the chain head: the canonical bytes of
    /// the event up to `prevHash`, already fed to SHA-256. What is left (`chain_hash`) is the
    /// only step that has to run in chain order, under the store's lock.
    pub fn prepare(self, id: String) -> PreparedEvent {
        self.prepare_unhashed(id).hashed()
    }

    /// `prepare_with_id` without hashing: the canonical bytes only, for a store that hashes its
    /// chain later, off the writer's path (`link_prefix`).
    pub fn prepare_unhashed_with_id(mut self) -> PreparedEvent {
        let id = self
            .id
            .take()
            .unwrap_or_else(|| super::ids::new_id(super::ids::LEDGER_EVENT));
        self.prepare_unhashed(id)
    }

    fn prepare_unhashed(self, id: String) -> PreparedEvent {
        let mut prefix = String::with_capacity(256 + self.payload.as_str().len());
        write_prefix(
            &mut prefix,
            &Fields {
                at: &self.at,
                entity_id: &self.entity_id,
                entity_type: self.entity_type,
                id: &id,
                institution_id: &self.institution_id,
                kind: self.kind,
                payload_json: self.payload.as_str(),
                position_id: self.position_id.as_deref(),
            },
        );
        PreparedEvent {
            id,
            draft: self,
            prefix,
            hasher: None,
        }
    }
}

/// A ledger event ready for its place in the chain (see `LedgerDraft::prepare`).
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub id: String,
    /// The draft, whose payload (canonical JSON) is hashed and stored as it is.
    pub draft: LedgerDraft,
    /// The event's canonical JSON up to and including `"prevHash":` — what a database that
    /// links the chain itself hashes, followed by the previous hash and the seq.
    pub prefix: String,
    /// SHA-256 fed with `prefix`; None when prepared unhashed.
    hasher: Option<Sha256>,
}

/// A sealed event with the canonical text of its payload, as stored.
#[derive(Debug, Clone)]
pub struct SealedEvent {
    pub event: LedgerEvent,
    pub payload_json: String,
}

impl PreparedEvent {
    /// With its prefix fed to SHA-256 (what `prepare` does before a store's lock).
    fn hashed(mut self) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(self.prefix.as_bytes());
        self.hasher = Some(hasher);
        self
    }

    /// The hash this event gets when it follows (`prev_seq`, `prev_hash`).
    pub fn chain_hash(&self, prev_seq: i64, prev_hash: &str) -> String {
        hex32(&match &self.hasher {
            Some(h) => link_tail(h.clone(), prev_seq, prev_hash),
            None => link_prefix(&self.prefix, prev_seq, prev_hash),
        })
    }

    /// The event after (`prev_seq`, `prev_hash`), with the hash `chain_hash` gave for that place.
    pub fn into_event(self, prev_seq: i64, prev_hash: &str, hash: String) -> SealedEvent {
        let d = self.draft;
        let payload_json = d.payload.as_str().to_string();
        SealedEvent {
            event: LedgerEvent {
                seq: prev_seq + 1,
                id: self.id,
                kind: d.kind,
                entity_type: d.entity_type,
                entity_id: d.entity_id,
                institution_id: d.institution_id,
                position_id: d.position_id,
                at: d.at,
                payload: d.payload.to_value(),
                prev_hash: prev_hash.to_string(),
                hash,
            },
            payload_json,
        }
    }

    /// The same event naming another entity (a policy upsert learns the stored policy's id only
    /// inside the transaction).
    pub fn with_entity_id(self, entity_id: &str) -> PreparedEvent {
        if self.draft.entity_id == entity_id {
            return self;
        }
        let mut draft = self.draft;
        draft.entity_id = entity_id.to_string();
        match self.hasher {
            Some(_) => draft.prepare(self.id),
            None => draft.prepare_unhashed(self.id),
        }
    }
}

/// The hash of the event whose canonical text up to and including `"prevHash":` is `prefix`
/// (`PreparedEvent::prefix`), when it follows (`prev_seq`, `prev_hash`).
pub fn link_prefix(prefix: &str, prev_seq: i64, prev_hash: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prefix.as_bytes());
    link_tail(h, prev_seq, prev_hash)
}

/// `h` (fed with an event's prefix) finished with the chain link: the previous hash and the seq.
fn link_tail(mut h: Sha256, prev_seq: i64, prev_hash: &str) -> [u8; 32] {
    let mut tail = String::with_capacity(96);
    write_json_string(&mut tail, prev_hash);
    tail.push_str(",\"seq\":");
    write_integer(&mut tail, prev_seq + 1);
    tail.push('}');
    h.update(tail.as_bytes());
    h.finalize().into()
}

/// The fields of an event in the order RFC 8785 sorts their names, `hash` left out.
struct Fields<'a> {
    at: &'a Timestamp,
    entity_id: &'a str,
    entity_type: EntityType,
    id: &'a str,
    institution_id: &'a str,
    kind: LedgerKind,
    payload_json: &'a str,
    position_id: Option<&'a str>,
}

/// `{"at":…,…,"positionId":…,"prevHash":` — everything before the chain link.
fn write_prefix(out: &mut String, f: &Fields<'_>) {
    out.push_str("{\"at\":");
    super::time::write_json(out, f.at);
    out.push_str(",\"entityId\":");
    write_json_string(out, f.entity_id);
    out.push_str(",\"entityType\":");
    write_json_string(out, f.entity_type.as_str());
    out.push_str(",\"id\":");
    write_json_string(out, f.id);
    out.push_str(",\"institutionId\":");
    write_json_string(out, f.institution_id);
    out.push_str(",\"kind\":");
    write_json_string(out, f.kind.as_str());
    out.push_str(",\"payload\":");
    out.push_str(f.payload_json);
    out.push_str(",\"positionId\":");
    write_opt_json_string(out, f.position_id);
    out.push_str(",\"prevHash\":");
}

/// The canonical (RFC 8785) JSON that an event's hash covers: the exported object minus `hash`.
/// Built directly; a property test checks it against `serde_json_canonicalizer`.
pub fn canonical_json(ev: &LedgerEvent) -> String {
    let payload_json = canonical_value(&ev.payload);
    let mut out = String::with_capacity(320 + payload_json.len());
    write_prefix(
        &mut out,
        &Fields {
            at: &ev.at,
            entity_id: &ev.entity_id,
            entity_type: ev.entity_type,
            id: &ev.id,
            institution_id: &ev.institution_id,
            kind: ev.kind,
            payload_json: &payload_json,
            position_id: ev.position_id.as_deref(),
        },
    );
    write_json_string(&mut out, &ev.prev_hash);
    out.push_str(",\"seq\":");
    write_integer(&mut out, ev.seq);
    out.push('}');
    out
}

pub fn compute_hash(ev: &LedgerEvent) -> String {
    hex32(&Sha256::digest(canonical_json(ev).as_bytes()).into())
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// A verifier that goes on from a head verified before (`seq`, `hash`).
    pub fn from_head(seq: i64, hash: &str) -> Self {
        Self {
            last_seq: seq,
            last_hash: hash.to_string(),
            checked: 0,
        }
    }

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

    #[test]
    fn hex_by_table_is_lower_case_hex() {
        let mut h = [0u8; 32];
        for round in 0..64u8 {
            for (i, b) in h.iter_mut().enumerate() {
                *b = (i as u8)
                    .wrapping_mul(37)
                    .wrapping_add(round.wrapping_mul(101));
            }
            assert_eq!(hex32(&h), hex::encode(h));
        }
        assert_eq!(hex32(&[0xff; 32]), "f".repeat(64));
        assert_eq!(hex32(&[0; 32]), GENESIS_HASH);
    }

    fn draft(n: u32) -> LedgerDraft {
        LedgerDraft {
            id: None,
            kind: LedgerKind::PositionCreated,
            entity_type: EntityType::Position,
            entity_id: format!("pos_{n}"),
            institution_id: "inst_1".into(),
            position_id: Some(format!("pos_{n}")),
            at: time::parse("2026-11-28T20:46:40.123Z").unwrap(),
            payload: json!({"amount": "10.5", "n": n}).into(),
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

    #[test]
    fn numbers_are_recorded_exactly_or_refused() {
        use serde_json::json;
        let given: Value = serde_json::from_str(
            r#"{"f":1.0,"g":0.1,"max":9007199254740991,"neg":-12,"s":"9007199254740993"}"#,
        )
        .unwrap();
        let recorded = as_recorded("metadata", &given).unwrap();
        assert_eq!(
            recorded,
            json!({"f": 1, "g": 0.1, "max": 9007199254740991u64, "neg": -12, "s": "9007199254740993"})
        );
        assert_eq!(canonical_value(&recorded), canonical_value(&given));
        assert_eq!(
            serde_json::to_string(&recorded).unwrap(),
            serde_json::to_string(
                &serde_json::from_str::<Value>(&canonical_value(&recorded)).unwrap()
            )
            .unwrap(),
            "what a row stores reads back as the ledger's text"
        );
        for (text, path) in [
            (r#"{"n":9007199254740993}"#, "metadata.n"),
            (r#"{"a":{"b":[1,-9007199254740995]}}"#, "metadata.a.b[1]"),
            (r#"{"u":18446744073709551615}"#, "metadata.u"),
            // 2^60 is a double, but its canonical text is 1152921504606847000.
            (r#"{"p":1152921504606846976}"#, "metadata.p"),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            let e = as_recorded("metadata", &v).unwrap_err().to_string();
            assert!(
                e.contains(path) && e.contains("cannot be recorded exactly"),
                "{e}"
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod canonical {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// Text with what RFC 8785 treats specially: control characters, quotes, backslashes, DEL,
    /// non-ASCII, and characters on both sides of the UTF-16 surrogate range.
    pub(crate) fn text() -> impl Strategy<Value = String> {
        let special = prop_oneof![
            (0u8..0x20).prop_map(char::from),
            Just('"'),
            Just('\\'),
            Just('\u{7f}'),
            Just('é'),
            Just('\u{e000}'),
            Just('\u{ffff}'),
            Just('\u{10000}'),
            Just('😀'),
            Just('a'),
            Just('Z'),
        ];
        prop::collection::vec(prop_oneof![any::<char>(), special], 0..10)
            .prop_map(String::from_iter)
    }

    pub(crate) fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-(1i64 << 53)..=(1i64 << 53)).prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    prop_compose! {
        fn event()(
            seq in 0i64..i64::MAX / 2,
            id in text(),
            kind in prop::sample::select(crate::domain::LedgerKind::ALL),
            entity_type in prop::sample::select(crate::domain::EntityType::ALL),
            entity_id in text(),
            institution_id in text(),
            position_id in prop::option::of(text()),
            ms in 0i64..4_102_444_800_000,
            payload in json(),
            prev_hash in text(),
        ) -> LedgerEvent {
            LedgerEvent {
                seq, id, kind, entity_type, entity_id, institution_id, position_id,
                at: chrono::Utc.timestamp_millis_opt(ms).unwrap(),
                payload, prev_hash, hash: String::new(),
            }
        }
    }

    /// What the library makes of the exported event, `hash` removed.
    fn reference(ev: &LedgerEvent) -> String {
        let mut v = serde_json::to_value(ev).unwrap();
        v.as_object_mut().unwrap().remove("hash");
        serde_json_canonicalizer::to_string(&v).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn direct_canonical_bytes_are_rfc8785(ev in event()) {
            prop_assert_eq!(canonical_json(&ev), reference(&ev));
        }

        #[test]
        fn canonical_values_match_the_library(v in json()) {
            prop_assert_eq!(canonical_value(&v), serde_json_canonicalizer::to_string(&v).unwrap());
        }

        #[test]
        fn prepared_sealing_hashes_the_canonical_bytes(ev in event()) {
            let draft = LedgerDraft {
                id: None,
                kind: ev.kind,
                entity_type: ev.entity_type,
                entity_id: ev.entity_id.clone(),
                institution_id: ev.institution_id.clone(),
                position_id: ev.position_id.clone(),
                at: ev.at,
                payload: ev.payload.clone().into(),
            };
            let prepared = draft.prepare(ev.id.clone());
            let hash = prepared.chain_hash(ev.seq - 1, &ev.prev_hash);
            let sealed = prepared.into_event(ev.seq - 1, &ev.prev_hash, hash);
            prop_assert_eq!(&sealed.event.hash, &hex::encode(Sha256::digest(reference(&ev).as_bytes())));
            prop_assert_eq!(&sealed.payload_json, &serde_json_canonicalizer::to_string(&ev.payload).unwrap());
            // The sealed event holds its payload as the canonical text reads back (a store
            // returns the same): a number beyond 2^53 as the double it is hashed as.
            let mut expected = ev.clone();
            expected.hash = sealed.event.hash.clone();
            expected.payload = serde_json::from_str(&sealed.payload_json).unwrap();
            prop_assert_eq!(sealed.event, expected);
        }
    }

    #[test]
    fn surrogate_pairs_sort_before_the_top_of_the_bmp() {
        // U+10000 is D800 DC00 in UTF-16, below U+E000; in UTF-8 byte order it comes after.
        let v = serde_json::json!({"\u{e000}": 1, "\u{10000}": 2, "a": 3});
        assert_eq!(
            canonical_value(&v),
            "{\"a\":3,\"\u{10000}\":2,\"\u{e000}\":1}"
        );
    }

    #[test]
    fn a_renamed_entity_is_prepared_again() {
        let d = LedgerDraft {
            id: None,
            kind: LedgerKind::PolicyUpserted,
            entity_type: EntityType::Policy,
            entity_id: "pol_new".into(),
            institution_id: "inst_1".into(),
            position_id: None,
            at: chrono::Utc.timestamp_millis_opt(0).unwrap(),
            payload: serde_json::json!({"region": "US"}).into(),
        };
        let p = d.clone().prepare("led_1".into()).with_entity_id("pol_old");
        let mut renamed = d;
        renamed.entity_id = "pol_old".into();
        let expected = renamed.seal("led_1".into(), 4, GENESIS_HASH);
        assert_eq!(p.chain_hash(4, GENESIS_HASH), expected.hash);
        assert_eq!(p.chain_hash(4, GENESIS_HASH), compute_hash(&expected));
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
