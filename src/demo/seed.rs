//! The demo data set (`assets/demo.json`, embedded in the binary): institutions in every region
//! and vertical, templates of all four codes, assets, policies, and generated positions spread
//! over every state with plausible histories. Everything goes through the service, so the ledger
//! and audit trail are complete and verifiable.

use crate::domain::{Money, PositionState, lifecycle};
use crate::service::{
    Actor, NewAsset, NewInstitution, NewPosition, NewTemplate, PolicyInput, ServiceError,
    ServiceResult, TransitionRequest,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const DEMO_JSON: &str = include_str!("../../assets/demo.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Demo {
    institutions: Vec<DemoInstitution>,
    holders: Vec<String>,
    reasons: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoInstitution {
    name: String,
    regions: Vec<String>,
    verticals: Vec<String>,
    policies: Vec<DemoPolicy>,
    templates: Vec<DemoTemplate>,
    assets: Vec<DemoAsset>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoPolicy {
    region: String,
    min_amount: Option<String>,
    max_amount: Option<String>,
    allowed_currencies: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoTemplate {
    key: String,
    code: String,
    name: String,
    vertical: String,
    region: String,
    config: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoAsset {
    template: String,
    label: String,
    metadata: Value,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedReport {
    pub institutions: usize,
    pub templates: usize,
    pub assets: usize,
    pub policies: usize,
    pub positions: usize,
    pub transitions: usize,
}

/// Where a generated position may go: assets with the limits that apply to them.
#[derive(Clone)]
pub struct AssetSlot {
    pub institution_id: String,
    pub asset_id: String,
    pub currency: String,
    pub min: Decimal,
    pub max: Decimal,
}

/// The demo's holders and reasons, for the simulator too.
pub struct Vocabulary {
    holders: Vec<String>,
    reasons: BTreeMap<String, Vec<String>>,
}

impl Vocabulary {
    pub fn demo() -> Self {
        let d: Demo = serde_json::from_str(DEMO_JSON).expect("assets/demo.json is valid");
        Vocabulary {
            holders: d.holders,
            reasons: d.reasons,
        }
    }

    pub fn reason(&self, rng: &mut impl Rng, to: PositionState) -> Option<String> {
        let list = self.reasons.get(to.as_str())?;
        Some(list[rng.random_range(0..list.len())].clone())
    }

    pub fn new_position(&self, rng: &mut impl Rng, slot: &AssetSlot) -> NewPosition {
        let holder = &self.holders[rng.random_range(0..self.holders.len())];
        // Log-uniform between the limits, rounded to cents.
        let lo = slot
            .min
            .max(Decimal::ONE)
            .to_string()
            .parse::<f64>()
            .unwrap_or(1.0)
            .ln();
        let hi = slot.max.to_string().parse::<f64>().unwrap_or(1e6).ln();
        let x = (lo + rng.random::<f64>() * (hi - lo)).exp();
        let cents = (x * 100.0).round() as i64;
        let amount = Decimal::new(cents, 2).clamp(slot.min.max(Decimal::new(1, 2)), slot.max);
        NewPosition {
            institution_id: Some(slot.institution_id.clone()),
            asset_id: slot.asset_id.clone(),
            holder_reference: format!("{holder}-{:04}", rng.random_range(1..10000)),
            currency: slot.currency.clone(),
            amount: Money::from_decimal(amount)
                .map(|m| m.to_string())
                .unwrap_or_else(|_| "1000".into()),
            external_reference: rng
                .random_bool(0.7)
                .then(|| format!("INV-2026-{:05}", rng.random_range(1..100000))),
        }
    }
}

fn dec(s: &Option<String>) -> Option<Decimal> {
    s.as_deref().and_then(|v| v.parse().ok())
}

/// A partial release of a plausible part (10–40%, to the cent) of what a position holds; None
/// when what it holds is not known or too little to split.
pub fn partial_release(rng: &mut impl Rng, held: Option<crate::domain::Balance>) -> Option<String> {
    let h = held?.as_decimal();
    let part = Decimal::from(rng.random_range(10..=40u32)) / Decimal::from(100);
    let x = (h * part).round_dp(2);
    (x > Decimal::ZERO && x < h).then(|| x.normalize().to_string())
}

/// A plausible path of states from CREATED to a chosen final state.
pub fn history(rng: &mut impl Rng) -> Vec<PositionState> {
    use PositionState::*;
    let roll = rng.random_range(0..100);
    let partials = |rng: &mut dyn rand::RngCore, max: u32| {
        let n = rng.random_range(0..=max);
        vec![PartiallyReleased; n as usize]
    };
    let mut path = Vec::new();
    match roll {
        0..=11 => {}
        12..=29 => path.push(Funded),
        30..=44 => {
            path.push(Funded);
            path.push(PartiallyReleased);
            path.extend(partials(rng, 2));
        }
        45..=74 => {
            path.push(Funded);
            path.extend(partials(rng, 3));
            path.push(Released);
        }
        75..=88 => {
            if rng.random_bool(0.5) {
                path.push(Funded);
                path.extend(partials(rng, 1));
            }
            path.push(Cancelled);
        }
        _ => {
            if rng.random_bool(0.4) {
                path.push(Funded);
            }
            path.push(Expired);
        }
    }
    path
}

/// Loads the demo set through the service. Refuses a database that already holds data unless
/// `force` is set.
pub async fn load_demo(
    svc: &dyn crate::service::api::Api,
    actor: &Actor,
    positions: u32,
    seed: u64,
    force: bool,
) -> ServiceResult<SeedReport> {
    let existing = svc.counts(actor).await?;
    if existing.institutions > 0 && !force {
        return Err(ServiceError::field(
            "seed",
            format!(
                "the database already holds {} institutions; the demo set loads only into an empty database (add --force to load it anyway)",
                existing.institutions
            ),
        ));
    }
    let demo: Demo = serde_json::from_str(DEMO_JSON)
        .map_err(|e| ServiceError::Internal(format!("assets/demo.json: {e}")))?;
    let mut report = SeedReport::default();
    let mut slots: Vec<AssetSlot> = Vec::new();
    for di in &demo.institutions {
        let inst = svc
            .create_institution(
                actor,
                NewInstitution {
                    name: di.name.clone(),
                    regions: di.regions.clone(),
                    verticals: di.verticals.clone(),
                },
            )
            .await?;
        report.institutions += 1;
        for p in &di.policies {
            svc.set_policy(
                actor,
                PolicyInput {
                    institution_id: Some(inst.id.clone()),
                    region: p.region.clone(),
                    min_amount: p.min_amount.clone(),
                    max_amount: p.max_amount.clone(),
                    allowed_currencies: p.allowed_currencies.clone(),
                    max_release_amount: None,
                },
            )
            .await?;
            report.policies += 1;
        }
        let mut templates = BTreeMap::new();
        for dt in &di.templates {
            let t = svc
                .create_template(
                    actor,
                    NewTemplate {
                        institution_id: Some(inst.id.clone()),
                        code: dt.code.clone(),
                        name: dt.name.clone(),
                        vertical: dt.vertical.clone(),
                        region: dt.region.clone(),
                        config: dt.config.clone(),
                    },
                )
                .await?;
            report.templates += 1;
            templates.insert(dt.key.clone(), (t, dt));
        }
        for da in &di.assets {
            let (t, dt) = templates.get(&da.template).ok_or_else(|| {
                ServiceError::Internal(format!("demo asset names unknown template {}", da.template))
            })?;
            let a = svc
                .create_asset(
                    actor,
                    NewAsset {
                        institution_id: Some(inst.id.clone()),
                        template_id: t.id.clone(),
                        label: da.label.clone(),
                        metadata: Some(da.metadata.clone()),
                    },
                )
                .await?;
            report.assets += 1;
            let policy = di.policies.iter().find(|p| p.region == dt.region);
            let mut min = dec(&dt
                .config
                .get("minAmount")
                .and_then(|v| v.as_str())
                .map(String::from))
            .unwrap_or(Decimal::new(1000, 0));
            let mut max = dec(&dt
                .config
                .get("maxAmount")
                .and_then(|v| v.as_str())
                .map(String::from))
            .unwrap_or(Decimal::new(5_000_000, 0));
            if let Some(p) = policy {
                min = min.max(dec(&p.min_amount).unwrap_or(min));
                max = max.min(dec(&p.max_amount).unwrap_or(max));
            }
            slots.push(AssetSlot {
                institution_id: inst.id.clone(),
                asset_id: a.id,
                currency: dt.config["currency"].as_str().unwrap_or("USD").to_string(),
                min,
                max,
            });
        }
    }
    let vocab = Vocabulary {
        holders: demo.holders,
        reasons: demo.reasons,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..positions {
        let slot = &slots[rng.random_range(0..slots.len())];
        let p = svc
            .create_position(actor, vocab.new_position(&mut rng, slot))
            .await?;
        report.positions += 1;
        let (mut state, mut held) = (p.state, p.held);
        for to in history(&mut rng) {
            debug_assert!(lifecycle::allowed_targets(state).contains(&to));
            let amount = match to {
                PositionState::PartiallyReleased => match partial_release(&mut rng, held) {
                    Some(a) => Some(a),
                    None => continue,
                },
                _ => None,
            };
            let o = svc
                .transition_position(
                    actor,
                    &p.id,
                    TransitionRequest {
                        to: to.as_str().into(),
                        reason: vocab.reason(&mut rng, to),
                        amount,
                        ..Default::default()
                    },
                )
                .await?;
            (state, held) = (to, o.position.held);
            report.transitions += 1;
        }
    }
    Ok(report)
}

/// Asset slots of an existing database (for the simulator).
pub async fn slots_of(
    svc: &dyn crate::service::api::Api,
    actor: &Actor,
) -> ServiceResult<Vec<AssetSlot>> {
    let mut out = Vec::new();
    let assets = svc
        .list_assets(actor, None, None, crate::service::Page::first(1000))
        .await?;
    for a in assets {
        let t = svc.get_template(actor, &a.template_id).await?;
        let limits = crate::domain::template::TemplateLimits::from_config(t.code, &t.config);
        let policy = svc
            .get_policy(actor, &a.institution_id, t.region)
            .await?
            .map(|p| p.config.position);
        let mut min = limits
            .min_amount
            .map(|m| m.as_decimal())
            .unwrap_or(Decimal::new(1000, 0));
        let mut max = limits
            .max_amount
            .map(|m| m.as_decimal())
            .unwrap_or(Decimal::new(5_000_000, 0));
        let mut currency = limits.currency;
        if let Some(p) = &policy {
            if let Some(m) = p.min_amount {
                min = min.max(m.as_decimal());
            }
            if let Some(m) = p.max_amount {
                max = max.min(m.as_decimal());
            }
            if let Some(allowed) = &p.allowed_currencies {
                match currency {
                    Some(c) if !allowed.contains(&c) => continue,
                    None => currency = allowed.first().copied(),
                    _ => {}
                }
            }
        }
        if min > max {
            continue;
        }
        out.push(AssetSlot {
            institution_id: a.institution_id,
            asset_id: a.id,
            currency: currency.map(|c| c.as_str()).unwrap_or("USD").to_string(),
            min,
            max,
        });
    }
    Ok(out)
}
