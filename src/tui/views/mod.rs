//! The console's screens: one module per tab and per detail view, each owning its state, its
//! keys and its drawing behind the `View` trait. A view sees a narrow context — the session, the
//! key map, the shared lookups (`Cx` to update, `Dcx` to draw) — and answers with `Request`s; it
//! never sees the router (`app.rs`) or another view.

pub mod assets;
pub mod catalog_detail;
pub mod health;
mod health_figures;
pub mod institution_detail;
pub mod institutions;
pub mod ledger;
pub mod position_detail;
pub mod positions;
pub mod record_detail;
pub mod text_filter;
mod window;

pub use super::chain::{ChainView, ChainWatch};
use super::keymap::{Action, Context, KeyMap};
use super::msg::{Cmd, Loaded};
use super::nav::{Detail, Nav};
use super::popups::form::Lookup;
use super::popups::{Message, Outcome, Popup, TransitionDialog};
use super::theme::Theme;
use super::widgets::{s, short};
use crate::domain::ledger::LedgerEvent;
use crate::domain::{Asset, AssetTemplate, Institution, Position};
use crate::service::InstitutionSummary;
use crate::service::stream::StreamStatus;
use crate::service::{PositionFilter, ServiceError};
use ratatui::Frame;
use ratatui::layout::Rect;
use std::any::Any;
use std::collections::HashMap;
use std::time::Instant;

/// Facts about the session that the console shows and obeys.
#[derive(Debug, Clone)]
pub struct Session {
    pub backend: String,
    pub target: String,
    pub operator: String,
    pub role: String,
    /// The operator's institution, if confined to one.
    pub scope: Option<String>,
    /// No write of any kind: the role reads only, or the session was started `--read-only`.
    pub read_only: bool,
    /// Started `--read-only` (with a role that could write): refusals say so, not the role.
    pub read_only_requested: bool,
    /// Root (or the local operator): sees every institution, verifies and checks the store,
    /// creates institutions.
    pub root: bool,
    pub can_manage_keys: bool,
    /// The API key this session signed in with, if any (revoking it ends the session).
    pub key_id: Option<String>,
    pub demo: bool,
    pub mouse: bool,
    pub log_file: Option<String>,
}

impl Session {
    /// A session of `actor`, read-only if `read_only_requested` or if its role only reads;
    /// where it runs (backend, target, log file) is filled in by the caller.
    pub fn of(actor: &crate::service::Actor, read_only_requested: bool) -> Self {
        Session {
            backend: String::new(),
            target: String::new(),
            operator: actor.short(),
            role: actor.role_name().to_string(),
            scope: actor.scope().map(str::to_string),
            read_only: read_only_requested || !actor.can_write(),
            read_only_requested: read_only_requested && actor.can_write(),
            root: actor.is_root(),
            can_manage_keys: actor.can_write() && !read_only_requested,
            key_id: actor.key_id().map(str::to_string),
            demo: false,
            mouse: false,
            log_file: None,
        }
    }

    /// Why this session may not do `action` where it is (`context`), or None if it may. The
    /// hint bar and the help overlay show only what this allows, and a key it refuses says
    /// this reason instead of asking the service.
    pub fn refusal(&self, context: Context, action: Action) -> Option<String> {
        let role = &self.role;
        if action.writes() && self.read_only {
            return Some(if self.read_only_requested {
                "read-only session (started with --read-only): it changes nothing".into()
            } else {
                format!("not allowed for role {role}: this session is read-only")
            });
        }
        match action {
            Action::Verify if !self.root => Some(format!(
                "not allowed for role {role}: verifying the whole chain is for root (it spans every institution)"
            )),
            Action::New if context == Context::Institutions && !self.root => Some(format!(
                "not allowed for role {role}: only root creates institutions"
            )),
            Action::NewKey | Action::RevokeKey | Action::EditPolicy if !self.can_manage_keys => {
                Some(format!(
                    "not allowed for role {role}: manage API keys and policies"
                ))
            }
            _ => None,
        }
    }

    /// Whether this session may do `action` in `context`.
    pub fn may(&self, context: Context, action: Action) -> bool {
        self.refusal(context, action).is_none()
    }
}

/// What every view may look up: institutions (with their counts), templates and assets. They
/// change rarely, so the router loads them once and on the ledger events that change them.
#[derive(Default)]
pub struct Data {
    pub institutions: Vec<Institution>,
    pub summaries: HashMap<String, InstitutionSummary>,
    pub templates: Vec<AssetTemplate>,
    pub assets: Vec<Asset>,
}

impl Data {
    pub fn lookup(&self) -> Lookup<'_> {
        Lookup {
            institutions: &self.institutions,
            templates: &self.templates,
            assets: &self.assets,
        }
    }

    /// An institution's name, drawable (its short id when unknown).
    pub fn institution_name(&self, id: &str) -> String {
        self.institutions
            .iter()
            .find(|i| i.id == id)
            .map(|i| s(&i.name))
            .unwrap_or_else(|| short(id))
    }

    pub fn template_name(&self, id: &str) -> String {
        self.templates
            .iter()
            .find(|t| t.id == id)
            .map(|t| s(&t.name))
            .unwrap_or_else(|| short(id))
    }

    pub fn asset_label(&self, id: &str) -> String {
        self.assets
            .iter()
            .find(|a| a.id == id)
            .map(|a| s(&a.label))
            .unwrap_or_else(|| short(id))
    }
}

/// What a view asks of the router.
pub enum Request {
    /// Work for the service.
    Cmd(Cmd),
    Info(String),
    Error(String),
    /// A dialog over the view; its outcome comes back to the view (`on_outcome`).
    Popup(Box<Popup>),
    /// A detail view over this one.
    Open(Detail),
    /// A detail view in the tab it belongs to.
    GoOpen(Detail),
    /// The tab that knows the place, with nothing over it.
    Go(Nav),
    /// From a detail view to its positions; Esc there comes back.
    Drill(PositionFilter),
    /// This detail view has nothing to show (not found, out of scope): close it.
    CloseDetail,
}

/// The context of an update: what a view may read, and where its requests go.
pub struct Cx<'a> {
    pub session: &'a Session,
    pub keys: &'a KeyMap,
    pub data: &'a Data,
    /// Rows of a table that fills the body: one page.
    pub rows: usize,
    /// The institution a new form starts on (the operator's, or the one in view).
    pub preselect: Option<String>,
    pub out: Vec<Request>,
}

impl Cx<'_> {
    pub fn cmd(&mut self, c: Cmd) {
        self.out.push(Request::Cmd(c));
    }
    pub fn info(&mut self, text: impl Into<String>) {
        self.out.push(Request::Info(text.into()));
    }
    pub fn error(&mut self, text: impl Into<String>) {
        self.out.push(Request::Error(text.into()));
    }
    pub fn service_error(&mut self, what: &str, e: &ServiceError) {
        self.error(format!("{what}: {e}"));
    }
    pub fn popup(&mut self, p: Popup) {
        self.out.push(Request::Popup(Box::new(p)));
    }
    /// The key of an action as the operator has it mapped, for a message.
    pub fn key(&self, context: Context, action: Action) -> String {
        self.keys.key_text(context, action)
    }

    /// The transition dialog for a position (a message when it is terminal).
    pub fn open_transition(&mut self, p: Option<&Position>) {
        let Some(p) = p else {
            return self.error("select a position first");
        };
        match TransitionDialog::new(p.clone()) {
            Some(d) => self.popup(Popup::Transition(Box::new(d))),
            None => self.popup(Popup::Message(Message::new(
                "No transitions",
                vec![format!(
                    "{} is {}, a terminal state: it cannot move any further.",
                    p.id, p.state
                )],
                false,
            ))),
        }
    }
}

/// The context of drawing.
pub struct Dcx<'a> {
    pub session: &'a Session,
    pub theme: &'a Theme,
    pub keys: &'a KeyMap,
    pub data: &'a Data,
    pub stream: Option<&'a StreamStatus>,
    pub chain: &'a ChainWatch,
    pub started: Instant,
}

impl Dcx<'_> {
    /// The key of an action as the operator has it mapped, for a hint on screen.
    pub fn key(&self, context: Context, action: Action) -> String {
        self.keys.key_text(context, action)
    }
}

/// A screen: a tab, or a detail view over one. Every method but `context` and `draw` has a
/// default that does nothing, so a view implements what it uses.
pub trait View: Any {
    /// The key map context of the view.
    fn context(&self) -> Context;

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx);

    /// A tab: its mode in the breadcrumb (" › Templates"); a detail view: its label.
    fn crumb(&self, _cx: &Dcx) -> Option<String> {
        None
    }

    /// A tab's one-line summary beside the breadcrumb (filters, position in the list).
    fn summary(&self, _cx: &Dcx) -> String {
        String::new()
    }

    /// A key's action (the router handles the global ones).
    fn on_action(&mut self, _a: Action, _cx: &mut Cx) {}

    /// A service reply; every view sees every reply and takes what is its own.
    fn on_loaded(&mut self, _l: &Loaded, _cx: &mut Cx) {}

    /// A new ledger event from the stream.
    fn on_event(&mut self, _e: &LedgerEvent, _cx: &mut Cx) {}

    /// About four times a second; `shown` when the view is on screen.
    fn on_tick(&mut self, _tick: u64, _shown: bool, _cx: &mut Cx) {}

    /// The outcome of a dialog this view opened.
    fn on_outcome(&mut self, _o: Outcome, _cx: &mut Cx) {}

    /// A place to go: true (and the view goes there) when it is this view's.
    fn on_nav(&mut self, _nav: &Nav, _cx: &mut Cx) -> bool {
        false
    }

    /// Whether a detail view belongs to this tab.
    fn home_of(&self, _d: &Detail) -> bool {
        false
    }

    /// Back to the state before the last `on_nav` (Esc from a detail's positions).
    fn restore(&mut self, _cx: &mut Cx) {}

    /// The tab was switched to.
    fn on_show(&mut self, _cx: &mut Cx) {}

    /// Reload what the view shows.
    fn refresh(&mut self, _cx: &mut Cx) {}

    /// A click on a row of its table (0 = the first visible).
    fn on_click(&mut self, _row: usize, _cx: &mut Cx) {}

    /// The screen changed size: `rows` rows of a table now fit.
    fn on_resize(&mut self, _rows: usize) {}

    /// The id of what is selected (copied with `y`).
    fn selected_id(&self, _data: &Data) -> Option<String> {
        None
    }

    /// Whether an action can do anything here; the hint bar leaves out those that cannot.
    fn offers(&self, _a: Action) -> bool {
        true
    }

    /// A `/` filter is applied: `n` / `N` move between its matches.
    fn filtering(&self) -> bool {
        false
    }

    /// False while the view has paused following the live stream.
    fn follows(&self) -> bool {
        true
    }

    /// The institution this view is about, if any (new forms start on it).
    fn institution_focus(&self) -> Option<&str> {
        None
    }

    /// A detail view: what it shows.
    fn detail(&self) -> Option<&Detail> {
        None
    }
}
