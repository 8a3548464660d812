//! The batching write path, on every backend: writes queued together commit in one transaction,
//! a failing write fails alone and changes nothing, and the chain stays gap-free and verifiable
//! under many concurrent callers.

use crate::common;

use common::Harness;
use escrowgrid::domain::ledger::LedgerDraft;
use escrowgrid::domain::{EntityType, LedgerKind, PositionState, Region, ids, time};
use escrowgrid::service::{NewPosition, PolicyInput, ServiceError, TransitionRequest};
use escrowgrid::store::{
    Backend, Change, Committed, LedgerQuery, PolicySeen, StoreError, StoreResult, Write,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

for_all_backends!(
    a_failing_write_in_a_batch_fails_alone,
    a_create_checked_against_a_changed_policy_fails_alone,
    a_policy_set_by_another_process_binds_its_next_create,
    a_move_or_a_cap_set_by_another_process_binds_its_next_transition,
    concurrent_callers_keep_a_gap_free_verified_chain,
    two_writers_on_one_database_take_turns,
);

/// Waits (bounded) until the store has `n` writes queued behind its held writer.
async fn until_queued(h: &Harness, n: i64) {
    let start = Instant::now();
    while h.store.faults().queued_writes() < n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "only {} of {n} writes queued",
            h.store.faults().queued_writes()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A position create written straight to the store, with its ledger event and no audit record.
fn create_write(p: &escrowgrid::domain::Position) -> Write {
    Write {
        change: Change::CreatePosition(p.clone(), None),
        ledger: Some(LedgerDraft {
            id: None,
            kind: LedgerKind::PositionCreated,
            entity_type: EntityType::Position,
            entity_id: p.id.clone(),
            institution_id: p.institution_id.clone(),
            position_id: Some(p.id.clone()),
            at: time::now(),
            payload: serde_json::json!({"holderReference": p.holder_reference}).into(),
        }),
        audit: None,
    }
}

async fn a_failing_write_in_a_batch_fails_alone(h: &Harness) {
    let f = h.fixture().await;
    let existing = h.position(&f, "EXISTING", "100").await;
    let head_before = h.store.ledger_head().await.unwrap().unwrap().0;
    let hold = h.store.faults().hold_writer().await;
    let mut queued: Vec<(&str, JoinHandle<StoreResult<Committed>>)> = Vec::new();
    let mut fresh = Vec::new();
    for (i, kind) in ["good", "duplicate", "good", "stale", "good", "good"]
        .into_iter()
        .enumerate()
    {
        let write = match kind {
            "good" => {
                let mut p = existing.clone();
                p.id = ids::new_id(ids::POSITION);
                p.holder_reference = format!("BATCH-{i}");
                fresh.push(p.id.clone());
                create_write(&p)
            }
            // Fails inside the transaction, after the batch has written other rows.
            "duplicate" => create_write(&existing),
            // Refused before it writes anything: the position is not in this state.
            _ => {
                let mut next = existing.clone();
                next.state = PositionState::Released;
                next.version = 7;
                Write {
                    change: Change::TransitionPosition {
                        position: next,
                        expected_state: PositionState::Funded,
                        expected_version: 6,
                        event: escrowgrid::domain::PositionLifecycleEvent {
                            id: ids::new_id(ids::LIFECYCLE_EVENT),
                            position_id: existing.id.clone(),
                            from_state: PositionState::Funded,
                            to_state: PositionState::Released,
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
                }
            }
        };
        let store = h.store.clone();
        queued.push((kind, tokio::spawn(async move { store.commit(write).await })));
        // One at a time, so the queue holds them in this order.
        until_queued(h, i as i64 + 1).await;
    }
    drop(hold);
    let mut seqs = Vec::new();
    for (kind, task) in queued {
        let r = task.await.unwrap();
        match kind {
            "good" => {
                let c = r.expect("a good write commits");
                let expected_batch = if h.store.backend() == Backend::Memory {
                    1
                } else {
                    4
                };
                assert_eq!(c.batch, expected_batch, "the good writes commit together");
                seqs.push(c.ledger.unwrap());
            }
            "duplicate" => assert!(
                matches!(r, Err(StoreError::Duplicate(_))),
                "the duplicate fails alone: {r:?}"
            ),
            _ => assert!(
                matches!(r, Err(StoreError::Conflict { .. })),
                "the stale transition is refused: {r:?}"
            ),
        }
    }
    assert_eq!(
        seqs,
        (head_before + 1..=head_before + 4).collect::<Vec<_>>(),
        "the good writes take the next seqs, in arrival order, with no gap"
    );
    for id in &fresh {
        assert!(h.store.get_position(id).await.unwrap().is_some());
    }
    let dup_events = h
        .store
        .read_ledger(&LedgerQuery {
            position_id: Some(existing.id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        dup_events.len(),
        1,
        "nothing of the failed writes was stored"
    );
    let unchanged = h.store.get_position(&existing.id).await.unwrap().unwrap();
    assert_eq!(unchanged, existing);
    assert_chain(h).await;
    let counts = h.store.counts(None).await.unwrap();
    assert_eq!(
        counts.positions, 5,
        "counters moved only for the writes that landed"
    );
    assert_eq!(counts.ledger_events, head_before + 4);
}

/// A US policy on `institution` with `max` as its maximum amount.
fn us_policy(institution: &str, max: &str) -> PolicyInput {
    PolicyInput {
        institution_id: Some(institution.into()),
        region: "US".into(),
        min_amount: None,
        max_amount: Some(max.into()),
        allowed_currencies: None,
        max_release_amount: None,
    }
}

/// A create the service checked against a policy that is no longer the one in force is refused
/// alone and writes nothing; the creates checked against the policy in force, queued with it in
/// one batch, commit together with no gap in the chain.
async fn a_create_checked_against_a_changed_policy_fails_alone(h: &Harness) {
    let f = h.fixture().await;
    let existing = h.position(&f, "EXISTING", "100").await;
    h.svc
        .set_policy(&h.actor, us_policy(&f.institution, "5000"))
        .await
        .unwrap();
    let policy = h
        .store
        .get_policy(&f.institution, Region::Us)
        .await
        .unwrap()
        .map(Arc::new);
    assert!(policy.is_some());
    let mut older = (*policy.clone().unwrap()).clone();
    older.config.position.max_amount = Some("9000".parse().unwrap());
    let seen = |policy| {
        Some(PolicySeen {
            region: Region::Us,
            policy,
        })
    };
    let head_before = h.store.ledger_head().await.unwrap().unwrap().0;
    let hold = h.store.faults().hold_writer().await;
    let mut queued = Vec::new();
    for (i, guard) in [
        seen(policy.clone()),
        seen(None),
        seen(policy.clone()),
        seen(Some(Arc::new(older))),
        seen(policy.clone()),
    ]
    .into_iter()
    .enumerate()
    {
        let mut p = existing.clone();
        p.id = ids::new_id(ids::POSITION);
        p.holder_reference = format!("GUARD-{i}");
        let mut write = create_write(&p);
        let current = guard.as_ref().and_then(|g| g.policy.clone()) == policy;
        write.change = Change::CreatePosition(p.clone(), guard);
        let store = h.store.clone();
        queued.push((
            current,
            p.id.clone(),
            tokio::spawn(async move { store.commit(write).await }),
        ));
        until_queued(h, i as i64 + 1).await;
    }
    drop(hold);
    let mut seqs = Vec::new();
    for (current, id, task) in queued {
        let r = task.await.unwrap();
        if current {
            seqs.push(
                r.expect("checked against the policy in force")
                    .ledger
                    .unwrap(),
            );
            assert!(h.store.get_position(&id).await.unwrap().is_some());
        } else {
            assert!(
                matches!(&r, Err(StoreError::PolicyChanged { institution_id, region: Region::Us })
                    if *institution_id == f.institution),
                "a create checked against another policy is refused: {r:?}"
            );
            assert!(
                h.store.get_position(&id).await.unwrap().is_none(),
                "and nothing of it is written"
            );
        }
    }
    assert_eq!(
        seqs,
        (head_before + 1..=head_before + 3).collect::<Vec<_>>(),
        "the others take the next seqs, in arrival order"
    );
    assert_chain(h).await;
}

/// A service keeps the policy it last checked a create against, so its creates read no policy;
/// a policy set since by another process binds its very next create all the same, tighter or
/// looser.
async fn a_policy_set_by_another_process_binds_its_next_create(h: &Harness) {
    let f = h.fixture().await;
    let other = h.other_process().await;
    let create = |amount: &str| NewPosition {
        institution_id: Some(f.institution.clone()),
        asset_id: f.asset.clone(),
        holder_reference: format!("ELSEWHERE-{amount}"),
        currency: "USD".into(),
        amount: amount.into(),
        external_reference: None,
    };
    // No policy yet: what `other` keeps.
    other
        .create_position(&h.actor, create("500"))
        .await
        .unwrap();
    h.svc
        .set_policy(&h.actor, us_policy(&f.institution, "100"))
        .await
        .unwrap();
    let e = other
        .create_position(&h.actor, create("500"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("500 is above the US policy maximum of 100"),
        "{e}"
    );
    other.create_position(&h.actor, create("50")).await.unwrap();
    h.svc
        .set_policy(&h.actor, us_policy(&f.institution, "1000"))
        .await
        .unwrap();
    let p = other
        .create_position(&h.actor, create("700"))
        .await
        .unwrap();
    assert_eq!(p.amount.to_string(), "700");
    assert_chain(h).await;
}

fn release(amount: &str) -> TransitionRequest {
    TransitionRequest {
        to: "PARTIALLY_RELEASED".into(),
        amount: Some(amount.into()),
        ..Default::default()
    }
}

fn release_cap(institution: &str, cap: &str) -> PolicyInput {
    PolicyInput {
        max_release_amount: Some(cap.into()),
        max_amount: None,
        ..us_policy(institution, "0")
    }
}

/// `to` for position `id` as root, through `svc` (this process's service or another's).
async fn move_as_root(
    h: &Harness,
    svc: &escrowgrid::service::Service,
    id: &str,
    to: TransitionRequest,
) -> escrowgrid::service::ServiceResult<escrowgrid::service::TransitionOutcome> {
    svc.transition_position(&h.actor, id, to).await
}

/// A process moves positions it wrote last, and releases under policies it read last, without
/// reading either again; a position moved, or a release cap set, by another process binds its
/// very next transition all the same (the store refuses the kept copy, the service reads again).
async fn a_move_or_a_cap_set_by_another_process_binds_its_next_transition(h: &Harness) {
    let f = h.fixture().await;
    let other = h.other_process().await;
    let p = other
        .create_position(
            &h.actor,
            NewPosition {
                institution_id: Some(f.institution.clone()),
                asset_id: f.asset.clone(),
                holder_reference: "MOVED-ELSEWHERE".into(),
                currency: "USD".into(),
                amount: "1000".into(),
                external_reference: None,
            },
        )
        .await
        .unwrap();
    let move_by = |svc, to| move_as_root(h, svc, &p.id, to);
    // `other` keeps it CREATED; here it is funded.
    let funded = TransitionRequest {
        to: "FUNDED".into(),
        ..Default::default()
    };
    move_by(&h.svc, funded).await.unwrap();
    let o = move_by(&other, release("100")).await.unwrap();
    assert_eq!(
        (o.position.state, o.position.version),
        (PositionState::PartiallyReleased, 2)
    );
    // Same state, another version: the store refuses `other`'s copy, the service reads again.
    move_by(&h.svc, release("10")).await.unwrap();
    let o = move_by(&other, release("50")).await.unwrap();
    assert_eq!(o.position.version, 4);
    assert_eq!(o.position.held.unwrap().to_string(), "840");
    let stored = h.store.get_position(&p.id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.held), (4, o.position.held));
    // `other` released with no policy in force and keeps that; a cap set here binds it.
    h.svc
        .set_policy(&h.actor, release_cap(&f.institution, "20"))
        .await
        .unwrap();
    let e = move_by(&other, release("30")).await.unwrap_err();
    assert!(
        e.to_string().contains("cap of 20.00 for one release"),
        "{e}"
    );
    // `other` now keeps the cap of 20; loosened here, it binds no more.
    h.svc
        .set_policy(&h.actor, release_cap(&f.institution, "500"))
        .await
        .unwrap();
    let o = move_by(&other, release("300")).await.unwrap();
    assert_eq!(o.position.held.unwrap().to_string(), "540");
    assert_eq!(
        h.store.get_position(&p.id).await.unwrap().unwrap().version,
        5
    );
    assert_chain(h).await;
}

async fn concurrent_callers_keep_a_gap_free_verified_chain(h: &Harness) {
    let f = h.fixture().await;
    let svc = Arc::new(h.service_with(Default::default()));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (svc, actor, f) = (
            svc.clone(),
            h.actor.clone(),
            (f.institution.clone(), f.asset.clone()),
        );
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..12 {
                let p = svc
                    .create_position(
                        &actor,
                        NewPosition {
                            institution_id: Some(f.0.clone()),
                            asset_id: f.1.clone(),
                            holder_reference: format!("C-{t}-{i}"),
                            currency: "USD".into(),
                            amount: "250".into(),
                            external_reference: None,
                        },
                    )
                    .await?;
                if i % 3 == 0 {
                    svc.transition_position(
                        &actor,
                        &p.id,
                        TransitionRequest {
                            to: "FUNDED".into(),
                            ..Default::default()
                        },
                    )
                    .await?;
                }
                mine.push(p.id);
            }
            Ok::<_, ServiceError>(mine)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap().unwrap());
    }
    assert_eq!(all.len(), 16 * 12);
    for id in &all {
        assert!(h.store.get_position(id).await.unwrap().is_some());
    }
    let checked = assert_chain(h).await;
    // 3 fixture events + 192 creates + 64 transitions.
    assert_eq!(checked, 3 + 192 + 64);
    let counts = h.store.counts(None).await.unwrap();
    assert_eq!(counts.positions, 192);
    assert_eq!(counts.ledger_events, checked as i64);
    let funded = counts
        .positions_by_state
        .iter()
        .find(|(s, _)| *s == PositionState::Funded)
        .unwrap()
        .1;
    assert_eq!(funded, 64);
}

/// Two stores on one database (as two processes would be) write in turns, so each writer's idea
/// of the chain head is stale at every batch: every write still lands, on one gap-free chain.
async fn two_writers_on_one_database_take_turns(h: &Harness) {
    if h.store.backend() == Backend::Memory {
        return; // one process's memory: there is no second writer
    }
    let f = h.fixture().await;
    let other = escrowgrid::store::open(h.store.backend(), &h.url, Duration::from_millis(20))
        .await
        .unwrap();
    let svc2 = escrowgrid::service::Service::new(other.clone(), Default::default());
    for i in 0..30 {
        let svc = if i % 2 == 0 { &h.svc } else { &svc2 };
        let p = svc
            .create_position(
                &h.actor,
                NewPosition {
                    institution_id: Some(f.institution.clone()),
                    asset_id: f.asset.clone(),
                    holder_reference: format!("TURN-{i}"),
                    currency: "USD".into(),
                    amount: "50".into(),
                    external_reference: None,
                },
            )
            .await
            .unwrap();
        // The other writer moves it on.
        let svc = if i % 2 == 0 { &svc2 } else { &h.svc };
        svc.transition_position(
            &h.actor,
            &p.id,
            TransitionRequest {
                to: "FUNDED".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(assert_chain(h).await, 3 + 60);
    let counts = other.counts(None).await.unwrap();
    assert_eq!(counts.positions, 30);
    assert_eq!(counts.ledger_events, 63);
}

/// Walks the whole chain; returns how many events it checked.
async fn assert_chain(h: &Harness) -> u64 {
    let (v, _) = common::walk_chain(&h.store).await;
    let head = h
        .store
        .ledger_head()
        .await
        .unwrap()
        .unwrap_or((0, String::new()));
    assert_eq!(
        v.head(),
        (head.0, head.1.as_str()),
        "the stored head is the chain's"
    );
    v.checked
}
