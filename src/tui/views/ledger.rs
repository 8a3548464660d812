//! The Ledger tab: the hash-chained ledger as it commits (following new events, or paused while
//! the operator reads, counting what arrived), filtered by kind or position; `a` switches to the
//! audit trail, refused actions included. Both are windows over the whole history, paged by
//! keyset in both directions as the selection reaches an edge (`g` the oldest, `G` the newest),
//! and say which part is shown ("seq 494–993 of 993"); `:ledger seq=N`, `:ledger since=TIME` and
//! `:audit since=TIME` jump. `Enter` opens an event or a record whole.

use super::{Cx, Data, Dcx, Request, View};
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::LedgerEvent;
use crate::domain::{LedgerKind, time};
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::{AuditPage, Cmd, LedgerPage, Loaded, PAGE};
use crate::tui::nav::{Detail, LedgerAt, Nav};
use crate::tui::popups::{Outcome, Picker, PickerPurpose, Popup};
use crate::tui::widgets::{datetime, empty, group, ledger_detail, s, short, table};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};

use super::text_filter::TextFilter;
use super::window::{KEEP, Place, Window};
use std::time::{Duration, Instant};

/// How long typing in the `/` line must pause before the store is searched.
const SEARCH_PAUSE: Duration = Duration::from_millis(250);

pub struct Ledger {
    /// The events shown, in seq order (newest at the bottom).
    pub events: Window<LedgerEvent>,
    pub follow: bool,
    /// Events that arrived while follow was paused, or beyond the window.
    pub unseen: usize,
    pub kind: Option<LedgerKind>,
    pub position: Option<String>,
    pub generation: u64,
    /// The newest seq of the whole ledger (what "of N" says).
    pub head: i64,
    pub audit_mode: bool,
    /// The audit trail shown, newest first.
    pub audit: Window<AuditEvent>,
    pub audit_action: Option<String>,
    pub audit_generation: u64,
    pub loaded: bool,
    /// Events up to this seq are covered by a confirmed on-chain anchor (0: none).
    pub anchored_to: i64,
    /// The `/` filters of the ledger and of the audit trail (searched by the store).
    pub text: TextFilter,
    pub audit_text: TextFilter,
    /// What the `/` line holds and when it was typed: the search runs once typing pauses.
    pub typed: Option<Instant>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            events: Window::default(),
            follow: true,
            unseen: 0,
            kind: None,
            position: None,
            generation: 0,
            head: 0,
            audit_mode: false,
            audit: Window::default(),
            audit_action: None,
            audit_generation: 0,
            loaded: false,
            anchored_to: 0,
            text: TextFilter::default(),
            audit_text: TextFilter::default(),
            typed: None,
        }
    }
}

impl Ledger {
    /// Loads a page of the ledger; a page that replaces the window starts a new generation (a
    /// reply to an older one is ignored).
    fn load(&mut self, page: LedgerPage, cx: &mut Cx) {
        if matches!(
            page,
            LedgerPage::Newest | LedgerPage::Oldest | LedgerPage::From(_) | LedgerPage::Since(_)
        ) {
            self.generation += 1;
        }
        self.events.loading = true;
        cx.cmd(Cmd::LoadLedger {
            generation: self.generation,
            position_id: self.position.clone(),
            kind: self.kind,
            text: self.text.text.clone(),
            page,
        });
    }

    pub fn reload(&mut self, cx: &mut Cx) {
        self.follow = true;
        self.load(LedgerPage::Newest, cx);
    }

    fn load_audit(&mut self, page: AuditPage, cx: &mut Cx) {
        if matches!(
            page,
            AuditPage::Newest | AuditPage::Oldest | AuditPage::Since(_)
        ) {
            self.audit_generation += 1;
        }
        self.audit.loading = true;
        cx.cmd(Cmd::LoadAudit {
            generation: self.audit_generation,
            action: self.audit_action.clone(),
            text: self.audit_text.text.clone(),
            page,
        });
    }

    fn matches(&self, e: &LedgerEvent) -> bool {
        self.kind.is_none_or(|k| k == e.kind)
            && self
                .position
                .as_ref()
                .is_none_or(|p| e.position_id.as_ref() == Some(p))
            && self
                .text
                .text
                .as_deref()
                .is_none_or(|t| crate::store::ledger_text_matches(e, t))
    }

    /// Runs the search the `/` filter now holds, from the newest.
    fn search(&mut self, cx: &mut Cx) {
        self.typed = None;
        if self.audit_mode {
            self.load_audit(AuditPage::Newest, cx);
        } else {
            self.reload(cx);
        }
    }

    /// A streamed event: appended when the window holds the newest events, else counted.
    fn push(&mut self, e: LedgerEvent, visible: usize) {
        self.head = self.head.max(e.seq);
        let w = &mut self.events;
        if !w.at_end {
            self.unseen += 1;
            return;
        }
        if w.rows.back().is_some_and(|last| last.seq >= e.seq) {
            return; // already shown
        }
        w.rows.push_back(e);
        if w.rows.len() > KEEP {
            w.rows.pop_front();
            w.at_start = false;
            w.sel.selected = w.sel.selected.saturating_sub(1);
            w.sel.offset = w.sel.offset.saturating_sub(1);
        }
        let len = w.rows.len();
        if self.follow {
            w.sel.selected = len - 1;
        } else {
            self.unseen += 1;
        }
        w.sel.clamp(len, visible);
    }

    fn step(&mut self, delta: isize, cx: &mut Cx) {
        let visible = cx.rows;
        if self.audit_mode {
            // Newest first: before the top are newer records, after the bottom older ones.
            match self.audit.step(delta, visible) {
                Some(Place::Before) => {
                    let id = self.audit.rows.front().map(|a| a.id.clone());
                    if let Some(id) = id {
                        self.load_audit(AuditPage::Newer(id), cx);
                    }
                }
                Some(Place::After) => {
                    let id = self.audit.rows.back().map(|a| a.id.clone());
                    if let Some(id) = id {
                        self.load_audit(AuditPage::Older(id), cx);
                    }
                }
                _ => {}
            }
            return;
        }
        let edge = self.events.step(delta, visible);
        match edge {
            Some(Place::Before) => {
                let seq = self.events.rows.front().map(|e| e.seq).unwrap_or(1);
                self.load(LedgerPage::Before(seq), cx);
            }
            Some(Place::After) => {
                let seq = self.events.rows.back().map(|e| e.seq).unwrap_or(0);
                self.load(LedgerPage::After(seq), cx);
            }
            _ => {}
        }
        // Scrolling up pauses follow; reaching the newest resumes it.
        let w = &self.events;
        let len = w.rows.len();
        if delta < 0 && self.follow && len > 0 {
            self.follow = false;
        } else if delta > 0 && w.at_end && w.sel.selected + 1 == len && !self.follow {
            self.follow = true;
            self.unseen = 0;
        }
    }

    /// `g` and `G`: the oldest or the newest page of the whole list.
    fn jump(&mut self, top: bool, cx: &mut Cx) {
        if self.audit_mode {
            let page = if top {
                AuditPage::Newest
            } else {
                AuditPage::Oldest
            };
            return self.load_audit(page, cx);
        }
        self.follow = !top;
        if !top {
            self.unseen = 0;
        }
        self.load(
            if top {
                LedgerPage::Oldest
            } else {
                LedgerPage::Newest
            },
            cx,
        );
    }

    /// What the window shows, in words: "seq 494–993 of 993".
    fn window_text(&self) -> Option<String> {
        let (first, last) = (self.events.rows.front()?, self.events.rows.back()?);
        let head = self.head.max(last.seq);
        Some(format!(
            "seq {}–{} of {}",
            group(first.seq as u64),
            group(last.seq as u64),
            group(head as u64)
        ))
    }

    fn audit_window_text(&self) -> Option<String> {
        let (newest, oldest) = (self.audit.rows.front()?, self.audit.rows.back()?);
        let span = match (oldest.seq, newest.seq) {
            (Some(a), Some(b)) => format!("audit seq {}–{}", group(a as u64), group(b as u64)),
            _ => format!("{} records", self.audit.rows.len()),
        };
        let ends = match (self.audit.at_start, self.audit.at_end) {
            (true, true) => "all",
            (true, false) => "newest",
            (false, true) => "oldest",
            (false, false) => "",
        };
        Some(if ends.is_empty() {
            span
        } else {
            format!("{span} ({ends})")
        })
    }
}

impl View for Ledger {
    fn context(&self) -> Context {
        Context::Ledger
    }

    fn crumb(&self, _cx: &Dcx) -> Option<String> {
        self.audit_mode.then(|| "Audit trail".into())
    }

    fn filtering(&self) -> bool {
        if self.audit_mode {
            self.audit_text.text.is_some()
        } else {
            self.text.text.is_some()
        }
    }

    fn summary(&self, cx: &Dcx) -> String {
        let mut bits = Vec::new();
        if self.audit_mode {
            if let Some(a) = &self.audit_action {
                bits.push(format!("action={a}"));
            }
            bits.extend(self.audit_text.crumb());
            bits.extend(self.audit_window_text());
            return bits.join("  ");
        }
        if let Some(k) = self.kind {
            bits.push(format!("kind={k}"));
        }
        if let Some(p) = &self.position {
            bits.push(format!("position={}", short(p)));
        }
        bits.extend(self.text.crumb());
        let bottom = cx.key(Context::Ledger, Action::Bottom);
        bits.push(if self.follow {
            "● following".to_string()
        } else if self.unseen > 0 {
            format!(
                "‖ paused — {} new event{} ({bottom} to return)",
                self.unseen,
                if self.unseen == 1 { "" } else { "s" }
            )
        } else {
            format!(
                "‖ paused ({} or {bottom} to follow)",
                cx.key(Context::Ledger, Action::Follow)
            )
        });
        bits.extend(self.window_text());
        bits.join("  ")
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        let rows = cx.rows as isize;
        match a {
            Action::Up => self.step(-1, cx),
            Action::Down => self.step(1, cx),
            Action::PageUp => self.step(-rows, cx),
            Action::PageDown => self.step(rows, cx),
            Action::Top => self.jump(true, cx),
            Action::Bottom => self.jump(false, cx),
            Action::Open if self.audit_mode => {
                if let Some(r) = self.audit.rows.get(self.audit.sel.selected) {
                    cx.out
                        .push(Request::Open(Detail::AuditRecord(r.id.clone())));
                }
            }
            Action::Open => {
                if let Some(e) = self.events.rows.get(self.events.sel.selected) {
                    cx.out.push(Request::Open(Detail::LedgerEvent(e.seq)));
                }
            }
            Action::ToggleMode => {
                self.audit_mode = !self.audit_mode;
                if self.audit_mode {
                    self.load_audit(AuditPage::Newest, cx);
                }
            }
            Action::Follow if !self.audit_mode => {
                self.follow = !self.follow;
                if self.follow {
                    self.unseen = 0;
                    if self.events.at_end {
                        let len = self.events.rows.len();
                        self.events.sel.selected = len.saturating_sub(1);
                        self.events.sel.clamp(len, cx.rows);
                    } else {
                        self.load(LedgerPage::Newest, cx);
                    }
                }
                cx.info(if self.follow {
                    "Following new events"
                } else {
                    "Follow paused"
                });
            }
            Action::FilterKind if self.audit_mode => {
                let options = crate::service::audit_actions()
                    .into_iter()
                    .map(|a| (a.to_string(), a.to_string()));
                cx.popup(Popup::Picker(Picker::new(
                    "Filter by action",
                    "all actions",
                    options.collect(),
                    self.audit_action.as_deref(),
                    PickerPurpose::AuditAction,
                )));
            }
            Action::FilterKind => {
                let options = LedgerKind::ALL.iter().map(|k| k.as_str().to_string());
                let current = self.kind.map(|k| k.as_str().to_string());
                cx.popup(Popup::Picker(Picker::new(
                    "Filter by kind",
                    "all kinds",
                    options.map(|v| (v.clone(), v)).collect(),
                    current.as_deref(),
                    PickerPurpose::LedgerKind,
                )));
            }
            Action::Filter if self.audit_mode => self.audit_text.open(cx),
            Action::Filter => self.text.open(cx),
            Action::NextMatch | Action::PrevMatch => {
                let forward = a == Action::NextMatch;
                // The ledger is oldest at the top, the audit trail newest: round past the ends.
                let (w_start, w_end, at, len) = if self.audit_mode {
                    let w = &self.audit;
                    (w.at_start, w.at_end, w.sel.selected, w.rows.len())
                } else {
                    let w = &self.events;
                    (w.at_start, w.at_end, w.sel.selected, w.rows.len())
                };
                if forward && w_end && at + 1 >= len {
                    self.jump(true, cx);
                    cx.info("wrapped to the first match");
                } else if !forward && w_start && at == 0 {
                    self.jump(false, cx);
                    cx.info("wrapped to the last match");
                } else {
                    self.step(if forward { 1 } else { -1 }, cx);
                }
            }
            Action::ClearFilters if self.audit_mode => {
                self.audit_text.set(None);
                self.audit_action = None;
                self.load_audit(AuditPage::Newest, cx);
                cx.info("Filters cleared");
            }
            Action::ClearFilters => {
                self.kind = None;
                self.position = None;
                self.text.set(None);
                self.reload(cx);
                cx.info("Filters cleared");
            }
            _ => {}
        }
    }

    fn on_outcome(&mut self, o: Outcome, cx: &mut Cx) {
        let filter = if self.audit_mode {
            &mut self.audit_text
        } else {
            &mut self.text
        };
        let typed = matches!(o, Outcome::FilterTyped(_));
        if filter.on_outcome(&o) {
            // As you type, once typing pauses (see on_tick); at once on Enter or Esc.
            if typed {
                self.typed = Some(Instant::now());
            } else {
                self.search(cx);
            }
        } else if !typed && self.typed.is_some() {
            self.search(cx);
        }
        match o {
            Outcome::Picked(PickerPurpose::LedgerKind, v) => {
                self.kind = v.and_then(|v| v.parse().ok());
                self.reload(cx);
            }
            Outcome::Picked(PickerPurpose::AuditAction, v) => {
                self.audit_action = v;
                self.load_audit(AuditPage::Newest, cx);
            }
            _ => {}
        }
    }

    fn on_loaded(&mut self, l: &Loaded, cx: &mut Cx) {
        match l {
            Loaded::Ledger {
                generation,
                page,
                result,
            } if *generation == self.generation => match result {
                Ok(events) => self.on_ledger_page(*page, events, cx),
                Err(e) => {
                    self.events.loading = false;
                    cx.service_error("loading the ledger", e)
                }
            },
            Loaded::Health(h) => {
                self.anchored_to = h
                    .anchors
                    .as_ref()
                    .and_then(|a| a.last_confirmed.as_ref())
                    .map(|c| c.seq)
                    .unwrap_or(0);
                if let Some(head) = &h.ledger_head {
                    self.head = self.head.max(head.seq);
                }
            }
            Loaded::Audit {
                generation,
                page,
                result,
            } if *generation == self.audit_generation => match result {
                Ok(v) => {
                    let full = v.len() >= PAGE as usize;
                    let w = &mut self.audit;
                    match page {
                        AuditPage::Newest => {
                            w.put(v.clone(), Place::Replace { select_last: false }, cx.rows);
                            (w.at_start, w.at_end) = (true, !full);
                        }
                        AuditPage::Oldest => {
                            w.put(v.clone(), Place::Replace { select_last: true }, cx.rows);
                            (w.at_start, w.at_end) = (!full, true);
                        }
                        AuditPage::Since(_) => {
                            w.put(v.clone(), Place::Replace { select_last: true }, cx.rows);
                            (w.at_start, w.at_end) = (!full, false);
                        }
                        AuditPage::Newer(_) => w.put(v.clone(), Place::Before, cx.rows),
                        AuditPage::Older(_) => w.put(v.clone(), Place::After, cx.rows),
                    }
                }
                Err(e) => {
                    self.audit.loading = false;
                    cx.service_error("loading the audit trail", e)
                }
            },
            _ => {}
        }
    }

    fn on_event(&mut self, e: &LedgerEvent, cx: &mut Cx) {
        if self.matches(e) {
            self.push(e.clone(), cx.rows);
        } else {
            self.head = self.head.max(e.seq);
        }
    }

    fn on_tick(&mut self, tick: u64, shown: bool, cx: &mut Cx) {
        if self.typed.is_some_and(|at| at.elapsed() >= SEARCH_PAUSE) {
            self.search(cx);
        }
        // Refused actions write audit records but no ledger events: look for newer records
        // while the trail is shown from its newest.
        if shown && self.audit_mode && self.audit.at_start && tick.is_multiple_of(8) {
            match self.audit.rows.front().map(|a| a.id.clone()) {
                Some(id) => {
                    self.audit.loading = true;
                    cx.cmd(Cmd::LoadAudit {
                        generation: self.audit_generation,
                        action: self.audit_action.clone(),
                        text: self.audit_text.text.clone(),
                        page: AuditPage::Newer(id),
                    });
                }
                None => self.load_audit(AuditPage::Newest, cx),
            }
        }
    }

    fn on_nav(&mut self, nav: &Nav, cx: &mut Cx) -> bool {
        match nav {
            Nav::Ledger { position, kind, at } => {
                self.position = position.clone();
                self.kind = *kind;
                self.audit_mode = false;
                match at {
                    None => self.reload(cx),
                    Some(LedgerAt::Seq(n)) => {
                        self.follow = false;
                        self.load(LedgerPage::From(*n), cx);
                    }
                    Some(LedgerAt::Since(t)) => {
                        self.follow = false;
                        self.load(LedgerPage::Since(*t), cx);
                    }
                }
            }
            Nav::Audit { since } => {
                self.audit_mode = true;
                self.load_audit(
                    match since {
                        Some(t) => AuditPage::Since(*t),
                        None => AuditPage::Newest,
                    },
                    cx,
                );
            }
            _ => return false,
        }
        true
    }

    fn on_show(&mut self, cx: &mut Cx) {
        if self.audit_mode && self.audit.rows.is_empty() {
            self.load_audit(AuditPage::Newest, cx);
        }
    }

    fn refresh(&mut self, cx: &mut Cx) {
        if self.audit_mode {
            self.load_audit(AuditPage::Newest, cx);
        } else {
            self.reload(cx);
        }
    }

    fn on_click(&mut self, row: usize, cx: &mut Cx) {
        let (sel, len) = if self.audit_mode {
            (&mut self.audit.sel, self.audit.rows.len())
        } else {
            (&mut self.events.sel, self.events.rows.len())
        };
        match sel.click(row, len) {
            Some(true) => self.on_action(Action::Open, cx),
            Some(false) if !self.audit_mode => {
                self.follow = self.events.at_end && self.events.sel.selected + 1 == len
            }
            _ => {}
        }
    }

    fn on_resize(&mut self, rows: usize) {
        let len = self.events.rows.len();
        self.events.sel.clamp(len, rows);
    }

    fn selected_id(&self, _data: &Data) -> Option<String> {
        if self.audit_mode {
            self.audit
                .rows
                .get(self.audit.sel.selected)
                .map(|a| a.id.clone())
        } else {
            self.events
                .rows
                .get(self.events.sel.selected)
                .map(|e| e.entity_id.clone())
        }
    }

    fn follows(&self) -> bool {
        self.follow
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        if self.audit_mode {
            self.draw_audit(f, area, cx)
        } else {
            self.draw_events(f, area, cx)
        }
    }
}

impl Ledger {
    /// A page of the ledger, in seq order, where it belongs.
    fn on_ledger_page(&mut self, page: LedgerPage, events: &[LedgerEvent], cx: &mut Cx) {
        let rows = cx.rows;
        let full = events.len() >= PAGE as usize;
        self.loaded = true;
        if let Some(last) = events.last() {
            self.head = self.head.max(last.seq);
        }
        // Keep what the stream delivered beyond the newest page (and the filters let through).
        let newest = events.last().map(|e| e.seq).unwrap_or(0);
        let later: Vec<LedgerEvent> = match page {
            LedgerPage::Newest => self
                .events
                .rows
                .iter()
                .filter(|e| e.seq > newest && self.matches(e))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        let w = &mut self.events;
        match page {
            LedgerPage::Newest => {
                let mut all = events.to_vec();
                all.extend(later);
                w.put(all, Place::Replace { select_last: true }, rows);
                (w.at_start, w.at_end) = (!full, true);
                self.follow = true;
                self.unseen = 0;
            }
            LedgerPage::Oldest => {
                w.put(events.to_vec(), Place::Replace { select_last: false }, rows);
                (w.at_start, w.at_end) = (true, !full);
            }
            LedgerPage::From(_) | LedgerPage::Since(_) => {
                w.put(events.to_vec(), Place::Replace { select_last: false }, rows);
                let first = events.first().map(|e| e.seq);
                (w.at_start, w.at_end) = (first.is_none_or(|s| s <= 1), !full);
                if events.is_empty() {
                    cx.info("No ledger events there");
                }
            }
            LedgerPage::Before(_) => w.put(events.to_vec(), Place::Before, rows),
            LedgerPage::After(_) => {
                w.put(events.to_vec(), Place::After, rows);
                if w.at_end && self.unseen > 0 {
                    self.unseen = 0;
                }
            }
        }
    }

    fn draw_events(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let theme = cx.theme;
        if self.events.rows.is_empty() {
            let msg = if self.loaded {
                "No ledger events yet: every change will appear here as it commits."
            } else {
                "Loading the ledger…"
            };
            return empty(f, theme, area, msg);
        }
        let wide = area.width >= 140;
        let visible = area.height.saturating_sub(1) as usize;
        let sel = self.events.sel.clamped(self.events.rows.len(), visible);
        let rows = self
            .events
            .rows
            .iter()
            .skip(sel.offset)
            .take(visible)
            .map(|e| {
                // ✓: covered by a confirmed on-chain anchor.
                let seq = if e.seq <= self.anchored_to {
                    Line::from(vec![
                        Span::raw(e.seq.to_string()),
                        Span::styled("✓", theme.ok()),
                    ])
                } else {
                    Line::from(format!("{} ", e.seq))
                };
                let mut cells = vec![
                    seq.right_aligned(),
                    Line::from(if wide {
                        time::format(&e.at)
                    } else {
                        e.at.format("%H:%M:%S%.3f").to_string()
                    }),
                    Line::from(e.kind.as_str()),
                    Line::from(if wide {
                        e.entity_id.clone()
                    } else {
                        short(&e.entity_id)
                    }),
                    Line::from(ledger_detail(e)),
                ];
                if wide {
                    cells.push(Line::from(Span::styled(
                        e.hash[..16].to_string(),
                        theme.muted(),
                    )));
                }
                cells
            })
            .collect();
        let mut widths = vec![
            Constraint::Length(8),
            Constraint::Length(if wide { 24 } else { 12 }),
            Constraint::Length(22),
            Constraint::Length(if wide { 41 } else { 14 }),
            Constraint::Fill(1),
        ];
        let mut cols = vec!["SEQ", "AT", "KIND", "ENTITY", "DETAIL"];
        if wide {
            widths.push(Constraint::Length(16));
            cols.push("HASH");
        }
        let t = table(
            theme,
            area,
            &cols,
            rows,
            Some(sel.selected - sel.offset),
            widths,
        );
        f.render_widget(t, area);
    }

    fn draw_audit(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let theme = cx.theme;
        if self.audit.rows.is_empty() {
            return empty(f, theme, area, "No audit records visible to you yet.");
        }
        let wide = area.width >= 120;
        let visible = area.height.saturating_sub(1) as usize;
        let sel = self.audit.sel.clamped(self.audit.rows.len(), visible);
        let rows = self
            .audit
            .rows
            .iter()
            .skip(sel.offset)
            .take(visible)
            .map(|a| {
                let outcome = match a.outcome {
                    crate::domain::Outcome::Success => Span::styled("success", theme.ok()),
                    crate::domain::Outcome::Failure => Span::styled("FAILURE", theme.error()),
                };
                // A failure's reason matters more than the id it concerned.
                let detail = match (&a.error, &a.resource_id) {
                    (Some(e), _) => {
                        Span::styled(s(&format!("{}: {}", e.code, e.message)), theme.error())
                    }
                    (None, Some(r)) => Span::raw(if wide { r.clone() } else { short(r) }),
                    (None, None) => Span::raw(""),
                };
                vec![
                    Line::from(if wide {
                        datetime(&a.occurred_at)
                    } else {
                        a.occurred_at.format("%m-%d %H:%M:%S").to_string()
                    }),
                    Line::from(s(&a.actor)),
                    Line::from(s(&a.action)),
                    Line::from(outcome),
                    Line::from(detail),
                ]
            })
            .collect();
        let t = table(
            theme,
            area,
            &["AT", "ACTOR", "ACTION", "OUTCOME", "RESOURCE / ERROR"],
            rows,
            Some(sel.selected - sel.offset),
            vec![
                Constraint::Length(if wide { 19 } else { 14 }),
                Constraint::Length(if wide { 42 } else { 14 }),
                Constraint::Length(22),
                Constraint::Length(7),
                Constraint::Fill(1),
            ],
        );
        f.render_widget(t, area);
    }
}
