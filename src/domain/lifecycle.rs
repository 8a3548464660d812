//! The position state machine (DOMAIN.md §4, with the port's decision on same-state requests).

use super::{DomainError, PositionState};
use PositionState::*;

/// The states a position may move to from `from`. Terminal states allow none.
pub fn allowed_targets(from: PositionState) -> &'static [PositionState] {
    match from {
        Created => &[Funded, Cancelled, Expired],
        Funded => &[PartiallyReleased, Released, Cancelled, Expired],
        PartiallyReleased => &[PartiallyReleased, Released, Cancelled, Expired],
        Released | Cancelled | Expired => &[],
    }
}

/// What a transition request amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionCheck {
    /// A real change of state (or a further partial release): record it.
    Apply,
    /// The position already is in the requested state: nothing is written.
    NoOp,
}

/// Decides a transition request. A same-state request is a no-op that writes nothing (even for
/// terminal states), except PARTIALLY_RELEASED → PARTIALLY_RELEASED, which records a further
/// partial release.
pub fn check(from: PositionState, to: PositionState) -> Result<TransitionCheck, DomainError> {
    if allowed_targets(from).contains(&to) {
        Ok(TransitionCheck::Apply)
    } else if from == to {
        Ok(TransitionCheck::NoOp)
    } else {
        Err(DomainError::InvalidTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (from, to) pair of the table, spelled out independently of `allowed_targets`.
    #[test]
    fn every_pair_of_the_state_machine() {
        let apply = TransitionCheck::Apply;
        let noop = TransitionCheck::NoOp;
        let expected: &[(PositionState, PositionState, Option<TransitionCheck>)] = &[
            (Created, Created, Some(noop)),
            (Created, Funded, Some(apply)),
            (Created, PartiallyReleased, None),
            (Created, Released, None),
            (Created, Cancelled, Some(apply)),
            (Created, Expired, Some(apply)),
            (Funded, Created, None),
            (Funded, Funded, Some(noop)),
            (Funded, PartiallyReleased, Some(apply)),
            (Funded, Released, Some(apply)),
            (Funded, Cancelled, Some(apply)),
            (Funded, Expired, Some(apply)),
            (PartiallyReleased, Created, None),
            (PartiallyReleased, Funded, None),
            (PartiallyReleased, PartiallyReleased, Some(apply)),
            (PartiallyReleased, Released, Some(apply)),
            (PartiallyReleased, Cancelled, Some(apply)),
            (PartiallyReleased, Expired, Some(apply)),
            (Released, Created, None),
            (Released, Funded, None),
            (Released, PartiallyReleased, None),
            (Released, Released, Some(noop)),
            (Released, Cancelled, None),
            (Released, Expired, None),
            (Cancelled, Created, None),
            (Cancelled, Funded, None),
            (Cancelled, PartiallyReleased, None),
            (Cancelled, Released, None),
            (Cancelled, Cancelled, Some(noop)),
            (Cancelled, Expired, None),
            (Expired, Created, None),
            (Expired, Funded, None),
            (Expired, PartiallyReleased, None),
            (Expired, Released, None),
            (Expired, Cancelled, None),
            (Expired, Expired, Some(noop)),
        ];
        assert_eq!(expected.len(), 36);
        for (from, to, want) in expected {
            let got = check(*from, *to);
            match want {
                Some(w) => assert_eq!(got, Ok(*w), "{from} -> {to}"),
                None => {
                    let e = got.expect_err(&format!("{from} -> {to} must be refused"));
                    assert_eq!(
                        e.to_string(),
                        format!("invalid transition from {from} to {to}")
                    );
                }
            }
        }
    }

    #[test]
    fn terminal_states_offer_nothing() {
        for s in PositionState::ALL {
            assert_eq!(allowed_targets(*s).is_empty(), s.is_terminal(), "{s}");
        }
    }
}
