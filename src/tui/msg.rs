//! The messages of the console's loop: `Msg` in (input, ticks, service replies, ledger events),
//! `Cmd` out (work the runtime runs against the service), and the replies a `Cmd` produces.

use super::popups::form::Submission;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::LedgerEvent;
use crate::domain::{Asset, AssetTemplate, Institution, InstitutionPolicy, LedgerKind, Position};
use crate::service::health::HealthReport;
use crate::service::stream::StreamItem;
use crate::service::{
    CheckReport, CreatedKey, InstitutionSummary, PositionDetail, PositionFilter, PositionQuery,
    RevokeOutcome, ServiceResult, TransitionOutcome, TransitionRequest, VerifyReport,
};
use crossterm::event::{KeyEvent, MouseEvent};

/// Which page of the ledger a load brings (a page is `PAGE` events at most).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LedgerPage {
    /// The newest events.
    Newest,
    /// The oldest events.
    Oldest,
    /// The events just before this seq.
    Before(i64),
    /// The events just after this seq.
    After(i64),
    /// The events from this seq on.
    From(i64),
    /// The events written at or after this time.
    Since(crate::domain::time::Timestamp),
}

/// Which page of the audit trail a load brings (newest first on screen).
#[derive(Debug, Clone, PartialEq)]
pub enum AuditPage {
    Newest,
    Oldest,
    /// The records just older than this id.
    Older(String),
    /// The records just newer than this id.
    Newer(String),
    /// The records from this time on.
    Since(crate::domain::time::Timestamp),
}

/// Rows a ledger or audit page brings.
pub const PAGE: u32 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageMode {
    /// First page; replaces the window.
    First,
    /// Next page after the window.
    Append,
    /// Page before the window.
    Prepend,
    /// The last page (jump to end).
    Last,
}

/// What the institution detail shows (one service call assembles it).
pub use crate::service::InstitutionDetail as InstitutionDetailData;

pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Tick,
    Loaded(Box<Loaded>),
    Stream(StreamItem),
}

pub enum Loaded {
    Institutions(ServiceResult<Vec<Institution>>),
    Summaries(Vec<(String, InstitutionSummary)>),
    Templates(ServiceResult<Vec<AssetTemplate>>),
    Assets(ServiceResult<Vec<Asset>>),
    Positions {
        generation: u64,
        mode: PageMode,
        result: ServiceResult<Vec<Position>>,
    },
    PositionCount {
        generation: u64,
        result: ServiceResult<i64>,
    },
    PositionDetail {
        id: String,
        result: ServiceResult<(PositionDetail, Vec<LedgerEvent>)>,
    },
    InstitutionDetail {
        id: String,
        result: ServiceResult<InstitutionDetailData>,
    },
    Ledger {
        generation: u64,
        page: LedgerPage,
        /// In seq order, oldest first.
        result: ServiceResult<Vec<LedgerEvent>>,
    },
    Audit {
        generation: u64,
        page: AuditPage,
        /// Newest first.
        result: ServiceResult<Vec<AuditEvent>>,
    },
    EventDetail {
        seq: i64,
        result: ServiceResult<Box<crate::service::EventDetail>>,
    },
    AuditRecord {
        id: String,
        result: ServiceResult<Box<AuditEvent>>,
    },
    Health(Box<HealthReport>),
    Verify(ServiceResult<VerifyReport>),
    Check(ServiceResult<CheckReport>),
    /// `:anchor`: the anchor of the head, as it was settled.
    Anchored(ServiceResult<crate::domain::anchor::AnchorRecord>),
    ChainVerified(ServiceResult<VerifyReport>),
    /// The background verification verified seq 1 to `upto` of `total`.
    FullVerifyProgress {
        upto: i64,
        total: i64,
    },
    /// It ended: verified from seq 1 to its head, broken, cancelled, or not finished.
    FullVerified {
        result: ServiceResult<VerifyReport>,
        cancelled: bool,
    },
    Exported {
        path: std::path::PathBuf,
        result: ServiceResult<crate::service::backup::BackupSummary>,
    },
    Submitted(ServiceResult<Submitted>),
    Transitioned {
        id: String,
        result: ServiceResult<TransitionOutcome>,
    },
    /// A marked set moved, each in turn: (id, result), in the order confirmed.
    TransitionedMany {
        to: String,
        results: Vec<(String, ServiceResult<TransitionOutcome>)>,
    },
    Revoked(ServiceResult<RevokeOutcome>),
}

/// What a successful form submission created.
pub enum Submitted {
    Institution(Institution),
    Template(AssetTemplate),
    Asset(Asset),
    Position(Position),
    ApiKey(CreatedKey),
    Policy(InstitutionPolicy),
}

impl Loaded {
    /// The refusal that ended this session, if the reply is one: the session's key was revoked,
    /// removed or changed (the console goes back to its sign-in screen).
    pub fn session_ended(&self) -> Option<&crate::service::ServiceError> {
        fn ended<T>(r: &ServiceResult<T>) -> Option<&crate::service::ServiceError> {
            match r {
                Err(e @ crate::service::ServiceError::Unauthenticated(_)) => Some(e),
                _ => None,
            }
        }
        match self {
            Loaded::Institutions(r) => ended(r),
            Loaded::Templates(r) => ended(r),
            Loaded::Assets(r) => ended(r),
            Loaded::Positions { result, .. } => ended(result),
            Loaded::PositionCount { result, .. } => ended(result),
            Loaded::PositionDetail { result, .. } => ended(result),
            Loaded::InstitutionDetail { result, .. } => ended(result),
            Loaded::Ledger { result, .. } => ended(result),
            Loaded::Audit { result, .. } => ended(result),
            Loaded::EventDetail { result, .. } => ended(result),
            Loaded::AuditRecord { result, .. } => ended(result),
            Loaded::Verify(r) | Loaded::ChainVerified(r) => ended(r),
            Loaded::FullVerified { result, .. } => ended(result),
            Loaded::Check(r) => ended(r),
            Loaded::Anchored(r) => ended(r),
            Loaded::Exported { result, .. } => ended(result),
            Loaded::Submitted(r) => ended(r),
            Loaded::Transitioned { result, .. } => ended(result),
            Loaded::Revoked(r) => ended(r),
            Loaded::TransitionedMany { results, .. } => results.iter().find_map(|(_, r)| ended(r)),
            Loaded::Summaries(_) | Loaded::Health(_) | Loaded::FullVerifyProgress { .. } => None,
        }
    }

    /// The status line a reply leaves, when it leaves one (Err: an error line).
    pub fn status(&self) -> Option<Result<String, String>> {
        Some(match self {
            Loaded::Exported {
                path,
                result: Ok(s),
            } => Ok(format!(
                "Exported {} lines ({} ledger events, head seq {}) to {}",
                s.lines,
                s.ledger_events,
                s.head_seq,
                path.display()
            )),
            Loaded::Exported { result: Err(e), .. } => Err(format!("export: {e}")),
            Loaded::Check(Ok(c)) if c.ok => Ok(format!(
                "Store consistent: {}, {} checked",
                crate::domain::text::counted(c.events, "event", "events"),
                crate::domain::text::counted(c.entities, "entity", "entities")
            )),
            Loaded::Check(Ok(c)) => Err(format!(
                "Store INCONSISTENT: {} (Health tab)",
                crate::domain::text::counted(
                    c.findings.len() as u64 + c.more,
                    "finding",
                    "findings"
                )
            )),
            Loaded::Check(Err(e)) => Err(format!("check: {e}")),
            Loaded::Anchored(Ok(a)) if a.status == crate::domain::anchor::CONFIRMED => Ok(format!(
                "Anchored seq {} on the chain (block {}, tx {})",
                a.seq,
                a.block_number.map(|b| b.to_string()).unwrap_or("-".into()),
                a.tx_hash.as_deref().unwrap_or("-")
            )),
            Loaded::Anchored(Ok(a)) => Err(format!(
                "anchor of seq {} is {}{}",
                a.seq,
                a.status,
                a.last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )),
            Loaded::Anchored(Err(e)) => Err(format!("anchor: {e}")),
            Loaded::Revoked(Ok(o)) if o.already_revoked => Ok(format!(
                "API key {} was already revoked: nothing changed",
                o.api_key.id
            )),
            Loaded::Revoked(Ok(o)) => Ok(format!(
                "Revoked API key {} ({})",
                o.api_key.id, o.api_key.label
            )),
            Loaded::Revoked(Err(e)) => Err(format!("revoking the key: {e}")),
            _ => return None,
        })
    }
}

impl Submitted {
    /// The status line after it was created.
    pub fn summary(&self) -> String {
        match self {
            Submitted::Institution(i) => format!("Created institution {} ({})", i.id, i.name),
            Submitted::Template(t) => format!("Created template {} ({})", t.id, t.name),
            Submitted::Asset(a) => format!("Created asset {} ({})", a.id, a.label),
            Submitted::Position(p) => format!(
                "Created position {} ({} {})",
                p.id,
                p.amount.display_grouped(),
                p.currency
            ),
            Submitted::ApiKey(k) => format!("Created API key {}", k.api_key.id),
            Submitted::Policy(p) => format!("Saved the {} policy", p.region),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Cmd {
    LoadInstitutions,
    LoadSummaries(Vec<String>),
    LoadTemplates,
    LoadAssets,
    LoadPositions {
        generation: u64,
        mode: PageMode,
        query: PositionQuery,
    },
    CountPositions {
        generation: u64,
        filter: PositionFilter,
    },
    LoadPositionDetail(String),
    LoadInstitutionDetail(String),
    LoadLedger {
        generation: u64,
        position_id: Option<String>,
        kind: Option<LedgerKind>,
        /// The `/` filter.
        text: Option<String>,
        page: LedgerPage,
    },
    LoadAudit {
        generation: u64,
        action: Option<String>,
        /// The `/` filter.
        text: Option<String>,
        page: AuditPage,
    },
    LoadEventDetail(i64),
    LoadAuditRecord(String),
    LoadHealth,
    Verify,
    /// Verify the chain on from a verified head (or the witnessed one, or seq 1).
    VerifyChain(Option<(i64, String)>),
    /// Verify the whole chain from seq 1 in the background, a slice at a time.
    VerifyFull,
    CancelVerifyFull,
    Check,
    /// Anchor the head on the chain now.
    Anchor,
    /// The store into a file; `force` replaces an existing one.
    Export {
        path: std::path::PathBuf,
        force: bool,
    },
    Submit(Submission),
    Transition {
        id: String,
        req: TransitionRequest,
    },
    /// Move each of a marked set to one state, one after another.
    Transitions {
        to: String,
        items: Vec<(String, TransitionRequest)>,
    },
    Revoke(String),
    Copy(String),
    PauseSimulator(bool),
}
