//! Audit records: who did what, with which outcome. Written with the change they describe, and
//! chained as the ledger is, so that a record edited or deleted (a refusal, which no ledger event
//! holds) breaks the chain where it was:
//!
//! - `digest` is the lower-case hex SHA-256 of the RFC 8785 canonical JSON of the record as
//!   exported, without `seq`, `prevHash` and `hash`;
//! - `hash` is the SHA-256 of the canonical JSON `{"digest":…,"prevHash":…,"seq":…}`;
//! - `prevHash` of seq 1 is 64 zeros, and every later one is the `hash` of the record before.
//!
//! The digest is computed before a writer takes the chain's head, so that linking a record
//! costs one short hash.

use super::Outcome;
use super::ledger::{
    CanonicalJson, ChainBreak, GENESIS_HASH, hex32, write_json_string, write_opt_json_string,
};
use super::time::{Timestamp, rfc3339};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
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
    /// As its canonical text (what the digest covers); written out as the JSON value it is.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<CanonicalJson>,
    pub error: Option<AuditError>,
    /// The service operation that wrote it: the `op_id` on the log lines of the same action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_id: Option<String>,
    /// The network address of the caller, for a request to `escrowgrid serve` (None in process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Its place in the audit chain (gap-free from 1), given by the store when it is written;
    /// None for a record not yet written (or written by a version before the chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl AuditEvent {
    /// The hex SHA-256 of the record's canonical JSON without its place in the chain.
    pub fn digest(&self) -> String {
        hex32(&self.digest_bytes())
    }

    /// `digest` as bytes (hexed where it is used: a store that links under its lock hexes it
    /// on the stack).
    pub fn digest_bytes(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_body().as_bytes()).into()
    }

    /// The record's RFC 8785 canonical JSON without `seq`, `prevHash` and `hash`, written
    /// directly (a property test checks it against `serde_json_canonicalizer`): the names in
    /// sorted order, `opId` and `client` only when present, as the export writes them.
    pub fn canonical_body(&self) -> String {
        let payload = self.payload.as_ref().map(CanonicalJson::as_str);
        let mut out = String::with_capacity(384 + payload.map_or(0, str::len));
        out.push_str("{\"action\":");
        write_json_string(&mut out, &self.action);
        out.push_str(",\"actor\":");
        write_json_string(&mut out, &self.actor);
        out.push_str(",\"apiKeyId\":");
        write_opt_json_string(&mut out, self.api_key_id.as_deref());
        if let Some(c) = &self.client {
            out.push_str(",\"client\":");
            write_json_string(&mut out, c);
        }
        out.push_str(",\"error\":");
        match &self.error {
            Some(e) => {
                out.push_str("{\"code\":");
                write_json_string(&mut out, &e.code);
                out.push_str(",\"message\":");
                write_json_string(&mut out, &e.message);
                out.push('}');
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"id\":");
        write_json_string(&mut out, &self.id);
        out.push_str(",\"institutionId\":");
        write_opt_json_string(&mut out, self.institution_id.as_deref());
        out.push_str(",\"occurredAt\":");
        super::time::write_json(&mut out, &self.occurred_at);
        if let Some(op) = &self.op_id {
            out.push_str(",\"opId\":");
            write_json_string(&mut out, op);
        }
        out.push_str(",\"outcome\":");
        write_json_string(&mut out, self.outcome.as_str());
        out.push_str(",\"payload\":");
        out.push_str(payload.unwrap_or("null"));
        out.push_str(",\"resourceId\":");
        write_opt_json_string(&mut out, self.resource_id.as_deref());
        out.push_str(",\"resourceType\":");
        write_opt_json_string(&mut out, self.resource_type.as_deref());
        out.push_str(",\"subjectInstitutionId\":");
        write_opt_json_string(&mut out, self.subject_institution_id.as_deref());
        out.push('}');
        out
    }

    /// Places the record after (`prev_seq`, `prev_hash`), given its `digest`.
    pub fn seal(&mut self, digest: &str, prev_seq: i64, prev_hash: &str) {
        let seq = prev_seq + 1;
        self.hash = Some(link_hash(digest, prev_hash, seq));
        self.seq = Some(seq);
        self.prev_hash = Some(prev_hash.to_string());
    }
}

/// The hash of the record at `seq` with `digest`, after the record whose hash is `prev_hash`.
pub fn link_hash(digest: &str, prev_hash: &str, seq: i64) -> String {
    hex32(&link_hash_bytes(digest, prev_hash, seq))
}

/// `link_hash` as bytes: the SHA-256 of `{"digest":…,"prevHash":…,"seq":…}` (both hashes are
/// hex, which JSON writes as it is).
pub fn link_hash_bytes(digest: &str, prev_hash: &str, seq: i64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"{\"digest\":\"");
    h.update(digest.as_bytes());
    h.update(b"\",\"prevHash\":\"");
    h.update(prev_hash.as_bytes());
    h.update(b"\",\"seq\":");
    h.update(itoa::Buffer::new().format(seq).as_bytes());
    h.update(b"}");
    h.finalize().into()
}

/// Walks an audit chain one record at a time, in seq order (as `ChainVerifier` the ledger).
#[derive(Debug, Clone)]
pub struct AuditVerifier {
    last_seq: i64,
    last_hash: String,
    pub checked: u64,
}

impl Default for AuditVerifier {
    fn default() -> Self {
        Self::from_head(0, GENESIS_HASH)
    }
}

impl AuditVerifier {
    /// A verifier that goes on from a head verified before.
    pub fn from_head(seq: i64, hash: &str) -> Self {
        AuditVerifier {
            last_seq: seq,
            last_hash: hash.to_string(),
            checked: 0,
        }
    }

    /// Checks the next record; the first error names the first broken seq.
    pub fn push(&mut self, a: &AuditEvent) -> Result<(), ChainBreak> {
        let expected = self.last_seq + 1;
        let Some(seq) = a.seq else {
            return Err(ChainBreak {
                seq: expected,
                reason: format!("audit record {} has no place in the audit chain", a.id),
            });
        };
        if seq != expected {
            return Err(ChainBreak {
                seq: expected,
                reason: if seq > expected {
                    format!(
                        "audit record seq {expected} is missing (next stored record is seq {seq})"
                    )
                } else {
                    format!(
                        "audit seq {seq} appears out of order after seq {}",
                        self.last_seq
                    )
                },
            });
        }
        if a.prev_hash.as_deref() != Some(self.last_hash.as_str()) {
            return Err(ChainBreak {
                seq,
                reason: format!(
                    "audit record {}: its prevHash does not match the hash of audit seq {}",
                    a.id, self.last_seq
                ),
            });
        }
        let hash = link_hash(&a.digest(), &self.last_hash, seq);
        if a.hash.as_deref() != Some(hash.as_str()) {
            return Err(ChainBreak {
                seq,
                reason: format!(
                    "audit record {} does not hash to its recorded hash (edited)",
                    a.id
                ),
            });
        }
        self.last_seq = seq;
        self.last_hash = hash;
        self.checked += 1;
        Ok(())
    }

    /// The last verified (seq, hash).
    pub fn head(&self) -> (i64, &str) {
        (self.last_seq, &self.last_hash)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditError {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ids, time};

    fn record(n: u32) -> AuditEvent {
        AuditEvent {
            id: ids::new_id(ids::AUDIT),
            occurred_at: time::now(),
            actor: "root".into(),
            api_key_id: None,
            institution_id: None,
            action: "AUTH_FAILED".into(),
            outcome: Outcome::Failure,
            resource_type: None,
            resource_id: None,
            subject_institution_id: None,
            payload: Some(serde_json::json!({"n": n}).into()),
            error: Some(AuditError {
                code: "UNAUTHENTICATED".into(),
                message: format!("attempt {n}"),
            }),
            op_id: Some("op_1".into()),
            client: None,
            seq: None,
            prev_hash: None,
            hash: None,
        }
    }

    fn chain(n: u32) -> Vec<AuditEvent> {
        let mut out: Vec<AuditEvent> = Vec::new();
        for i in 0..n {
            let mut a = record(i);
            let (seq, prev) = out
                .last()
                .map(|x| (x.seq.unwrap(), x.hash.clone().unwrap()))
                .unwrap_or((0, GENESIS_HASH.into()));
            a.seal(&a.digest(), seq, &prev);
            out.push(a);
        }
        out
    }

    fn verify(v: &[AuditEvent]) -> Result<(), ChainBreak> {
        let mut c = AuditVerifier::default();
        v.iter().try_for_each(|a| c.push(a))
    }

    #[test]
    fn an_audit_chain_finds_an_edit_a_deletion_and_an_unsealed_record() {
        let c = chain(5);
        assert!(verify(&c).is_ok());
        assert_eq!(c[0].prev_hash.as_deref(), Some(GENESIS_HASH));
        // The digest leaves the chain fields out; the sealed record carries them.
        let mut unsealed = c[2].clone();
        (unsealed.seq, unsealed.prev_hash, unsealed.hash) = (None, None, None);
        assert_eq!(unsealed.digest(), c[2].digest());

        let mut edited = c.clone();
        edited[2].actor = "local:mallory".into();
        let b = verify(&edited).unwrap_err();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("edited"), "{}", b.reason);

        let mut cut = c.clone();
        cut.remove(1);
        assert_eq!(verify(&cut).unwrap_err().seq, 2);

        let mut op = c.clone();
        op[4].op_id = Some("op_2".into());
        assert_eq!(
            verify(&op).unwrap_err().seq,
            5,
            "the operation id is covered"
        );

        let mut late = c.clone();
        late.push(record(9));
        assert!(verify(&late).unwrap_err().reason.contains("no place"));
    }

    /// The published rule, written out: anyone can re-verify an exported trail.
    #[test]
    fn the_hash_is_the_documented_one() {
        let c = chain(1);
        let mut body = serde_json::to_value(&c[0]).unwrap();
        for k in ["seq", "prevHash", "hash"] {
            body.as_object_mut().unwrap().remove(k);
        }
        let digest = hex::encode(Sha256::digest(
            serde_json_canonicalizer::to_string(&body)
                .unwrap()
                .as_bytes(),
        ));
        let link = serde_json::json!({"digest": digest, "prevHash": GENESIS_HASH, "seq": 1});
        let hash = hex::encode(Sha256::digest(
            serde_json_canonicalizer::to_string(&link)
                .unwrap()
                .as_bytes(),
        ));
        assert_eq!(c[0].hash.as_deref(), Some(hash.as_str()));
    }

    mod canonical {
        use super::*;
        use crate::domain::ledger::canonical::{json, text};
        use chrono::TimeZone;
        use proptest::prelude::*;

        prop_compose! {
            fn record()(
                id in text(),
                ms in 0i64..4_102_444_800_000,
                actor in text(),
                api_key_id in prop::option::of(text()),
                institution_id in prop::option::of(text()),
                action in text(),
                failure in any::<bool>(),
                resource_type in prop::option::of(text()),
                resource_id in prop::option::of(text()),
                subject_institution_id in prop::option::of(text()),
                payload in prop::option::of(json()),
                error in prop::option::of((text(), text())),
                op_id in prop::option::of(text()),
                client in prop::option::of(text()),
                seq in prop::option::of(1i64..1_000_000),
            ) -> AuditEvent {
                AuditEvent {
                    id,
                    occurred_at: chrono::Utc.timestamp_millis_opt(ms).unwrap(),
                    actor, api_key_id, institution_id, action,
                    outcome: if failure { Outcome::Failure } else { Outcome::Success },
                    resource_type, resource_id, subject_institution_id,
                    payload: payload.map(CanonicalJson::from),
                    error: error.map(|(code, message)| AuditError { code, message }),
                    op_id, client,
                    seq,
                    prev_hash: seq.map(|_| GENESIS_HASH.to_string()),
                    hash: seq.map(|_| "f".repeat(64)),
                }
            }
        }

        /// The documented digest input: the exported record without its place in the chain,
        /// through `serde_json` and the library's canonical form.
        fn reference(a: &AuditEvent) -> String {
            let mut v = serde_json::to_value(a).unwrap();
            for k in ["seq", "prevHash", "hash"] {
                v.as_object_mut().unwrap().remove(k);
            }
            serde_json_canonicalizer::to_string(&v).unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn direct_canonical_bytes_are_rfc8785(a in record()) {
                prop_assert_eq!(a.canonical_body(), reference(&a));
                prop_assert_eq!(
                    a.digest(),
                    hex::encode(Sha256::digest(reference(&a).as_bytes()))
                );
            }

            #[test]
            fn link_hashes_are_the_hash_of_their_json(
                digest in "[0-9a-f]{64}", prev in "[0-9a-f]{64}", seq in 1i64..(1i64 << 53)
            ) {
                let text = serde_json::json!({"digest": digest, "prevHash": prev, "seq": seq});
                let text = serde_json_canonicalizer::to_string(&text).unwrap();
                prop_assert_eq!(
                    link_hash(&digest, &prev, seq),
                    hex::encode(Sha256::digest(text.as_bytes()))
                );
            }
        }
    }
}
