//! Counts kept with the writes, so `health` and the Health tab never count a million rows. Each
//! write adds its deltas (entities created, positions moving between states, ledger events, audit
//! records) under two scopes: the whole store (`""`) and the institution it concerns. Every backend
//! applies them in the same step as the write itself.

use super::{Change, Counts};
use crate::domain::PositionState;
use crate::domain::audit::AuditEvent;
use std::collections::BTreeMap;

/// The scope of the store-wide counters.
pub const ALL: &str = "";

pub const INSTITUTIONS: &str = "institutions";
pub const TEMPLATES: &str = "templates";
pub const ASSETS: &str = "assets";
pub const LEDGER: &str = "ledger";
pub const AUDIT: &str = "audit";

/// The counter of positions in a state: `positions:FUNDED`.
pub fn positions_in(state: PositionState) -> &'static str {
    NAMES[positions_index(state)]
}

/// SQL (both dialects) that recounts the position counters from the table, for a bulk load that
/// bypassed the writer (`bench console`'s).
pub const RECOUNT_POSITIONS: [&str; 2] = [
    "DELETE FROM counters WHERE name LIKE 'positions:%'",
    "INSERT INTO counters (scope, name, n) \
     SELECT '', 'positions:' || state, count(*) FROM positions GROUP BY state \
     UNION ALL \
     SELECT institution_id, 'positions:' || state, count(*) FROM positions \
     GROUP BY institution_id, state",
];

/// The counters kept per scope, each with a place of its own (`index`) for a store that keeps
/// them in an array (memory) and a name for one that keeps them in rows (SQL).
pub const NAMES: [&str; 11] = [
    INSTITUTIONS,
    TEMPLATES,
    ASSETS,
    LEDGER,
    AUDIT,
    "positions:CREATED",
    "positions:FUNDED",
    "positions:PARTIALLY_RELEASED",
    "positions:RELEASED",
    "positions:CANCELLED",
    "positions:EXPIRED",
];

/// The place of counter `name` in `NAMES`.
pub fn index(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

/// The place of the counter of positions in `state` in `NAMES`.
pub fn positions_index(state: PositionState) -> usize {
    5 + PositionState::ALL
        .iter()
        .position(|s| *s == state)
        .expect("every state is in ALL")
}

/// One counter change: `n` added to counter `NAMES[index]` of `scope`.
pub type Delta<'a> = (&'a str, usize, i64);

/// The counter changes of one applied write (`ledger_institution`: the institution of its
/// ledger event, if it has one), each given to `f`. The one rule of what a write counts.
pub fn each_delta<'a>(
    change: &'a Change,
    ledger_institution: Option<&'a str>,
    audit: Option<&'a AuditEvent>,
    f: &mut impl FnMut(Delta<'a>),
) {
    let mut both = |scope: &'a str, counter: usize, n: i64| {
        f((ALL, counter, n));
        f((scope, counter, n));
    };
    const I: usize = 0;
    const T: usize = 1;
    const A: usize = 2;
    const L: usize = 3;
    match change {
        Change::CreateInstitution(x) => both(&x.id, I, 1),
        Change::CreateTemplate(x) => both(&x.institution_id, T, 1),
        Change::CreateAsset(x) => both(&x.institution_id, A, 1),
        Change::CreatePosition(p, _) => both(&p.institution_id, positions_index(p.state), 1),
        Change::TransitionPosition {
            position,
            expected_state,
            ..
        } => {
            if *expected_state != position.state {
                both(
                    &position.institution_id,
                    positions_index(*expected_state),
                    -1,
                );
                both(&position.institution_id, positions_index(position.state), 1);
            }
        }
        Change::None
        | Change::UpsertPolicy(_)
        | Change::CreateApiKey(_)
        | Change::RevokeApiKey { .. } => {}
    }
    if let Some(institution) = ledger_institution {
        both(institution, L, 1);
    }
    if let Some(a) = audit {
        const AU: usize = 4;
        f((ALL, AU, 1));
        // A record counts once for each institution it is by or about (the scoped audit view
        // shows records where either matches).
        let by = a.institution_id.as_deref();
        let about = a
            .subject_institution_id
            .as_deref()
            .filter(|s| Some(*s) != by);
        for scope in by.into_iter().chain(about) {
            f((scope, AU, 1));
        }
    }
}

/// Counter changes, keyed (scope, name) in sorted order: writers that take counter rows in one
/// order cannot deadlock each other.
/// Keys borrow from the writes, so recording allocates nothing but the map's nodes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Deltas<'a>(pub BTreeMap<(&'a str, &'static str), i64>);

impl<'a> Deltas<'a> {
    /// Adds the deltas of one applied write (see `each_delta`).
    pub fn record(
        &mut self,
        change: &'a Change,
        ledger_institution: Option<&'a str>,
        audit: Option<&'a AuditEvent>,
    ) {
        each_delta(change, ledger_institution, audit, &mut |(scope, i, n)| {
            *self.0.entry((scope, NAMES[i])).or_default() += n;
        });
    }

    /// The non-zero deltas, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'static str, i64)> + '_ {
        self.0
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|((s, k), n)| (*s, *k, *n))
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// When a position count can come from the counters: a filter on nothing but the institution
/// and the state. Returns the scope and the state (None: every state).
pub fn answers(f: &super::PositionFilter) -> Option<(&str, Option<PositionState>)> {
    let only_scope_and_state = f.asset_id.is_none()
        && f.template_id.is_none()
        && f.holder_reference.is_none()
        && f.text.as_deref().is_none_or(str::is_empty);
    only_scope_and_state.then(|| (f.institution_id.as_deref().unwrap_or(ALL), f.state))
}

/// `Counts` from the counters of one scope.
pub fn counts_of<'a>(rows: impl IntoIterator<Item = (&'a str, i64)>) -> Counts {
    let mut c = Counts::default();
    let mut by_state: BTreeMap<&str, i64> = BTreeMap::new();
    for (name, n) in rows {
        match name {
            INSTITUTIONS => c.institutions = n,
            TEMPLATES => c.templates = n,
            ASSETS => c.assets = n,
            LEDGER => c.ledger_events = n,
            AUDIT => c.audit_events = n,
            other => {
                if let Some(state) = other.strip_prefix("positions:") {
                    by_state.insert(state, n);
                }
            }
        }
    }
    c.positions_by_state = PositionState::ALL
        .iter()
        .map(|s| (*s, by_state.get(s.as_str()).copied().unwrap_or(0)))
        .collect();
    c.positions = c.positions_by_state.iter().map(|(_, n)| n).sum();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::AuditEvent;
    use crate::domain::{Money, Outcome, Position, PositionLifecycleEvent, time};

    fn position(state: PositionState) -> Position {
        let now = time::now();
        Position {
            id: "pos_1".into(),
            institution_id: "inst_a".into(),
            asset_id: "ast_1".into(),
            holder_reference: "H".into(),
            currency: "USD".parse().unwrap(),
            amount: Money::parse("10").unwrap(),
            state,
            external_reference: None,
            version: 1,
            released: None,
            held: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn audit(by: Option<&str>, about: Option<&str>) -> AuditEvent {
        AuditEvent {
            id: "aud_1".into(),
            occurred_at: time::now(),
            actor: "root".into(),
            api_key_id: None,
            institution_id: by.map(Into::into),
            action: "X".into(),
            outcome: Outcome::Success,
            resource_type: None,
            resource_id: None,
            subject_institution_id: about.map(Into::into),
            payload: None,
            error: None,
            op_id: None,
            client: None,
            seq: None,
            prev_hash: None,
            hash: None,
        }
    }

    #[test]
    fn a_transition_moves_one_position_between_states_in_both_scopes() {
        let p = position(PositionState::Funded);
        let change = Change::TransitionPosition {
            position: p.clone(),
            expected_state: PositionState::Created,
            expected_version: 0,
            event: PositionLifecycleEvent {
                id: "ple_1".into(),
                position_id: p.id.clone(),
                from_state: PositionState::Created,
                to_state: PositionState::Funded,
                reason: None,
                at: p.updated_at,
                metadata: None,
                actor: None,
                amount: None,
                held: None,
            },
            policy: None,
        };
        let a = audit(Some("inst_a"), Some("inst_a"));
        let mut d = Deltas::default();
        d.record(&change, None, Some(&a));
        let got: Vec<_> = d.iter().collect();
        assert_eq!(
            got,
            vec![
                ("", "audit", 1),
                ("", "positions:CREATED", -1),
                ("", "positions:FUNDED", 1),
                ("inst_a", "audit", 1),
                ("inst_a", "positions:CREATED", -1),
                ("inst_a", "positions:FUNDED", 1),
            ],
            "sorted, and a record by and about one institution counts once there"
        );
        let c = counts_of(vec![
            ("positions:FUNDED", 3),
            ("positions:CREATED", 2),
            ("ledger", 9),
        ]);
        assert_eq!(c.positions, 5);
        assert_eq!(c.ledger_events, 9);
        assert_eq!(c.positions_by_state.len(), PositionState::ALL.len());
    }

    #[test]
    fn every_state_has_its_counter_named_for_it() {
        for s in PositionState::ALL {
            assert_eq!(positions_in(*s), format!("positions:{}", s.as_str()));
            assert_eq!(index(positions_in(*s)), Some(positions_index(*s)));
        }
        assert_eq!(index(AUDIT), Some(4));
        assert_eq!(index(LEDGER), Some(3));
    }

    #[test]
    fn deltas_that_cancel_out_are_skipped() {
        let a = audit(Some("a"), Some("b"));
        let mut d = Deltas::default();
        d.record(&Change::None, None, Some(&a));
        assert_eq!(d.iter().count(), 3, "store-wide, by a, about b");
        d.0.insert(("x", "assets"), 0);
        assert_eq!(d.iter().count(), 3);
    }
}
