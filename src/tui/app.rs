//! The console's state and its one `update` step. Input (keys, mouse, ticks) and results (service
//! replies, ledger events) arrive as `Msg`; `update` changes state and queues `Cmd`s — the work the
//! runtime does asynchronously against the service. Nothing here awaits or draws.

use super::form::{self, Form, FormEvent, Lookup, Submission};
use super::keymap::{Action, Context, Key, KeyMap};
use super::theme::Theme;
use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::LedgerEvent;
use crate::domain::{
    Asset, AssetTemplate, EntityType, Institution, InstitutionPolicy, LedgerKind, Position,
    PositionState, Region, ids, lifecycle,
};
use crate::service::health::HealthReport;
use crate::service::stream::{StreamItem, StreamStatus};
use crate::service::{
    CreatedKey, InstitutionSummary, PositionDetail, RevokeOutcome, ServiceError, ServiceResult,
    TransitionOutcome, TransitionRequest, VerifyReport,
};
use crate::service::{PositionCursor, PositionFilter, PositionQuery, PositionSortKey};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui_textarea::TextArea;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
/// Rows fetched per page of positions; the loaded window holds at most `WINDOW` rows.
pub const PAGE: u32 = 200;
pub const WINDOW: usize = 1000;
const LEDGER_KEEP: usize = 5000;
const PING_HISTORY: usize = 150;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Institutions,
    Assets,
    Positions,
    Ledger,
    Health,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Institutions,
        Tab::Assets,
        Tab::Positions,
        Tab::Ledger,
        Tab::Health,
    ];
    pub fn title(&self) -> &'static str {
        match self {
            Tab::Institutions => "Institutions",
            Tab::Assets => "Assets",
            Tab::Positions => "Positions",
            Tab::Ledger => "Ledger",
            Tab::Health => "Health",
        }
    }
    fn index(&self) -> usize {
        Tab::ALL.iter().position(|t| t == self).unwrap_or(0)
    }
}

/// A detail view on top of a tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Institution(String),
    Template(String),
    Asset(String),
    Position(String),
}

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
        result: ServiceResult<Vec<LedgerEvent>>,
    },
    Audit(ServiceResult<Vec<AuditEvent>>),
    Health(HealthReport),
    Verify(ServiceResult<VerifyReport>),
    Submitted(ServiceResult<Submitted>),
    Transitioned {
        id: String,
        result: ServiceResult<TransitionOutcome>,
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
    },
    LoadAudit,
    LoadHealth,
    Verify,
    Submit(Submission),
    Transition {
        id: String,
        req: TransitionRequest,
    },
    Revoke(String),
    Copy(String),
    PauseSimulator(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

#[derive(Debug, Clone)]
pub struct StatusMsg {
    pub level: Level,
    pub text: String,
    pub at: Instant,
}

/// A selection in a list and the first visible row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sel {
    pub selected: usize,
    pub offset: usize,
}

impl Sel {
    pub fn clamp(&mut self, len: usize, visible: usize) {
        if len == 0 {
            *self = Sel::default();
            return;
        }
        self.selected = self.selected.min(len - 1);
        let visible = visible.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + visible {
            self.offset = self.selected + 1 - visible;
        }
        self.offset = self.offset.min(len.saturating_sub(visible));
    }

    fn step(&mut self, delta: isize, len: usize, visible: usize) {
        if len == 0 {
            return;
        }
        let s = self.selected as isize + delta;
        self.selected = s.clamp(0, len as isize - 1) as usize;
        self.clamp(len, visible);
    }
}

pub struct PositionsState {
    pub filter: PositionFilter,
    pub sort: PositionSortKey,
    pub descending: bool,
    pub rows: Vec<Position>,
    pub sel: Sel,
    /// The window touches the start / end of the result.
    pub at_start: bool,
    pub at_end: bool,
    /// Absolute index of rows[0] in the result, when known.
    pub base_index: Option<u64>,
    pub total: Option<i64>,
    pub generation: u64,
    pub loading: Option<PageMode>,
    pub loaded_once: bool,
    /// Something changed that the window may not show yet.
    pub stale: bool,
    /// The total may be out of date.
    pub count_stale: bool,
    /// What the `/` popup holds but has not applied yet, and when it was typed (filtering as
    /// you type waits for a pause).
    pub typed: Option<(String, Instant)>,
    /// The text filter when the `/` popup opened (Esc restores it).
    pub text_before: Option<Option<String>>,
}

pub struct LedgerState {
    pub events: VecDeque<LedgerEvent>,
    pub sel: Sel,
    pub follow: bool,
    /// Events that arrived while follow was paused.
    pub unseen: usize,
    pub kind: Option<LedgerKind>,
    pub position: Option<String>,
    pub generation: u64,
    pub audit_mode: bool,
    pub audit: Vec<AuditEvent>,
    pub audit_sel: Sel,
    pub arrivals: VecDeque<Instant>,
    pub loaded: bool,
}

pub struct HealthState {
    pub report: Option<HealthReport>,
    /// Ping in microseconds (0 when unreachable), oldest first.
    pub pings: VecDeque<u64>,
    pub last_ok: Option<Instant>,
}

pub struct TransitionDialog {
    pub position: Position,
    pub targets: Vec<PositionState>,
    pub choice: usize,
    pub reason: TextArea<'static>,
    /// Focus on the reason box (else on the state list).
    pub on_reason: bool,
    pub error: Option<String>,
}

pub enum Popup {
    /// The key overlay, scrolled by this many lines.
    Help(usize),
    Message {
        title: String,
        body: Vec<String>,
        error: bool,
    },
    Confirm {
        title: String,
        body: Vec<String>,
        action: Confirmed,
    },
    Form(Box<Form>),
    Transition(Box<TransitionDialog>),
    CommandLine(TextArea<'static>),
    Filter(TextArea<'static>),
    Picker {
        title: String,
        options: Vec<(String, String)>,
        index: usize,
        purpose: PickerPurpose,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickerPurpose {
    PositionState,
    PositionInstitution,
    LedgerKind,
}

#[derive(Debug, Clone)]
pub enum Confirmed {
    Quit,
    DiscardForm,
    Transition { id: String, req: TransitionRequest },
    Revoke(String),
}

/// Facts about the session that the UI shows and obeys.
#[derive(Debug, Clone)]
pub struct Session {
    pub backend: String,
    pub target: String,
    pub operator: String,
    pub role: String,
    /// The operator's institution, if confined to one.
    pub scope: Option<String>,
    pub read_only: bool,
    pub can_manage_keys: bool,
    pub demo: bool,
    pub mouse: bool,
    pub log_file: Option<String>,
}

pub struct App {
    pub session: Session,
    pub keymap: KeyMap,
    pub theme: Theme,
    pub tab: Tab,
    pub stack: Vec<View>,
    /// Where a drill-down to positions came from (a detail view, and the positions filter it
    /// replaced): Esc on those positions returns there.
    pub return_to: Option<(Tab, Vec<View>, PositionFilter)>,
    pub popup: Option<Popup>,
    /// A popup waiting behind a confirmation (a form the operator may return to).
    pub parked: Option<Popup>,
    pub status: Option<StatusMsg>,
    pub size: (u16, u16),
    pub institutions: Vec<Institution>,
    pub summaries: HashMap<String, InstitutionSummary>,
    pub inst_sel: Sel,
    pub templates: Vec<AssetTemplate>,
    pub assets: Vec<Asset>,
    pub assets_mode_templates: bool,
    pub tmpl_sel: Sel,
    pub asset_sel: Sel,
    pub positions: PositionsState,
    pub ledger: LedgerState,
    pub health: HealthState,
    pub position_detail: Option<(PositionDetail, Vec<LedgerEvent>)>,
    pub institution_detail: Option<InstitutionDetailData>,
    pub detail_sel: Sel,
    pub stream: Option<StreamStatus>,
    pub sim_paused: bool,
    pub quit: bool,
    pub cmds: Vec<Cmd>,
    pub started: Instant,
    ticks: u64,
}

/// A short form of an id for narrow columns: prefix and the last 8 characters (`pos_…c8ab21e7`).
pub fn short(id: &str) -> String {
    match id.split_once('_') {
        Some((p, rest)) if rest.len() > 8 => format!("{p}_…{}", &rest[rest.len() - 8..]),
        _ => id.to_string(),
    }
}

impl App {
    pub fn new(session: Session, keymap: KeyMap, theme: Theme) -> App {
        App {
            session,
            keymap,
            theme,
            tab: Tab::Positions,
            stack: Vec::new(),
            return_to: None,
            popup: None,
            parked: None,
            status: None,
            size: (MIN_WIDTH, MIN_HEIGHT),
            institutions: Vec::new(),
            summaries: HashMap::new(),
            inst_sel: Sel::default(),
            templates: Vec::new(),
            assets: Vec::new(),
            assets_mode_templates: true,
            tmpl_sel: Sel::default(),
            asset_sel: Sel::default(),
            positions: PositionsState {
                filter: PositionFilter::default(),
                sort: PositionSortKey::Created,
                descending: true,
                rows: Vec::new(),
                sel: Sel::default(),
                at_start: true,
                at_end: true,
                base_index: Some(0),
                total: None,
                generation: 0,
                loading: None,
                loaded_once: false,
                stale: false,
                count_stale: false,
                typed: None,
                text_before: None,
            },
            ledger: LedgerState {
                events: VecDeque::new(),
                sel: Sel::default(),
                follow: true,
                unseen: 0,
                kind: None,
                position: None,
                generation: 0,
                audit_mode: false,
                audit: Vec::new(),
                audit_sel: Sel::default(),
                arrivals: VecDeque::new(),
                loaded: false,
            },
            health: HealthState {
                report: None,
                pings: VecDeque::new(),
                last_ok: None,
            },
            position_detail: None,
            institution_detail: None,
            detail_sel: Sel::default(),
            stream: None,
            sim_paused: false,
            quit: false,
            cmds: Vec::new(),
            started: Instant::now(),
            ticks: 0,
        }
    }

    /// The first loads; call once before the loop.
    pub fn start(&mut self) {
        self.cmds.extend([
            Cmd::LoadInstitutions,
            Cmd::LoadTemplates,
            Cmd::LoadAssets,
            Cmd::LoadHealth,
        ]);
        self.reload_positions();
        self.reload_ledger();
    }

    pub fn take_cmds(&mut self) -> Vec<Cmd> {
        std::mem::take(&mut self.cmds)
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMsg {
            level: Level::Info,
            text: text.into(),
            at: Instant::now(),
        });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMsg {
            level: Level::Error,
            text: text.into(),
            at: Instant::now(),
        });
    }

    fn service_error(&mut self, what: &str, e: &ServiceError) {
        self.error(format!("{what}: {e}"));
    }

    pub fn context(&self) -> Context {
        match (self.tab, self.stack.last()) {
            (_, Some(View::Position(_))) => Context::PositionDetail,
            (_, Some(View::Institution(_))) => Context::InstitutionDetail,
            (_, Some(_)) => Context::Global,
            (Tab::Institutions, None) => Context::Institutions,
            (Tab::Assets, None) => Context::Assets,
            (Tab::Positions, None) => Context::Positions,
            (Tab::Ledger, None) => Context::Ledger,
            (Tab::Health, None) => Context::Health,
        }
    }

    pub fn too_small(&self) -> bool {
        self.size.0 < MIN_WIDTH || self.size.1 < MIN_HEIGHT
    }

    /// Rows visible in a main-tab table: the screen minus tab bar, breadcrumb, table header,
    /// hint bar and status bar.
    pub fn table_rows(&self) -> usize {
        (self.size.1 as usize).saturating_sub(5).max(1)
    }

    pub fn lookup(&self) -> Lookup<'_> {
        Lookup {
            institutions: &self.institutions,
            templates: &self.templates,
            assets: &self.assets,
        }
    }

    pub fn institution_name(&self, id: &str) -> String {
        self.institutions
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.name.clone())
            .unwrap_or_else(|| short(id))
    }

    pub fn asset_label(&self, id: &str) -> String {
        self.assets
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.label.clone())
            .unwrap_or_else(|| short(id))
    }

    pub fn form_dirty(&self) -> bool {
        matches!(&self.popup, Some(Popup::Form(f)) if f.touched)
            || matches!(&self.parked, Some(Popup::Form(f)) if f.touched)
            || matches!(&self.popup, Some(Popup::Transition(t)) if !t.reason.is_empty())
    }

    // ---- positions window -----------------------------------------------------------------------

    fn position_query(&self, mode: PageMode) -> PositionQuery {
        let p = &self.positions;
        let cursor = match mode {
            PageMode::Append => p.rows.last().map(|r| PositionCursor::of(p.sort, r)),
            PageMode::Prepend => p.rows.first().map(|r| PositionCursor::of(p.sort, r)),
            PageMode::First | PageMode::Last => None,
        };
        PositionQuery {
            filter: p.filter.clone(),
            sort: p.sort,
            descending: p.descending,
            cursor,
            backwards: matches!(mode, PageMode::Prepend | PageMode::Last),
            limit: PAGE,
        }
    }

    fn load_positions(&mut self, mode: PageMode) {
        if self.positions.loading.is_some() && !matches!(mode, PageMode::First | PageMode::Last) {
            return;
        }
        let query = self.position_query(mode);
        self.positions.loading = Some(mode);
        self.cmds.push(Cmd::LoadPositions {
            generation: self.positions.generation,
            mode,
            query,
        });
    }

    /// New filter or sort: start over from the first page.
    pub fn reload_positions(&mut self) {
        self.positions.generation += 1;
        self.positions.loading = None;
        self.positions.stale = false;
        self.load_positions(PageMode::First);
        self.cmds.push(Cmd::CountPositions {
            generation: self.positions.generation,
            filter: self.positions.filter.clone(),
        });
    }

    fn positions_loaded(
        &mut self,
        generation: u64,
        mode: PageMode,
        result: ServiceResult<Vec<Position>>,
    ) {
        if generation != self.positions.generation {
            return; // a reply to an older filter
        }
        self.positions.loading = None;
        let rows = match result {
            Ok(r) => r,
            Err(e) => return self.service_error("loading positions", &e),
        };
        let full = rows.len() == PAGE as usize;
        let visible = self.table_rows();
        let p = &mut self.positions;
        p.loaded_once = true;
        match mode {
            PageMode::First => {
                let keep = p.rows.get(p.sel.selected).map(|r| r.id.clone());
                p.rows = rows;
                p.at_start = true;
                p.at_end = !full;
                p.base_index = Some(0);
                p.sel.selected = keep
                    .and_then(|id| p.rows.iter().position(|r| r.id == id))
                    .unwrap_or(0);
            }
            PageMode::Last => {
                p.rows = rows;
                p.at_end = true;
                p.at_start = !full;
                p.base_index = match (p.at_start, p.total) {
                    (true, _) => Some(0),
                    (false, Some(t)) => Some((t as u64).saturating_sub(p.rows.len() as u64)),
                    _ => None,
                };
                p.sel.selected = p.rows.len().saturating_sub(1);
            }
            PageMode::Append => {
                p.at_end = !full;
                p.rows.extend(rows);
                if p.rows.len() > WINDOW {
                    let drop = p.rows.len() - WINDOW;
                    p.rows.drain(..drop);
                    p.sel.selected = p.sel.selected.saturating_sub(drop);
                    p.sel.offset = p.sel.offset.saturating_sub(drop);
                    p.base_index = p.base_index.map(|b| b + drop as u64);
                    p.at_start = false;
                }
            }
            PageMode::Prepend => {
                let n = rows.len();
                p.at_start = !full;
                let mut new = rows;
                new.append(&mut p.rows);
                p.rows = new;
                p.sel.selected += n;
                p.sel.offset += n;
                p.base_index = p.base_index.map(|b| b.saturating_sub(n as u64));
                if p.at_start {
                    p.base_index = Some(0);
                }
                if p.rows.len() > WINDOW {
                    p.rows.truncate(WINDOW);
                    p.at_end = false;
                }
            }
        }
        p.sel.clamp(p.rows.len(), visible);
        self.maybe_page();
    }

    /// Loads the neighbouring page when the selection nears the edge of the window.
    fn maybe_page(&mut self) {
        let p = &self.positions;
        if p.loading.is_some() || p.rows.is_empty() {
            return;
        }
        let margin = self.table_rows() * 2;
        if !p.at_end && p.sel.selected + margin >= p.rows.len() {
            self.load_positions(PageMode::Append);
        } else if !p.at_start && p.sel.selected < margin {
            self.load_positions(PageMode::Prepend);
        }
    }

    /// Whether an action can do anything here; the hint bar leaves out those that cannot (a
    /// terminal position has no transition to offer).
    pub fn offers(&self, a: crate::tui::keymap::Action) -> bool {
        match a {
            crate::tui::keymap::Action::Transition => self
                .selected_position()
                .is_some_and(|p| !p.state.is_terminal()),
            _ => true,
        }
    }

    pub fn selected_position(&self) -> Option<&Position> {
        match self.stack.last() {
            Some(View::Position(_)) => self.position_detail.as_ref().map(|(d, _)| &d.position),
            _ => self.positions.rows.get(self.positions.sel.selected),
        }
    }

    // ---- ledger ---------------------------------------------------------------------------------

    pub fn reload_ledger(&mut self) {
        self.ledger.generation += 1;
        self.cmds.push(Cmd::LoadLedger {
            generation: self.ledger.generation,
            position_id: self.ledger.position.clone(),
            kind: self.ledger.kind,
        });
    }

    fn ledger_matches(&self, e: &LedgerEvent) -> bool {
        self.ledger.kind.is_none_or(|k| k == e.kind)
            && self
                .ledger
                .position
                .as_ref()
                .is_none_or(|p| e.position_id.as_ref() == Some(p))
    }

    fn push_ledger(&mut self, e: LedgerEvent) {
        if self
            .ledger
            .events
            .back()
            .is_some_and(|last| last.seq >= e.seq)
        {
            return; // already shown
        }
        self.ledger.events.push_back(e);
        if self.ledger.events.len() > LEDGER_KEEP {
            self.ledger.events.pop_front();
            self.ledger.sel.selected = self.ledger.sel.selected.saturating_sub(1);
            self.ledger.sel.offset = self.ledger.sel.offset.saturating_sub(1);
        }
        let len = self.ledger.events.len();
        let visible = self.table_rows();
        if self.ledger.follow {
            self.ledger.sel.selected = len - 1;
        } else {
            self.ledger.unseen += 1;
        }
        self.ledger.sel.clamp(len, visible);
    }

    /// A new event from the stream: show it, and refresh whatever it changed.
    fn on_event(&mut self, e: LedgerEvent) {
        let now = Instant::now();
        self.ledger.arrivals.push_back(now);
        while self
            .ledger
            .arrivals
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.ledger.arrivals.pop_front();
        }
        match e.entity_type {
            EntityType::Institution => self.cmds.push(Cmd::LoadInstitutions),
            EntityType::AssetTemplate => self.cmds.push(Cmd::LoadTemplates),
            EntityType::Asset => self.cmds.push(Cmd::LoadAssets),
            EntityType::Position => {
                if e.kind == LedgerKind::PositionStateChanged {
                    // Update the row in place: cheap, and the table stays where it is.
                    if let Some(row) = self.positions.rows.iter_mut().find(|p| p.id == e.entity_id)
                        && let Some(t) = e.transition()
                    {
                        row.state = t.to_state;
                        row.updated_at = e.at;
                        row.version = t.version;
                    }
                }
                self.positions.stale = true;
                self.positions.count_stale = true;
            }
            EntityType::Policy | EntityType::ApiKey => {}
        }
        if let Some(View::Position(id)) = self.stack.last()
            && e.position_id.as_deref() == Some(id.as_str())
        {
            self.cmds.push(Cmd::LoadPositionDetail(id.clone()));
        }
        if let Some(View::Institution(id)) = self.stack.last()
            && e.institution_id == *id
            && matches!(
                e.entity_type,
                EntityType::Policy
                    | EntityType::ApiKey
                    | EntityType::AssetTemplate
                    | EntityType::Asset
            )
        {
            self.cmds.push(Cmd::LoadInstitutionDetail(id.clone()));
        }
        if self.ledger_matches(&e) {
            self.push_ledger(e);
        }
    }

    // ---- update ---------------------------------------------------------------------------------

    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Key(k) => self.on_key(k),
            Msg::Mouse(m) => self.on_mouse(m),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                let v = self.table_rows();
                self.positions.sel.clamp(self.positions.rows.len(), v);
                self.ledger.sel.clamp(self.ledger.events.len(), v);
            }
            Msg::Tick => self.on_tick(),
            Msg::Loaded(l) => self.on_loaded(*l),
            Msg::Stream(StreamItem::Event(e)) => self.on_event(*e),
            Msg::Stream(StreamItem::Status(s)) => {
                if let StreamStatus::Reconnecting(why) = &s {
                    tracing::warn!(%why, "console: ledger stream reconnecting");
                }
                self.stream = Some(s);
            }
        }
    }

    /// Called about four times a second.
    fn on_tick(&mut self) {
        self.ticks += 1;
        if let Some((text, at)) = &self.positions.typed
            && at.elapsed() >= FILTER_PAUSE
        {
            let text = text.clone();
            self.apply_text_filter(&text);
        }
        if let Some(s) = &self.status
            && s.level == Level::Info
            && s.at.elapsed() > Duration::from_secs(6)
        {
            self.status = None;
        }
        if self.ticks.is_multiple_of(8) {
            self.cmds.push(Cmd::LoadHealth);
            // Refused actions write audit records but no ledger events: poll while it is shown.
            if self.tab == Tab::Ledger && self.ledger.audit_mode && self.stack.is_empty() {
                self.cmds.push(Cmd::LoadAudit);
            }
        }
        // Positions changed elsewhere: recount every few seconds (a count scans an index, so not
        // on every event), and refresh the window if it shows the newest.
        if self.positions.count_stale && self.ticks.is_multiple_of(20) {
            self.positions.count_stale = false;
            self.cmds.push(Cmd::CountPositions {
                generation: self.positions.generation,
                filter: self.positions.filter.clone(),
            });
        }
        if self.positions.stale && self.ticks.is_multiple_of(4) && self.positions.loading.is_none()
        {
            self.positions.stale = false;
            let newest_first =
                self.positions.sort == PositionSortKey::Created && self.positions.descending;
            if newest_first && self.positions.at_start && self.tab == Tab::Positions {
                self.load_positions(PageMode::First);
            } else if self.positions.at_end
                && self.positions.sort == PositionSortKey::Created
                && !self.positions.descending
            {
                self.load_positions(PageMode::Append);
            }
        }
    }

    fn on_loaded(&mut self, l: Loaded) {
        match l {
            Loaded::Institutions(r) => match r {
                Ok(v) => {
                    let ids: Vec<String> = v.iter().map(|i| i.id.clone()).collect();
                    self.institutions = v;
                    self.inst_sel
                        .clamp(self.institutions.len(), self.table_rows());
                    self.cmds.push(Cmd::LoadSummaries(ids));
                }
                Err(e) => self.service_error("loading institutions", &e),
            },
            Loaded::Summaries(s) => self.summaries.extend(s),
            Loaded::Templates(r) => match r {
                Ok(v) => {
                    self.templates = v;
                    self.tmpl_sel.clamp(self.templates.len(), self.table_rows());
                }
                Err(e) => self.service_error("loading templates", &e),
            },
            Loaded::Assets(r) => match r {
                Ok(v) => {
                    self.assets = v;
                    self.asset_sel.clamp(self.assets.len(), self.table_rows());
                }
                Err(e) => self.service_error("loading assets", &e),
            },
            Loaded::Positions {
                generation,
                mode,
                result,
            } => self.positions_loaded(generation, mode, result),
            Loaded::PositionCount { generation, result } => {
                if generation == self.positions.generation {
                    match result {
                        Ok(n) => {
                            self.positions.total = Some(n);
                            if self.positions.at_end && self.positions.base_index.is_none() {
                                self.positions.base_index = Some(
                                    (n as u64).saturating_sub(self.positions.rows.len() as u64),
                                );
                            }
                        }
                        Err(e) => self.service_error("counting positions", &e),
                    }
                }
            }
            Loaded::PositionDetail { id, result } => {
                if self.stack.last() == Some(&View::Position(id)) {
                    match result {
                        Ok(d) => {
                            // keep the table row in step with what the detail shows
                            if let Some(row) = self
                                .positions
                                .rows
                                .iter_mut()
                                .find(|p| p.id == d.0.position.id)
                            {
                                *row = d.0.position.clone();
                            }
                            self.position_detail = Some(d);
                        }
                        Err(e) => {
                            // Nothing of it to show (not found, another institution's): close the
                            // empty pane and say why; a failed refresh keeps what is shown.
                            if self.position_detail.is_none() {
                                self.stack.pop();
                            }
                            self.service_error("loading the position", &e)
                        }
                    }
                }
            }
            Loaded::InstitutionDetail { id, result } => {
                if self.stack.last() == Some(&View::Institution(id)) {
                    match result {
                        Ok(d) => {
                            self.institution_detail = Some(d);
                            let n = self.detail_rows();
                            self.detail_sel.clamp(n, n.max(1));
                        }
                        Err(e) => {
                            if self.institution_detail.is_none() {
                                self.stack.pop();
                            }
                            self.service_error("loading the institution", &e)
                        }
                    }
                }
            }
            Loaded::Ledger { generation, result } => {
                if generation == self.ledger.generation {
                    match result {
                        Ok(mut events) => {
                            events.reverse(); // loaded newest first
                            // Keep events the stream already delivered beyond what was read.
                            let newest = events.last().map(|e| e.seq).unwrap_or(0);
                            let later: Vec<LedgerEvent> = self
                                .ledger
                                .events
                                .iter()
                                .filter(|e| e.seq > newest && self.ledger_matches(e))
                                .cloned()
                                .collect();
                            self.ledger.events = events.into();
                            self.ledger.events.extend(later);
                            self.ledger.loaded = true;
                            self.ledger.unseen = 0;
                            let len = self.ledger.events.len();
                            if self.ledger.follow || self.ledger.sel.selected >= len {
                                self.ledger.sel.selected = len.saturating_sub(1);
                            }
                            self.ledger.sel.clamp(len, self.table_rows());
                        }
                        Err(e) => self.service_error("loading the ledger", &e),
                    }
                }
            }
            Loaded::Audit(r) => match r {
                Ok(v) => {
                    self.ledger.audit = v;
                    self.ledger
                        .audit_sel
                        .clamp(self.ledger.audit.len(), self.table_rows());
                }
                Err(e) => self.service_error("loading the audit trail", &e),
            },
            Loaded::Health(h) => {
                let was_down = self.health.report.as_ref().is_some_and(|r| !r.connected);
                if was_down && h.connected {
                    // Back after an outage: reload what may have failed meanwhile.
                    self.cmds
                        .extend([Cmd::LoadInstitutions, Cmd::LoadTemplates, Cmd::LoadAssets]);
                    self.reload_positions();
                    self.reload_ledger();
                    self.info("The store is reachable again; views reloaded");
                } else if !h.connected && !was_down {
                    self.error(format!(
                        "the store is unreachable ({}); retrying — nothing you do now is saved",
                        h.error.as_deref().unwrap_or("no answer")
                    ));
                }
                let ping = if h.connected {
                    self.health.last_ok = Some(Instant::now());
                    h.ping_ms.map(|p| (p * 1000.0).max(1.0) as u64).unwrap_or(1)
                } else {
                    0
                };
                self.health.pings.push_back(ping);
                while self.health.pings.len() > PING_HISTORY {
                    self.health.pings.pop_front();
                }
                self.health.report = Some(h);
            }
            Loaded::Verify(r) => {
                // The result replaces "Verifying the hash chain…" in the status bar.
                match &r {
                    Ok(v) if v.ok => self.info(format!("Hash chain intact to seq {}", v.head_seq)),
                    Ok(v) => self.error(format!(
                        "Hash chain BROKEN at seq {}",
                        v.broken.as_ref().map(|b| b.seq).unwrap_or(0)
                    )),
                    Err(_) => self.status = None,
                }
                self.popup = Some(match r {
                    Ok(v) if v.ok => Popup::Message {
                        title: "Ledger verified".into(),
                        body: vec![
                            format!("The hash chain is intact: {} events checked.", v.checked),
                            format!("Head: seq {}", v.head_seq),
                            format!("Hash: {}", v.head_hash),
                        ],
                        error: false,
                    },
                    Ok(v) => {
                        let b = v
                            .broken
                            .clone()
                            .unwrap_or(crate::domain::ledger::ChainBreak {
                                seq: 0,
                                reason: String::new(),
                            });
                        Popup::Message {
                            title: "Ledger BROKEN".into(),
                            body: vec![
                                format!("The chain breaks at seq {}.", b.seq),
                                b.reason,
                                format!("{} events before it verified.", v.checked),
                            ],
                            error: true,
                        }
                    }
                    Err(e) => Popup::Message {
                        title: "Cannot verify".into(),
                        body: vec![e.to_string()],
                        error: true,
                    },
                });
            }
            Loaded::Submitted(r) => self.on_submitted(r),
            Loaded::Transitioned { id, result } => self.on_transitioned(id, result),
            Loaded::Revoked(r) => match r {
                Ok(o) if o.already_revoked => self.info(format!(
                    "API key {} was already revoked: nothing changed",
                    o.api_key.id
                )),
                Ok(o) => {
                    self.info(format!(
                        "Revoked API key {} ({})",
                        o.api_key.id, o.api_key.label
                    ));
                    if let Some(View::Institution(id)) = self.stack.last() {
                        self.cmds.push(Cmd::LoadInstitutionDetail(id.clone()));
                    }
                }
                Err(e) => self.service_error("revoking the key", &e),
            },
        }
    }

    fn on_submitted(&mut self, r: ServiceResult<Submitted>) {
        let Some(Popup::Form(form)) = self.popup.as_mut() else {
            return;
        };
        form.submitting = false;
        match r {
            Err(e) => {
                let fallback = e.to_string();
                form.apply_errors(e.field_errors(), &fallback);
            }
            Ok(s) => {
                self.popup = None;
                let msg = match s {
                    Submitted::Institution(i) => {
                        self.cmds.push(Cmd::LoadInstitutions);
                        format!("Created institution {} ({})", i.id, i.name)
                    }
                    Submitted::Template(t) => {
                        self.cmds.push(Cmd::LoadTemplates);
                        format!("Created template {} ({})", t.id, t.name)
                    }
                    Submitted::Asset(a) => {
                        self.cmds.push(Cmd::LoadAssets);
                        format!("Created asset {} ({})", a.id, a.label)
                    }
                    Submitted::Position(p) => {
                        self.positions.stale = true;
                        format!(
                            "Created position {} ({} {})",
                            p.id,
                            p.amount.display_grouped(),
                            p.currency
                        )
                    }
                    Submitted::ApiKey(k) => {
                        let copy = self
                            .keymap
                            .key_of(Context::Global, Action::Copy)
                            .map(|k| k.to_string())
                            .unwrap_or_else(|| "y".into());
                        self.popup = Some(Popup::Message {
                            title: "API key created — shown only once".into(),
                            body: vec![
                                format!(
                                    "{} · {} · {}",
                                    k.api_key.label, k.api_key.role, k.api_key.id
                                ),
                                String::new(),
                                k.token.clone(),
                                String::new(),
                                format!(
                                    "Copy it now ({copy} copies it to the clipboard); only its SHA-256 is stored."
                                ),
                            ],
                            error: false,
                        });
                        if let Some(View::Institution(id)) = self.stack.last() {
                            self.cmds.push(Cmd::LoadInstitutionDetail(id.clone()));
                        }
                        format!("Created API key {}", k.api_key.id)
                    }
                    Submitted::Policy(p) => {
                        if let Some(View::Institution(id)) = self.stack.last() {
                            self.cmds.push(Cmd::LoadInstitutionDetail(id.clone()));
                        }
                        format!("Saved the {} policy", p.region)
                    }
                };
                self.info(msg);
            }
        }
    }

    fn on_transitioned(&mut self, id: String, r: ServiceResult<TransitionOutcome>) {
        match r {
            Ok(o) if o.applied => {
                let e = o.event.as_ref();
                self.info(format!(
                    "{}: {} → {}{}",
                    id,
                    e.map(|e| e.from_state.as_str()).unwrap_or("?"),
                    o.position.state,
                    o.ledger_seq
                        .map(|s| format!(" (ledger seq {s})"))
                        .unwrap_or_default()
                ));
                if let Some(row) = self.positions.rows.iter_mut().find(|p| p.id == id) {
                    *row = o.position.clone();
                }
            }
            Ok(o) => self.info(format!(
                "{} is already {}: nothing changed",
                id, o.position.state
            )),
            Err(ServiceError::Conflict { current, .. }) => {
                let now = current
                    .as_ref()
                    .map(|p| p.state.to_string())
                    .unwrap_or_else(|| "unknown".into());
                if let Some(p) = current
                    && let Some(row) = self.positions.rows.iter_mut().find(|r| r.id == p.id)
                {
                    *row = (*p).clone();
                }
                self.popup = Some(Popup::Message {
                    title: "Someone else moved it first".into(),
                    body: vec![
                        format!("Position {id} changed while you were deciding."),
                        format!("It is now {now}. Nothing was changed by you."),
                        "Look at its fresh state and try again if still needed.".into(),
                    ],
                    error: true,
                });
            }
            Err(e) => self.service_error("transition refused", &e),
        }
        if self.stack.last() == Some(&View::Position(id.clone())) {
            self.cmds.push(Cmd::LoadPositionDetail(id));
        }
    }

    // ---- keys -----------------------------------------------------------------------------------

    fn on_key(&mut self, k: KeyEvent) {
        if k.kind == crossterm::event::KeyEventKind::Release {
            return;
        }
        if self.popup.is_some() {
            return self.on_popup_key(k);
        }
        if self.too_small() {
            if let Some(Action::Quit) = self.keymap.action(Context::Global, Key::from_event(&k)) {
                self.request_quit();
            }
            return;
        }
        let ctx = self.context();
        let Some(action) = self.keymap.action(ctx, Key::from_event(&k)) else {
            return;
        };
        self.act(action);
    }

    fn refuse_if_read_only(&mut self, action: Action) -> bool {
        if action.writes() && self.session.read_only {
            self.error(format!(
                "not allowed for role {}: this session is read-only",
                self.session.role
            ));
            return true;
        }
        false
    }

    pub fn act(&mut self, action: Action) {
        if self.refuse_if_read_only(action) {
            return;
        }
        let visible = self.table_rows();
        match action {
            Action::Quit => self.request_quit(),
            Action::Help => self.popup = Some(Popup::Help(0)),
            Action::NextTab => self.switch_tab(Tab::ALL[(self.tab.index() + 1) % 5]),
            Action::PrevTab => self.switch_tab(Tab::ALL[(self.tab.index() + 4) % 5]),
            Action::Tab1 => self.switch_tab(Tab::Institutions),
            Action::Tab2 => self.switch_tab(Tab::Assets),
            Action::Tab3 => self.switch_tab(Tab::Positions),
            Action::Tab4 => self.switch_tab(Tab::Ledger),
            Action::Tab5 => self.switch_tab(Tab::Health),
            Action::Up => self.move_sel(-1),
            Action::Down => self.move_sel(1),
            Action::PageUp => self.move_sel(-(visible as isize)),
            Action::PageDown => self.move_sel(visible as isize),
            Action::Top => self.jump(true),
            Action::Bottom => self.jump(false),
            Action::Open => self.open_selected(),
            Action::Back => {
                if self
                    .status
                    .as_ref()
                    .is_some_and(|s| s.level == Level::Error)
                {
                    self.status = None;
                } else if self.stack.pop().is_some() {
                    self.detail_sel = Sel::default();
                } else if self.tab == Tab::Positions
                    && let Some((tab, mut stack, filter)) = self.return_to.take()
                {
                    // Back from a detail's positions to the detail.
                    self.positions.filter = filter;
                    self.reload_positions();
                    self.tab = tab;
                    if let Some(top) = stack.pop() {
                        self.stack = stack;
                        self.open(top);
                    }
                }
            }
            Action::CommandLine => self.popup = Some(Popup::CommandLine(one_line(""))),
            Action::Copy => self.copy_selected(),
            Action::Refresh => self.refresh(),
            Action::New => self.open_new_form(),
            Action::Transition => self.open_transition(),
            Action::Filter => {
                self.positions.text_before = Some(self.positions.filter.text.clone());
                let current = self.positions.filter.text.clone().unwrap_or_default();
                self.popup = Some(Popup::Filter(one_line(&current)));
            }
            Action::FilterState => {
                let options = PositionState::ALL.iter().map(|s| s.as_str().to_string());
                let current = self.positions.filter.state.map(|s| s.as_str().to_string());
                self.popup = Some(picker(
                    "Filter by state",
                    "all states",
                    options.map(|v| (v.clone(), v)).collect(),
                    current.as_deref(),
                    PickerPurpose::PositionState,
                ));
            }
            Action::FilterInstitution => {
                let options = self
                    .institutions
                    .iter()
                    .map(|i| {
                        (
                            i.id.clone(),
                            crate::domain::text::sanitize(&i.name).into_owned(),
                        )
                    })
                    .collect();
                self.popup = Some(picker(
                    "Filter by institution",
                    "all institutions",
                    options,
                    self.positions.filter.institution_id.as_deref(),
                    PickerPurpose::PositionInstitution,
                ));
            }
            Action::FilterKind => {
                let options = LedgerKind::ALL.iter().map(|k| k.as_str().to_string());
                let current = self.ledger.kind.map(|k| k.as_str().to_string());
                self.popup = Some(picker(
                    "Filter by kind",
                    "all kinds",
                    options.map(|v| (v.clone(), v)).collect(),
                    current.as_deref(),
                    PickerPurpose::LedgerKind,
                ));
            }
            Action::ClearFilters => {
                if self.tab == Tab::Ledger {
                    self.ledger.kind = None;
                    self.ledger.position = None;
                    self.reload_ledger();
                } else {
                    self.positions.filter = PositionFilter::default();
                    self.reload_positions();
                }
                self.info("Filters cleared");
            }
            Action::SortNext => {
                let all = PositionSortKey::ALL;
                let i = all
                    .iter()
                    .position(|k| *k == self.positions.sort)
                    .unwrap_or(0);
                self.positions.sort = all[(i + 1) % all.len()];
                self.positions.descending = false;
                self.reload_positions();
            }
            Action::SortReverse => {
                self.positions.descending = !self.positions.descending;
                self.reload_positions();
            }
            Action::ToggleMode => match self.tab {
                Tab::Assets => self.assets_mode_templates = !self.assets_mode_templates,
                Tab::Ledger => {
                    self.ledger.audit_mode = !self.ledger.audit_mode;
                    if self.ledger.audit_mode {
                        self.cmds.push(Cmd::LoadAudit);
                    }
                }
                _ => {}
            },
            Action::Follow => {
                self.ledger.follow = !self.ledger.follow;
                if self.ledger.follow {
                    self.ledger.unseen = 0;
                    self.ledger.sel.selected = self.ledger.events.len().saturating_sub(1);
                    self.ledger.sel.clamp(self.ledger.events.len(), visible);
                }
                self.info(if self.ledger.follow {
                    "Following new events"
                } else {
                    "Follow paused"
                });
            }
            Action::Verify => {
                self.cmds.push(Cmd::Verify);
                self.info("Verifying the hash chain…");
            }
            Action::NewKey => {
                if let Some(d) = &self.institution_detail {
                    if !self.session.can_manage_keys {
                        self.error(format!(
                            "not allowed for role {}: manage API keys",
                            self.session.role
                        ));
                    } else {
                        self.popup = Some(Popup::Form(Box::new(form::api_key_form(
                            &d.institution.id,
                            &d.institution.name,
                        ))));
                    }
                }
            }
            Action::RevokeKey => {
                if let Some(key) = self.selected_key() {
                    if key.revoked_at.is_some() {
                        self.info(format!("API key {} is already revoked", key.id));
                    } else {
                        self.popup = Some(Popup::Confirm {
                            title: "Revoke API key?".into(),
                            body: vec![
                                format!("{} · {} · {}", key.label, key.role, key.id),
                                "Anyone using this key loses access at once. This cannot be undone.".into(),
                            ],
                            action: Confirmed::Revoke(key.id.clone()),
                        });
                    }
                } else {
                    self.error("select an API key row first");
                }
            }
            Action::EditPolicy => {
                if let Some((inst, region)) = self.selected_policy_region() {
                    let existing = self
                        .institution_detail
                        .as_ref()
                        .and_then(|d| d.policies.iter().find(|p| p.region == region).cloned());
                    self.popup = Some(Popup::Form(Box::new(form::policy_form(
                        &inst,
                        region,
                        existing.as_ref(),
                    ))));
                } else {
                    self.error("select a region row of the policy grid first");
                }
            }
            Action::PauseSimulator => {
                if self.session.demo {
                    self.sim_paused = !self.sim_paused;
                    self.cmds.push(Cmd::PauseSimulator(self.sim_paused));
                    self.info(if self.sim_paused {
                        "Simulator paused"
                    } else {
                        "Simulator running"
                    });
                }
            }
        }
    }

    fn request_quit(&mut self) {
        if self.form_dirty() {
            let parked = self.popup.take();
            self.parked = parked;
            self.popup = Some(Popup::Confirm {
                title: "Quit?".into(),
                body: vec!["A form has unsaved input. Quit anyway and lose it?".into()],
                action: Confirmed::Quit,
            });
        } else {
            self.quit = true;
        }
    }

    fn switch_tab(&mut self, t: Tab) {
        self.tab = t;
        self.stack.clear();
        self.return_to = None;
        self.detail_sel = Sel::default();
        match t {
            Tab::Positions if !self.positions.loaded_once || self.positions.stale => {
                self.reload_positions()
            }
            Tab::Ledger if self.ledger.audit_mode => self.cmds.push(Cmd::LoadAudit),
            Tab::Health => self.cmds.push(Cmd::LoadHealth),
            // Position counts per institution move with every new position: refresh on arrival.
            Tab::Institutions => self.cmds.push(Cmd::LoadInstitutions),
            _ => {}
        }
    }

    /// The institution detail on screen, once loaded.
    fn shown_institution(&self) -> Option<&InstitutionDetailData> {
        let Some(View::Institution(id)) = self.stack.last() else {
            return None;
        };
        self.institution_detail
            .as_ref()
            .filter(|d| &d.institution.id == id)
    }

    /// Selectable rows of the institution detail: one per region's policy, then one per key.
    pub fn detail_rows(&self) -> usize {
        self.shown_institution()
            .map(|d| d.institution.regions.len() + d.keys.as_ref().map_or(0, |k| k.len()))
            .unwrap_or(0)
    }

    /// The policy-grid region selected in the institution detail on screen.
    fn selected_policy_region(&self) -> Option<(String, Region)> {
        let d = self.shown_institution()?;
        let r = d.institution.regions.get(self.detail_sel.selected)?;
        Some((d.institution.id.clone(), *r))
    }

    /// The API key row selected in the institution detail on screen.
    fn selected_key(&self) -> Option<&ApiKey> {
        let d = self.shown_institution()?;
        let i = self
            .detail_sel
            .selected
            .checked_sub(d.institution.regions.len())?;
        d.keys.as_ref()?.get(i)
    }

    fn move_sel(&mut self, delta: isize) {
        let visible = self.table_rows();
        match (self.tab, self.stack.last()) {
            (_, Some(View::Institution(_))) => {
                let n = self.detail_rows();
                self.detail_sel.step(delta, n, n.max(1));
            }
            (_, Some(_)) => {}
            (Tab::Institutions, None) => {
                self.inst_sel.step(delta, self.institutions.len(), visible)
            }
            (Tab::Assets, None) => {
                if self.assets_mode_templates {
                    self.tmpl_sel.step(delta, self.templates.len(), visible)
                } else {
                    self.asset_sel.step(delta, self.assets.len(), visible)
                }
            }
            (Tab::Positions, None) => {
                self.positions
                    .sel
                    .step(delta, self.positions.rows.len(), visible);
                self.maybe_page();
            }
            (Tab::Ledger, None) => {
                if self.ledger.audit_mode {
                    self.ledger
                        .audit_sel
                        .step(delta, self.ledger.audit.len(), visible);
                } else {
                    let len = self.ledger.events.len();
                    self.ledger.sel.step(delta, len, visible);
                    // scrolling up pauses follow; reaching the bottom resumes it
                    if delta < 0 && self.ledger.follow && len > 0 {
                        self.ledger.follow = false;
                    } else if delta > 0
                        && self.ledger.sel.selected + 1 == len
                        && !self.ledger.follow
                    {
                        self.ledger.follow = true;
                        self.ledger.unseen = 0;
                    }
                }
            }
            (Tab::Health, None) => {}
        }
    }

    fn jump(&mut self, top: bool) {
        let visible = self.table_rows();
        match (self.tab, self.stack.last()) {
            (Tab::Positions, None) => {
                if top {
                    if self.positions.at_start {
                        self.positions.sel.selected = 0;
                    } else {
                        self.positions.sel = Sel::default();
                        self.positions.generation += 1;
                        self.positions.loading = None;
                        self.load_positions(PageMode::First);
                    }
                } else if self.positions.at_end {
                    self.positions.sel.selected = self.positions.rows.len().saturating_sub(1);
                } else {
                    self.positions.generation += 1;
                    self.positions.loading = None;
                    self.load_positions(PageMode::Last);
                }
                self.positions.sel.clamp(self.positions.rows.len(), visible);
            }
            (Tab::Ledger, None) if !self.ledger.audit_mode => {
                let len = self.ledger.events.len();
                self.ledger.sel.selected = if top { 0 } else { len.saturating_sub(1) };
                self.ledger.follow = !top;
                if !top {
                    self.ledger.unseen = 0;
                }
                self.ledger.sel.clamp(len, visible);
            }
            _ => self.move_sel(if top { -1_000_000 } else { 1_000_000 }),
        }
    }

    fn open_selected(&mut self) {
        match (self.tab, self.stack.last().cloned()) {
            // In an institution, template or asset: drill down to its positions.
            (_, Some(View::Institution(id))) => self.drill_to_positions(PositionFilter {
                institution_id: Some(id),
                ..Default::default()
            }),
            (_, Some(View::Template(id))) => self.drill_to_positions(PositionFilter {
                template_id: Some(id),
                ..Default::default()
            }),
            (_, Some(View::Asset(id))) => self.drill_to_positions(PositionFilter {
                asset_id: Some(id),
                ..Default::default()
            }),
            (_, Some(View::Position(_))) => {}
            (Tab::Institutions, None) => {
                if let Some(i) = self.institutions.get(self.inst_sel.selected) {
                    let id = i.id.clone();
                    self.open(View::Institution(id));
                }
            }
            (Tab::Assets, None) => {
                let v = if self.assets_mode_templates {
                    self.templates
                        .get(self.tmpl_sel.selected)
                        .map(|t| View::Template(t.id.clone()))
                } else {
                    self.assets
                        .get(self.asset_sel.selected)
                        .map(|a| View::Asset(a.id.clone()))
                };
                if let Some(v) = v {
                    self.open(v);
                }
            }
            (Tab::Positions, None) => {
                if let Some(p) = self.positions.rows.get(self.positions.sel.selected) {
                    let id = p.id.clone();
                    self.open(View::Position(id));
                }
            }
            (Tab::Ledger, None) => {
                if self.ledger.audit_mode {
                    return;
                }
                match self.ledger.events.get(self.ledger.sel.selected) {
                    Some(e) if e.position_id.is_some() => {
                        let id = e.position_id.clone().unwrap_or_default();
                        self.tab = Tab::Positions;
                        self.open(View::Position(id));
                    }
                    Some(e) => {
                        let v = match e.entity_type {
                            EntityType::Institution | EntityType::Policy | EntityType::ApiKey => {
                                Some(View::Institution(e.institution_id.clone()))
                            }
                            EntityType::AssetTemplate => Some(View::Template(e.entity_id.clone())),
                            EntityType::Asset => Some(View::Asset(e.entity_id.clone())),
                            EntityType::Position => None,
                        };
                        if let Some(v) = v {
                            self.tab = match v {
                                View::Institution(_) => Tab::Institutions,
                                _ => Tab::Assets,
                            };
                            self.open(v);
                        }
                    }
                    None => {}
                }
            }
            (Tab::Health, None) => {}
        }
    }

    /// The Positions tab with a fresh filter.
    /// Applies the `/` text (empty clears it), unless it is already the filter.
    fn apply_text_filter(&mut self, text: &str) {
        self.positions.typed = None;
        let text = Some(text.trim().to_string()).filter(|s| !s.is_empty());
        if text != self.positions.filter.text {
            self.positions.filter.text = text;
            self.reload_positions();
        }
    }

    /// From a detail view to its positions, remembering the way back (Esc).
    fn drill_to_positions(&mut self, filter: PositionFilter) {
        let back = (self.tab, self.stack.clone(), self.positions.filter.clone());
        self.show_positions(filter);
        self.return_to = Some(back);
    }

    fn show_positions(&mut self, filter: PositionFilter) {
        self.positions.filter = filter;
        self.tab = Tab::Positions;
        self.stack.clear();
        self.reload_positions();
    }

    /// Opens a detail view (and loads what it needs).
    pub fn open(&mut self, v: View) {
        match &v {
            View::Position(id) => {
                if self
                    .position_detail
                    .as_ref()
                    .is_none_or(|(d, _)| &d.position.id != id)
                {
                    self.position_detail = None;
                }
                self.cmds.push(Cmd::LoadPositionDetail(id.clone()));
            }
            View::Institution(id) => {
                if self
                    .institution_detail
                    .as_ref()
                    .is_none_or(|d| &d.institution.id != id)
                {
                    self.institution_detail = None;
                }
                self.detail_sel = Sel::default();
                self.cmds.push(Cmd::LoadInstitutionDetail(id.clone()));
            }
            View::Template(_) | View::Asset(_) => {}
        }
        if self.stack.last() != Some(&v) {
            self.stack.push(v);
        }
    }

    fn selected_id(&self) -> Option<String> {
        match self.stack.last() {
            Some(View::Position(id))
            | Some(View::Institution(id))
            | Some(View::Template(id))
            | Some(View::Asset(id)) => {
                if let Some(k) = self.selected_key() {
                    return Some(k.id.clone());
                }
                return Some(id.clone());
            }
            None => {}
        }
        match self.tab {
            Tab::Institutions => self
                .institutions
                .get(self.inst_sel.selected)
                .map(|i| i.id.clone()),
            Tab::Assets if self.assets_mode_templates => self
                .templates
                .get(self.tmpl_sel.selected)
                .map(|t| t.id.clone()),
            Tab::Assets => self
                .assets
                .get(self.asset_sel.selected)
                .map(|a| a.id.clone()),
            Tab::Positions => self
                .positions
                .rows
                .get(self.positions.sel.selected)
                .map(|p| p.id.clone()),
            Tab::Ledger if self.ledger.audit_mode => self
                .ledger
                .audit
                .get(self.ledger.audit_sel.selected)
                .map(|a| a.id.clone()),
            Tab::Ledger => self
                .ledger
                .events
                .get(self.ledger.sel.selected)
                .map(|e| e.entity_id.clone()),
            Tab::Health => None,
        }
    }

    fn copy_selected(&mut self) {
        // The token popup copies the token.
        if let Some(Popup::Message { body, .. }) = &self.popup
            && let Some(token) = body
                .iter()
                .find(|l| crate::domain::apikey::looks_like_token(l))
        {
            let t = token.clone();
            self.cmds.push(Cmd::Copy(t));
            self.info("Copied the API key token to the clipboard (OSC 52)");
            return;
        }
        match self.selected_id() {
            Some(id) => {
                self.info(format!("Copied {id}"));
                self.cmds.push(Cmd::Copy(id));
            }
            None => self.info("nothing selected to copy"),
        }
    }

    fn refresh(&mut self) {
        self.cmds.extend([
            Cmd::LoadInstitutions,
            Cmd::LoadTemplates,
            Cmd::LoadAssets,
            Cmd::LoadHealth,
        ]);
        match self.stack.last().cloned() {
            Some(View::Position(id)) => self.cmds.push(Cmd::LoadPositionDetail(id)),
            Some(View::Institution(id)) => self.cmds.push(Cmd::LoadInstitutionDetail(id)),
            _ => {}
        }
        match self.tab {
            Tab::Positions => self.reload_positions(),
            Tab::Ledger if self.ledger.audit_mode => self.cmds.push(Cmd::LoadAudit),
            Tab::Ledger => self.reload_ledger(),
            _ => {}
        }
        self.info("Reloaded");
    }

    fn scope_preselect(&self) -> Option<String> {
        self.session
            .scope
            .clone()
            .or_else(|| match self.stack.last() {
                Some(View::Institution(id)) => Some(id.clone()),
                _ => self.positions.filter.institution_id.clone(),
            })
    }

    fn open_new_form(&mut self) {
        let pre = self.scope_preselect();
        let lookup = self.lookup();
        let f = match (self.tab, self.stack.last()) {
            (Tab::Institutions, None) => {
                if self.session.scope.is_some() {
                    self.error(format!(
                        "not allowed for role {}: create institutions",
                        self.session.role
                    ));
                    return;
                }
                form::institution_form()
            }
            (Tab::Assets, None) if self.assets_mode_templates => {
                form::template_form(&lookup, pre.as_deref())
            }
            (Tab::Assets, None) => form::asset_form(&lookup, pre.as_deref()),
            (Tab::Positions, None) => form::position_form(&lookup, pre.as_deref()),
            _ => return,
        };
        if f.fields.iter().any(|x| x.key == "institutionId") && self.institutions.is_empty() {
            self.error("create an institution first (Institutions tab, n)");
            return;
        }
        self.popup = Some(Popup::Form(Box::new(f)));
    }

    fn open_transition(&mut self) {
        let Some(p) = self.selected_position().cloned() else {
            self.error("select a position first");
            return;
        };
        let targets = lifecycle::allowed_targets(p.state).to_vec();
        if targets.is_empty() {
            self.popup = Some(Popup::Message {
                title: "No transitions".into(),
                body: vec![format!(
                    "{} is {}, a terminal state: it cannot move any further.",
                    p.id, p.state
                )],
                error: false,
            });
            return;
        }
        let mut reason = TextArea::default();
        reason.set_cursor_line_style(ratatui::style::Style::default());
        reason.set_placeholder_text("reason (optional, up to 1000 characters)");
        self.popup = Some(Popup::Transition(Box::new(TransitionDialog {
            position: p,
            targets,
            choice: 0,
            reason,
            on_reason: false,
            error: None,
        })));
    }

    // ---- popups ---------------------------------------------------------------------------------

    fn on_popup_key(&mut self, k: KeyEvent) {
        let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c {
            return self.request_quit();
        }
        let Some(popup) = self.popup.take() else {
            return;
        };
        self.popup = match popup {
            Popup::Help(scroll) => match k.code {
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter => None,
                KeyCode::Down | KeyCode::Char('j') => Some(Popup::Help(scroll + 1)),
                KeyCode::Up | KeyCode::Char('k') => Some(Popup::Help(scroll.saturating_sub(1))),
                KeyCode::PageDown | KeyCode::Char(' ') => Some(Popup::Help(scroll + 10)),
                KeyCode::PageUp => Some(Popup::Help(scroll.saturating_sub(10))),
                _ => Some(Popup::Help(scroll)),
            },
            Popup::Message { title, body, error } => match k.code {
                KeyCode::Char('y') => {
                    self.popup = Some(Popup::Message { title, body, error });
                    self.copy_selected();
                    return;
                }
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char(' ') => None,
                _ => Some(Popup::Message { title, body, error }),
            },
            Popup::Confirm {
                title,
                body,
                action,
            } => match k.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    self.confirmed(action);
                    return;
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => self.parked.take(),
                _ => Some(Popup::Confirm {
                    title,
                    body,
                    action,
                }),
            },
            Popup::Form(mut f) => {
                if f.submitting {
                    Some(Popup::Form(f))
                } else {
                    let lookup = Lookup {
                        institutions: &self.institutions,
                        templates: &self.templates,
                        assets: &self.assets,
                    };
                    match f.handle_key(k, &lookup) {
                        FormEvent::None => Some(Popup::Form(f)),
                        FormEvent::Cancel if f.touched => {
                            self.parked = Some(Popup::Form(f));
                            Some(Popup::Confirm {
                                title: "Discard this form?".into(),
                                body: vec!["It has unsaved input.".into()],
                                action: Confirmed::DiscardForm,
                            })
                        }
                        FormEvent::Cancel => None,
                        FormEvent::Submit => {
                            if f.validate_all() {
                                f.submitting = true;
                                f.error = None;
                                self.cmds.push(Cmd::Submit(f.submission()));
                            } else {
                                f.error = Some("fix the fields marked in red".into());
                                if let Some(i) = f.fields.iter().position(|x| x.error.is_some()) {
                                    f.focus = i;
                                }
                            }
                            Some(Popup::Form(f))
                        }
                    }
                }
            }
            Popup::Transition(mut d) => {
                if self.transition_key(&mut d, k) {
                    Some(Popup::Transition(d))
                } else {
                    // closed, or replaced by the confirmation it opened
                    self.popup.take()
                }
            }
            Popup::CommandLine(mut t) => match k.code {
                KeyCode::Esc => {
                    // Closing the line also dismisses the error it left.
                    if self
                        .status
                        .as_ref()
                        .is_some_and(|m| m.level == Level::Error)
                    {
                        self.status = None;
                    }
                    None
                }
                KeyCode::Enter => {
                    let line = t.lines().join(" ");
                    if let Err(e) = self.run_command(line.trim()) {
                        // Keep what was typed, to mend it.
                        self.error(e);
                        self.popup = Some(Popup::CommandLine(one_line(line.trim())));
                    }
                    return;
                }
                _ => {
                    t.input(k);
                    Some(Popup::CommandLine(t))
                }
            },
            Popup::Filter(mut t) => match k.code {
                KeyCode::Esc => {
                    // Back to the filter the popup opened with.
                    self.positions.typed = None;
                    if let Some(before) = self.positions.text_before.take()
                        && before != self.positions.filter.text
                    {
                        self.positions.filter.text = before;
                        self.reload_positions();
                    }
                    None
                }
                KeyCode::Enter => {
                    let text = t.lines().join(" ");
                    self.apply_text_filter(&text);
                    self.positions.text_before = None;
                    None
                }
                _ => {
                    t.input(k);
                    // Filter as you type, once typing pauses (see `on_tick`).
                    self.positions.typed = Some((t.lines().join(" "), Instant::now()));
                    Some(Popup::Filter(t))
                }
            },
            Popup::Picker {
                title,
                options,
                mut index,
                purpose,
            } => match k.code {
                KeyCode::Esc => None,
                KeyCode::Up | KeyCode::Char('k') => {
                    index = index.saturating_sub(1);
                    Some(Popup::Picker {
                        title,
                        options,
                        index,
                        purpose,
                    })
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    index = (index + 1).min(options.len().saturating_sub(1));
                    Some(Popup::Picker {
                        title,
                        options,
                        index,
                        purpose,
                    })
                }
                KeyCode::Enter => {
                    let v = options
                        .get(index)
                        .map(|(v, _)| v.clone())
                        .filter(|v| !v.is_empty());
                    self.picked(purpose, v);
                    None
                }
                _ => Some(Popup::Picker {
                    title,
                    options,
                    index,
                    purpose,
                }),
            },
        };
    }

    /// Handles a key in the transition dialog; false closes it.
    fn transition_key(&mut self, d: &mut TransitionDialog, k: KeyEvent) -> bool {
        match k.code {
            KeyCode::Esc => return false,
            KeyCode::Tab | KeyCode::BackTab => d.on_reason = !d.on_reason,
            KeyCode::Up if !d.on_reason => d.choice = d.choice.saturating_sub(1),
            KeyCode::Down if !d.on_reason => d.choice = (d.choice + 1).min(d.targets.len() - 1),
            KeyCode::Char('k') if !d.on_reason => d.choice = d.choice.saturating_sub(1),
            KeyCode::Char('j') if !d.on_reason => {
                d.choice = (d.choice + 1).min(d.targets.len() - 1)
            }
            KeyCode::Enter if !d.on_reason || !k.modifiers.contains(KeyModifiers::ALT) => {
                let reason = d.reason.lines().join("\n");
                if let Err(e) = crate::domain::model::validate_reason(Some(&reason)) {
                    d.error = Some(e.to_string());
                    return true;
                }
                let to = d.targets[d.choice];
                let p = &d.position;
                let req = TransitionRequest {
                    to: to.as_str().into(),
                    reason: Some(reason.clone()).filter(|r| !r.trim().is_empty()),
                    expect_state: Some(p.state.as_str().into()),
                    expect_version: Some(p.version),
                    metadata: None,
                };
                let mut body = vec![
                    format!("Move {} from {} to {}?", p.id, p.state, to),
                    format!(
                        "{} · {} {}",
                        crate::domain::text::sanitize(&p.holder_reference),
                        p.amount.display_grouped(),
                        p.currency
                    ),
                ];
                if !reason.trim().is_empty() {
                    body.push(format!(
                        "Reason: {}",
                        crate::domain::text::sanitize(&reason)
                    ));
                }
                if to.is_terminal() {
                    body.push(format!("{to} is final: the position cannot move again."));
                }
                self.parked = None;
                self.popup = Some(Popup::Confirm {
                    title: "Confirm transition".into(),
                    body,
                    action: Confirmed::Transition {
                        id: p.id.clone(),
                        req,
                    },
                });
                return false;
            }
            _ if d.on_reason => {
                d.reason.input(k);
                d.error = None;
            }
            _ => {}
        }
        true
    }

    fn confirmed(&mut self, action: Confirmed) {
        match action {
            Confirmed::Quit => self.quit = true,
            Confirmed::DiscardForm => {
                self.parked = None;
            }
            Confirmed::Transition { id, req } => {
                if self.refuse_if_read_only(Action::Transition) {
                    return;
                }
                self.info(format!("Moving {id} to {}…", req.to));
                self.cmds.push(Cmd::Transition { id, req });
            }
            Confirmed::Revoke(id) => self.cmds.push(Cmd::Revoke(id)),
        }
    }

    fn picked(&mut self, purpose: PickerPurpose, value: Option<String>) {
        match purpose {
            PickerPurpose::PositionState => {
                self.positions.filter.state = value.and_then(|v| v.parse().ok());
                self.reload_positions();
            }
            PickerPurpose::PositionInstitution => {
                self.positions.filter.institution_id = value;
                self.reload_positions();
            }
            PickerPurpose::LedgerKind => {
                self.ledger.kind = value.and_then(|v| v.parse().ok());
                self.reload_ledger();
            }
        }
    }

    // ---- command line ---------------------------------------------------------------------------

    /// Runs a `:` command; the error names what is valid. Words are split as a shell would, so
    /// `institution="Harbor Trust Bank"` is one word.
    pub fn run_command(&mut self, line: &str) -> Result<(), String> {
        let Some(words) = shlex::split(line) else {
            return Err(format!("unbalanced quote in '{line}'"));
        };
        let mut words = words.into_iter();
        let Some(cmd) = words.next() else {
            return Ok(());
        };
        let args: Vec<String> = words.collect();
        let kv = |args: &[String]| -> Vec<(String, String)> {
            args.iter()
                .filter_map(|a| {
                    a.split_once('=')
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                })
                .collect()
        };
        match cmd.to_ascii_lowercase().as_str() {
            "q" | "quit" | "exit" => self.request_quit(),
            "help" | "h" => self.popup = Some(Popup::Help(0)),
            "institutions" | "inst" => self.switch_tab(Tab::Institutions),
            "assets" => {
                self.switch_tab(Tab::Assets);
                self.assets_mode_templates = false;
            }
            "templates" => {
                self.switch_tab(Tab::Assets);
                self.assets_mode_templates = true;
            }
            "health" => self.switch_tab(Tab::Health),
            "verify" => self.act(Action::Verify),
            "audit" => {
                self.switch_tab(Tab::Ledger);
                self.ledger.audit_mode = true;
                self.cmds.push(Cmd::LoadAudit);
            }
            "positions" | "pos" => {
                let mut f = PositionFilter::default();
                let mut sort = None;
                for (k, v) in kv(&args) {
                    match k.as_str() {
                        "state" => match v.parse::<PositionState>() {
                            Ok(s) => f.state = Some(s),
                            Err(e) => return Err(format!(":positions {e}")),
                        },
                        "institution" | "inst" => {
                            f.institution_id = Some(self.institution_named(&v)?);
                        }
                        "asset" => f.asset_id = Some(v),
                        "holder" => f.holder_reference = Some(v),
                        "text" | "search" => f.text = Some(v),
                        "sort" => sort = Some(v),
                        other => {
                            return Err(format!(
                                ":positions unknown filter '{other}'; use state=, institution=, asset=, holder=, text=, sort="
                            ));
                        }
                    }
                }
                if let Some(s) = sort {
                    let (name, desc) = match s.strip_prefix('-') {
                        Some(n) => (n.to_string(), true),
                        None => (s.clone(), false),
                    };
                    match sort_key_named(&name) {
                        Some(k) => {
                            self.positions.sort = k;
                            self.positions.descending = desc;
                        }
                        None => {
                            return Err(format!(
                                ":positions sort '{name}' unknown; use created, updated, institution, asset, holder, amount, currency, state (prefix - for descending)"
                            ));
                        }
                    }
                }
                self.positions.filter = f;
                self.tab = Tab::Positions;
                self.stack.clear();
                self.return_to = None;
                self.reload_positions();
            }
            "ledger" => {
                self.ledger.position = None;
                self.ledger.kind = None;
                for a in &args {
                    if let Some(k) = a.strip_prefix("kind=") {
                        match k.parse::<LedgerKind>() {
                            Ok(k) => self.ledger.kind = Some(k),
                            Err(e) => return Err(format!(":ledger {e}")),
                        }
                    } else if a.starts_with("pos_") {
                        self.ledger.position = Some(a.to_string());
                    } else {
                        return Err(format!(
                            ":ledger takes a position id (pos_…) or kind=KIND, not '{a}'"
                        ));
                    }
                }
                self.ledger.audit_mode = false;
                self.ledger.follow = true;
                self.tab = Tab::Ledger;
                self.stack.clear();
                self.return_to = None;
                self.reload_ledger();
            }
            "open" if !args.is_empty() => return self.open_id(&args[0]),
            "new" => self.act(Action::New),
            id if ids::kind_of(id).is_some() => return self.open_id(id),
            other => {
                return Err(format!(
                    "unknown command '{other}'; try :positions state=FUNDED, :ledger pos_…, :open ID, :verify, :audit, :quit (? lists keys)"
                ));
            }
        }
        Ok(())
    }

    /// An institution named by its id, its name, or a prefix of its name that only it has (all
    /// ignoring case).
    fn institution_named(&self, v: &str) -> Result<String, String> {
        let exact = self
            .institutions
            .iter()
            .find(|i| i.id == v || i.name.eq_ignore_ascii_case(v));
        if let Some(i) = exact {
            return Ok(i.id.clone());
        }
        let prefix = v.to_lowercase();
        let found: Vec<&Institution> = self
            .institutions
            .iter()
            .filter(|i| i.name.to_lowercase().starts_with(&prefix))
            .collect();
        match found.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(format!(":positions no institution '{v}'")),
            many => Err(format!(
                ":positions institution '{v}' could be {}: type more of the name",
                many.iter()
                    .map(|i| format!("'{}'", i.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    fn open_id(&mut self, id: &str) -> Result<(), String> {
        match ids::kind_of(id) {
            Some(ids::POSITION) => {
                self.tab = Tab::Positions;
                self.stack.clear();
                self.return_to = None;
                self.open(View::Position(id.into()));
            }
            Some(ids::INSTITUTION) => {
                self.tab = Tab::Institutions;
                self.stack.clear();
                self.return_to = None;
                self.open(View::Institution(id.into()));
            }
            Some(ids::TEMPLATE) => {
                self.tab = Tab::Assets;
                self.stack.clear();
                self.return_to = None;
                self.open(View::Template(id.into()));
            }
            Some(ids::ASSET) => {
                self.tab = Tab::Assets;
                self.stack.clear();
                self.return_to = None;
                self.open(View::Asset(id.into()));
            }
            _ => {
                return Err(format!(
                    "cannot open '{id}': give a pos_, inst_, tmpl_ or ast_ id"
                ));
            }
        }
        Ok(())
    }

    // ---- mouse ----------------------------------------------------------------------------------

    fn on_mouse(&mut self, m: MouseEvent) {
        if !self.session.mouse || self.popup.is_some() || self.too_small() {
            return;
        }
        match m.kind {
            MouseEventKind::ScrollDown => self.move_sel(3),
            MouseEventKind::ScrollUp => self.move_sel(-3),
            MouseEventKind::Down(MouseButton::Left) => {
                if m.row == 0 {
                    if let Some(t) = super::ui::tab_at(m.column) {
                        self.switch_tab(t);
                    }
                    return;
                }
                // Rows of a main table start below the tab bar, breadcrumb and header.
                if self.stack.is_empty() && m.row >= 3 && m.row < self.size.1.saturating_sub(2) {
                    let idx = (m.row - 3) as usize;
                    let sel = match self.tab {
                        Tab::Institutions => Some((&mut self.inst_sel, self.institutions.len())),
                        Tab::Assets if self.assets_mode_templates => {
                            Some((&mut self.tmpl_sel, self.templates.len()))
                        }
                        Tab::Assets => Some((&mut self.asset_sel, self.assets.len())),
                        Tab::Positions => {
                            Some((&mut self.positions.sel, self.positions.rows.len()))
                        }
                        Tab::Ledger if self.ledger.audit_mode => {
                            Some((&mut self.ledger.audit_sel, self.ledger.audit.len()))
                        }
                        Tab::Ledger => Some((&mut self.ledger.sel, self.ledger.events.len())),
                        Tab::Health => None,
                    };
                    if let Some((sel, len)) = sel {
                        let target = sel.offset + idx;
                        if target < len {
                            let again = sel.selected == target;
                            sel.selected = target;
                            if again {
                                self.open_selected();
                            } else if self.tab == Tab::Ledger {
                                self.ledger.follow = target + 1 == len;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// A picker whose first choice clears the filter, opened on the current value.
fn picker(
    title: &str,
    all: &str,
    choices: Vec<(String, String)>,
    current: Option<&str>,
    purpose: PickerPurpose,
) -> Popup {
    let mut options = vec![(String::new(), all.to_string())];
    options.extend(choices);
    let index = current
        .and_then(|c| options.iter().position(|(v, _)| v == c))
        .unwrap_or(0);
    Popup::Picker {
        title: title.into(),
        options,
        index,
        purpose,
    }
}

fn one_line(initial: &str) -> TextArea<'static> {
    let mut t = TextArea::new(vec![initial.to_string()]);
    t.set_cursor_line_style(ratatui::style::Style::default());
    t.move_cursor(ratatui_textarea::CursorMove::End);
    t
}

/// How long typing in the `/` filter must pause before the filter applies.
const FILTER_PAUSE: Duration = Duration::from_millis(150);

pub fn sort_key_named(name: &str) -> Option<PositionSortKey> {
    Some(match name.to_ascii_lowercase().as_str() {
        "created" | "id" => PositionSortKey::Created,
        "updated" => PositionSortKey::Updated,
        "institution" => PositionSortKey::Institution,
        "asset" => PositionSortKey::Asset,
        "holder" => PositionSortKey::Holder,
        "amount" => PositionSortKey::Amount,
        "currency" | "ccy" => PositionSortKey::Currency,
        "state" => PositionSortKey::State,
        _ => return None,
    })
}

pub fn sort_key_label(k: PositionSortKey) -> &'static str {
    match k {
        PositionSortKey::Created => "created",
        PositionSortKey::Updated => "updated",
        PositionSortKey::Institution => "institution",
        PositionSortKey::Asset => "asset",
        PositionSortKey::Holder => "holder",
        PositionSortKey::Amount => "amount",
        PositionSortKey::Currency => "currency",
        PositionSortKey::State => "state",
    }
}
