//! Where the operator can go: the detail views (by the id they show) and the places a tab can be
//! sent to with a filter. Views and the command line name places with these, never tabs, so no
//! view depends on the router or on another view.

use crate::domain::LedgerKind;
use crate::domain::time::Timestamp;
use crate::service::{PositionFilter, PositionSortKey};

/// A detail view, by what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Institution(String),
    Template(String),
    Asset(String),
    Position(String),
    /// A ledger event, by its seq (shown as `seq N`).
    LedgerEvent(i64),
    AuditRecord(String),
}

impl Detail {
    /// The id it shows (a ledger event has none but its seq: empty).
    pub fn id(&self) -> &str {
        match self {
            Detail::Institution(id)
            | Detail::Template(id)
            | Detail::Asset(id)
            | Detail::Position(id)
            | Detail::AuditRecord(id) => id,
            Detail::LedgerEvent(_) => "",
        }
    }
}

/// Where in the ledger a view starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LedgerAt {
    /// At this seq.
    Seq(i64),
    /// At the first event written at or after this time.
    Since(Timestamp),
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
        /// Where to start; None: at the newest, following.
        at: Option<LedgerAt>,
    },
    Audit {
        /// From the first record at or after this time; None: the newest.
        since: Option<Timestamp>,
    },
}
