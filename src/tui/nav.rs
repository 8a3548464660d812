//! Where the operator can go: the detail views (by the id they show) and the places a tab can be
//! sent to with a filter. Views and the command line name places with these, never tabs, so no
//! view depends on the router or on another view.

use crate::domain::LedgerKind;
use crate::service::{PositionFilter, PositionSortKey};

/// A detail view, by what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Institution(String),
    Template(String),
    Asset(String),
    Position(String),
}

impl Detail {
    pub fn id(&self) -> &str {
        match self {
            Detail::Institution(id)
            | Detail::Template(id)
            | Detail::Asset(id)
            | Detail::Position(id) => id,
        }
    }
}

/// A tab in a given state: the tab that knows the place goes there.
#[derive(Debug, Clone, PartialEq)]
pub enum Nav {
    Institutions,
    Templates,
    Assets,
    Health,
    Positions {
        filter: PositionFilter,
        /// The sort key and whether it descends; None keeps the current sort.
        sort: Option<(PositionSortKey, bool)>,
    },
    Ledger {
        position: Option<String>,
        kind: Option<LedgerKind>,
    },
    Audit,
}
