//! Service rules: validation (accepted and rejected), ownership, template limits, policies, the
//! state machine through the service, read-only sessions, and the role × operation table
//! (DOMAIN.md §6). Runs on every backend.

use crate::common;

use common::{Fixture, Harness};
use escrowgrid::domain::{LedgerKind, Outcome, PositionState};
use escrowgrid::service::{
    Actor, NewAsset, NewInstitution, NewPosition, NewTemplate, PolicyInput, ServiceConfig,
    ServiceError, TransitionRequest,
};
use escrowgrid::store::{AuditQuery, LedgerQuery, Page, PositionFilter, PositionQuery};
use serde_json::json;

for_all_backends_both_ways!(
    institution_rules,
    template_rules,
    asset_rules,
    position_rules_and_template_limits,
    policy_enforcement_order,
    transitions_through_the_service,
    read_only_session_refuses_every_write,
    role_table,
    scoping_of_reads_and_stream,
    counts_and_policies_are_scoped,
    refused_reads_are_audited_and_foreign_scopes_refused,
    template_config_is_bounded_and_known,
    an_unknown_institution_is_named_as_such,
    check_is_clean_after_every_kind_of_change,
    json_numbers_are_stored_as_the_ledger_records_them,
);

/// The calls the console and the CLI use instead of the store: counts follow the caller's
/// scope, and another institution's policy is refused.
async fn counts_and_policies_are_scoped(h: &Harness) {
    let root = h.actor.clone();
    let fa = h.fixture().await;
    let fb = h.fixture().await;
    for f in [&fa, &fb] {
        h.api
            .create_position(&root, new_pos(f, "USD", "100"))
            .await
            .unwrap();
        h.api
            .set_policy(
                &root,
                PolicyInput {
                    institution_id: Some(f.institution.clone()),
                    region: "US".into(),
                    max_amount: Some("5000".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let key = h
        .api
        .create_api_key(
            &root,
            Some(fa.institution.clone()),
            "v".into(),
            "read_only".into(),
        )
        .await
        .unwrap();
    let ro = h.api.authenticate(Some(&key.token)).await.unwrap();
    assert_eq!(h.api.counts(&root).await.unwrap().positions, 2);
    let mine = h.api.counts(&ro).await.unwrap();
    assert_eq!((mine.institutions, mine.positions), (1, 1));
    let us = escrowgrid::domain::Region::Us;
    assert!(
        h.api
            .get_policy(&ro, &fa.institution, us)
            .await
            .unwrap()
            .is_some()
    );
    assert!(forbidden(h.api.get_policy(&ro, &fb.institution, us).await));
    let head = h.api.ledger_head_seq(&ro).await.unwrap();
    assert_eq!(head, h.api.health(&root).await.ledger_head.unwrap().seq);
    let d = h
        .api
        .institution_detail(&ro, &fa.institution)
        .await
        .unwrap();
    assert_eq!(
        (d.policies.len(), d.templates.len(), d.assets.len()),
        (1, 1, 1)
    );
    assert_eq!(d.summary.positions, 1);
    assert!(d.keys.is_none(), "a read-only key does not see keys");
    let full = h
        .api
        .institution_detail(&root, &fa.institution)
        .await
        .unwrap();
    assert_eq!(full.keys.map(|k| k.len()), Some(1));
    assert!(forbidden(
        h.api.institution_detail(&ro, &fb.institution).await
    ));
    let (_, schema) = h.svc.schema().await.unwrap();
    assert_eq!(
        schema.is_some(),
        h.store.backend() != escrowgrid::store::Backend::Memory
    );
}

fn forbidden<T>(r: Result<T, ServiceError>) -> bool {
    matches!(r, Err(ServiceError::Forbidden { .. }))
}

fn fields(e: &ServiceError) -> Vec<String> {
    e.field_errors().iter().map(|f| f.field.clone()).collect()
}

fn new_pos(f: &Fixture, currency: &str, amount: &str) -> NewPosition {
    NewPosition {
        institution_id: Some(f.institution.clone()),
        asset_id: f.asset.clone(),
        holder_reference: "HOLDER-1".into(),
        currency: currency.into(),
        amount: amount.into(),
        external_reference: Some("EXT-1".into()),
    }
}

async fn institution_rules(h: &Harness) {
    let a = &h.actor;
    let ok = h
        .api
        .create_institution(
            a,
            NewInstitution {
                name: "A".into(),
                regions: vec!["us".into(), "SG".into()],
                verticals: vec!["trade_finance".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(ok.regions.len(), 2);
    assert_eq!(ok.verticals.len(), 1);
    let e = h
        .api
        .create_institution(
            a,
            NewInstitution {
                name: "".into(),
                regions: vec![],
                verticals: vec![],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["name", "regions"]);
    assert_eq!(e.exit_code(), 2);
    let e = h
        .api
        .create_institution(
            a,
            NewInstitution {
                name: "B".into(),
                regions: vec!["MARS".into()],
                verticals: vec!["FARMING".into()],
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("'MARS' is not a valid region; expected one of US, EU_UK, SG, UAE"),
        "{e}"
    );
    assert!(
        e.to_string().contains("'FARMING' is not a valid vertical"),
        "{e}"
    );
    assert_eq!(
        h.store.counts(None).await.unwrap().institutions,
        1,
        "rejected input changed nothing"
    );
}

async fn template_rules(h: &Harness) {
    let f = h.fixture().await;
    let base = |code: &str, vertical: &str, region: &str, config: serde_json::Value| NewTemplate {
        institution_id: Some(f.institution.clone()),
        code: code.into(),
        name: "T".into(),
        vertical: vertical.into(),
        region: region.into(),
        config,
    };
    let a = &h.actor;
    h.api
        .create_template(
            a,
            base(
                "TF_LC",
                "TRADE_FINANCE",
                "EU_UK",
                json!({"currency":"EUR","issuingBankCountry":"DE","maxTenorDays":90}),
            ),
        )
        .await
        .unwrap();
    let e = h
        .api
        .create_template(
            a,
            base(
                "TF_LC",
                "CONSTRUCTION",
                "US",
                json!({"currency":"EUR","issuingBankCountry":"DE","maxTenorDays":90}),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("TF_LC belongs to vertical TRADE_FINANCE"),
        "{e}"
    );
    let e = h
        .api
        .create_template(
            a,
            base(
                "CONSTR_ESCROW",
                "CONSTRUCTION",
                "SG",
                json!({"currency":"SGD","region":"SG"}),
            ),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("SG is not one of the institution's regions"),
        "{e}"
    );
    let e = h
        .api
        .create_template(
            a,
            base(
                "CONSTR_RETAINAGE",
                "CONSTRUCTION",
                "US",
                json!({"currency":"USD","retainagePercentage":150}),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["config.retainagePercentage"]);
    let e = h
        .api
        .create_template(
            a,
            NewTemplate {
                institution_id: Some("inst_nope".into()),
                ..base("TF_LC", "TRADE_FINANCE", "US", json!({}))
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("institution inst_nope does not exist"),
        "{e}"
    );
    let e = h
        .api
        .create_template(
            a,
            NewTemplate {
                institution_id: None,
                ..base("TF_LC", "TRADE_FINANCE", "US", json!({}))
            },
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["institutionId"]);
    let e = h
        .api
        .create_template(a, base("BOGUS", "TRADE_FINANCE", "US", json!({})))
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["code"]);
    assert_eq!(h.store.counts(None).await.unwrap().templates, 2);
}

async fn asset_rules(h: &Harness) {
    let f = h.fixture().await;
    let g = h.fixture().await;
    let a = &h.actor;
    let ok = h
        .api
        .create_asset(
            a,
            NewAsset {
                institution_id: Some(f.institution.clone()),
                template_id: f.template.clone(),
                label: "L".into(),
                metadata: Some(json!({"k": [1, 2]})),
            },
        )
        .await
        .unwrap();
    assert_eq!(ok.metadata, json!({"k": [1, 2]}));
    let e = h
        .api
        .create_asset(
            a,
            NewAsset {
                institution_id: Some(f.institution.clone()),
                template_id: g.template.clone(),
                label: "L".into(),
                metadata: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("belongs to another institution"),
        "{e}"
    );
    let e = h
        .api
        .create_asset(
            a,
            NewAsset {
                institution_id: Some(f.institution.clone()),
                template_id: f.template.clone(),
                label: "".into(),
                metadata: Some(json!([1])),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["label", "metadata"]);
    let e = h
        .api
        .create_asset(
            a,
            NewAsset {
                institution_id: Some(f.institution.clone()),
                template_id: "tmpl_x".into(),
                label: "L".into(),
                metadata: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("template tmpl_x does not exist"),
        "{e}"
    );
}

async fn position_rules_and_template_limits(h: &Harness) {
    let f = h.fixture().await; // template: USD, min 10, max 1000000
    let g = h.fixture().await;
    let a = &h.actor;
    let p = h
        .api
        .create_position(a, new_pos(&f, "usd", "10"))
        .await
        .unwrap();
    assert_eq!(
        (p.state, p.version, p.amount.to_string()),
        (PositionState::Created, 0, "10".into())
    );
    h.api
        .create_position(a, new_pos(&f, "USD", "1000000"))
        .await
        .unwrap();
    let e = h
        .api
        .create_position(a, new_pos(&f, "EUR", "100"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("EUR does not match the template's currency USD"),
        "{e}"
    );
    let e = h
        .api
        .create_position(a, new_pos(&f, "USD", "9.99999999"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("below the template minimum of 10"),
        "{e}"
    );
    let e = h
        .api
        .create_position(a, new_pos(&f, "USD", "1000000.00000001"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("above the template maximum of 1000000"),
        "{e}"
    );
    let e = h
        .api
        .create_position(
            a,
            NewPosition {
                asset_id: g.asset.clone(),
                ..new_pos(&f, "USD", "100")
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("belongs to another institution"),
        "{e}"
    );
    let e = h
        .api
        .create_position(
            a,
            NewPosition {
                holder_reference: "".into(),
                ..new_pos(&f, "XXX", "1.123456789")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["holderReference", "currency", "amount"]);
    let e = h
        .api
        .create_position(a, new_pos(&f, "USD", "1e3"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("exponent"), "{e}");
    assert_eq!(
        h.store
            .count_positions(&PositionFilter::default())
            .await
            .unwrap(),
        2
    );
}

async fn policy_enforcement_order(h: &Harness) {
    let f = h.fixture().await;
    let a = &h.actor;
    let policy = |min: Option<&str>, max: Option<&str>, cur: Option<Vec<&str>>| PolicyInput {
        institution_id: Some(f.institution.clone()),
        region: "US".into(),
        min_amount: min.map(String::from),
        max_amount: max.map(String::from),
        allowed_currencies: cur.map(|v| v.into_iter().map(String::from).collect()),
        max_release_amount: None,
    };
    h.api
        .set_policy(a, policy(Some("100"), Some("500"), Some(vec!["EUR"])))
        .await
        .unwrap();
    // below min AND wrong currency: min reported first; above max AND wrong currency: max first
    let e = h
        .api
        .create_position(a, new_pos(&f, "USD", "50"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("below the US policy minimum of 100"),
        "{e}"
    );
    let e = h
        .api
        .create_position(a, new_pos(&f, "USD", "600"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("above the US policy maximum of 500"),
        "{e}"
    );
    let e = h
        .api
        .create_position(a, new_pos(&f, "USD", "200"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("USD is not allowed by the US policy (allowed: EUR)"),
        "{e}"
    );
    h.api
        .set_policy(a, policy(None, None, Some(vec![])))
        .await
        .unwrap();
    let e = h
        .api
        .create_position(a, new_pos(&f, "USD", "200"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("blocks every currency"), "{e}");
    h.api.set_policy(a, policy(None, None, None)).await.unwrap();
    h.api
        .create_position(a, new_pos(&f, "USD", "200"))
        .await
        .unwrap();
    // a policy for a region the institution does not operate in, and a bad policy, are refused
    let e = h
        .api
        .set_policy(
            a,
            PolicyInput {
                region: "UAE".into(),
                ..policy(None, None, None)
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("UAE is not one of the institution's regions"),
        "{e}"
    );
    let e = h
        .api
        .set_policy(a, policy(Some("5"), Some("1"), Some(vec!["XYZ"])))
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["minAmount", "allowedCurrencies"]);
}

async fn transitions_through_the_service(h: &Harness) {
    let f = h.fixture().await;
    let a = &h.actor;
    let p = h.position(&f, "H", "100").await;
    let t = |to: &str| TransitionRequest {
        to: to.into(),
        reason: Some(format!("to {to}")),
        amount: to
            .eq_ignore_ascii_case("PARTIALLY_RELEASED")
            .then(|| "1".into()),
        ..Default::default()
    };
    let e = h
        .api
        .transition_position(a, &p.id, t("RELEASED"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid transition from CREATED to RELEASED (allowed from CREATED: FUNDED, CANCELLED, EXPIRED)"), "{e}");
    assert_eq!(e.exit_code(), 2);
    let noop = h
        .api
        .transition_position(a, &p.id, t("CREATED"))
        .await
        .unwrap();
    assert!(!noop.applied && noop.event.is_none());
    let r = h
        .api
        .transition_position(a, &p.id, t("FUNDED"))
        .await
        .unwrap();
    assert!(r.applied);
    assert_eq!(r.position.version, 1);
    h.api
        .transition_position(a, &p.id, t("PARTIALLY_RELEASED"))
        .await
        .unwrap();
    let again = h
        .api
        .transition_position(a, &p.id, t("partially_released"))
        .await
        .unwrap();
    assert!(again.applied, "a further partial release is recorded");
    let b = |s: &str| Some(escrowgrid::domain::Balance::parse(s).unwrap());
    assert_eq!(
        (again.position.released, again.position.held),
        (b("2"), b("98")),
        "each partial release moved 1 of 100"
    );
    let done = h
        .api
        .transition_position(a, &p.id, t("RELEASED"))
        .await
        .unwrap();
    assert_eq!(
        (done.position.released, done.position.held),
        (b("100"), b("0"))
    );
    assert_eq!(
        done.event.as_ref().map(|e| (e.amount, e.held)),
        Some((b("98"), b("0"))),
        "RELEASED moved what was left"
    );
    let e = h
        .api
        .transition_position(a, &p.id, t("CANCELLED"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("RELEASED is terminal"), "{e}");
    let same = h
        .api
        .transition_position(a, &p.id, t("RELEASED"))
        .await
        .unwrap();
    assert!(!same.applied, "terminal to itself is a no-op, not an error");
    let d = h.api.position_detail(a, &p.id).await.unwrap();
    let path: Vec<_> = d
        .events
        .iter()
        .map(|e| (e.from_state, e.to_state))
        .collect();
    use PositionState::*;
    assert_eq!(
        path,
        vec![
            (Created, Funded),
            (Funded, PartiallyReleased),
            (PartiallyReleased, PartiallyReleased),
            (PartiallyReleased, Released)
        ]
    );
    assert_eq!(d.events[0].reason.as_deref(), Some("to FUNDED"));
    let ledger = h
        .api
        .ledger(
            a,
            LedgerQuery {
                position_id: Some(p.id.clone()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ledger.len(), 5);
    assert_eq!(ledger[4].payload["reason"], "to RELEASED");
    let e = h
        .api
        .transition_position(
            a,
            &p.id,
            TransitionRequest {
                to: "FUNDED".into(),
                reason: Some("x".repeat(1001)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&e), ["reason"]);
    let e = h
        .api
        .transition_position(a, "pos_missing", t("FUNDED"))
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::NotFound { .. }), "{e}");
}

async fn read_only_session_refuses_every_write(h: &Harness) {
    let f = h.fixture().await;
    let p = h.position(&f, "H", "100").await;
    let ro = h.service_with(ServiceConfig {
        read_only: true,
        ..Default::default()
    });
    let a = &h.actor;
    let before = h.store.ledger_head().await.unwrap();
    let e = ro
        .transition_position(
            a,
            &p.id,
            TransitionRequest {
                to: "FUNDED".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("read-only session"), "{e}");
    assert!(
        ro.create_position(a, new_pos(&f, "USD", "100"))
            .await
            .is_err()
    );
    assert!(
        ro.create_institution(
            a,
            NewInstitution {
                name: "X".into(),
                regions: vec!["US".into()],
                verticals: vec![]
            }
        )
        .await
        .is_err()
    );
    assert_eq!(
        h.store.ledger_head().await.unwrap(),
        before,
        "nothing written"
    );
    assert_eq!(
        h.store.get_position(&p.id).await.unwrap().unwrap().state,
        PositionState::Created
    );
    // reads still work
    assert_eq!(
        ro.list_positions(
            a,
            PositionQuery {
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .len(),
        1
    );
}

/// DOMAIN.md §6, row by row, for root, an admin key and a read-only key of institution A.
async fn role_table(h: &Harness) {
    let root = h.actor.clone();
    let fa = h.fixture().await;
    let fb = h.fixture().await;
    let admin_key = h
        .api
        .create_api_key(
            &root,
            Some(fa.institution.clone()),
            "admin".into(),
            "admin".into(),
        )
        .await
        .unwrap();
    let ro_key = h
        .api
        .create_api_key(
            &root,
            Some(fa.institution.clone()),
            "viewer".into(),
            "read_only".into(),
        )
        .await
        .unwrap();
    let admin = h.api.authenticate(Some(&admin_key.token)).await.unwrap();
    let ro = h.api.authenticate(Some(&ro_key.token)).await.unwrap();
    assert!(matches!(
        &admin,
        Actor::Key {
            role: escrowgrid::domain::Role::Admin,
            ..
        }
    ));

    // Create institution: root only.
    let ni = || NewInstitution {
        name: "N".into(),
        regions: vec!["US".into()],
        verticals: vec![],
    };
    assert!(h.api.create_institution(&root, ni()).await.is_ok());
    assert!(forbidden(h.api.create_institution(&admin, ni()).await));
    assert!(forbidden(h.api.create_institution(&ro, ni()).await));

    // List/get institutions: root all, others own.
    assert_eq!(
        h.api
            .list_institutions(&root, Page::first(100))
            .await
            .unwrap()
            .len(),
        3
    );
    for who in [&admin, &ro] {
        let l = h
            .api
            .list_institutions(who, Page::first(100))
            .await
            .unwrap();
        assert_eq!(
            l.iter().map(|i| &i.id).collect::<Vec<_>>(),
            vec![&fa.institution]
        );
        assert!(h.api.get_institution(who, &fa.institution).await.is_ok());
        assert!(forbidden(h.api.get_institution(who, &fb.institution).await));
    }

    // Keys: root any, admin own, read_only none.
    assert!(
        h.api
            .create_api_key(
                &root,
                Some(fb.institution.clone()),
                "k".into(),
                "admin".into()
            )
            .await
            .is_ok()
    );
    assert!(
        h.api
            .create_api_key(&admin, None, "k2".into(), "read_only".into())
            .await
            .is_ok()
    );
    assert!(forbidden(
        h.api
            .create_api_key(
                &admin,
                Some(fb.institution.clone()),
                "k3".into(),
                "admin".into()
            )
            .await
    ));
    assert!(forbidden(
        h.api
            .create_api_key(&ro, None, "k4".into(), "admin".into())
            .await
    ));
    assert_eq!(h.api.list_api_keys(&admin, None).await.unwrap().len(), 3);
    assert!(forbidden(h.api.list_api_keys(&ro, None).await));
    let b_key = h
        .api
        .list_api_keys(&root, Some(fb.institution.clone()))
        .await
        .unwrap()[0]
        .id
        .clone();
    assert!(forbidden(h.api.revoke_api_key(&admin, &b_key).await));
    assert!(forbidden(
        h.api.revoke_api_key(&ro, &ro_key.api_key.id).await
    ));

    // Policies: upsert root any / admin own / read_only none; list for all (own).
    let pol = |inst: Option<String>| PolicyInput {
        institution_id: inst,
        region: "US".into(),
        max_amount: Some("999999".into()),
        ..Default::default()
    };
    assert!(
        h.api
            .set_policy(&root, pol(Some(fb.institution.clone())))
            .await
            .is_ok()
    );
    assert!(h.api.set_policy(&admin, pol(None)).await.is_ok());
    assert!(forbidden(
        h.api
            .set_policy(&admin, pol(Some(fb.institution.clone())))
            .await
    ));
    assert!(forbidden(h.api.set_policy(&ro, pol(None)).await));
    assert!(
        forbidden(h.api.list_policies(&ro, Some(fb.institution.clone())).await),
        "another institution's are refused, not narrowed to its own"
    );
    assert_eq!(h.api.list_policies(&ro, None).await.unwrap().len(), 1);
    assert_eq!(h.api.list_policies(&root, None).await.unwrap().len(), 2);

    // Create template/asset/position, transition: root any (names institution), admin own, read_only refused.
    let pa = h
        .api
        .create_position(
            &admin,
            NewPosition {
                institution_id: None,
                ..new_pos(&fa, "USD", "100")
            },
        )
        .await
        .unwrap();
    assert!(forbidden(
        h.api
            .create_position(&admin, new_pos(&fb, "USD", "100"))
            .await
    ));
    assert!(forbidden(
        h.api
            .create_position(
                &ro,
                NewPosition {
                    institution_id: None,
                    ..new_pos(&fa, "USD", "100")
                }
            )
            .await
    ));
    let pb = h
        .api
        .create_position(&root, new_pos(&fb, "USD", "100"))
        .await
        .unwrap();
    let fund = || TransitionRequest {
        to: "FUNDED".into(),
        ..Default::default()
    };
    assert!(
        h.api
            .transition_position(&admin, &pa.id, fund())
            .await
            .is_ok()
    );
    assert!(forbidden(
        h.api.transition_position(&admin, &pb.id, fund()).await
    ));
    assert!(forbidden(
        h.api
            .transition_position(
                &ro,
                &pa.id,
                TransitionRequest {
                    to: "RELEASED".into(),
                    ..Default::default()
                }
            )
            .await
    ));
    assert!(
        h.api
            .transition_position(&root, &pb.id, fund())
            .await
            .is_ok()
    );
    let nt = |inst: Option<String>| NewTemplate {
        institution_id: inst,
        code: "TF_INVOICE".into(),
        name: "I".into(),
        vertical: "TRADE_FINANCE".into(),
        region: "US".into(),
        config: json!({"currency":"USD","maxTenorDays":30,"country":"US"}),
    };
    assert!(h.api.create_template(&admin, nt(None)).await.is_ok());
    assert!(forbidden(h.api.create_template(&ro, nt(None)).await));
    assert!(forbidden(
        h.api
            .create_asset(
                &ro,
                NewAsset {
                    institution_id: None,
                    template_id: fa.template.clone(),
                    label: "x".into(),
                    metadata: None
                }
            )
            .await
    ));

    // List/get templates, assets, positions: root all; others own (filter ignored).
    assert_eq!(
        h.api
            .list_positions(
                &root,
                PositionQuery {
                    limit: 100,
                    ..Default::default()
                }
            )
            .await
            .unwrap()
            .len(),
        2
    );
    for who in [&admin, &ro] {
        let of = |inst: &str| PositionQuery {
            filter: PositionFilter {
                institution_id: Some(inst.to_string()),
                ..Default::default()
            },
            limit: 100,
            ..Default::default()
        };
        // Another institution's positions are refused; its own are all it sees.
        assert!(forbidden(
            h.api.list_positions(who, of(&fb.institution)).await
        ));
        let l = h
            .api
            .list_positions(who, of(&fa.institution))
            .await
            .unwrap();
        assert_eq!(l.iter().map(|p| &p.id).collect::<Vec<_>>(), vec![&pa.id]);
        assert!(forbidden(h.api.get_position(who, &pb.id).await));
        assert!(forbidden(h.api.get_asset(who, &fb.asset).await));
        assert!(forbidden(h.api.get_template(who, &fb.template).await));
        assert!(forbidden(
            h.api
                .list_templates(who, Some(fb.institution.clone()), Page::first(100))
                .await
        ));
        assert!(
            h.api
                .list_templates(who, None, Page::first(100))
                .await
                .unwrap()
                .iter()
                .all(|t| t.institution_id == fa.institution)
        );
        assert!(
            h.api
                .list_assets(who, None, None, Page::first(100))
                .await
                .unwrap()
                .iter()
                .all(|t| t.institution_id == fa.institution)
        );
        assert_eq!(
            h.api
                .count_positions(who, PositionFilter::default())
                .await
                .unwrap(),
            1
        );
    }

    // Ledger: root all, others their institution's events only; verify is root's.
    let all = h
        .api
        .ledger(
            &root,
            LedgerQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mine = h
        .api
        .ledger(
            &ro,
            LedgerQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(mine.len() < all.len());
    assert!(mine.iter().all(|e| e.institution_id == fa.institution));
    assert!(h.api.verify_ledger(&root).await.unwrap().ok);
    assert!(forbidden(h.api.verify_ledger(&ro).await));

    // Audit: refused actions are recorded with who tried; read_only sees only its institution's records.
    let refused = h
        .api
        .audit(
            &root,
            AuditQuery {
                outcome: Some(Outcome::Failure),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(refused.iter().any(
        |r| r.api_key_id.as_deref() == Some(ro_key.api_key.id.as_str())
            && r.error.as_ref().unwrap().code == "FORBIDDEN"
    ));
    let ro_view = h
        .api
        .audit(
            &ro,
            AuditQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(ro_view.iter().all(
        |r| r.institution_id.as_deref() == Some(fa.institution.as_str())
            || r.subject_institution_id.as_deref() == Some(fa.institution.as_str())
    ));
    // Health counts are scoped too.
    let hr = h.api.health(&ro).await;
    assert_eq!(hr.counts.unwrap().positions, 1);
    assert!(hr.scoped);
    // Unknown or malformed keys are refused, and audited.
    assert!(matches!(
        h.api
            .authenticate(Some("ak_000000000000000000000000000000000000000000000000"))
            .await,
        Err(ServiceError::Unauthenticated(_))
    ));
    assert!(matches!(
        h.api.authenticate(Some("hunter2")).await,
        Err(ServiceError::Unauthenticated(_))
    ));
    let auth_failures = h
        .api
        .audit(
            &root,
            AuditQuery {
                action: Some("AUTH_FAILED".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(auth_failures.len(), 2);
}

async fn scoping_of_reads_and_stream(h: &Harness) {
    let root = h.actor.clone();
    let fa = h.fixture().await;
    let fb = h.fixture().await;
    let key = h
        .api
        .create_api_key(
            &root,
            Some(fa.institution.clone()),
            "v".into(),
            "read_only".into(),
        )
        .await
        .unwrap();
    let ro = h.api.authenticate(Some(&key.token)).await.unwrap();
    let mut sub = h.api.subscribe(&ro, 0, Default::default());
    let pb = h
        .api
        .create_position(&root, new_pos(&fb, "USD", "100"))
        .await
        .unwrap();
    let pa = h
        .api
        .create_position(&root, new_pos(&fa, "USD", "100"))
        .await
        .unwrap();
    let mut got = Vec::new();
    while !got
        .iter()
        .any(|e: &escrowgrid::domain::ledger::LedgerEvent| e.entity_id == pa.id)
    {
        match tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
            .await
            .expect("stream delivers")
        {
            Some(escrowgrid::service::stream::StreamItem::Event(e)) => got.push(*e),
            Some(_) => {}
            None => panic!("stream closed"),
        }
    }
    assert!(
        got.iter().all(|e| e.institution_id == fa.institution),
        "the stream shows only the key's institution"
    );
    assert!(!got.iter().any(|e| e.entity_id == pb.id));
    assert!(got.iter().any(|e| e.kind == LedgerKind::ApiKeyCreated));
}

fn not_found<T>(r: Result<T, ServiceError>) -> bool {
    matches!(r, Err(ServiceError::NotFound { .. }))
}

/// Every refused read is refused (never narrowed to the caller's own book) and leaves exactly
/// one audit record; an id in a filter that names nothing is "not found".
async fn refused_reads_are_audited_and_foreign_scopes_refused(h: &Harness) {
    let root = h.actor.clone();
    let fa = h.fixture().await;
    let fb = h.fixture().await;
    let key = |role: &'static str| {
        let inst = fa.institution.clone();
        let svc = &h.api;
        let root = root.clone();
        async move {
            let k = svc
                .create_api_key(&root, Some(inst), role.into(), role.into())
                .await
                .unwrap();
            svc.authenticate(Some(&k.token)).await.unwrap()
        }
    };
    let admin = key("admin").await;
    let ro = key("read_only").await;
    let pb = h
        .api
        .create_position(&root, new_pos(&fb, "USD", "100"))
        .await
        .unwrap();
    let failures = |action: &'static str| {
        let svc = &h.api;
        let root = root.clone();
        async move {
            svc.audit(
                &root,
                AuditQuery {
                    action: Some(action.into()),
                    outcome: Some(Outcome::Failure),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
        }
    };
    let other = || PositionFilter {
        institution_id: Some(fb.institution.clone()),
        ..Default::default()
    };
    let query = |filter: PositionFilter| PositionQuery {
        filter,
        limit: 10,
        ..Default::default()
    };

    assert!(forbidden(h.api.get_position(&admin, &pb.id).await));
    let recs = failures("POSITION_READ").await;
    assert_eq!(recs.len(), 1, "one record per refusal");
    assert_eq!(recs[0].resource_id.as_deref(), Some(pb.id.as_str()));
    assert_eq!(recs[0].api_key_id, admin.key_id().map(str::to_string));

    assert!(forbidden(h.api.get_institution(&ro, &fb.institution).await));
    assert!(forbidden(h.api.get_template(&ro, &fb.template).await));
    assert!(forbidden(h.api.get_asset(&ro, &fb.asset).await));
    assert_eq!(failures("INSTITUTION_READ").await.len(), 1);
    assert_eq!(failures("TEMPLATE_READ").await.len(), 1);
    assert_eq!(failures("ASSET_READ").await.len(), 1);

    // Another institution's book is refused, not silently replaced by one's own.
    assert!(forbidden(
        h.api.list_positions(&admin, query(other())).await
    ));
    assert!(forbidden(h.api.count_positions(&admin, other()).await));
    assert_eq!(failures("POSITIONS_LIST").await.len(), 2);
    let ledger_of = |position_id: &str| LedgerQuery {
        position_id: Some(position_id.to_string()),
        limit: 10,
        ..Default::default()
    };
    assert!(forbidden(h.api.ledger(&ro, ledger_of(&pb.id)).await));
    assert_eq!(failures("LEDGER_READ").await.len(), 1);
    let foreign_audit = AuditQuery {
        institution_id: Some(fb.institution.clone()),
        limit: 10,
        ..Default::default()
    };
    assert!(forbidden(h.api.audit(&admin, foreign_audit).await));
    assert_eq!(failures("AUDIT_READ").await.len(), 1);
    assert!(forbidden(h.api.list_api_keys(&ro, None).await));
    assert_eq!(failures("API_KEYS_LIST").await.len(), 1);
    assert!(forbidden(h.api.verify_ledger(&admin).await));
    assert_eq!(failures("LEDGER_VERIFY").await.len(), 1);

    // Names that name nothing.
    let nowhere = PositionFilter {
        institution_id: Some("inst_nope".into()),
        ..Default::default()
    };
    assert!(not_found(
        h.api.list_positions(&root, query(nowhere.clone())).await
    ));
    assert!(not_found(h.api.count_positions(&root, nowhere).await));
    let no_asset = PositionFilter {
        asset_id: Some("ast_nope".into()),
        ..Default::default()
    };
    assert!(not_found(
        h.api.list_positions(&root, query(no_asset)).await
    ));
    assert!(not_found(h.api.ledger(&root, ledger_of("pos_nope")).await));

    // What is one's own still reads, with or without naming it.
    let own = PositionFilter {
        institution_id: Some(fa.institution.clone()),
        ..Default::default()
    };
    assert!(h.api.list_positions(&admin, query(own)).await.is_ok());
    assert!(
        h.api
            .list_positions(&root, query(other()))
            .await
            .unwrap()
            .iter()
            .all(|p| p.institution_id == fb.institution)
    );
}

/// A template's config is copied into the template, its ledger event and its audit record: it
/// is capped, and a key its code does not know is refused by name. A refusal writes nothing.
async fn template_config_is_bounded_and_known(h: &Harness) {
    let f = h.fixture().await;
    let head = h.store.ledger_head().await.unwrap();
    let lc = |config: serde_json::Value| NewTemplate {
        institution_id: Some(f.institution.clone()),
        code: "TF_LC".into(),
        name: "Letters".into(),
        vertical: "TRADE_FINANCE".into(),
        region: "EU_UK".into(),
        config,
    };
    let good = json!({"currency":"EUR","issuingBankCountry":"DE","maxTenorDays":90});
    let mut extra = good.clone();
    extra["colour"] = json!("blue");
    extra["weight"] = json!(3);
    let e = h
        .api
        .create_template(&h.actor, lc(extra))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        fields(&e).contains(&"config".to_string())
            && msg.contains("'colour'")
            && msg.contains("'weight'"),
        "{msg}"
    );
    assert!(
        msg.contains("maxTenorDays"),
        "names the keys it knows: {msg}"
    );
    let mut big = good.clone();
    big["issuingBankCountry"] = json!("x".repeat(20 * 1024));
    let e = h.api.create_template(&h.actor, lc(big)).await.unwrap_err();
    assert!(e.to_string().contains("at most 16384"), "{e}");
    assert_eq!(
        h.store.ledger_head().await.unwrap(),
        head,
        "nothing written"
    );
    h.api.create_template(&h.actor, lc(good)).await.unwrap();
}

/// A write naming an institution that does not exist says so on that field, not something about
/// the asset or template it named.
async fn an_unknown_institution_is_named_as_such(h: &Harness) {
    let f = h.fixture().await;
    let e = h
        .api
        .create_position(
            &h.actor,
            NewPosition {
                institution_id: Some("inst_nope".into()),
                ..new_pos(&f, "USD", "100")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&e), vec!["institutionId".to_string()], "{e}");
    assert!(
        e.to_string()
            .contains("institution inst_nope does not exist"),
        "{e}"
    );
    let e = h
        .api
        .create_asset(
            &h.actor,
            NewAsset {
                institution_id: Some("inst_nope".into()),
                template_id: f.template.clone(),
                label: "A".into(),
                metadata: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&e), vec!["institutionId".to_string()], "{e}");
}

/// `check` finds nothing in a store that only the service wrote to: every kind of change, on
/// every backend. Only root may run it; a refusal is audited.
async fn check_is_clean_after_every_kind_of_change(h: &Harness) {
    let root = h.actor.clone();
    let f = h.fixture().await;
    let p = h.position(&f, "H-1", "1000").await;
    h.position(&f, "H-2", "2000").await;
    for to in [
        "FUNDED",
        "PARTIALLY_RELEASED",
        "PARTIALLY_RELEASED",
        "RELEASED",
    ] {
        h.api
            .transition_position(
                &root,
                &p.id,
                TransitionRequest {
                    to: to.into(),
                    reason: Some("step".into()),
                    expect_state: None,
                    expect_version: None,
                    metadata: None,
                    amount: (to == "PARTIALLY_RELEASED").then(|| "1".into()),
                },
            )
            .await
            .unwrap();
    }
    let policy = |max: &str| PolicyInput {
        institution_id: Some(f.institution.clone()),
        region: "US".into(),
        max_amount: Some(max.into()),
        ..Default::default()
    };
    h.api.set_policy(&root, policy("999999")).await.unwrap();
    h.api.set_policy(&root, policy("888888")).await.unwrap();
    let k = h
        .api
        .create_api_key(
            &root,
            Some(f.institution.clone()),
            "ops".into(),
            "admin".into(),
        )
        .await
        .unwrap();
    h.api.revoke_api_key(&root, &k.api_key.id).await.unwrap();
    let r = h.api.check(&root).await.unwrap();
    assert!(r.ok, "{:#?}", r.findings);
    assert!(r.events >= 12 && r.entities >= 7, "{r:?}");

    let viewer = h
        .api
        .create_api_key(
            &root,
            Some(f.institution.clone()),
            "v".into(),
            "admin".into(),
        )
        .await
        .unwrap();
    let admin = h.api.authenticate(Some(&viewer.token)).await.unwrap();
    assert!(forbidden(h.api.check(&admin).await));
    let refused = h
        .api
        .audit(
            &root,
            AuditQuery {
                action: Some("STORE_CHECK".into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert!(
        h.api.check(&root).await.unwrap().ok,
        "a refused read is not a change"
    );
}

/// Metadata and configs keep exactly what their ledger event records: a number a JSON double
/// cannot carry exactly is refused with its field's path, `1.0` is stored as the ledger's `1`,
/// and `check` stays clean after every such write.
async fn json_numbers_are_stored_as_the_ledger_records_them(h: &Harness) {
    let root = h.actor.clone();
    let f = h.fixture().await;
    let asset = |metadata: &str| NewAsset {
        institution_id: Some(f.institution.clone()),
        template_id: f.template.clone(),
        label: "Numbers".into(),
        metadata: Some(serde_json::from_str(metadata).unwrap()),
    };
    let head = h.store.ledger_head().await.unwrap();
    let e = h
        .api
        .create_asset(&root, asset(r#"{"n":9007199254740993,"f":1.0}"#))
        .await
        .unwrap_err();
    assert!(
        e.field_errors().iter().any(|x| x.field == "metadata.n"),
        "{e}"
    );
    assert_eq!(
        h.store.ledger_head().await.unwrap(),
        head,
        "nothing written"
    );
    let a = h
        .api
        .create_asset(&root, asset(r#"{"f":1.0,"g":0.1,"list":[2.50,-3]}"#))
        .await
        .unwrap();
    assert_eq!(a.metadata, json!({"f": 1, "g": 0.1, "list": [2.5, -3]}));
    let stored = h.store.get_asset(&a.id).await.unwrap().unwrap();
    assert_eq!(stored.metadata, a.metadata);
    let t = h
        .api
        .create_template(
            &root,
            NewTemplate {
                institution_id: Some(f.institution.clone()),
                code: "CONSTR_ESCROW".into(),
                name: "Exact".into(),
                vertical: "CONSTRUCTION".into(),
                region: "US".into(),
                config: json!({"currency": "USD", "region": "US", "minAmount": 10.0}),
            },
        )
        .await
        .unwrap();
    assert_eq!(t.config["minAmount"], json!(10));
    let p = h.position(&f, "H-1", "1000").await;
    let r = h
        .api
        .transition_position(
            &root,
            &p.id,
            TransitionRequest {
                to: "FUNDED".into(),
                metadata: Some(serde_json::from_str(r#"{"wire":{"ref":1e2}}"#).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        r.event.unwrap().metadata,
        Some(json!({"wire": {"ref": 100}}))
    );
    let bad = h
        .api
        .transition_position(
            &root,
            &p.id,
            TransitionRequest {
                to: "RELEASED".into(),
                metadata: Some(serde_json::from_str(r#"{"x":[18446744073709551615]}"#).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        bad.field_errors()
            .iter()
            .any(|x| x.field == "metadata.x[0]"),
        "{bad}"
    );
    let report = h.api.check(&root).await.unwrap();
    assert!(report.ok, "{:#?}", report.findings);
}
