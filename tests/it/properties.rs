//! Property tests over every service input: whatever a caller sends — valid, nearly valid, or
//! arbitrary text with control characters, huge numbers and foreign ids — the service either does
//! it or refuses it as the caller's mistake (a field error, not found, a refused transition), and
//! a refusal changes nothing: the ledger head stays where it was; and after every write that is
//! done, `check` finds the store agreeing with its ledger. Each runs on the memory store and on
//! SQLite. (The money parser has its own properties in `domain::money`.)

use crate::common::{Fixture, Harness};
use escrowgrid::service::{
    NewAsset, NewInstitution, NewPosition, NewTemplate, PolicyInput, ServiceError, ServiceResult,
    TransitionRequest,
};
use escrowgrid::store::Backend;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// Text of every kind: empty, plain, padded, control characters, long, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9 _-]{1,40}",
        "\\PC{0,60}",
        ".{0,20}",
        "[ \t\n\u{1b}\u{7}\u{202e}]{1,5}[a-z]{0,5}",
        "[a-z]{250,300}",
    ]
}

/// One of `valid`, or any text.
fn one_of(valid: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(valid).prop_map(str::to_string),
        1 => text(),
    ]
}

fn amount() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,6}(\\.[0-9]{1,2})?",
        "-?[0-9]{0,20}(\\.[0-9]{0,12})?",
        "[0-9]e[0-9]",
        "1,000\\.00",
        text(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                one_of(&["currency", "region", "maxTenorDays", "onchain", "x"]),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const REGIONS: &[&str] = &["US", "EU_UK", "SG", "UAE", "us"];
const VERTICALS: &[&str] = &["CONSTRUCTION", "TRADE_FINANCE", "construction"];
const CODES: &[&str] = &["CONSTR_ESCROW", "CONSTR_RETAINAGE", "TF_INVOICE", "TF_LC"];
const CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "SGD", "AED", "usd", "XXX"];
const STATES: &[&str] = &[
    "CREATED",
    "FUNDED",
    "PARTIALLY_RELEASED",
    "RELEASED",
    "CANCELLED",
    "EXPIRED",
];

/// Runs one call: it succeeds and `check` stays clean, or it is the caller's mistake and the
/// ledger did not move.
fn holds<T>(
    rt: &tokio::runtime::Runtime,
    h: &Harness,
    call: impl AsyncFnOnce() -> ServiceResult<T>,
) -> Result<(), TestCaseError> {
    rt.block_on(async {
        let before = h.store.ledger_head().await.unwrap();
        match call().await {
            Ok(_) => {
                let r = h.svc.check(&h.actor).await.unwrap();
                prop_assert!(r.ok, "an accepted write breaks check: {:#?}", r.findings);
                Ok(())
            }
            Err(e) => {
                let callers_mistake = matches!(
                    e,
                    ServiceError::Validation(_)
                        | ServiceError::NotFound { .. }
                        | ServiceError::InvalidTransition { .. }
                        | ServiceError::Conflict { .. }
                );
                prop_assert!(callers_mistake, "not the caller's mistake: {e:?}");
                if let ServiceError::Validation(f) = &e {
                    prop_assert!(!f.is_empty(), "a validation error names its fields");
                }
                let after = h.store.ledger_head().await.unwrap();
                prop_assert_eq!(before, after, "a refusal wrote something: {:?}", e);
                Ok(())
            }
        }
    })
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    })
}

struct World {
    rt: tokio::runtime::Runtime,
    h: Harness,
    f: Fixture,
    position: String,
}

fn world(backend: Backend) -> World {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (h, f, position) = rt.block_on(async {
        let h = Harness::new(backend).await.unwrap();
        let f = h.fixture().await;
        let p = h.position(&f, "HOLDER-1", "1000").await;
        (h, f, p.id)
    });
    World { rt, h, f, position }
}

#[test]
fn any_institution_input() {
    for backend in [Backend::Memory, Backend::Sqlite] {
        let w = world(backend);
        let input = (
            text(),
            proptest::collection::vec(one_of(REGIONS), 0..4),
            proptest::collection::vec(one_of(VERTICALS), 0..3),
        );
        runner()
            .run(&input, |(name, regions, verticals)| {
                let i = NewInstitution {
                    name,
                    regions,
                    verticals,
                };
                holds(&w.rt, &w.h, async || {
                    w.h.svc.create_institution(&w.h.actor, i).await
                })
            })
            .unwrap();
    }
}

#[test]
fn any_template_input() {
    for backend in [Backend::Memory, Backend::Sqlite] {
        let w = world(backend);
        let inst: &'static str = Box::leak(w.f.institution.clone().into_boxed_str());
        let ids: &'static [&'static str] =
            Box::leak(vec![inst, "inst_nope", ""].into_boxed_slice());
        let config = prop_oneof![
            json_value(),
            Just(json!({"currency":"USD","region":"US"})),
            Just(json!({"currency":"EUR","issuingBankCountry":"DE","maxTenorDays":90})),
        ];
        let input = (
            proptest::option::of(one_of(ids)),
            one_of(CODES),
            text(),
            one_of(VERTICALS),
            one_of(REGIONS),
            config,
        );
        runner()
            .run(
                &input,
                |(institution_id, code, name, vertical, region, config)| {
                    let t = NewTemplate {
                        institution_id,
                        code,
                        name,
                        vertical,
                        region,
                        config,
                    };
                    holds(&w.rt, &w.h, async || {
                        w.h.svc.create_template(&w.h.actor, t).await
                    })
                },
            )
            .unwrap();
    }
}

#[test]
fn any_asset_input() {
    for backend in [Backend::Memory, Backend::Sqlite] {
        let w = world(backend);
        let inst: &'static str = Box::leak(w.f.institution.clone().into_boxed_str());
        let tmpl: &'static str = Box::leak(w.f.template.clone().into_boxed_str());
        let insts: &'static [&'static str] = Box::leak(vec![inst, "inst_nope"].into_boxed_slice());
        let tmpls: &'static [&'static str] =
            Box::leak(vec![tmpl, "tmpl_nope", ""].into_boxed_slice());
        let input = (
            proptest::option::of(one_of(insts)),
            one_of(tmpls),
            text(),
            proptest::option::of(json_value()),
        );
        runner()
            .run(&input, |(institution_id, template_id, label, metadata)| {
                let a = NewAsset {
                    institution_id,
                    template_id,
                    label,
                    metadata,
                };
                holds(&w.rt, &w.h, async || {
                    w.h.svc.create_asset(&w.h.actor, a).await
                })
            })
            .unwrap();
    }
}

#[test]
fn any_position_input() {
    for backend in [Backend::Memory, Backend::Sqlite] {
        let w = world(backend);
        let asset: &'static str = Box::leak(w.f.asset.clone().into_boxed_str());
        let assets: &'static [&'static str] =
            Box::leak(vec![asset, "ast_nope", ""].into_boxed_slice());
        let input = (
            one_of(assets),
            text(),
            one_of(CURRENCIES),
            amount(),
            proptest::option::of(text()),
        );
        runner()
            .run(
                &input,
                |(asset_id, holder_reference, currency, amount, external_reference)| {
                    let p = NewPosition {
                        institution_id: None,
                        asset_id,
                        holder_reference,
                        currency,
                        amount,
                        external_reference,
                    };
                    holds(&w.rt, &w.h, async || {
                        w.h.svc.create_position(&w.h.actor, p).await
                    })
                },
            )
            .unwrap();
    }
}

#[test]
fn any_transition_input() {
    for backend in [Backend::Memory, Backend::Sqlite] {
        let w = world(backend);
        let pos: &'static str = Box::leak(w.position.clone().into_boxed_str());
        let ids: &'static [&'static str] = Box::leak(vec![pos, "pos_nope", ""].into_boxed_slice());
        let input = (
            one_of(ids),
            one_of(STATES),
            proptest::option::of(text()),
            proptest::option::of(one_of(STATES)),
            proptest::option::of(-2i64..5),
            proptest::option::of(json_value()),
            proptest::option::of(amount()),
        );
        runner()
            .run(
                &input,
                |(id, to, reason, expect_state, expect_version, metadata, amount)| {
                    let r = TransitionRequest {
                        to,
                        reason,
                        expect_state,
                        expect_version,
                        metadata,
                        amount,
                    };
                    holds(&w.rt, &w.h, async || {
                        w.h.svc.transition_position(&w.h.actor, &id, r).await
                    })?;
                    // Whatever was accepted: held is the amount less the sum of the releases
                    // the position's lifecycle records.
                    let d =
                        w.rt.block_on(w.h.svc.position_detail(&w.h.actor, pos))
                            .unwrap();
                    let p = &d.position;
                    let released: rust_decimal::Decimal = d
                        .events
                        .iter()
                        .filter(|e| {
                            matches!(
                                e.to_state,
                                escrowgrid::domain::PositionState::PartiallyReleased
                                    | escrowgrid::domain::PositionState::Released
                            )
                        })
                        .filter_map(|e| e.amount.map(|a| a.as_decimal()))
                        .sum();
                    prop_assert_eq!(p.released.map(|r| r.as_decimal()), Some(released));
                    prop_assert_eq!(
                        p.held.map(|h| h.as_decimal()),
                        Some(p.amount.as_decimal() - released)
                    );
                    Ok(())
                },
            )
            .unwrap();
    }
}

#[test]
fn any_policy_input() {
    for backend in [Backend::Memory, Backend::Sqlite] {
        let w = world(backend);
        let inst: &'static str = Box::leak(w.f.institution.clone().into_boxed_str());
        let insts: &'static [&'static str] = Box::leak(vec![inst, "inst_nope"].into_boxed_slice());
        let input = (
            proptest::option::of(one_of(insts)),
            one_of(REGIONS),
            proptest::option::of(amount()),
            proptest::option::of(amount()),
            proptest::option::of(proptest::collection::vec(one_of(CURRENCIES), 0..4)),
        );
        runner()
            .run(
                &input,
                |(institution_id, region, min_amount, max_amount, allowed_currencies)| {
                    let p = PolicyInput {
                        institution_id,
                        region,
                        min_amount,
                        max_amount,
                        allowed_currencies,
                        max_release_amount: None,
                    };
                    holds(&w.rt, &w.h, async || {
                        w.h.svc.set_policy(&w.h.actor, p).await
                    })
                },
            )
            .unwrap();
    }
}
