//! What each kind of ledger event says, as types. The service writes a payload from these (so a
//! kind's payload has one definition), and readers — the CLI's event lines, the console's ledger
//! detail, the positions table kept current by the stream — read it through `LedgerEvent::typed`
//! instead of by string key. A write carries its payload as canonical text (`Payload::canonical`,
//! names sorted), which its ledger event and its audit record share; `to_value` gives the fields
//! in the order they are declared.

use super::json::{
    CanonicalJson, canonical_value, write_integer, write_json_string, write_opt_json_string,
};
use super::ledger::LedgerEvent;
use super::policy::PolicyConfig;
use super::{
    Balance, Currency, LedgerKind, Money, PositionState, Region, Role, TemplateCode, Vertical,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstitutionCreated {
    pub name: String,
    pub regions: Vec<Region>,
    pub verticals: Vec<Vertical>,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateCreated {
    pub institution_id: String,
    pub code: TemplateCode,
    pub name: String,
    pub vertical: Vertical,
    pub region: Region,
    pub config: Value,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetCreated {
    pub institution_id: String,
    pub template_id: String,
    pub label: String,
    pub metadata: Value,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionCreated {
    pub institution_id: String,
    pub asset_id: String,
    pub holder_reference: String,
    pub currency: Currency,
    pub amount: Money,
    pub external_reference: Option<String>,
    pub state: PositionState,
    pub actor: String,
}

/// A position's lifecycle step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub from_state: PositionState,
    pub to_state: PositionState,
    pub reason: Option<String>,
    pub lifecycle_event_id: String,
    /// The position's version after the step.
    pub version: i64,
    pub actor: String,
    /// The step's metadata: `null` when it had none. Absent (None) in events written before
    /// the ledger recorded it: "not recorded", which is not the same as none.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Option<Value>>,
    /// The money the step moved: released to the beneficiary (PARTIALLY_RELEASED, RELEASED) or
    /// returned (CANCELLED, EXPIRED after funding); zero for FUNDED. `null` when it is not known
    /// (a position whose earlier partial releases were recorded without amounts); absent (None)
    /// in events written before steps carried amounts.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub amount: Option<Option<Balance>>,
    /// What the position holds after the step (its amount less everything released); `null`
    /// when not known, absent in events written before steps carried amounts.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub held: Option<Option<Balance>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyUpserted {
    pub institution_id: String,
    pub region: Region,
    pub config: PolicyConfig,
    pub actor: String,
}

/// An API key created or revoked (the token is never in the ledger).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyChange {
    pub institution_id: String,
    pub label: String,
    pub role: Role,
    pub actor: String,
    /// A created key's hash (the SHA-256 of its random token: no secret), so the key a store
    /// holds can be checked against the ledger. None on revocations, and on keys created before
    /// the ledger recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hash: Option<String>,
}

/// `"name":`, after a comma unless first.
fn field(out: &mut String, name: &str, first: bool) {
    if !first {
        out.push(',');
    }
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
}

// The two payloads written on every position write are written as canonical text directly, names
// in sorted order: no tree of values is built to be sorted and thrown away. A test holds each
// equal to the canonical text of what serde writes.

impl PositionCreated {
    fn canonical(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push('{');
        field(&mut out, "actor", true);
        write_json_string(&mut out, &self.actor);
        field(&mut out, "amount", false);
        write_json_string(&mut out, &self.amount.to_string());
        field(&mut out, "assetId", false);
        write_json_string(&mut out, &self.asset_id);
        field(&mut out, "currency", false);
        write_json_string(&mut out, self.currency.as_str());
        field(&mut out, "externalReference", false);
        write_opt_json_string(&mut out, self.external_reference.as_deref());
        field(&mut out, "holderReference", false);
        write_json_string(&mut out, &self.holder_reference);
        field(&mut out, "institutionId", false);
        write_json_string(&mut out, &self.institution_id);
        field(&mut out, "state", false);
        write_json_string(&mut out, self.state.as_str());
        out.push('}');
        out
    }
}

impl Transition {
    fn canonical(&self) -> String {
        let balance = |out: &mut String, b: &Option<Balance>| {
            write_opt_json_string(out, b.map(|b| b.to_string()).as_deref())
        };
        let mut out = String::with_capacity(256);
        out.push('{');
        field(&mut out, "actor", true);
        write_json_string(&mut out, &self.actor);
        if let Some(amount) = &self.amount {
            field(&mut out, "amount", false);
            balance(&mut out, amount);
        }
        field(&mut out, "fromState", false);
        write_json_string(&mut out, self.from_state.as_str());
        if let Some(held) = &self.held {
            field(&mut out, "held", false);
            balance(&mut out, held);
        }
        field(&mut out, "lifecycleEventId", false);
        write_json_string(&mut out, &self.lifecycle_event_id);
        if let Some(metadata) = &self.metadata {
            field(&mut out, "metadata", false);
            match metadata {
                Some(m) => out.push_str(&canonical_value(m)),
                None => out.push_str("null"),
            }
        }
        field(&mut out, "reason", false);
        write_opt_json_string(&mut out, self.reason.as_deref());
        field(&mut out, "toState", false);
        write_json_string(&mut out, self.to_state.as_str());
        field(&mut out, "version", false);
        write_integer(&mut out, self.version);
        out.push('}');
        out
    }
}

/// A field that is present (even as `null`) reads as `Some`; an absent one stays `None`
/// through `#[serde(default)]`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A ledger event's payload, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    InstitutionCreated(InstitutionCreated),
    TemplateCreated(TemplateCreated),
    AssetCreated(AssetCreated),
    PositionCreated(PositionCreated),
    PositionStateChanged(Transition),
    PolicyUpserted(PolicyUpserted),
    ApiKeyCreated(ApiKeyChange),
    ApiKeyRevoked(ApiKeyChange),
}

impl Payload {
    /// The payload as the canonical text written into the ledger event and the audit record.
    pub fn canonical(&self) -> CanonicalJson {
        match self {
            Payload::PositionCreated(p) => CanonicalJson::from_canonical(p.canonical()),
            Payload::PositionStateChanged(t) => CanonicalJson::from_canonical(t.canonical()),
            _ => CanonicalJson::of(&self.to_value()),
        }
    }

    /// The payload as a JSON value, its fields in the order they are declared.
    pub fn to_value(&self) -> Value {
        let v = match self {
            Payload::InstitutionCreated(p) => serde_json::to_value(p),
            Payload::TemplateCreated(p) => serde_json::to_value(p),
            Payload::AssetCreated(p) => serde_json::to_value(p),
            Payload::PositionCreated(p) => serde_json::to_value(p),
            Payload::PositionStateChanged(p) => serde_json::to_value(p),
            Payload::PolicyUpserted(p) => serde_json::to_value(p),
            Payload::ApiKeyCreated(p) | Payload::ApiKeyRevoked(p) => serde_json::to_value(p),
        };
        v.expect("payloads serialise")
    }

    pub fn kind(&self) -> LedgerKind {
        match self {
            Payload::InstitutionCreated(_) => LedgerKind::InstitutionCreated,
            Payload::TemplateCreated(_) => LedgerKind::TemplateCreated,
            Payload::AssetCreated(_) => LedgerKind::AssetCreated,
            Payload::PositionCreated(_) => LedgerKind::PositionCreated,
            Payload::PositionStateChanged(_) => LedgerKind::PositionStateChanged,
            Payload::PolicyUpserted(_) => LedgerKind::PolicyUpserted,
            Payload::ApiKeyCreated(_) => LedgerKind::ApiKeyCreated,
            Payload::ApiKeyRevoked(_) => LedgerKind::ApiKeyRevoked,
        }
    }
}

impl LedgerEvent {
    /// The payload as its kind's type; None when it does not read as one (written by something
    /// else, or edited: `ledger verify` says which).
    pub fn typed(&self) -> Option<Payload> {
        let p = self.payload.clone();
        let typed = match self.kind {
            LedgerKind::InstitutionCreated => Payload::InstitutionCreated(from(p)?),
            LedgerKind::TemplateCreated => Payload::TemplateCreated(from(p)?),
            LedgerKind::AssetCreated => Payload::AssetCreated(from(p)?),
            LedgerKind::PositionCreated => Payload::PositionCreated(from(p)?),
            LedgerKind::PositionStateChanged => Payload::PositionStateChanged(from(p)?),
            LedgerKind::PolicyUpserted => Payload::PolicyUpserted(from(p)?),
            LedgerKind::ApiKeyCreated => Payload::ApiKeyCreated(from(p)?),
            LedgerKind::ApiKeyRevoked => Payload::ApiKeyRevoked(from(p)?),
        };
        Some(typed)
    }

    /// The lifecycle step, if this event is one.
    pub fn transition(&self) -> Option<Transition> {
        match self.typed()? {
            Payload::PositionStateChanged(t) => Some(t),
            _ => None,
        }
    }

    /// One line saying what happened, for the CLI's event lines (`FUNDED -> RELEASED "reason"`,
    /// `1250.5 USD`, a name, label or region); empty when the payload does not read.
    pub fn summary(&self) -> String {
        match self.typed() {
            Some(Payload::PositionStateChanged(t)) => format!(
                "{} -> {}{}",
                t.from_state,
                t.to_state,
                t.reason.map(|r| format!("  \"{r}\"")).unwrap_or_default()
            ),
            Some(Payload::PositionCreated(p)) => format!("{} {}", p.amount, p.currency),
            Some(Payload::InstitutionCreated(p)) => p.name,
            Some(Payload::TemplateCreated(p)) => p.name,
            Some(Payload::AssetCreated(p)) => p.label,
            Some(Payload::ApiKeyCreated(p) | Payload::ApiKeyRevoked(p)) => p.label,
            Some(Payload::PolicyUpserted(p)) => p.region.to_string(),
            None => String::new(),
        }
    }
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> Option<T> {
    serde_json::from_value(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::LedgerDraft;
    use crate::domain::{EntityType, time};
    use serde_json::json;

    fn event(kind: LedgerKind, payload: Value) -> LedgerEvent {
        LedgerDraft {
            id: None,
            kind,
            entity_type: EntityType::Position,
            entity_id: "pos_1".into(),
            institution_id: "inst_1".into(),
            position_id: Some("pos_1".into()),
            at: time::now(),
            payload: payload.into(),
        }
        .seal("led_1".into(), 0, crate::domain::ledger::GENESIS_HASH)
    }

    /// The JSON the service wrote before these types existed reads back as them, and writes
    /// back the same: chains written earlier keep their meaning and their hashes.
    #[test]
    fn payloads_read_and_write_the_json_already_in_ledgers() {
        let old_transition = json!({
            "fromState": "FUNDED", "toState": "RELEASED", "reason": "Works complete",
            "lifecycleEventId": "ple_1", "version": 3, "actor": "local:alice",
        });
        let e = event(LedgerKind::PositionStateChanged, old_transition.clone());
        let t = e.transition().expect("reads as a transition");
        assert_eq!(
            (t.from_state, t.to_state, t.version),
            (PositionState::Funded, PositionState::Released, 3)
        );
        assert_eq!(e.summary(), "FUNDED -> RELEASED  \"Works complete\"");
        assert_eq!(e.typed().unwrap().to_value(), old_transition);

        let old_create = json!({
            "institutionId": "inst_1", "assetId": "ast_1", "holderReference": "H-1",
            "currency": "USD", "amount": "1250.5", "externalReference": null,
            "state": "CREATED", "actor": "local:alice",
        });
        let e = event(LedgerKind::PositionCreated, old_create.clone());
        assert_eq!(e.summary(), "1250.5 USD");
        assert_eq!(e.typed().unwrap().to_value(), old_create);
        assert!(e.transition().is_none());
        let text = serde_json::to_string(&e.typed().unwrap().to_value()).unwrap();
        assert!(
            text.starts_with("{\"institutionId\""),
            "written in the old order: {text}"
        );

        let old_key =
            json!({"institutionId": "inst_1", "label": "ops", "role": "admin", "actor": "root"});
        let e = event(LedgerKind::ApiKeyRevoked, old_key.clone());
        assert_eq!(e.summary(), "ops");
        assert_eq!(e.typed().unwrap().kind(), LedgerKind::ApiKeyRevoked);
        assert_eq!(e.typed().unwrap().to_value(), old_key);
    }

    /// The payloads written as canonical text directly are the canonical text of what serde
    /// writes, with every optional field present, absent and null.
    #[test]
    fn payloads_written_directly_are_the_canonical_text_of_serdes() {
        let canonical_of_serde = |p: &Payload| {
            let v = match p {
                Payload::PositionCreated(p) => serde_json::to_value(p),
                Payload::PositionStateChanged(t) => serde_json::to_value(t),
                _ => unreachable!(),
            };
            CanonicalJson::of(&v.unwrap())
        };
        let created = PositionCreated {
            institution_id: "inst_1".into(),
            asset_id: "ast_1".into(),
            holder_reference: "H \"1\"".into(),
            currency: crate::domain::Currency::Eur,
            amount: Money::parse("1250.50").unwrap(),
            external_reference: Some("X-9".into()),
            state: PositionState::Created,
            actor: "local:alice".into(),
        };
        for ext in [Some("X-9".to_string()), None] {
            let p = PositionCreated {
                external_reference: ext,
                ..created.clone()
            };
            let p = Payload::PositionCreated(p);
            assert_eq!(p.canonical(), canonical_of_serde(&p));
        }
        let t = Transition {
            from_state: PositionState::Funded,
            to_state: PositionState::PartiallyReleased,
            reason: Some("half".into()),
            lifecycle_event_id: "ple_1".into(),
            version: 2,
            actor: "root".into(),
            metadata: None,
            amount: Some(Some(Balance::parse("250").unwrap())),
            held: Some(None),
        };
        let amounts = [None, Some(None), Some(Some(Balance::parse("250").unwrap()))];
        for (reason, metadata) in [
            (Some("half \u{1}\"é\"".to_string()), None),
            (None, Some(None)),
            (
                None,
                Some(Some(json!({"b": [1, 2.5, 1e300], "a": "x", "é": null}))),
            ),
        ] {
            for (amount, held) in amounts.iter().zip(amounts.iter().rev()) {
                let t = Payload::PositionStateChanged(Transition {
                    reason: reason.clone(),
                    metadata: metadata.clone(),
                    amount: *amount,
                    held: *held,
                    ..t.clone()
                });
                assert_eq!(t.canonical(), canonical_of_serde(&t));
            }
        }
    }

    #[test]
    fn a_payload_that_does_not_read_has_no_typed_view() {
        let e = event(
            LedgerKind::PositionStateChanged,
            json!({"toState": "NOWHERE"}),
        );
        assert!(e.typed().is_none());
        assert!(e.transition().is_none());
        assert_eq!(e.summary(), "");
    }
}
