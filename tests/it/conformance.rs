//! The store conformance suite: every test here runs against memory, SQLite and PostgreSQL.
//! A new backend only needs to pass it.

use crate::common;

use common::{Fixture, Harness};
use escrowgrid::domain::ledger::ChainVerifier;
use escrowgrid::domain::{
    LedgerKind, Money, Outcome, Position, PositionLifecycleEvent, PositionState, Region, ids, time,
};
use escrowgrid::service::stream::{StreamFilter, StreamItem};
use escrowgrid::service::{NewPosition, PolicyInput, ServiceError, TransitionRequest};
use escrowgrid::store::{
    AssetQuery, AuditQuery, Change, InstitutionQuery, LedgerQuery, Page, PositionCursor,
    PositionFilter, PositionQuery, PositionSortKey, StoreError, TemplateQuery, Write,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

for_all_backends!(
    entities_round_trip_exactly,
    untrusted_text_and_money_extremes_round_trip,
    keyset_pagination_is_stable,
    position_filters,
    position_sorting_and_paging_by_every_key,
    stale_transition_conflicts_and_changes_nothing,
    failed_ledger_append_leaves_no_change,
    ledger_is_gap_free_verifies_and_filters,
    policy_upsert_keeps_identity,
    api_key_lifecycle_and_idempotent_revoke,
    audit_records_and_filters,
    ledger_and_audit_text_search,
    duplicates_and_missing_references_are_refused,
    concurrent_transitions_race,
    stream_delivers_every_event_once_in_order,
    health_reports_counts_and_head,
    the_anchor_outbox_claims_each_anchor_once,
);

/// A move to `state`; a partial release moves one cent.
fn to(state: &str) -> TransitionRequest {
    TransitionRequest {
        to: state.into(),
        amount: (state == "PARTIALLY_RELEASED").then(|| "0.01".into()),
        ..Default::default()
    }
}

async fn entities_round_trip_exactly(h: &Harness) {
    let f = h.fixture().await;
    let inst = h
        .store
        .get_institution(&f.institution)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inst.name, "Acme Bank");
    assert_eq!(inst.regions, vec![Region::Us, Region::EuUk]);
    assert_eq!(inst.verticals.len(), 2);
    let t = h.store.get_template(&f.template).await.unwrap().unwrap();
    assert_eq!(t.config["minAmount"], "10");
    assert_eq!(t.config["currency"], "USD");
    let p = h.position(&f, "H-1", "1250.50").await;
    let back = h.store.get_position(&p.id).await.unwrap().unwrap();
    assert_eq!(back, p, "a position reads back exactly as written");
    assert_eq!(back.amount.to_string(), "1250.5");
    assert_eq!(time::format(&back.created_at), time::format(&p.created_at));
    assert!(h.store.get_position("pos_missing").await.unwrap().is_none());
    let a = h.store.get_asset(&f.asset).await.unwrap().unwrap();
    assert_eq!(a.metadata, serde_json::json!({}));
    let out = h
        .svc
        .transition_position(
            &h.actor,
            &p.id,
            TransitionRequest {
                to: "FUNDED".into(),
                reason: Some("Wire received — ünïcödé".into()),
                metadata: Some(serde_json::json!({"ref": "W-1", "nested": {"n": 1}})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let events = h.store.position_events(&p.id).await.unwrap();
    assert_eq!(events, vec![out.event.unwrap()]);
    assert_eq!(events[0].reason.as_deref(), Some("Wire received — ünïcödé"));
}

async fn untrusted_text_and_money_extremes_round_trip(h: &Harness) {
    let f = h.fixture().await;
    // Written straight to the store, as another writer could: the store keeps text exactly.
    let mut ids_by_amount = Vec::new();
    for (i, amount) in [
        "0.00000001",
        "1000000000000000",
        "999999999999999.99999999",
        "12.3",
    ]
    .iter()
    .enumerate()
    {
        let now = time::now();
        let p = Position {
            id: ids::new_id(ids::POSITION),
            institution_id: f.institution.clone(),
            asset_id: f.asset.clone(),
            holder_reference: format!("evil\x1b[31m\u{202e}{i}"),
            currency: escrowgrid::domain::Currency::Usd,
            amount: Money::parse(amount).unwrap(),
            state: PositionState::Created,
            external_reference: Some("line\nbreak".into()),
            version: 0,
            released: Some(escrowgrid::domain::Balance::ZERO),
            held: Some(Money::parse(amount).unwrap().into()),
            created_at: now,
            updated_at: now,
        };
        h.store
            .commit(Write {
                change: Change::CreatePosition(p.clone(), None),
                ledger: None,
                audit: None,
            })
            .await
            .unwrap();
        assert_eq!(h.store.get_position(&p.id).await.unwrap().unwrap(), p);
        ids_by_amount.push((p.amount, p.id));
    }
    ids_by_amount.sort();
    let sorted = h
        .store
        .list_positions(&PositionQuery {
            sort: PositionSortKey::Amount,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<String> = sorted.iter().map(|p| p.id.clone()).collect();
    let want: Vec<String> = ids_by_amount.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(got, want, "amount order is numeric order");
}

async fn keyset_pagination_is_stable(h: &Harness) {
    let mut created = Vec::new();
    for i in 0..7 {
        let inst = h
            .svc
            .create_institution(
                &h.actor,
                escrowgrid::service::NewInstitution {
                    name: format!("Bank {i}"),
                    regions: vec!["US".into()],
                    verticals: vec!["CONSTRUCTION".into()],
                },
            )
            .await
            .unwrap();
        created.push(inst.id);
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = h
            .store
            .list_institutions(&InstitutionQuery {
                id: None,
                page: Page {
                    after: after.clone(),
                    limit: 3,
                },
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().map(|i| i.id.clone());
        seen.extend(page.into_iter().map(|i| i.id));
    }
    assert_eq!(
        seen, created,
        "pages in creation order, no repeats, none missed"
    );
    let one = h
        .store
        .list_institutions(&InstitutionQuery {
            id: Some(created[3].clone()),
            page: Page::first(10),
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    // templates and assets page and filter the same way
    let f = h.fixture().await;
    let t = h
        .store
        .list_templates(&TemplateQuery {
            institution_id: Some(f.institution.clone()),
            page: Page::first(10),
        })
        .await
        .unwrap();
    assert_eq!(
        t.iter().map(|t| &t.id).collect::<Vec<_>>(),
        vec![&f.template]
    );
    assert!(
        h.store
            .list_templates(&TemplateQuery {
                institution_id: Some(created[0].clone()),
                page: Page::first(10)
            })
            .await
            .unwrap()
            .is_empty()
    );
    let a = h
        .store
        .list_assets(&AssetQuery {
            template_id: Some(f.template.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    let a = h
        .store
        .list_assets(&AssetQuery {
            template_id: Some("tmpl_other".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(a.is_empty());
}

async fn two_institution_positions(h: &Harness) -> (Fixture, Fixture, Vec<Position>) {
    let f1 = h.fixture().await;
    let f2 = h.fixture().await;
    let mut all = Vec::new();
    for (i, (f, holder, amount)) in [
        (&f1, "ALPHA-1", "100"),
        (&f1, "alpha-2", "250.5"),
        (&f1, "BETA-1", "99.99"),
        (&f2, "ALPHA-3", "5000"),
        (&f2, "GAMMA_1", "42"),
        (&f1, "BETA-2", "100"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut p = h.position(f, holder, amount).await;
        if i % 2 == 0 {
            p = h
                .svc
                .transition_position(&h.actor, &p.id, to("FUNDED"))
                .await
                .unwrap()
                .position;
        }
        all.push(p);
    }
    (f1, f2, all)
}

async fn position_filters(h: &Harness) {
    let (f1, f2, all) = two_institution_positions(h).await;
    let ids = |f: PositionFilter| async move {
        let q = PositionQuery {
            filter: f.clone(),
            limit: 100,
            ..Default::default()
        };
        let got: Vec<String> = h
            .store
            .list_positions(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(
            h.store.count_positions(&f).await.unwrap(),
            got.len() as i64,
            "count matches list for {f:?}"
        );
        got
    };
    let want = |pred: &dyn Fn(&Position) -> bool| -> Vec<String> {
        all.iter()
            .filter(|p| pred(p))
            .map(|p| p.id.clone())
            .collect()
    };
    assert_eq!(ids(PositionFilter::default()).await, want(&|_| true));
    assert_eq!(
        ids(PositionFilter {
            institution_id: Some(f2.institution.clone()),
            ..Default::default()
        })
        .await,
        want(&|p| p.institution_id == f2.institution)
    );
    assert_eq!(
        ids(PositionFilter {
            asset_id: Some(f1.asset.clone()),
            ..Default::default()
        })
        .await,
        want(&|p| p.asset_id == f1.asset)
    );
    assert_eq!(
        ids(PositionFilter {
            template_id: Some(f1.template.clone()),
            ..Default::default()
        })
        .await,
        want(&|p| p.asset_id == f1.asset)
    );
    assert_eq!(
        ids(PositionFilter {
            state: Some(PositionState::Funded),
            ..Default::default()
        })
        .await,
        want(&|p| p.state == PositionState::Funded)
    );
    assert_eq!(
        ids(PositionFilter {
            holder_reference: Some("BETA-2".into()),
            ..Default::default()
        })
        .await,
        want(&|p| p.holder_reference == "BETA-2")
    );
    // text: case-insensitive substring of holder, id or external reference; LIKE wildcards are literal
    assert_eq!(
        ids(PositionFilter {
            text: Some("alpha".into()),
            ..Default::default()
        })
        .await,
        want(&|p| p.holder_reference.to_lowercase().contains("alpha"))
    );
    assert_eq!(
        ids(PositionFilter {
            text: Some("A_1".into()),
            ..Default::default()
        })
        .await,
        want(&|p| p.holder_reference == "GAMMA_1")
    );
    assert_eq!(
        ids(PositionFilter {
            text: Some("%".into()),
            ..Default::default()
        })
        .await,
        Vec::<String>::new()
    );
    let id_part = all[4].id[all[4].id.len() - 12..].to_string();
    assert_eq!(
        ids(PositionFilter {
            text: Some(id_part.to_uppercase()),
            ..Default::default()
        })
        .await,
        vec![all[4].id.clone()]
    );
    assert_eq!(
        ids(PositionFilter {
            institution_id: Some(f1.institution.clone()),
            state: Some(PositionState::Created),
            ..Default::default()
        })
        .await,
        want(&|p| p.institution_id == f1.institution && p.state == PositionState::Created)
    );
}

async fn position_sorting_and_paging_by_every_key(h: &Harness) {
    let (_f1, _f2, _) = two_institution_positions(h).await;
    let everything = h
        .store
        .list_positions(&PositionQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(everything.len(), 6);
    for key in PositionSortKey::ALL {
        for descending in [false, true] {
            let mut expected = everything.clone();
            expected
                .sort_by(|a, b| (key.cursor_value(a), &a.id).cmp(&(key.cursor_value(b), &b.id)));
            if descending {
                expected.reverse();
            }
            let expected: Vec<String> = expected.into_iter().map(|p| p.id).collect();
            // forwards, two at a time
            let mut got = Vec::new();
            let mut cursor = None;
            loop {
                let page = h
                    .store
                    .list_positions(&PositionQuery {
                        sort: *key,
                        descending,
                        cursor: cursor.clone(),
                        limit: 2,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                let Some(last) = page.last() else { break };
                cursor = Some(PositionCursor::of(*key, last));
                got.extend(page.iter().map(|p| p.id.clone()));
            }
            assert_eq!(got, expected, "forward pages by {key:?} desc={descending}");
            // backwards from the end, two at a time
            let mut back: Vec<String> = Vec::new();
            let mut cursor = None;
            loop {
                let page = h
                    .store
                    .list_positions(&PositionQuery {
                        sort: *key,
                        descending,
                        cursor: cursor.clone(),
                        backwards: true,
                        limit: 2,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                let Some(first) = page.first() else { break };
                cursor = Some(PositionCursor::of(*key, first));
                let mut ids: Vec<String> = page.iter().map(|p| p.id.clone()).collect();
                ids.extend(back);
                back = ids;
            }
            assert_eq!(
                back, expected,
                "backward pages by {key:?} desc={descending}"
            );
        }
    }
}

async fn stale_transition_conflicts_and_changes_nothing(h: &Harness) {
    let f = h.fixture().await;
    let p = h.position(&f, "H", "100").await;
    let funded = h
        .svc
        .transition_position(&h.actor, &p.id, to("FUNDED"))
        .await
        .unwrap()
        .position;
    let head = h.store.ledger_head().await.unwrap();
    let audits = h.store.counts(None).await.unwrap().audit_events;
    // A writer that read the position before it was funded:
    let mut stale = p.clone();
    stale.state = PositionState::Cancelled;
    stale.version = 1;
    let w = Write {
        change: Change::TransitionPosition {
            position: stale,
            expected_state: PositionState::Created,
            expected_version: 0,
            event: PositionLifecycleEvent {
                id: ids::new_id(ids::LIFECYCLE_EVENT),
                position_id: p.id.clone(),
                from_state: PositionState::Created,
                to_state: PositionState::Cancelled,
                reason: None,
                at: time::now(),
                metadata: None,
                actor: None,
                amount: None,
                held: None,
            },
            policy: None,
        },
        ledger: Some(escrowgrid::domain::ledger::LedgerDraft {
            id: None,
            kind: LedgerKind::PositionStateChanged,
            entity_type: escrowgrid::domain::EntityType::Position,
            entity_id: p.id.clone(),
            institution_id: f.institution.clone(),
            position_id: Some(p.id.clone()),
            at: time::now(),
            payload: serde_json::json!({}).into(),
        }),
        audit: None,
    };
    match h.store.commit(w).await {
        Err(StoreError::Conflict {
            expected,
            actual,
            actual_version,
            ..
        }) => {
            assert_eq!(
                (expected, actual, actual_version),
                (PositionState::Created, PositionState::Funded, 1)
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(h.store.get_position(&p.id).await.unwrap().unwrap(), funded);
    assert_eq!(h.store.position_events(&p.id).await.unwrap().len(), 1);
    assert_eq!(
        h.store.ledger_head().await.unwrap(),
        head,
        "no ledger event for the loser"
    );
    assert_eq!(h.store.counts(None).await.unwrap().audit_events, audits);
    // Through the service, --expect-state gives the same conflict with the fresh position.
    let e = h
        .svc
        .transition_position(
            &h.actor,
            &p.id,
            TransitionRequest {
                to: "RELEASED".into(),
                expect_state: Some("CREATED".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let ServiceError::Conflict {
        current: Some(cur), ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(cur.state, PositionState::Funded);
    assert!(
        e.to_string().contains("expected CREATED, it is now FUNDED"),
        "{e}"
    );
    // PARTIALLY_RELEASED -> PARTIALLY_RELEASED is a real transition: two writers on the same version cannot both win.
    let pr = h
        .svc
        .transition_position(&h.actor, &p.id, to("PARTIALLY_RELEASED"))
        .await
        .unwrap()
        .position;
    let mut twice = pr.clone();
    twice.version += 1;
    let mk = |pos: &Position| Write {
        change: Change::TransitionPosition {
            position: pos.clone(),
            expected_state: PositionState::PartiallyReleased,
            expected_version: pr.version,
            event: PositionLifecycleEvent {
                id: ids::new_id(ids::LIFECYCLE_EVENT),
                position_id: pos.id.clone(),
                from_state: PositionState::PartiallyReleased,
                to_state: PositionState::PartiallyReleased,
                reason: None,
                at: time::now(),
                metadata: None,
                actor: None,
                amount: None,
                held: None,
            },
            policy: None,
        },
        ledger: None,
        audit: None,
    };
    h.store.commit(mk(&twice)).await.unwrap();
    assert!(matches!(
        h.store.commit(mk(&twice)).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn failed_ledger_append_leaves_no_change(h: &Harness) {
    let f = h.fixture().await;
    let before = h.store.counts(None).await.unwrap();
    let head = h.store.ledger_head().await.unwrap();
    h.store.faults().fail_next_ledger_append();
    let e = h
        .svc
        .create_position(
            &h.actor,
            NewPosition {
                institution_id: Some(f.institution.clone()),
                asset_id: f.asset.clone(),
                holder_reference: "H".into(),
                currency: "USD".into(),
                amount: "100".into(),
                external_reference: None,
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("injected"), "{e}");
    let after = h.store.counts(None).await.unwrap();
    assert_eq!(
        after.positions, before.positions,
        "no position without its ledger event"
    );
    assert_eq!(h.store.ledger_head().await.unwrap(), head);
    // the failure itself is audited, the success is not
    let failures = h
        .store
        .list_audit(&AuditQuery {
            action: Some("POSITION_CREATED".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].outcome, Outcome::Failure);
    // same for a transition
    let p = h.position(&f, "H", "100").await;
    h.store.faults().fail_next_ledger_append();
    assert!(
        h.svc
            .transition_position(&h.actor, &p.id, to("FUNDED"))
            .await
            .is_err()
    );
    assert_eq!(
        h.store.get_position(&p.id).await.unwrap().unwrap().state,
        PositionState::Created
    );
    assert!(h.store.position_events(&p.id).await.unwrap().is_empty());
    // and the next write works and chains on
    h.svc
        .transition_position(&h.actor, &p.id, to("FUNDED"))
        .await
        .unwrap();
    assert!(h.svc.verify_ledger(&h.actor).await.unwrap().ok);
}

async fn ledger_is_gap_free_verifies_and_filters(h: &Harness) {
    let f = h.fixture().await;
    let p1 = h.position(&f, "A", "100").await;
    let p2 = h.position(&f, "B", "200").await;
    h.svc
        .transition_position(&h.actor, &p1.id, to("FUNDED"))
        .await
        .unwrap();
    h.svc
        .transition_position(&h.actor, &p1.id, to("RELEASED"))
        .await
        .unwrap();
    h.svc
        .transition_position(&h.actor, &p2.id, to("CANCELLED"))
        .await
        .unwrap();
    // no-op writes nothing
    let head = h.store.ledger_head().await.unwrap();
    assert!(
        !h.svc
            .transition_position(&h.actor, &p2.id, to("CANCELLED"))
            .await
            .unwrap()
            .applied
    );
    assert_eq!(h.store.ledger_head().await.unwrap(), head);
    let all = h
        .store
        .read_ledger(&LedgerQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<i64>>()
    );
    let mut v = ChainVerifier::default();
    for e in &all {
        v.push(e).unwrap();
    }
    assert_eq!(
        h.store.ledger_head().await.unwrap(),
        Some((8, all[7].hash.clone()))
    );
    let kinds: Vec<LedgerKind> = all.iter().map(|e| e.kind).collect();
    assert_eq!(
        &kinds[..3],
        &[
            LedgerKind::InstitutionCreated,
            LedgerKind::TemplateCreated,
            LedgerKind::AssetCreated
        ]
    );
    let of_p1 = h
        .store
        .read_ledger(&LedgerQuery {
            position_id: Some(p1.id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(of_p1.len(), 3);
    assert_eq!(of_p1[2].payload["fromState"], "FUNDED");
    assert_eq!(of_p1[2].payload["toState"], "RELEASED");
    let changed = h
        .store
        .read_ledger(&LedgerQuery {
            kind: Some(LedgerKind::PositionStateChanged),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(changed.len(), 3);
    let window = h
        .store
        .read_ledger(&LedgerQuery {
            after_seq: 2,
            before_seq: Some(6),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    let newest = h
        .store
        .read_ledger(&LedgerQuery {
            newest_first: true,
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![8, 7]);
    let other = h
        .store
        .read_ledger(&LedgerQuery {
            institution_id: Some("inst_other".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(other.is_empty());
    assert_eq!(
        h.store
            .read_ledger(&LedgerQuery {
                institution_id: Some(f.institution.clone()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        8
    );
}

async fn policy_upsert_keeps_identity(h: &Harness) {
    let f = h.fixture().await;
    let set = |min: &str, cur: Vec<&str>| PolicyInput {
        institution_id: Some(f.institution.clone()),
        region: "US".into(),
        min_amount: Some(min.into()),
        max_amount: None,
        allowed_currencies: Some(cur.into_iter().map(String::from).collect()),
        max_release_amount: None,
    };
    let first = h
        .svc
        .set_policy(&h.actor, set("50", vec!["USD"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = h
        .svc
        .set_policy(&h.actor, set("60", vec!["USD", "EUR"]))
        .await
        .unwrap();
    assert_eq!(second.id, first.id, "upsert keeps the id");
    assert_eq!(second.created_at, first.created_at, "and createdAt");
    assert!(second.updated_at > first.updated_at);
    assert_eq!(second.config.position.min_amount.unwrap().to_string(), "60");
    let stored = h
        .store
        .get_policy(&f.institution, Region::Us)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, second);
    assert_eq!(
        h.store.list_policies(Some(&f.institution)).await.unwrap(),
        vec![second.clone()]
    );
    let events = h
        .store
        .read_ledger(&LedgerQuery {
            kind: Some(LedgerKind::PolicyUpserted),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events.iter().all(|e| e.entity_id == first.id),
        "both ledger events name the stored policy"
    );
    let audit = h
        .store
        .list_audit(&AuditQuery {
            action: Some("POLICY_UPSERTED".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .all(|a| a.resource_id.as_deref() == Some(first.id.as_str()))
    );
    // and it is enforced: below the minimum
    let e = h
        .svc
        .create_position(
            &h.actor,
            NewPosition {
                institution_id: Some(f.institution.clone()),
                asset_id: f.asset.clone(),
                holder_reference: "H".into(),
                currency: "USD".into(),
                amount: "55".into(),
                external_reference: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("below the US policy minimum of 60"),
        "{e}"
    );
}

async fn api_key_lifecycle_and_idempotent_revoke(h: &Harness) {
    let f = h.fixture().await;
    let k = h
        .svc
        .create_api_key(
            &h.actor,
            Some(f.institution.clone()),
            "ops desk".into(),
            "read_only".into(),
        )
        .await
        .unwrap();
    let found = h
        .store
        .find_api_key_by_hash(&escrowgrid::domain::apikey::hash_token(&k.token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, k.api_key.id);
    assert_eq!(found.key_hash.len(), 64);
    assert_ne!(found.key_hash, k.token, "only the hash is stored");
    assert_eq!(
        h.store
            .list_api_keys(Some(&f.institution))
            .await
            .unwrap()
            .len(),
        1
    );
    let r1 = h.svc.revoke_api_key(&h.actor, &k.api_key.id).await.unwrap();
    assert!(!r1.already_revoked && r1.api_key.revoked_at.is_some());
    let head = h.store.ledger_head().await.unwrap();
    let r2 = h.svc.revoke_api_key(&h.actor, &k.api_key.id).await.unwrap();
    assert!(
        r2.already_revoked,
        "revoking twice is a no-op, not an error"
    );
    assert_eq!(r2.api_key.revoked_at, r1.api_key.revoked_at);
    assert_eq!(h.store.ledger_head().await.unwrap(), head);
    // the store agrees: a revoke of a revoked key applies nothing
    let c = h
        .store
        .commit(Write {
            change: Change::RevokeApiKey {
                id: k.api_key.id.clone(),
                at: time::now(),
            },
            ledger: None,
            audit: None,
        })
        .await
        .unwrap();
    assert!(!c.applied);
    assert!(matches!(
        h.store
            .commit(Write {
                change: Change::RevokeApiKey {
                    id: "ak_none".into(),
                    at: time::now()
                },
                ledger: None,
                audit: None
            })
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let e = h.svc.authenticate(Some(&k.token)).await.unwrap_err();
    assert!(e.to_string().contains("was revoked"), "{e}");
}

async fn audit_records_and_filters(h: &Harness) {
    let f = h.fixture().await;
    let p = h.position(&f, "H", "100").await;
    let _ = h
        .svc
        .transition_position(&h.actor, &p.id, to("RELEASED"))
        .await
        .unwrap_err();
    let all = h
        .store
        .list_audit(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = all.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "POSITION_TRANSITIONED",
            "POSITION_CREATED",
            "ASSET_CREATED",
            "ASSET_TEMPLATE_CREATED",
            "INSTITUTION_CREATED"
        ],
        "newest first"
    );
    assert_eq!(all[0].outcome, Outcome::Failure);
    assert_eq!(all[0].error.as_ref().unwrap().code, "INVALID_TRANSITION");
    assert_eq!(all[0].actor, "local:tester");
    assert_eq!(all[1].resource_id.as_deref(), Some(p.id.as_str()));
    assert_eq!(all[1].payload.as_ref().unwrap().to_value()["amount"], "100");
    let failures = h
        .store
        .list_audit(&AuditQuery {
            outcome: Some(Outcome::Failure),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failures.len(), 1);
    let mine = h
        .store
        .list_audit(&AuditQuery {
            institution_id: Some(f.institution.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 5, "records about the institution");
    let older = h
        .store
        .list_audit(&AuditQuery {
            before: Some(all[1].id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(older.len(), 3);
}

/// The `/` search of the console's Ledger and audit trail: by kind, id, actor or what the
/// payload says; ASCII case ignored; `%` and `_` literal; with keyset paging.
async fn ledger_and_audit_text_search(h: &Harness) {
    let f = h.fixture().await;
    let a = h.position(&f, "HOLDER-ALPHA", "100").await;
    let b = h.position(&f, "holder_beta%", "200").await;
    h.svc
        .transition_position(&h.actor, &a.id, to("FUNDED"))
        .await
        .unwrap();
    let _ = h
        .svc
        .transition_position(&h.actor, &b.id, to("RELEASED"))
        .await
        .unwrap_err();
    let ledger = |text: &str, after_seq: i64, limit: u32| {
        let q = LedgerQuery {
            text: Some(text.into()),
            after_seq,
            limit,
            ..Default::default()
        };
        let store = h.store.clone();
        async move {
            store
                .read_ledger(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.kind, e.entity_id))
                .collect::<Vec<_>>()
        }
    };
    // A holder reference in the payload, in another case.
    assert_eq!(
        ledger("holder-alpha", 0, 100).await,
        vec![(LedgerKind::PositionCreated, a.id.clone())]
    );
    // `_` and `%` are themselves, not wildcards.
    assert_eq!(
        ledger("r_beta%", 0, 100).await,
        vec![(LedgerKind::PositionCreated, b.id.clone())]
    );
    assert!(ledger("r%beta", 0, 100).await.is_empty());
    // A kind's name, an id, the actor.
    assert_eq!(
        ledger("state_changed", 0, 100).await,
        vec![(LedgerKind::PositionStateChanged, a.id.clone())]
    );
    let by_id = ledger(&b.id, 0, 100).await;
    assert_eq!(by_id, vec![(LedgerKind::PositionCreated, b.id.clone())]);
    let by_actor = ledger("local:tester", 0, 100).await;
    assert_eq!(
        by_actor.len(),
        6,
        "every event names its actor: {by_actor:?}"
    );
    // Paged: the first two matches, then the rest after the second's seq.
    let all = h
        .store
        .read_ledger(&LedgerQuery {
            text: Some("POSITION".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    let rest = ledger("position", all[1].seq, 100).await;
    assert_eq!(rest, vec![(all[2].kind, all[2].entity_id.clone())]);

    let audit = |text: &str| {
        let q = AuditQuery {
            text: Some(text.into()),
            limit: 100,
            ..Default::default()
        };
        let store = h.store.clone();
        async move {
            store
                .list_audit(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.action)
                .collect::<Vec<_>>()
        }
    };
    // An error's code, an outcome, a resource id.
    assert_eq!(
        audit("invalid_transition").await,
        vec!["POSITION_TRANSITIONED"]
    );
    assert_eq!(audit("FAILURE").await, vec!["POSITION_TRANSITIONED"]);
    assert_eq!(
        audit(&a.id).await,
        vec!["POSITION_TRANSITIONED", "POSITION_CREATED"]
    );
    assert!(audit("no such text").await.is_empty());
}

async fn duplicates_and_missing_references_are_refused(h: &Harness) {
    let f = h.fixture().await;
    let p = h.position(&f, "H", "100").await;
    let again = h
        .store
        .commit(Write {
            change: Change::CreatePosition(p.clone(), None),
            ledger: None,
            audit: None,
        })
        .await;
    assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
    let mut orphan = p.clone();
    orphan.id = ids::new_id(ids::POSITION);
    orphan.asset_id = "ast_missing".into();
    let r = h
        .store
        .commit(Write {
            change: Change::CreatePosition(orphan, None),
            ledger: None,
            audit: None,
        })
        .await;
    assert!(matches!(r, Err(StoreError::Constraint(_))), "{r:?}");
    assert_eq!(
        h.store
            .count_positions(&PositionFilter::default())
            .await
            .unwrap(),
        1
    );
}

/// 8 tasks × 200 transitions racing on the same 16 positions.
async fn concurrent_transitions_race(h: &Harness) {
    let f = h.fixture().await;
    let mut positions = Vec::new();
    for i in 0..16 {
        positions.push(h.position(&f, &format!("RACE-{i}"), "1000").await.id);
    }
    let positions = Arc::new(positions);
    let svc = Arc::new(h.service_with(Default::default()));
    let (ok, conflicts, other) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (svc, positions, ok, conflicts, other) = (
            svc.clone(),
            positions.clone(),
            ok.clone(),
            conflicts.clone(),
            other.clone(),
        );
        let actor = h.actor.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..200 {
                let id = &positions[(t * 7 + i * 3) % positions.len()];
                let cur = svc.get_position(&actor, id).await.unwrap();
                let next = match cur.state {
                    PositionState::Created => "FUNDED",
                    _ => "PARTIALLY_RELEASED",
                };
                let req = TransitionRequest {
                    to: next.into(),
                    expect_state: Some(cur.state.as_str().into()),
                    amount: (next == "PARTIALLY_RELEASED").then(|| "0.01".into()),
                    ..Default::default()
                };
                match svc.transition_position(&actor, id, req).await {
                    Ok(o) if o.applied => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {
                        other.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(ServiceError::Conflict { .. }) => {
                        conflicts.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (ok, conflicts) = (ok.load(Ordering::SeqCst), conflicts.load(Ordering::SeqCst));
    assert_eq!(ok + conflicts + other.load(Ordering::SeqCst), 1600);
    assert!(ok >= 16, "every position moved at least once ({ok})");
    let mut total_events = 0;
    for id in positions.iter() {
        let p = h.store.get_position(id).await.unwrap().unwrap();
        let events = h.store.position_events(id).await.unwrap();
        assert_eq!(
            p.state,
            events.last().unwrap().to_state,
            "state equals the last lifecycle event"
        );
        assert_eq!(
            p.version as usize,
            events.len(),
            "one version per recorded transition"
        );
        for w in events.windows(2) {
            assert_eq!(w[0].to_state, w[1].from_state, "history is a chain");
        }
        total_events += events.len();
    }
    assert_eq!(
        total_events, ok,
        "every accepted transition has exactly one lifecycle event"
    );
    let changed = h
        .svc
        .ledger(
            &h.actor,
            LedgerQuery {
                kind: Some(LedgerKind::PositionStateChanged),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut n = changed.len();
    let mut after = changed.last().map(|e| e.seq).unwrap_or(0);
    loop {
        let more = h
            .svc
            .ledger(
                &h.actor,
                LedgerQuery {
                    kind: Some(LedgerKind::PositionStateChanged),
                    after_seq: after,
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let Some(l) = more.last() else { break };
        after = l.seq;
        n += more.len();
    }
    assert_eq!(
        n, ok,
        "every accepted transition has exactly one ledger event"
    );
    let conflict_audits = h
        .store
        .list_audit(&AuditQuery {
            outcome: Some(Outcome::Failure),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(conflict_audits.len(), conflicts, "every loser was audited");
    let report = h.svc.verify_ledger(&h.actor).await.unwrap();
    assert!(report.ok, "{report:?}");
}

async fn stream_delivers_every_event_once_in_order(h: &Harness) {
    let f = h.fixture().await;
    let start = h
        .store
        .ledger_head()
        .await
        .unwrap()
        .map(|(s, _)| s)
        .unwrap_or(0);
    let mut sub = h.svc.subscribe(&h.actor, 1, StreamFilter::default());
    let svc = Arc::new(h.service_with(Default::default()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (svc, actor, inst, asset) = (
            svc.clone(),
            h.actor.clone(),
            f.institution.clone(),
            f.asset.clone(),
        );
        writers.push(tokio::spawn(async move {
            for i in 0..10 {
                svc.create_position(
                    &actor,
                    NewPosition {
                        institution_id: Some(inst.clone()),
                        asset_id: asset.clone(),
                        holder_reference: format!("S-{w}-{i}"),
                        currency: "USD".into(),
                        amount: "100".into(),
                        external_reference: None,
                    },
                )
                .await
                .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let end = start + 40;
    let mut seen = Vec::new();
    while seen.last().copied().unwrap_or(0) < end {
        match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
            Ok(Some(StreamItem::Event(e))) => seen.push(e.seq),
            Ok(Some(StreamItem::Status(_))) => {}
            Ok(Some(StreamItem::Ended(e))) => panic!("stream ended: {e}"),
            Ok(None) => panic!("stream ended"),
            Err(_) => panic!("stream stalled at {:?}", seen.last()),
        }
    }
    assert_eq!(
        seen,
        (2..=end).collect::<Vec<i64>>(),
        "after seq 1: every event once, in order"
    );
}

async fn health_reports_counts_and_head(h: &Harness) {
    let f = h.fixture().await;
    h.position(&f, "H", "100").await;
    let r = h.svc.health(&h.actor).await;
    assert!(r.connected, "{r:?}");
    assert!(r.ping_ms.is_some());
    let c = r.counts.unwrap();
    assert_eq!(
        (
            c.institutions,
            c.templates,
            c.assets,
            c.positions,
            c.ledger_events
        ),
        (1, 1, 1, 1, 4)
    );
    let by_state: BTreeMap<_, _> = c.positions_by_state.into_iter().collect();
    assert_eq!(by_state[&PositionState::Created], 1);
    assert_eq!(by_state[&PositionState::Released], 0);
    assert_eq!(r.ledger_head.unwrap().seq, 4);
    assert_eq!(r.backend, h.store.backend().to_string());
}

/// The anchors' outbox: an anchor per seq, claimed by one sender at a time (a lease), saved and
/// released, retried only when due; the summary counts what is not yet on the chain.
async fn the_anchor_outbox_claims_each_anchor_once(h: &Harness) {
    use escrowgrid::domain::anchor;
    let s = &h.store;
    assert!(s.anchor_enqueue(5, "aa").await.unwrap());
    assert!(
        !s.anchor_enqueue(5, "bb").await.unwrap(),
        "one anchor per seq"
    );
    assert!(s.anchor_enqueue(9, "cc").await.unwrap());
    let lease = Duration::from_secs(60);
    let a = s.anchor_claim("one", lease).await.unwrap().unwrap();
    assert_eq!((a.seq, a.head.as_str(), a.attempts), (5, "aa", 1));
    assert!(
        s.anchor_claim("two", lease).await.unwrap().is_none(),
        "one sender at a time"
    );
    // The first sender hands its anchor back (still pending); the second takes it.
    s.anchor_save(&a).await.unwrap();
    let a = s.anchor_claim("two", lease).await.unwrap().unwrap();
    assert_eq!((a.seq, a.attempts), (5, 2));
    s.anchor_save(&anchor::AnchorRecord {
        status: anchor::FAILED.into(),
        next_attempt_at: escrowgrid::domain::time::format(
            &(escrowgrid::domain::time::now() + chrono::Duration::seconds(3600)),
        ),
        ..a.clone()
    })
    .await
    .unwrap();
    let b = s.anchor_claim("two", lease).await.unwrap().unwrap();
    assert_eq!(b.seq, 9, "an anchor not yet due is passed over");
    assert!(s.anchor_claim("three", lease).await.unwrap().is_none());
    let summary = s.anchor_summary().await.unwrap();
    assert_eq!(summary.pending, 2);
    assert!(summary.last_confirmed.is_none());

    // The first is confirmed; the second failed and is due only later.
    let done = anchor::AnchorRecord {
        status: anchor::CONFIRMED.into(),
        tx_hash: Some("0xabc".into()),
        block_number: Some(7),
        ..a
    };
    s.anchor_save(&done).await.unwrap();
    let later = escrowgrid::domain::time::format(
        &(escrowgrid::domain::time::now() + chrono::Duration::seconds(3600)),
    );
    let failed = anchor::AnchorRecord {
        status: anchor::FAILED.into(),
        last_error: Some("chain unreachable".into()),
        next_attempt_at: later,
        ..b
    };
    s.anchor_save(&failed).await.unwrap();
    assert!(
        s.anchor_claim("three", lease).await.unwrap().is_none(),
        "not due yet"
    );
    let summary = s.anchor_summary().await.unwrap();
    assert_eq!(summary.pending, 1);
    assert_eq!(summary.last_error.as_deref(), Some("chain unreachable"));
    let confirmed = summary.last_confirmed.unwrap();
    assert_eq!((confirmed.seq, confirmed.block_number), (5, Some(7)));
    assert_eq!(confirmed.tx_hash.as_deref(), Some("0xabc"));

    // Due again, with an expired lease: claimable, and the attempt counted.
    let now = escrowgrid::domain::time::format(&escrowgrid::domain::time::now());
    s.anchor_save(&anchor::AnchorRecord {
        next_attempt_at: now,
        ..failed
    })
    .await
    .unwrap();
    let again = s
        .anchor_claim("four", Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.seq, again.attempts), (9, 2));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let expired = s.anchor_claim("five", lease).await.unwrap().unwrap();
    assert_eq!(expired.seq, 9, "a lease that ran out frees the anchor");
    let seqs: Vec<i64> = s
        .list_anchors(10)
        .await
        .unwrap()
        .iter()
        .map(|a| a.seq)
        .collect();
    assert_eq!(seqs, [9, 5], "newest first");
}
