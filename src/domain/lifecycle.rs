//! The position state machine (DOMAIN.md §4, with the port's decision on same-state requests).

use super::{Balance, DomainError, Money, PositionState};
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

/// The money of one lifecycle step: what it moved and what the position has released and holds
/// after it (None: not known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceStep {
    pub moved: Option<Balance>,
    pub released: Option<Balance>,
    pub held: Option<Balance>,
}

/// The balance after a step from `from` to `to` of a position of `amount` that has `released`
/// so far (None: not known), releasing `release` (the operator's amount: required for a partial
/// release, optional for RELEASED — where it must be all that is held — and refused elsewhere).
/// The error is the reason, for the `amount` field.
///
/// - PARTIALLY_RELEASED releases `release`, which must be less than what is held (all of it is
///   RELEASED); with an unknown balance, less than the amount, and the balance stays unknown.
/// - RELEASED releases all that is held: released becomes the amount, held zero.
/// - CANCELLED and EXPIRED return what is held (nothing when never funded); the figures stay.
/// - FUNDED moves nothing.
pub fn balance_step(
    amount: Money,
    released: Option<Balance>,
    from: PositionState,
    to: PositionState,
    release: Option<Money>,
) -> Result<BalanceStep, String> {
    let held = released.and_then(|r| r.left_of(amount));
    let released = held.and(released);
    match to {
        PartiallyReleased => {
            let Some(x) = release else {
                return Err(match held {
                    Some(h) => format!(
                        "is required for a partial release (up to {} is held)",
                        h.display_grouped()
                    ),
                    None => "is required for a partial release".into(),
                });
            };
            match (released, held) {
                (Some(r), Some(h)) => {
                    let Some(left) = h.minus(x) else {
                        return Err(format!(
                            "{} is more than the {} still held",
                            Balance::from(x).display_grouped(),
                            h.display_grouped()
                        ));
                    };
                    if left.is_zero() {
                        return Err(format!(
                            "{} is everything still held: move the position to RELEASED instead",
                            Balance::from(x).display_grouped()
                        ));
                    }
                    Ok(BalanceStep {
                        moved: Some(x.into()),
                        released: Some(r.plus(x)),
                        held: Some(left),
                    })
                }
                _ => {
                    if x >= amount {
                        return Err(format!(
                            "{} is not less than the position's amount {}",
                            Balance::from(x).display_grouped(),
                            Balance::from(amount).display_grouped()
                        ));
                    }
                    Ok(BalanceStep {
                        moved: Some(x.into()),
                        released: None,
                        held: None,
                    })
                }
            }
        }
        Released => {
            if let (Some(x), Some(h)) = (release, held)
                && Balance::from(x) != h
            {
                return Err(format!(
                    "RELEASED releases all that is held ({}); leave the amount out or give exactly that",
                    h.display_grouped()
                ));
            }
            if release.is_some() && held.is_none() {
                return Err(
                    "the balance is not known (earlier partial releases were recorded without amounts): leave the amount out".into(),
                );
            }
            Ok(BalanceStep {
                moved: held,
                released: Some(amount.into()),
                held: Some(Balance::ZERO),
            })
        }
        Funded | Cancelled | Expired | Created => {
            if release.is_some() {
                return Err(format!(
                    "only a release takes an amount, not a move to {to}"
                ));
            }
            let moved = match (to, from) {
                (Cancelled | Expired, Funded | PartiallyReleased) => held,
                _ => Some(Balance::ZERO),
            };
            Ok(BalanceStep {
                moved,
                released,
                held,
            })
        }
    }
}

/// The balance a recorded step leaves, for a replay: a step that records its balance says it;
/// one written before steps carried amounts leaves the balance unknown after a partial release,
/// fully released after RELEASED, and as it was otherwise.
pub fn recorded_balance(
    amount: Money,
    released: Option<Balance>,
    to: PositionState,
    recorded_held: Option<Option<Balance>>,
) -> (Option<Balance>, Option<Balance>) {
    match recorded_held {
        Some(Some(h)) => {
            let r = h.left_of(amount);
            (r, r.and(Some(h)))
        }
        Some(None) => match to {
            Released => (Some(amount.into()), Some(Balance::ZERO)),
            _ => (None, None),
        },
        None => match to {
            PartiallyReleased => (None, None),
            Released => (Some(amount.into()), Some(Balance::ZERO)),
            _ => {
                let held = released.and_then(|r| r.left_of(amount));
                (held.and(released), held)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_move_money_and_never_exceed_the_amount() {
        let m = |s: &str| Money::parse(s).unwrap();
        let b = |s: &str| Balance::parse(s).unwrap();
        let amount = m("1000");
        let step = |released: Option<&str>, from, to, x: Option<&str>| {
            balance_step(amount, released.map(b), from, to, x.map(m))
        };
        let s = step(Some("0"), Funded, PartiallyReleased, Some("250")).unwrap();
        assert_eq!(
            (s.moved, s.released, s.held),
            (Some(b("250")), Some(b("250")), Some(b("750")))
        );
        assert!(
            step(
                Some("250"),
                PartiallyReleased,
                PartiallyReleased,
                Some("750")
            )
            .unwrap_err()
            .contains("RELEASED instead")
        );
        assert!(
            step(
                Some("250"),
                PartiallyReleased,
                PartiallyReleased,
                Some("750.01")
            )
            .unwrap_err()
            .contains("more than the 750.00 still held")
        );
        assert!(
            step(Some("0"), Funded, PartiallyReleased, None)
                .unwrap_err()
                .contains("required")
        );
        let s = step(Some("250"), PartiallyReleased, Released, None).unwrap();
        assert_eq!(
            (s.moved, s.released, s.held),
            (Some(b("750")), Some(b("1000")), Some(b("0")))
        );
        assert!(step(Some("250"), PartiallyReleased, Released, Some("700")).is_err());
        assert!(step(Some("250"), PartiallyReleased, Released, Some("750")).is_ok());
        let s = step(Some("250"), PartiallyReleased, Cancelled, None).unwrap();
        assert_eq!(
            (s.moved, s.released, s.held),
            (Some(b("750")), Some(b("250")), Some(b("750")))
        );
        let s = step(Some("0"), Created, Cancelled, None).unwrap();
        assert_eq!(s.moved, Some(Balance::ZERO));
        assert!(
            step(Some("0"), Created, Funded, Some("5"))
                .unwrap_err()
                .contains("only a release")
        );
        // Unknown balance: a partial release below the amount keeps it unknown; RELEASED settles it.
        let s = step(None, PartiallyReleased, PartiallyReleased, Some("10")).unwrap();
        assert_eq!((s.moved, s.released, s.held), (Some(b("10")), None, None));
        assert!(step(None, PartiallyReleased, PartiallyReleased, Some("1000")).is_err());
        let s = step(None, PartiallyReleased, Released, None).unwrap();
        assert_eq!(
            (s.moved, s.released, s.held),
            (None, Some(b("1000")), Some(b("0")))
        );
        // A replay of what the step recorded gives the same figures.
        for (released, from, to, x) in [
            (Some("0"), Funded, PartiallyReleased, Some("1")),
            (Some("1"), PartiallyReleased, Released, None),
            (Some("1"), PartiallyReleased, Expired, None),
            (None, PartiallyReleased, PartiallyReleased, Some("3")),
            (None, PartiallyReleased, Released, None),
        ] {
            let s = step(released, from, to, x).unwrap();
            assert_eq!(
                recorded_balance(amount, released.map(b), to, Some(s.held)),
                (s.released, s.held)
            );
        }
        // Steps recorded before amounts: a partial release makes the balance unknown.
        assert_eq!(
            recorded_balance(amount, Some(b("0")), PartiallyReleased, None),
            (None, None)
        );
        assert_eq!(
            recorded_balance(amount, None, Released, None),
            (Some(b("1000")), Some(b("0")))
        );
        assert_eq!(
            recorded_balance(amount, Some(b("0")), Funded, None),
            (Some(b("0")), Some(b("1000")))
        );
    }

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
