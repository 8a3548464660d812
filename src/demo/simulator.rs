//! The demo simulator (`--demo`): creates positions and moves them through plausible lifecycles at
//! a steady rate, through the service like any operator, so the Ledger and Health tabs move.

use super::seed::{AssetSlot, Vocabulary, slots_of};
use crate::domain::{PositionState, lifecycle};
use crate::service::{Actor, Service, ServiceError, TransitionRequest};
use crate::service::{PositionFilter, PositionQuery};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Starts the simulator; the returned sender pauses (true) and resumes (false) it.
pub fn spawn(svc: Arc<Service>, actor: Actor, rate: f64) -> watch::Sender<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if let Err(e) = run(svc, actor, rate, rx).await {
            tracing::warn!(error = %e, "demo simulator stopped");
        }
    });
    tx
}

/// Picks a next state, favouring forward progress the way real escrows go.
fn next_state(rng: &mut impl Rng, from: PositionState) -> Option<PositionState> {
    use PositionState::*;
    let weighted: &[(PositionState, u32)] = match from {
        Created => &[(Funded, 80), (Cancelled, 12), (Expired, 8)],
        Funded => &[
            (PartiallyReleased, 45),
            (Released, 40),
            (Cancelled, 8),
            (Expired, 7),
        ],
        PartiallyReleased => &[
            (PartiallyReleased, 40),
            (Released, 50),
            (Cancelled, 6),
            (Expired, 4),
        ],
        _ => return None,
    };
    debug_assert!(
        weighted
            .iter()
            .all(|(t, _)| lifecycle::allowed_targets(from).contains(t))
    );
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (t, w) in weighted {
        if roll < *w {
            return Some(*t);
        }
        roll -= w;
    }
    None
}

async fn run(
    svc: Arc<Service>,
    actor: Actor,
    rate: f64,
    mut paused: watch::Receiver<bool>,
) -> Result<(), ServiceError> {
    let vocab = Vocabulary::demo();
    let slots: Vec<AssetSlot> = slots_of(svc.as_ref(), &actor).await?;
    if slots.is_empty() {
        return Ok(());
    }
    let mut rng = StdRng::from_os_rng();
    let mut live: Vec<(String, PositionState)> = Vec::new();
    for s in [
        PositionState::Created,
        PositionState::Funded,
        PositionState::PartiallyReleased,
    ] {
        let q = PositionQuery {
            filter: PositionFilter {
                state: Some(s),
                ..Default::default()
            },
            limit: 1000,
            ..Default::default()
        };
        live.extend(
            svc.list_positions(&actor, q)
                .await?
                .into_iter()
                .map(|p| (p.id, p.state)),
        );
    }
    let period = Duration::from_secs_f64(1.0 / rate.clamp(0.01, 1000.0));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        while *paused.borrow() {
            if paused.changed().await.is_err() {
                return Ok(());
            }
        }
        if live.len() < 20 || rng.random_bool(0.3) {
            let slot = &slots[rng.random_range(0..slots.len())];
            match svc
                .create_position(&actor, vocab.new_position(&mut rng, slot))
                .await
            {
                Ok(p) => live.push((p.id, p.state)),
                Err(e) => tracing::debug!(error = %e, "simulator: create refused"),
            }
            continue;
        }
        let i = rng.random_range(0..live.len());
        let (id, from) = live[i].clone();
        let Some(to) = next_state(&mut rng, from) else {
            live.swap_remove(i);
            continue;
        };
        let amount = if to == PositionState::PartiallyReleased {
            let held = match svc.get_position(&actor, &id).await {
                Ok(p) => p.held,
                Err(_) => None,
            };
            match super::seed::partial_release(&mut rng, held) {
                Some(a) => Some(a),
                None => continue,
            }
        } else {
            None
        };
        let req = TransitionRequest {
            to: to.as_str().into(),
            reason: vocab.reason(&mut rng, to),
            expect_state: Some(from.as_str().into()),
            amount,
            ..Default::default()
        };
        match svc.transition_position(&actor, &id, req).await {
            Ok(o) if o.position.state.is_terminal() => {
                live.swap_remove(i);
            }
            Ok(o) => live[i].1 = o.position.state,
            // Someone (an operator) moved it: learn its state and carry on.
            Err(ServiceError::Conflict { current, .. }) => match current {
                Some(p) if !p.state.is_terminal() => live[i].1 = p.state,
                _ => {
                    live.swap_remove(i);
                }
            },
            Err(e) => tracing::debug!(error = %e, "simulator: transition refused"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_steps_are_always_allowed() {
        let mut rng = StdRng::seed_from_u64(1);
        for from in PositionState::ALL {
            for _ in 0..200 {
                match next_state(&mut rng, *from) {
                    Some(to) => assert!(
                        lifecycle::allowed_targets(*from).contains(&to),
                        "{from} -> {to}"
                    ),
                    None => assert!(from.is_terminal()),
                }
            }
        }
    }
}
