//! The router: the session, the tabs (each a view), the detail views stacked over the current
//! tab, the dialogs over those, and the status line. `update` takes each `Msg` to whoever owns
//! it — a key to the dialog on top, else to the view on top; a reply or a ledger event to every
//! view — and turns what they ask (`Request`s, dialog `Outcome`s) into state and `Cmd`s for the
//! runtime. Nothing here awaits or draws.

mod results;

use super::chain::ChainWatch;
use super::keymap::{Action, Context, Key, KeyMap};
use super::layout::Areas;
use super::nav::{Detail, Nav};
use super::popups::command_line::{self, Command};
use super::popups::{CommandInput, Confirmed, Help, Message, Outcome, Popup};
use super::theme::Theme;
use super::views::catalog_detail::CatalogDetail;
use super::views::institution_detail::InstitutionDetail;
use super::views::position_detail::PositionDetail;
use super::views::{Cx, Data, Dcx, Request, View};
use super::views::{assets, health, institutions, ledger, positions};
use crate::service::stream::{StreamItem, StreamStatus};
use crate::service::{ServiceError, ServiceResult, TransitionOutcome, VerifyReport};
use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use std::time::{Duration, Instant};

pub use super::msg::{Cmd, Loaded, Msg, PageMode, Submitted};
pub use super::views::Session;

/// The tabs, in the order of the tab bar and the number keys: adding a tab is one line here and
/// one file under `views/`.
macro_rules! tabs {
    ($($tab:ident: $title:literal => $view:expr),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Tab {
            $($tab),*
        }

        impl Tab {
            pub const ALL: &[Tab] = &[$(Tab::$tab),*];

            pub fn title(&self) -> &'static str {
                match self {
                    $(Tab::$tab => $title),*
                }
            }

            fn view(&self) -> Box<dyn View> {
                match self {
                    $(Tab::$tab => Box::new($view)),*
                }
            }
        }
    };
}

tabs! {
    Institutions: "Institutions" => institutions::Institutions::default(),
    Assets: "Assets" => assets::Assets::default(),
    Positions: "Positions" => positions::Positions::default(),
    Ledger: "Ledger" => ledger::Ledger::default(),
    Health: "Health" => health::Health::default(),
}

impl Tab {
    fn index(&self) -> usize {
        Tab::ALL.iter().position(|t| t == self).unwrap_or(0)
    }

    pub fn titles() -> Vec<&'static str> {
        Tab::ALL.iter().map(|t| t.title()).collect()
    }
}

/// The view for a detail.
fn detail_view(d: Detail) -> Box<dyn View> {
    match d {
        Detail::Position(id) => Box::new(PositionDetail::new(id)),
        Detail::Institution(id) => Box::new(InstitutionDetail::new(id)),
        d @ (Detail::Template(_) | Detail::Asset(_)) => Box::new(CatalogDetail::new(d)),
        d @ (Detail::LedgerEvent(_) | Detail::AuditRecord(_)) => {
            Box::new(super::views::record_detail::RecordDetail::new(d))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// How many `:` commands the history keeps.
const HISTORY: usize = 100;

#[derive(Debug, Clone)]
pub struct StatusMsg {
    pub level: Level,
    pub text: String,
    pub at: Instant,
}

/// Which view a message goes to.
#[derive(Clone, Copy)]
enum Target {
    /// What is on screen: the top detail view, else the current tab.
    Top,
    Tab(usize),
}

pub struct App {
    pub session: Session,
    pub keymap: KeyMap,
    pub theme: Theme,
    pub data: Data,
    pub tab: Tab,
    tabs: Vec<Box<dyn View>>,
    /// Detail views over the current tab, the top one on screen.
    stack: Vec<Box<dyn View>>,
    /// Where a drill-down to positions came from (a tab and its detail views): Esc on those
    /// positions returns there.
    return_to: Option<(Tab, Vec<Box<dyn View>>)>,
    /// Where `:open` was typed (a tab and its detail views): if what it opens cannot be shown
    /// (not found, out of scope), the console goes back there rather than to a bare tab.
    opened_over: Option<(Tab, Vec<Box<dyn View>>)>,
    /// Dialogs, the top one receiving keys; those under it wait (a form under its question).
    popups: Vec<Popup>,
    pub status: Option<StatusMsg>,
    pub areas: Areas,
    pub stream: Option<StreamStatus>,
    pub chain: ChainWatch,
    /// Whether the last health check reached the store.
    connected: Option<bool>,
    /// Why the read replica is not read from, as the status bar says it (None: it is, or there
    /// is none).
    pub replica: Option<String>,
    pub sim_paused: bool,
    /// Every status line of this session with its time (the newest last), so nothing said is
    /// lost when it is cut or replaced: the message log (`M`, `:messages`).
    pub messages: std::collections::VecDeque<(String, Level, String)>,
    pub quit: bool,
    /// Why this session ended (its key was revoked, removed or changed): the runtime goes back
    /// to the sign-in screen and shows it there.
    pub signed_out: Option<String>,
    cmds: Vec<Cmd>,
    pub started: Instant,
    ticks: u64,
    /// Institutions whose counts (templates, assets, positions) changed since last loaded;
    /// reloaded at most once a second, however busy the stream.
    counts_stale: std::collections::BTreeSet<String>,
    /// The `:` commands run in this session, oldest first (↑ on the line walks them).
    history: std::collections::VecDeque<String>,
}

impl App {
    pub fn new(session: Session, keymap: KeyMap, theme: Theme) -> App {
        let areas = Areas::of(super::layout::MIN_WIDTH, super::layout::MIN_HEIGHT);
        App {
            session,
            keymap,
            theme,
            data: Data::default(),
            tab: Tab::Positions,
            tabs: Tab::ALL.iter().map(|t| t.view()).collect(),
            stack: Vec::new(),
            return_to: None,
            opened_over: None,
            popups: Vec::new(),
            status: None,
            areas,
            stream: None,
            chain: ChainWatch::default(),
            connected: None,
            replica: None,
            sim_paused: false,
            messages: Default::default(),
            quit: false,
            signed_out: None,
            cmds: Vec::new(),
            started: Instant::now(),
            ticks: 0,
            counts_stale: Default::default(),
            history: Default::default(),
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
        for i in 0..self.tabs.len() {
            self.with(Target::Tab(i), |v, cx| v.refresh(cx));
        }
        // Only an unconfined session sees the whole chain to verify.
        self.cmds
            .extend(self.chain.start(self.session.scope.is_none()));
    }

    pub fn take_cmds(&mut self) -> Vec<Cmd> {
        std::mem::take(&mut self.cmds)
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.set_status(Level::Info, text.into());
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.set_status(Level::Error, text.into());
    }

    fn set_status(&mut self, level: Level, text: String) {
        self.log(level, text.clone());
        self.status = Some(StatusMsg {
            level,
            text,
            at: Instant::now(),
        });
    }

    /// Keeps a line in the message log (`M`) without putting it on the status line.
    fn log(&mut self, level: Level, text: String) {
        const KEPT: usize = 1000;
        if self
            .messages
            .back()
            .is_none_or(|(_, l, t)| (*l, t) != (level, &text))
        {
            if self.messages.len() == KEPT {
                self.messages.pop_front();
            }
            let at = chrono::Utc::now().format("%H:%M:%S").to_string();
            self.messages.push_back((at, level, text));
        }
    }

    fn error_shown(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.level == Level::Error)
    }

    // ---- what is on screen ----------------------------------------------------------------------

    pub fn size(&self) -> (u16, u16) {
        (self.areas.status.width, self.areas.status.bottom())
    }

    pub fn too_small(&self) -> bool {
        self.areas.too_small()
    }

    /// Rows of a table that fills the body: one page.
    pub fn table_rows(&self) -> usize {
        self.areas.table_rows()
    }

    /// The view on screen.
    pub fn top(&self) -> &dyn View {
        match self.stack.last() {
            Some(v) => v.as_ref(),
            None => self.tabs[self.tab.index()].as_ref(),
        }
    }

    /// The current tab's view (under any detail views).
    pub fn tab_view(&self) -> &dyn View {
        self.tabs[self.tab.index()].as_ref()
    }

    /// The detail views over the current tab, bottom first.
    pub fn stack(&self) -> impl Iterator<Item = &dyn View> {
        self.stack.iter().map(|v| v.as_ref())
    }

    /// The detail on screen, if one is.
    pub fn detail(&self) -> Option<&Detail> {
        self.stack.last().and_then(|v| v.detail())
    }

    /// A tab's view as its own type (tests and benchmarks look inside).
    pub fn view<T: View>(&self, tab: Tab) -> Option<&T> {
        (self.tabs[tab.index()].as_ref() as &dyn std::any::Any).downcast_ref()
    }

    /// The view on screen as its own type.
    pub fn top_as<T: View>(&self) -> Option<&T> {
        (self.top() as &dyn std::any::Any).downcast_ref()
    }

    /// The commands queued for the runtime.
    pub fn cmds(&self) -> &[Cmd] {
        &self.cmds
    }

    pub fn positions(&self) -> &positions::Positions {
        self.view(Tab::Positions).expect("the Positions tab")
    }

    pub fn ledger(&self) -> &ledger::Ledger {
        self.view(Tab::Ledger).expect("the Ledger tab")
    }

    /// The dialog receiving keys.
    pub fn popup(&self) -> Option<&Popup> {
        self.popups.last()
    }

    /// Closes every dialog (tests).
    pub fn close_popups(&mut self) {
        self.popups.clear();
    }

    pub fn context(&self) -> Context {
        match self.popups.last() {
            Some(p) => p.context(),
            None => self.top().context(),
        }
    }

    /// Whether an action can do anything on screen (the hint bar leaves out those that cannot).
    pub fn offers(&self, a: Action) -> bool {
        match a {
            Action::NextMatch | Action::PrevMatch => self.top().filtering(),
            _ => self.top().offers(a),
        }
    }

    pub fn form_dirty(&self) -> bool {
        self.popups.iter().any(|p| p.has_input())
    }

    /// The drawing context.
    pub fn dcx(&self) -> Dcx<'_> {
        Dcx {
            session: &self.session,
            theme: &self.theme,
            keys: &self.keymap,
            data: &self.data,
            stream: self.stream.as_ref(),
            chain: &self.chain,
            started: self.started,
        }
    }

    // ---- talking to views -----------------------------------------------------------------------

    /// Runs `f` on a view with an update context, then acts on what it asked.
    fn with<R>(&mut self, target: Target, f: impl FnOnce(&mut dyn View, &mut Cx) -> R) -> R {
        let preselect = self.session.scope.clone().or_else(|| {
            self.stack
                .iter()
                .rev()
                .chain(self.tabs.iter())
                .find_map(|v| v.institution_focus().map(str::to_string))
        });
        let mut cx = Cx {
            session: &self.session,
            keys: &self.keymap,
            data: &self.data,
            rows: self.areas.table_rows(),
            preselect,
            out: Vec::new(),
        };
        let view: &mut dyn View = match target {
            Target::Top => match self.stack.last_mut() {
                Some(v) => v.as_mut(),
                None => self.tabs[self.tab.index()].as_mut(),
            },
            Target::Tab(i) => self.tabs[i].as_mut(),
        };
        let r = f(view, &mut cx);
        let out = cx.out;
        for req in out {
            self.request(req);
        }
        r
    }

    /// Every view (the detail views, then the tabs) in turn.
    fn broadcast(&mut self, mut f: impl FnMut(&mut dyn View, &mut Cx)) {
        let mut out = Vec::new();
        let rows = self.areas.table_rows();
        for v in self.stack.iter_mut().chain(self.tabs.iter_mut()) {
            let mut cx = Cx {
                session: &self.session,
                keys: &self.keymap,
                data: &self.data,
                rows,
                preselect: None,
                out: Vec::new(),
            };
            f(v.as_mut(), &mut cx);
            out.append(&mut cx.out);
        }
        for req in out {
            self.request(req);
        }
    }

    fn request(&mut self, r: Request) {
        match r {
            Request::Cmd(c) => self.cmds.push(c),
            Request::Info(t) => self.info(t),
            Request::Error(t) => self.error(t),
            Request::Popup(p) => self.popups.push(*p),
            Request::Open(d) => self.open(d),
            Request::GoOpen(d) => {
                if let Some(i) = self.tabs.iter().position(|v| v.home_of(&d)) {
                    self.tab = Tab::ALL[i];
                    self.stack.clear();
                    self.return_to = None;
                }
                self.open(d);
            }
            Request::Go(nav) => self.go(nav),
            Request::Drill(filter) => {
                let back = (self.tab, std::mem::take(&mut self.stack));
                self.go(Nav::Positions { filter, sort: None });
                self.return_to = Some(back);
            }
            Request::CloseDetail => match self.opened_over.take() {
                Some((tab, stack)) if self.stack.len() == 1 => {
                    self.tab = tab;
                    self.stack = stack;
                }
                _ => {
                    self.stack.pop();
                }
            },
        }
    }

    /// Opens a detail view over the current one (or reloads it, when it is already on top).
    pub fn open(&mut self, d: Detail) {
        if self.detail() != Some(&d) {
            self.stack.push(detail_view(d));
        }
        self.with(Target::Top, |v, cx| v.refresh(cx));
    }

    /// Sends the tab that knows the place there, with nothing over it.
    fn go(&mut self, nav: Nav) {
        let Some(i) =
            (0..self.tabs.len()).find(|&i| self.with(Target::Tab(i), |v, cx| v.on_nav(&nav, cx)))
        else {
            return;
        };
        self.tab = Tab::ALL[i];
        self.stack.clear();
        self.return_to = None;
    }

    fn switch_tab(&mut self, t: Tab) {
        // A passing remark about the view left behind does not follow into another (errors
        // stay until dismissed; the log keeps everything).
        if t != self.tab && self.status.as_ref().is_some_and(|s| s.level == Level::Info) {
            self.status = None;
        }
        self.tab = t;
        self.stack.clear();
        self.return_to = None;
        self.opened_over = None;
        self.with(Target::Top, |v, cx| v.on_show(cx));
    }

    // ---- update ---------------------------------------------------------------------------------

    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Key(k) => self.on_key(k),
            Msg::Mouse(m) => self.on_mouse(m),
            Msg::Resize(w, h) => {
                self.areas = Areas::of(w, h);
                let rows = self.areas.table_rows();
                for v in self.tabs.iter_mut() {
                    v.on_resize(rows);
                }
            }
            Msg::Tick => self.on_tick(),
            Msg::Loaded(l) => self.on_loaded(*l),
            Msg::Stream(StreamItem::Event(e)) => {
                // Lookups change with the ledger events that create what they hold.
                use crate::domain::EntityType as E;
                match e.entity_type {
                    E::Institution => self.cmds.push(Cmd::LoadInstitutions),
                    E::AssetTemplate => self.cmds.push(Cmd::LoadTemplates),
                    E::Asset => self.cmds.push(Cmd::LoadAssets),
                    E::Position | E::Policy | E::ApiKey => {}
                }
                use crate::domain::LedgerKind as K;
                if matches!(
                    e.kind,
                    K::TemplateCreated | K::AssetCreated | K::PositionCreated
                ) {
                    self.counts_stale.insert(e.institution_id.clone());
                }
                let u = self.chain.on_event(&e);
                self.on_chain(u);
                self.broadcast(|v, cx| v.on_event(&e, cx));
            }
            Msg::Stream(StreamItem::Ended(e)) => self.sign_out(&e),
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
        if let Some(s) = &self.status
            && s.level == Level::Info
            && s.at.elapsed() > Duration::from_secs(6)
        {
            self.status = None;
        }
        if self.ticks.is_multiple_of(8) {
            self.cmds.push(Cmd::LoadHealth);
        }
        if self.ticks.is_multiple_of(4) && !self.counts_stale.is_empty() {
            let ids = std::mem::take(&mut self.counts_stale).into_iter().collect();
            self.cmds.push(Cmd::LoadSummaries(ids));
        }
        let (tick, current, bare) = (self.ticks, self.tab.index(), self.stack.is_empty());
        for i in 0..self.tabs.len() {
            let shown = i == current && bare;
            self.with(Target::Tab(i), |v, cx| v.on_tick(tick, shown, cx));
        }
    }

    fn on_key(&mut self, k: KeyEvent) {
        if k.kind == KeyEventKind::Release {
            return;
        }
        if !self.popups.is_empty() {
            return self.on_popup_key(k);
        }
        let key = Key::from_event(&k);
        if self.too_small() {
            if let Some(Action::Quit) = self.keymap.action(Context::Global, key) {
                self.request_quit();
            }
            return;
        }
        if let Some(action) = self.keymap.action(self.top().context(), key) {
            self.act(action);
        }
    }

    /// Refuses (saying why) what this session may not do where it is.
    fn refuse_if_not_allowed(&mut self, action: Action) -> bool {
        match self.session.refusal(self.top().context(), action) {
            Some(why) => {
                self.error(why);
                true
            }
            None => false,
        }
    }

    /// An action of the view on screen: the router's own (tabs, dialogs, the status line), or
    /// the view's.
    pub fn act(&mut self, action: Action) {
        if self.refuse_if_not_allowed(action) {
            return;
        }
        if matches!(action, Action::NextMatch | Action::PrevMatch) && !self.top().filtering() {
            return self.info(
                match self.keymap.key_of(self.top().context(), Action::Filter) {
                    Some(k) => format!(
                        "n and N move between the matches of a filter ({} sets one)",
                        super::keymap::keys_text(&[k])
                    ),
                    None => "n and N move between the matches of a / filter; this view has none"
                        .to_string(),
                },
            );
        }
        let n = Tab::ALL.len();
        let tab_key = [
            Action::Tab1,
            Action::Tab2,
            Action::Tab3,
            Action::Tab4,
            Action::Tab5,
        ];
        match action {
            Action::Quit => self.request_quit(),
            Action::Messages => self.show_messages(),
            Action::Help => {
                let help = Help::new(self.top().context(), &self.session);
                self.popups.push(Popup::Help(help));
            }
            Action::NextTab => self.switch_tab(Tab::ALL[(self.tab.index() + 1) % n]),
            Action::PrevTab => self.switch_tab(Tab::ALL[(self.tab.index() + n - 1) % n]),
            a if tab_key.contains(&a) => {
                let i = tab_key.iter().position(|t| *t == a).unwrap_or(0);
                if let Some(t) = Tab::ALL.get(i) {
                    self.switch_tab(*t);
                }
            }
            Action::Back => self.back(),
            Action::CommandLine => {
                let line = CommandInput::new("", self.history.iter().cloned().collect());
                self.popups.push(Popup::CommandLine(line));
            }
            Action::Copy => match self.top().selected_id(&self.data) {
                Some(id) => {
                    self.info(format!("Copied {id}"));
                    self.cmds.push(Cmd::Copy(id));
                }
                None => self.info("nothing selected to copy"),
            },
            Action::Refresh => {
                self.cmds.extend([
                    Cmd::LoadInstitutions,
                    Cmd::LoadTemplates,
                    Cmd::LoadAssets,
                    Cmd::LoadHealth,
                ]);
                if !self.stack.is_empty() {
                    self.with(Target::Top, |v, cx| v.refresh(cx));
                }
                let i = self.tab.index();
                self.with(Target::Tab(i), |v, cx| v.refresh(cx));
                self.info("Reloaded");
            }
            Action::Verify => {
                self.cmds.push(Cmd::Verify);
                self.info("Verifying the hash chain…");
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
            other => self.with(Target::Top, |v, cx| v.on_action(other, cx)),
        }
    }

    /// Esc: dismisses an error, else closes the detail view on top, else returns from a
    /// detail's positions to the detail.
    fn back(&mut self) {
        if self.error_shown() {
            self.status = None;
            return;
        }
        self.opened_over = None;
        if self.stack.pop().is_some() {
            return;
        }
        if let Some((tab, stack)) = self.return_to.take() {
            self.with(Target::Top, |v, cx| v.restore(cx));
            self.tab = tab;
            self.stack = stack;
            self.with(Target::Top, |v, cx| v.refresh(cx));
        }
    }

    fn request_quit(&mut self) {
        if self.form_dirty() {
            self.popups.push(Popup::Confirm(super::popups::Confirm::new(
                "Quit?",
                vec!["A form has unsaved input. Quit anyway and lose it?".into()],
                Confirmed::Quit,
            )));
        } else {
            self.quit = true;
        }
    }

    // ---- dialogs --------------------------------------------------------------------------------

    fn on_popup_key(&mut self, k: KeyEvent) {
        let lookup = self.data.lookup();
        let Some(top) = self.popups.last_mut() else {
            return;
        };
        let outcome = top.on_key(k, &self.keymap, &lookup);
        self.on_outcome(outcome);
    }

    fn on_outcome(&mut self, o: Outcome) {
        match o {
            Outcome::Keep => {}
            Outcome::Close => {
                self.popups.pop();
            }
            Outcome::Push(p) => self.popups.push(p),
            Outcome::Replace(p) => {
                self.popups.pop();
                self.popups.push(p);
            }
            Outcome::Declined => {
                self.popups.pop();
            }
            Outcome::Quit => self.request_quit(),
            Outcome::Confirmed(c) => {
                self.popups.pop();
                self.confirmed(c);
            }
            Outcome::Copy(token) => {
                self.cmds.push(Cmd::Copy(token));
                self.info("Copied the API key token to the clipboard (OSC 52)");
            }
            Outcome::Submit(s) => self.cmds.push(Cmd::Submit(s)),
            Outcome::CommandCancelled => {
                self.popups.pop();
                // Closing the line also dismisses the error it left.
                if self.error_shown() {
                    self.status = None;
                }
            }
            Outcome::Command(line) => {
                self.popups.pop();
                let line = line.trim().to_string();
                if !line.is_empty() && self.history.back() != Some(&line) {
                    self.history.push_back(line.clone());
                    if self.history.len() > HISTORY {
                        self.history.pop_front();
                    }
                }
                if let Err(e) = self.run_command(&line) {
                    // Keep what was typed, to mend it.
                    self.error(e);
                    let history = self.history.iter().cloned().collect();
                    self.popups
                        .push(Popup::CommandLine(CommandInput::new(&line, history)));
                }
            }
            o @ (Outcome::FilterApplied(_) | Outcome::FilterCancelled | Outcome::Picked(..)) => {
                self.popups.pop();
                self.with(Target::Top, |v, cx| v.on_outcome(o, cx));
            }
            o @ Outcome::FilterTyped(_) => self.with(Target::Top, |v, cx| v.on_outcome(o, cx)),
        }
    }

    fn confirmed(&mut self, action: Confirmed) {
        match action {
            Confirmed::Quit => self.quit = true,
            // The form waits under the question.
            Confirmed::DiscardForm => {
                self.popups.pop();
            }
            Confirmed::Transition { id, req } => {
                if self.refuse_if_not_allowed(Action::Transition) {
                    return;
                }
                self.info(format!("Moving {id} to {}…", req.to));
                self.cmds.push(Cmd::Transition { id, req });
            }
            Confirmed::Transitions(items) => {
                if self.refuse_if_not_allowed(Action::Transition) {
                    return;
                }
                let to = items.first().map(|(_, r)| r.to.clone()).unwrap_or_default();
                self.info(format!(
                    "Moving {} to {to}…",
                    crate::domain::text::counted(items.len() as u64, "position", "positions")
                ));
                self.cmds.push(Cmd::Transitions { to, items });
            }
            Confirmed::Revoke(id) => self.cmds.push(Cmd::Revoke(id)),
            Confirmed::Export(path) => self.export(path, true),
        }
    }

    /// `:export FILE`: an existing file is replaced only after the operator says so.
    fn export(&mut self, path: std::path::PathBuf, force: bool) {
        if !force && std::fs::symlink_metadata(&path).is_ok() {
            let shown = path.display().to_string();
            let c = super::popups::Confirm::new(
                "Replace the file?",
                vec![
                    format!("{shown} exists."),
                    "It is kept as it is until the new export is complete, then replaced.".into(),
                ],
                Confirmed::Export(path),
            );
            self.popups.push(Popup::Confirm(c));
            return;
        }
        self.info(format!("Exporting the store to {}…", path.display()));
        self.cmds.push(Cmd::Export { path, force });
    }

    /// Runs a `:` command; the error names what is valid.
    pub fn run_command(&mut self, line: &str) -> Result<(), String> {
        match command_line::parse(line, &self.data.institutions)? {
            Command::Nothing => {}
            Command::Quit => self.request_quit(),
            Command::Help => self.act(Action::Help),
            Command::Verify => self.act(Action::Verify),
            Command::Messages => self.show_messages(),
            Command::StopVerify => {
                if matches!(self.chain.full, super::chain::FullCheck::Running { .. }) {
                    self.cmds.push(Cmd::CancelVerifyFull);
                    self.info("Stopping the whole-chain verification…");
                } else {
                    self.info("No whole-chain verification is running");
                }
            }
            Command::Export(file) => self.export(file.into(), false),
            Command::Check | Command::Anchor if !self.session.root => self.error(format!(
                "not allowed for role {}: checking and anchoring the store are for root (they span every institution)",
                self.session.role
            )),
            Command::Check => {
                self.cmds.push(Cmd::Check);
                self.info("Checking the store against its ledger…");
            }
            Command::Anchor => {
                self.cmds.push(Cmd::Anchor);
                self.info("Anchoring the ledger head on the chain…");
            }
            Command::New => self.act(Action::New),
            Command::Go(nav) => self.go(nav),
            Command::Open(d) => {
                let before = (self.tab, std::mem::take(&mut self.stack));
                self.return_to = None;
                self.request(Request::GoOpen(d));
                self.opened_over = Some(before);
            }
        }
        Ok(())
    }

    // ---- mouse ----------------------------------------------------------------------------------

    fn on_mouse(&mut self, m: MouseEvent) {
        if !self.session.mouse || !self.popups.is_empty() || self.too_small() {
            return;
        }
        match m.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let a = if m.kind == MouseEventKind::ScrollDown {
                    Action::Down
                } else {
                    Action::Up
                };
                for _ in 0..3 {
                    self.with(Target::Top, |v, cx| v.on_action(a, cx));
                }
            }
            MouseEventKind::Down(MouseButton::Left) => {
                if let Some(i) = self.areas.tab_at(&Tab::titles(), m.column, m.row) {
                    return self.switch_tab(Tab::ALL[i]);
                }
                if self.stack.is_empty()
                    && let Some(row) = self.areas.table_row_at(m.row)
                {
                    self.with(Target::Top, |v, cx| v.on_click(row, cx));
                }
            }
            _ => {}
        }
    }
}
