//! Releases carry money, on every backend: what a position has released and still holds, the
//! refusals that keep the sum of its releases within its amount (also when two releases race),
//! a policy's cap on one release, steps recorded before releases carried amounts, and `check`
//! proving the sums from the ledger.

use crate::common;

use common::Harness;
use escrowgrid::domain::audit::AuditEvent;
use escrowgrid::domain::ledger::LedgerDraft;
use escrowgrid::domain::payloads::{Payload, Transition};
use escrowgrid::domain::{
    Balance, EntityType, LedgerKind, Outcome, PositionLifecycleEvent, PositionState, ids, time,
};
use escrowgrid::service::{PolicyInput, ServiceError, TransitionRequest};
use escrowgrid::store::{Change, Write};

for_all_backends!(
    releases_move_money_and_check_proves_the_sums,
    racing_partial_releases_never_exceed_the_amount,
    a_policy_caps_one_release,
    steps_recorded_before_releases_carried_amounts_still_check,
);

fn b(s: &str) -> Option<Balance> {
    Some(Balance::parse(s).unwrap())
}

fn to(state: &str, amount: Option<&str>) -> TransitionRequest {
    TransitionRequest {
        to: state.into(),
        amount: amount.map(str::to_string),
        ..Default::default()
    }
}

async fn check_is_clean(h: &Harness) {
    let r = h.svc.check(&h.actor).await.unwrap();
    assert!(r.ok, "{}", serde_json::to_string_pretty(&r).unwrap());
}

async fn releases_move_money_and_check_proves_the_sums(h: &Harness) {
    let f = h.fixture().await;
    let p = h.position(&f, "H-1", "1000").await;
    assert_eq!((p.released, p.held), (b("0"), b("1000")));
    let (svc, a) = (&h.svc, &h.actor);
    svc.transition_position(a, &p.id, to("FUNDED", None))
        .await
        .unwrap();
    let r = svc
        .transition_position(a, &p.id, to("PARTIALLY_RELEASED", Some("250")))
        .await
        .unwrap();
    assert_eq!((r.position.released, r.position.held), (b("250"), b("750")));
    let e = r.event.unwrap();
    assert_eq!((e.amount, e.held), (b("250"), b("750")));

    // Refusals change nothing: all that is held (that is RELEASED), more than is held, none.
    let head = h.store.ledger_head().await.unwrap();
    for (amount, says) in [
        (Some("750"), "move the position to RELEASED instead"),
        (Some("750.01"), "is more than the 750.00 still held"),
        (
            None,
            "is required for a partial release (up to 750.00 is held)",
        ),
        (Some("-5"), "greater than zero"),
    ] {
        let err = svc
            .transition_position(a, &p.id, to("PARTIALLY_RELEASED", amount))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::Validation(f) if f[0].field == "amount"),
            "{err:?}"
        );
        assert!(err.to_string().contains(says), "{amount:?}: {err}");
    }
    let err = svc
        .transition_position(a, &p.id, to("RELEASED", Some("700")))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("all that is held (750.00)"),
        "{err}"
    );
    assert_eq!(
        h.store.ledger_head().await.unwrap(),
        head,
        "nothing written"
    );
    let now = svc.get_position(a, &p.id).await.unwrap();
    assert_eq!((now.version, now.held), (2, b("750")));

    // RELEASED moves what is left.
    let r = svc
        .transition_position(a, &p.id, to("RELEASED", None))
        .await
        .unwrap();
    assert_eq!((r.position.released, r.position.held), (b("1000"), b("0")));
    assert_eq!(
        r.event.map(|e| (e.amount, e.held)),
        Some((b("750"), b("0")))
    );

    // A cancellation after a partial release records what it returned.
    let q = h.position(&f, "H-2", "500.50").await;
    svc.transition_position(a, &q.id, to("FUNDED", None))
        .await
        .unwrap();
    svc.transition_position(a, &q.id, to("PARTIALLY_RELEASED", Some("0.50")))
        .await
        .unwrap();
    let c = svc
        .transition_position(a, &q.id, to("CANCELLED", None))
        .await
        .unwrap();
    assert_eq!(c.event.map(|e| e.amount), Some(b("500")));
    assert_eq!((c.position.released, c.position.held), (b("0.5"), b("500")));
    let err = svc
        .transition_position(a, &q.id, to("CANCELLED", Some("1")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nothing moves"), "{err}");

    // The lifecycle keeps each step's amount; the store keeps the balance.
    let d = svc.position_detail(a, &p.id).await.unwrap();
    let moved: Vec<_> = d.events.iter().map(|e| (e.to_state, e.amount)).collect();
    use PositionState::*;
    assert_eq!(
        moved,
        vec![
            (Funded, b("0")),
            (PartiallyReleased, b("250")),
            (Released, b("750"))
        ]
    );
    // Held in escrow: only funded positions count (a third, funded, holds 40).
    let r3 = h.position(&f, "H-3", "40").await;
    svc.transition_position(a, &r3.id, to("FUNDED", None))
        .await
        .unwrap();
    let held = h.store.held_totals(None).await.unwrap();
    assert_eq!(held, vec![("USD".parse().unwrap(), b("40").unwrap())]);
    assert_eq!(
        h.store.held_totals(Some("inst_nobody")).await.unwrap(),
        vec![],
        "scoped to an institution"
    );
    check_is_clean(h).await;
}

async fn racing_partial_releases_never_exceed_the_amount(h: &Harness) {
    let f = h.fixture().await;
    for i in 0..4 {
        let p = h.position(&f, &format!("RACE-{i}"), "1000").await;
        h.svc
            .transition_position(&h.actor, &p.id, to("FUNDED", None))
            .await
            .unwrap();
        // Each alone is allowed; together they would release 1,200 of 1,000.
        let (x, y) = tokio::join!(
            h.svc
                .transition_position(&h.actor, &p.id, to("PARTIALLY_RELEASED", Some("600"))),
            h.svc
                .transition_position(&h.actor, &p.id, to("PARTIALLY_RELEASED", Some("600"))),
        );
        let (won, lost) = match (x, y) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            other => panic!("exactly one must win: {other:?}"),
        };
        assert_eq!(won.position.held, b("400"));
        // The loser is refused with the fresh balance: a conflict carrying the position as it
        // now is, or (when it read after the winner) the amount's refusal naming it.
        match &lost {
            ServiceError::Conflict {
                current: Some(cur), ..
            } => assert_eq!(cur.held, b("400"), "{lost}"),
            ServiceError::Validation(_) => {
                assert!(lost.to_string().contains("400.00 still held"), "{lost}")
            }
            other => panic!("{other:?}"),
        }
        let now = h.svc.get_position(&h.actor, &p.id).await.unwrap();
        assert_eq!((now.released, now.held), (b("600"), b("400")));
    }
    check_is_clean(h).await;
}

async fn a_policy_caps_one_release(h: &Harness) {
    let f = h.fixture().await;
    h.svc
        .set_policy(
            &h.actor,
            PolicyInput {
                institution_id: Some(f.institution.clone()),
                region: "US".into(),
                max_release_amount: Some("100".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let p = h.position(&f, "CAP", "250").await;
    let (svc, a) = (&h.svc, &h.actor);
    svc.transition_position(a, &p.id, to("FUNDED", None))
        .await
        .unwrap();
    let err = svc
        .transition_position(a, &p.id, to("PARTIALLY_RELEASED", Some("150")))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("above the US policy's cap of 100.00"),
        "{err}"
    );
    // Two releases within the cap, then the final one (50) within it too.
    for _ in 0..2 {
        svc.transition_position(a, &p.id, to("PARTIALLY_RELEASED", Some("100")))
            .await
            .unwrap();
    }
    let r = svc
        .transition_position(a, &p.id, to("RELEASED", None))
        .await
        .unwrap();
    assert_eq!(r.event.and_then(|e| e.amount), b("50"));
    check_is_clean(h).await;
}

/// A partial release as an older escrowgrid recorded it: no amount, no balance.
async fn legacy_partial_release(h: &Harness, institution: &str, id: &str) {
    let cur = h.svc.get_position(&h.actor, id).await.unwrap();
    let now = time::now();
    let mut next = cur.clone();
    next.state = PositionState::PartiallyReleased;
    next.version += 1;
    next.updated_at = now;
    (next.released, next.held) = (None, None);
    let event = PositionLifecycleEvent {
        id: ids::new_id(ids::LIFECYCLE_EVENT),
        position_id: id.into(),
        from_state: cur.state,
        to_state: next.state,
        reason: Some("recorded by an older escrowgrid".into()),
        at: now,
        metadata: None,
        actor: Some(h.actor.audit_name()),
        amount: None,
        held: None,
    };
    let payload = Payload::PositionStateChanged(Transition {
        from_state: cur.state,
        to_state: next.state,
        reason: event.reason.clone(),
        lifecycle_event_id: event.id.clone(),
        version: next.version,
        actor: h.actor.audit_name(),
        metadata: Some(None),
        amount: None,
        held: None,
    })
    .to_value();
    assert!(payload.get("amount").is_none() && payload.get("held").is_none());
    let kind = LedgerKind::PositionStateChanged;
    let write = Write {
        change: Change::TransitionPosition {
            position: next,
            expected_state: cur.state,
            expected_version: cur.version,
            event,
            policy: None,
        },
        ledger: Some(LedgerDraft {
            id: None,
            kind,
            entity_type: EntityType::Position,
            entity_id: id.into(),
            institution_id: institution.into(),
            position_id: Some(id.into()),
            at: now,
            payload: payload.clone().into(),
        }),
        audit: Some(AuditEvent {
            id: ids::new_id(ids::AUDIT),
            occurred_at: now,
            actor: h.actor.audit_name(),
            api_key_id: None,
            institution_id: None,
            action: kind.audit_action().into(),
            outcome: Outcome::Success,
            resource_type: Some(EntityType::Position.as_str().into()),
            resource_id: Some(id.into()),
            subject_institution_id: Some(institution.into()),
            payload: Some(payload.into()),
            error: None,
            op_id: None,
            client: None,
            seq: None,
            prev_hash: None,
            hash: None,
        }),
    };
    h.store.commit(write).await.unwrap();
}

async fn steps_recorded_before_releases_carried_amounts_still_check(h: &Harness) {
    let f = h.fixture().await;
    let p = h.position(&f, "OLD", "1000").await;
    let (svc, a) = (&h.svc, &h.actor);
    svc.transition_position(a, &p.id, to("FUNDED", None))
        .await
        .unwrap();
    legacy_partial_release(h, &f.institution, &p.id).await;
    let now = svc.get_position(a, &p.id).await.unwrap();
    assert_eq!(
        (now.state, now.released, now.held),
        (PositionState::PartiallyReleased, None, None),
        "the balance is not known"
    );
    check_is_clean(h).await;
    // The ledger with its old step exports and imports into a fresh store of every kind, and
    // the copy's position has the same unknown balance and passes `check`.
    let mut out: Vec<u8> = Vec::new();
    svc.export_to(a, &mut out, "test").await.unwrap();
    for backend in [
        escrowgrid::store::Backend::Memory,
        escrowgrid::store::Backend::Sqlite,
    ] {
        let into = Harness::new(backend).await.unwrap();
        into.svc
            .import(
                &into.actor,
                std::io::Cursor::new(out.clone()),
                Default::default(),
            )
            .await
            .unwrap();
        let copy = into.svc.get_position(&into.actor, &p.id).await.unwrap();
        assert_eq!((copy.released, copy.held), (None, None), "{backend:?}");
        let r = into.svc.check(&into.actor).await.unwrap();
        assert!(r.ok, "{backend:?}: {:#?}", r.findings);
    }
    // Nothing to compare against: a partial release must stay below the amount, and leaves
    // the balance unknown; a RELEASED settles it.
    let err = svc
        .transition_position(a, &p.id, to("PARTIALLY_RELEASED", Some("1000")))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("not less than the position's amount"),
        "{err}"
    );
    let r = svc
        .transition_position(a, &p.id, to("PARTIALLY_RELEASED", Some("10")))
        .await
        .unwrap();
    assert_eq!((r.position.released, r.position.held), (None, None));
    assert_eq!(r.event.map(|e| e.amount), Some(b("10")));
    let counts = h.store.counts(None).await.unwrap();
    assert!(
        counts.held.is_empty(),
        "unknown balances are left out: {counts:?}"
    );
    let r = svc
        .transition_position(a, &p.id, to("RELEASED", None))
        .await
        .unwrap();
    assert_eq!((r.position.released, r.position.held), (b("1000"), b("0")));
    assert_eq!(
        r.event.map(|e| e.amount),
        Some(None),
        "what was left is not known"
    );
    let d = svc.position_detail(a, &p.id).await.unwrap();
    assert_eq!(d.events[1].amount, None, "the old step stays as recorded");
    check_is_clean(h).await;
}
