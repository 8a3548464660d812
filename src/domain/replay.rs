//! What the ledger says the store holds: every entity rebuilt from the ledger's events alone,
//! in seq order. `check` compares the store with it field by field, and `import` builds a store
//! from it (an export's entity rows are only compared with it, never trusted).
//!
//! Each kind of event carries everything its entity holds: the id is the event's entity, the
//! creation time is the event's time, and a later event (a lifecycle step, a policy upsert, a
//! revocation) moves the entity on. Two things were not recorded by ledgers written before this
//! version, and are told apart from "none": an API key's hash, and a lifecycle step's metadata.

use super::apikey::ApiKey;
use super::ledger::LedgerEvent;
use super::payloads::{self, Payload};
use super::policy::InstitutionPolicy;
use super::{
    Asset, AssetTemplate, Balance, Institution, Position, PositionLifecycleEvent, PositionState,
};
use std::collections::HashMap;

/// An entity as its events left it, with the seq of the event that created it and of the last
/// one that changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<T> {
    pub created: i64,
    pub last: i64,
    pub value: T,
}

/// A lifecycle step as its event recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub seq: i64,
    pub event: PositionLifecycleEvent,
    /// False for a step written before the ledger recorded lifecycle metadata.
    pub metadata_recorded: bool,
}

/// An API key as its events left it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedKey {
    /// `key_hash` is empty when the ledger did not record it.
    pub key: ApiKey,
    pub hash_recorded: bool,
}

/// What one event did, as the store applies it (an import writes exactly these).
// One lives at a time, moved straight into a write: boxing the step would only add an
// allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Institution(Institution),
    Template(AssetTemplate),
    Asset(Asset),
    Position(Position),
    /// A lifecycle step: the position after it, the state and version it moved from, and the
    /// step.
    Step {
        position: Position,
        from: PositionState,
        from_version: i64,
        step: Step,
    },
    /// The policy as the upsert leaves it.
    Policy(InstitutionPolicy),
    Key(RecordedKey),
    Revoked {
        id: String,
        at: super::time::Timestamp,
    },
}

/// Something in the ledger that does not replay: an event of the wrong shape or out of order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub seq: i64,
    pub entity: String,
    pub what: String,
}

#[derive(Debug, Default)]
pub struct Replay {
    pub institutions: HashMap<String, Recorded<Institution>>,
    pub templates: HashMap<String, Recorded<AssetTemplate>>,
    pub assets: HashMap<String, Recorded<Asset>>,
    pub positions: HashMap<String, Recorded<Position>>,
    /// Lifecycle steps by position, in seq order.
    pub lifecycle: HashMap<String, Vec<Step>>,
    pub policies: HashMap<String, Recorded<InstitutionPolicy>>,
    pub keys: HashMap<String, Recorded<RecordedKey>>,
    pub problems: Vec<Problem>,
    /// Events replayed.
    pub events: u64,
}

fn recorded<T>(seq: i64, value: T) -> Recorded<T> {
    Recorded {
        created: seq,
        last: seq,
        value,
    }
}

impl Replay {
    /// Replays the next event (events must come in seq order); returns what it did, or None
    /// when it does not replay (a `Problem` says why).
    pub fn push(&mut self, e: &LedgerEvent) -> Option<Effect> {
        self.events += 1;
        let Some(payload) = e.typed() else {
            self.problem(e, format!("its payload does not read as {}", e.kind));
            return None;
        };
        let id = e.entity_id.clone();
        match payload {
            Payload::InstitutionCreated(c) => {
                let v = Institution {
                    id,
                    name: c.name,
                    regions: c.regions,
                    verticals: c.verticals,
                    created_at: e.at,
                    updated_at: e.at,
                };
                self.create(e, |r| &mut r.institutions, v.clone())
                    .then_some(Effect::Institution(v))
            }
            Payload::TemplateCreated(c) => {
                let v = AssetTemplate {
                    id,
                    institution_id: c.institution_id,
                    code: c.code,
                    name: c.name,
                    vertical: c.vertical,
                    region: c.region,
                    config: c.config,
                    created_at: e.at,
                    updated_at: e.at,
                };
                self.create(e, |r| &mut r.templates, v.clone())
                    .then_some(Effect::Template(v))
            }
            Payload::AssetCreated(c) => {
                let v = Asset {
                    id,
                    institution_id: c.institution_id,
                    template_id: c.template_id,
                    label: c.label,
                    metadata: c.metadata,
                    created_at: e.at,
                    updated_at: e.at,
                };
                self.create(e, |r| &mut r.assets, v.clone())
                    .then_some(Effect::Asset(v))
            }
            Payload::PositionCreated(c) => {
                if c.state != PositionState::Created {
                    self.problem(e, format!("a position created in state {}", c.state));
                    return None;
                }
                let v = Position {
                    id,
                    institution_id: c.institution_id,
                    asset_id: c.asset_id,
                    holder_reference: c.holder_reference,
                    currency: c.currency,
                    amount: c.amount,
                    state: c.state,
                    external_reference: c.external_reference,
                    version: 0,
                    released: Some(Balance::ZERO),
                    held: Some(c.amount.into()),
                    created_at: e.at,
                    updated_at: e.at,
                };
                self.create(e, |r| &mut r.positions, v.clone())
                    .then_some(Effect::Position(v))
            }
            Payload::PositionStateChanged(t) => self.step(e, id, t),
            Payload::PolicyUpserted(p) => {
                let other = self.policies.get(&id).is_some_and(|r| {
                    (r.value.institution_id.as_str(), r.value.region)
                        != (p.institution_id.as_str(), p.region)
                });
                if other {
                    self.problem(e, "an upsert of a policy of another institution or region");
                    return None;
                }
                let v = match self.policies.get_mut(&id) {
                    Some(r) => {
                        r.value.config = p.config;
                        r.value.updated_at = e.at;
                        r.last = e.seq;
                        r.value.clone()
                    }
                    None => {
                        let v = InstitutionPolicy {
                            id: id.clone(),
                            institution_id: p.institution_id,
                            region: p.region,
                            config: p.config,
                            created_at: e.at,
                            updated_at: e.at,
                        };
                        self.policies.insert(id, recorded(e.seq, v.clone()));
                        v
                    }
                };
                Some(Effect::Policy(v))
            }
            Payload::ApiKeyCreated(k) => {
                let v = RecordedKey {
                    hash_recorded: k.key_hash.is_some(),
                    key: ApiKey {
                        id,
                        institution_id: k.institution_id,
                        key_hash: k.key_hash.unwrap_or_default(),
                        label: k.label,
                        role: k.role,
                        created_at: e.at,
                        revoked_at: None,
                    },
                };
                self.create(e, |r| &mut r.keys, v.clone())
                    .then_some(Effect::Key(v))
            }
            Payload::ApiKeyRevoked(_) => match self.keys.get_mut(&id) {
                Some(k) if k.value.key.revoked_at.is_none() => {
                    k.value.key.revoked_at = Some(e.at);
                    k.last = e.seq;
                    Some(Effect::Revoked { id, at: e.at })
                }
                Some(_) => {
                    self.problem(e, "a key revoked a second time");
                    None
                }
                None => {
                    self.problem(e, "the revocation of a key never created");
                    None
                }
            },
        }
    }

    /// A lifecycle step: the position moves on (also when the step is out of order, so later
    /// steps are judged against what the ledger says), and the step is kept.
    fn step(&mut self, e: &LedgerEvent, id: String, t: payloads::Transition) -> Option<Effect> {
        let Some(p) = self.positions.get_mut(&id) else {
            self.problem(e, "a lifecycle step of a position never created");
            return None;
        };
        let (from, version) = (p.value.state, p.value.version);
        let (released, held) = super::lifecycle::recorded_balance(
            p.value.amount,
            p.value.released,
            t.to_state,
            t.held,
        );
        let over = match (t.held, p.value.released, released) {
            // A step that records its balance: what it says it moved must be the difference.
            (Some(_), Some(before), Some(after))
                if t.to_state != PositionState::Cancelled
                    && t.to_state != PositionState::Expired =>
            {
                let moved = t.amount.flatten();
                let diff = after.as_decimal() - before.as_decimal();
                (moved.map(|m| m.as_decimal()) != Some(diff)).then(|| {
                    format!(
                        "a step that says it moved {} where the balance moved {diff}",
                        moved.map_or("nothing".into(), |m| m.to_string())
                    )
                })
            }
            (Some(Some(h)), _, None) => Some(format!(
                "a step that leaves {h} held of an amount of {}",
                p.value.amount
            )),
            _ => None,
        };
        p.value.released = released;
        p.value.held = held;
        p.value.state = t.to_state;
        p.value.version = t.version;
        p.value.updated_at = e.at;
        p.last = e.seq;
        let position = p.value.clone();
        let step = Step {
            seq: e.seq,
            metadata_recorded: t.metadata.is_some(),
            event: PositionLifecycleEvent {
                id: t.lifecycle_event_id,
                position_id: id.clone(),
                from_state: t.from_state,
                to_state: t.to_state,
                reason: t.reason,
                at: e.at,
                metadata: t.metadata.flatten(),
                actor: Some(t.actor),
                amount: t.amount.flatten(),
                held: t.held.flatten(),
            },
        };
        self.lifecycle.entry(id).or_default().push(step.clone());
        let before = self.problems.len();
        if t.from_state != from {
            self.problem(
                e,
                format!("a step from {} when the replay is at {from}", t.from_state),
            );
        } else if !super::lifecycle::allowed_targets(from).contains(&t.to_state) {
            self.problem(e, format!("a step from {from} to {}", t.to_state));
        }
        if let Some(why) = over {
            self.problem(e, why);
        }
        if t.to_state == PositionState::Released && position.held != Some(Balance::ZERO) {
            self.problem(e, "a RELEASED position that still holds money");
        }
        if t.version != version + 1 {
            self.problem(
                e,
                format!("a step to version {} after version {version}", t.version),
            );
        }
        (self.problems.len() == before).then_some(Effect::Step {
            position,
            from,
            from_version: version,
            step,
        })
    }

    /// Records a created entity; false (and a problem) when it was created before.
    fn create<T>(
        &mut self,
        e: &LedgerEvent,
        map: impl FnOnce(&mut Self) -> &mut HashMap<String, Recorded<T>>,
        v: T,
    ) -> bool {
        let m = map(self);
        let first = m.get(&e.entity_id).map(|r| r.created);
        if first.is_none() {
            m.insert(e.entity_id.clone(), recorded(e.seq, v));
        }
        if let Some(first) = first {
            self.problem(e, format!("created a second time (first at seq {first})"));
        }
        first.is_none()
    }

    fn problem(&mut self, e: &LedgerEvent, what: impl Into<String>) {
        self.problems.push(Problem {
            seq: e.seq,
            entity: e.entity_id.clone(),
            what: what.into(),
        });
    }
}

/// The top-level fields in which two records' JSON forms differ (money, times and ids compared
/// as they are exported), in the order of `a`'s fields.
pub fn differing_fields<T: serde::Serialize>(a: &T, b: &T) -> Vec<String> {
    let (a, b) = (serde_json::to_value(a), serde_json::to_value(b));
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (a, b) else {
        return vec!["(the whole record)".into()];
    };
    let mut out: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::{GENESIS_HASH, LedgerDraft};
    use crate::domain::{EntityType, LedgerKind, time};
    use serde_json::json;

    fn chain(drafts: Vec<(LedgerKind, EntityType, &str, serde_json::Value)>) -> Vec<LedgerEvent> {
        let mut out: Vec<LedgerEvent> = Vec::new();
        for (kind, entity_type, id, payload) in drafts {
            let (seq, prev) = out
                .last()
                .map(|e| (e.seq, e.hash.clone()))
                .unwrap_or((0, GENESIS_HASH.into()));
            let d = LedgerDraft {
                id: None,
                kind,
                entity_type,
                entity_id: id.into(),
                institution_id: "inst_1".into(),
                position_id: (entity_type == EntityType::Position).then(|| id.to_string()),
                at: time::now(),
                payload: payload.into(),
            };
            out.push(d.seal(format!("led_{}", seq + 1), seq, &prev));
        }
        out
    }

    #[test]
    fn entities_are_rebuilt_from_their_events_and_out_of_order_steps_are_problems() {
        use LedgerKind as K;
        let created = json!({"institutionId": "inst_1", "assetId": "ast_1",
            "holderReference": "H", "currency": "USD", "amount": "10", "externalReference": null,
            "state": "CREATED", "actor": "root"});
        let step = |from: &str, to: &str, v: i64, meta: Option<serde_json::Value>| {
            let mut t = json!({"fromState": from, "toState": to, "reason": "r",
                "lifecycleEventId": format!("ple_{v}"), "version": v, "actor": "ak_1"});
            if let Some(m) = meta {
                t["metadata"] = m;
            }
            t
        };
        let events = chain(vec![
            (K::PositionCreated, EntityType::Position, "pos_1", created),
            (
                K::PositionStateChanged,
                EntityType::Position,
                "pos_1",
                step("CREATED", "FUNDED", 1, Some(json!(null))),
            ),
            (
                K::PositionStateChanged,
                EntityType::Position,
                "pos_1",
                step("FUNDED", "RELEASED", 2, None),
            ),
            (
                K::PositionStateChanged,
                EntityType::Position,
                "pos_1",
                step("FUNDED", "CANCELLED", 3, Some(json!({"n": 1}))),
            ),
            (
                K::ApiKeyCreated,
                EntityType::ApiKey,
                "ak_1",
                json!({"institutionId": "inst_1", "label": "l", "role": "admin", "actor": "root", "keyHash": "ab"}),
            ),
            (
                K::ApiKeyCreated,
                EntityType::ApiKey,
                "ak_2",
                json!({"institutionId": "inst_1", "label": "old", "role": "admin", "actor": "root"}),
            ),
            (
                K::ApiKeyRevoked,
                EntityType::ApiKey,
                "ak_1",
                json!({"institutionId": "inst_1", "label": "l", "role": "admin", "actor": "root"}),
            ),
        ]);
        let mut r = Replay::default();
        let effects: Vec<_> = events.iter().map(|e| r.push(e)).collect();
        assert!(matches!(
            &effects[1],
            Some(Effect::Step {
                from: PositionState::Created,
                from_version: 0,
                ..
            })
        ));
        assert!(effects[3].is_none(), "an out-of-order step has no effect");
        assert!(matches!(&effects[6], Some(Effect::Revoked { id, .. }) if id == "ak_1"));
        let p = &r.positions["pos_1"];
        assert_eq!(
            (p.value.state, p.value.version, p.created, p.last),
            (PositionState::Cancelled, 3, 1, 4)
        );
        assert_eq!(p.value.updated_at, events[3].at);
        let steps = &r.lifecycle["pos_1"];
        assert_eq!(steps.len(), 3);
        assert!(steps[0].metadata_recorded && steps[0].event.metadata.is_none());
        assert!(!steps[1].metadata_recorded, "absent: not recorded");
        assert_eq!(steps[2].event.metadata, Some(json!({"n": 1})));
        assert_eq!(steps[2].event.actor.as_deref(), Some("ak_1"));
        assert_eq!(
            r.problems,
            vec![Problem {
                seq: 4,
                entity: "pos_1".into(),
                what: "a step from FUNDED when the replay is at RELEASED".into()
            }]
        );
        let k1 = &r.keys["ak_1"].value;
        assert!(
            k1.hash_recorded && k1.key.key_hash == "ab" && k1.key.revoked_at == Some(events[6].at)
        );
        assert!(!r.keys["ak_2"].value.hash_recorded);
    }

    #[test]
    fn differing_fields_are_named() {
        let a = json!({"a": 1, "b": "x", "c": [1]});
        let b = json!({"a": 1, "b": "y", "d": true});
        assert_eq!(differing_fields(&a, &b), vec!["b", "c", "d"]);
        assert!(differing_fields(&a, &a).is_empty());
    }
}
