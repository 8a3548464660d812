//! What callers ask a store for: pages by keyset, the queries of each list (filters, sort keys
//! and their cursors), and the text search of the ledger and the audit trail, the same for every
//! backend.

use crate::domain::ledger::LedgerEvent;
use crate::domain::{LedgerKind, Outcome, Position, PositionState};

/// Keyset page request: items strictly after `after` (an id), at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub after: Option<String>,
    pub limit: u32,
}

impl Page {
    pub fn first(limit: u32) -> Self {
        Page { after: None, limit }
    }
}

#[derive(Debug, Clone, Default)]
pub struct InstitutionQuery {
    /// Restrict to one institution (scoping).
    pub id: Option<String>,
    pub page: Page,
}

#[derive(Debug, Clone, Default)]
pub struct TemplateQuery {
    pub institution_id: Option<String>,
    pub page: Page,
}

#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    pub institution_id: Option<String>,
    pub template_id: Option<String>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PositionFilter {
    pub institution_id: Option<String>,
    pub asset_id: Option<String>,
    pub template_id: Option<String>,
    pub state: Option<PositionState>,
    pub holder_reference: Option<String>,
    /// Case-insensitive substring of the id, holder reference or external reference.
    pub text: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PositionSortKey {
    /// Creation order (the id is time-ordered).
    #[default]
    Created,
    Updated,
    Institution,
    Asset,
    Holder,
    Amount,
    Currency,
    State,
    /// What each position still holds (its amount where that is not known).
    Held,
}

impl PositionSortKey {
    pub const ALL: &'static [PositionSortKey] = &[
        PositionSortKey::Created,
        PositionSortKey::Institution,
        PositionSortKey::Asset,
        PositionSortKey::Holder,
        PositionSortKey::Amount,
        PositionSortKey::Currency,
        PositionSortKey::State,
        PositionSortKey::Updated,
        PositionSortKey::Held,
    ];

    /// The key's name (`sort=` in the HTTP API).
    pub fn as_str(&self) -> &'static str {
        match self {
            PositionSortKey::Created => "created",
            PositionSortKey::Updated => "updated",
            PositionSortKey::Institution => "institution",
            PositionSortKey::Asset => "asset",
            PositionSortKey::Holder => "holder",
            PositionSortKey::Amount => "amount",
            PositionSortKey::Currency => "currency",
            PositionSortKey::State => "state",
            PositionSortKey::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// The value of this key for a position, in a form whose text order is the key's order.
    pub fn cursor_value(&self, p: &Position) -> String {
        self.value_of(&SortFields::of(p))
    }

    /// As `cursor_value`, from the fields alone (a store that keeps positions in a shape of its
    /// own sorts them through this).
    pub fn value_of(&self, p: &SortFields<'_>) -> String {
        match self {
            PositionSortKey::Created => String::new(),
            PositionSortKey::Updated => crate::domain::time::format(p.updated_at),
            PositionSortKey::Institution => p.institution_id.to_string(),
            PositionSortKey::Asset => p.asset_id.to_string(),
            PositionSortKey::Holder => p.holder_reference.to_string(),
            PositionSortKey::Amount => p.amount.to_sortable(),
            PositionSortKey::Currency => p.currency.as_str().to_string(),
            PositionSortKey::State => p.state.as_str().to_string(),
            PositionSortKey::Held => p.held.to_sortable(),
        }
    }
}

/// The fields a position is sorted by (`held`: as `Position::held_for_sorting`).
pub struct SortFields<'a> {
    pub updated_at: &'a crate::domain::time::Timestamp,
    pub institution_id: &'a str,
    pub asset_id: &'a str,
    pub holder_reference: &'a str,
    pub amount: crate::domain::Money,
    pub currency: crate::domain::Currency,
    pub state: PositionState,
    pub held: crate::domain::Balance,
}

impl<'a> SortFields<'a> {
    pub fn of(p: &'a Position) -> Self {
        SortFields {
            updated_at: &p.updated_at,
            institution_id: &p.institution_id,
            asset_id: &p.asset_id,
            holder_reference: &p.holder_reference,
            amount: p.amount,
            currency: p.currency,
            state: p.state,
            held: p.held_for_sorting(),
        }
    }
}

/// Where a position page starts: after (or, going backwards, before) this row in sort order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionCursor {
    pub value: String,
    pub id: String,
}

impl PositionCursor {
    pub fn of(key: PositionSortKey, p: &Position) -> Self {
        PositionCursor {
            value: key.cursor_value(p),
            id: p.id.clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PositionQuery {
    pub filter: PositionFilter,
    pub sort: PositionSortKey,
    pub descending: bool,
    pub cursor: Option<PositionCursor>,
    /// Read towards the start: the `limit` rows before `cursor` (the last page if no cursor).
    /// The result is still in display order.
    pub backwards: bool,
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct LedgerQuery {
    /// Only events with seq > after_seq.
    pub after_seq: i64,
    /// Only events with seq < before_seq.
    pub before_seq: Option<i64>,
    pub position_id: Option<String>,
    pub kind: Option<LedgerKind>,
    pub institution_id: Option<String>,
    /// Only events written at or after this time.
    pub since: Option<crate::domain::time::Timestamp>,
    /// Only events whose kind, id, entity id, position id, institution id or payload (its
    /// canonical JSON: the actor, amounts, states, reasons) contains this text, ignoring ASCII
    /// case (PostgreSQL folds every letter's case).
    pub text: Option<String>,
    /// Newest first (for "the last N events"); otherwise seq ascending.
    pub newest_first: bool,
    pub limit: u32,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    /// Records made by, or about, this institution.
    pub institution_id: Option<String>,
    /// Only records with id < before (newest-first paging).
    pub before: Option<String>,
    /// Only records with id > after, oldest first (paging towards the newest).
    pub after: Option<String>,
    /// Oldest first (by id) instead of newest first.
    pub oldest_first: bool,
    /// Only the record with this id.
    pub id: Option<String>,
    /// Only records about this resource.
    pub resource_id: Option<String>,
    /// The audit chain in order: only records with seq > this, oldest first (instead of newest
    /// first by id).
    pub after_seq: Option<i64>,
    /// Only records that have no place in the audit chain (written by a version before it).
    pub unchained: bool,
    /// Only records whose id, actor, key id, action, outcome, resource id, operation id or
    /// error code contains this text, ignoring ASCII case (PostgreSQL folds every letter's).
    pub text: Option<String>,
    pub limit: u32,
}

/// "Contains `needle`", ignoring ASCII case as SQLite's LIKE does.
fn contains_ascii_ci(needle: &str) -> impl Fn(&str) -> bool {
    let needle = needle.to_ascii_lowercase();
    move |s: &str| s.to_ascii_lowercase().contains(&needle)
}

/// The fields of a ledger event that `LedgerQuery.text` searches.
pub struct LedgerText<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub entity_id: &'a str,
    pub position_id: Option<&'a str>,
    pub institution_id: &'a str,
    /// The payload's canonical JSON.
    pub payload_json: &'a str,
}

/// Whether an event with these fields matches `LedgerQuery.text`: its kind, ids or canonical
/// payload contain the text.
pub fn ledger_text_hit(text: &str, e: &LedgerText<'_>) -> bool {
    if text.is_empty() {
        return true;
    }
    let hit = contains_ascii_ci(text);
    hit(e.kind)
        || hit(e.id)
        || hit(e.entity_id)
        || e.position_id.is_some_and(&hit)
        || hit(e.institution_id)
        || hit(e.payload_json)
}

/// Whether a ledger event matches `LedgerQuery.text` (the console's test for events that
/// stream in).
pub fn ledger_text_matches(e: &LedgerEvent, text: &str) -> bool {
    text.is_empty()
        || ledger_text_hit(
            text,
            &LedgerText {
                kind: e.kind.as_str(),
                id: &e.id,
                entity_id: &e.entity_id,
                position_id: e.position_id.as_deref(),
                institution_id: &e.institution_id,
                payload_json: &crate::domain::ledger::canonical_value(&e.payload),
            },
        )
}

/// The fields of an audit record that `AuditQuery.text` searches.
pub struct AuditText<'a> {
    pub id: &'a str,
    pub actor: &'a str,
    pub api_key_id: Option<&'a str>,
    pub action: &'a str,
    pub outcome: &'a str,
    pub resource_id: Option<&'a str>,
    pub op_id: Option<&'a str>,
    pub error_code: Option<&'a str>,
}

/// Whether a record with these fields matches `AuditQuery.text`.
pub fn audit_text_hit(text: &str, a: &AuditText<'_>) -> bool {
    if text.is_empty() {
        return true;
    }
    let hit = contains_ascii_ci(text);
    hit(a.id)
        || hit(a.actor)
        || a.api_key_id.is_some_and(&hit)
        || hit(a.action)
        || hit(a.outcome)
        || a.resource_id.is_some_and(&hit)
        || a.op_id.is_some_and(&hit)
        || a.error_code.is_some_and(&hit)
}
