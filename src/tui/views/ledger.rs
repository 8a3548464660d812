//! The Ledger tab: the hash-chained ledger as it commits (following new events, or paused while
//! the operator reads, counting what arrived), filtered by kind or position; `a` switches to the
//! audit trail, refused actions included.

use super::{Cx, Data, Dcx, Request, View};
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::LedgerEvent;
use crate::domain::{EntityType, LedgerKind, time};
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::{Cmd, Loaded};
use crate::tui::nav::{Detail, Nav};
use crate::tui::popups::{Outcome, Picker, PickerPurpose, Popup};
use crate::tui::widgets::{Sel, datetime, empty, ledger_detail, s, short, table};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};

use std::collections::VecDeque;

const KEEP: usize = 5000;

pub struct Ledger {
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
    pub loaded: bool,
    /// Events up to this seq are covered by a confirmed on-chain anchor (0: none).
    pub anchored_to: i64,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
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
            loaded: false,
            anchored_to: 0,
        }
    }
}

impl Ledger {
    pub fn reload(&mut self, cx: &mut Cx) {
        self.generation += 1;
        cx.cmd(Cmd::LoadLedger {
            generation: self.generation,
            position_id: self.position.clone(),
            kind: self.kind,
        });
    }

    fn matches(&self, e: &LedgerEvent) -> bool {
        self.kind.is_none_or(|k| k == e.kind)
            && self
                .position
                .as_ref()
                .is_none_or(|p| e.position_id.as_ref() == Some(p))
    }

    fn push(&mut self, e: LedgerEvent, visible: usize) {
        if self.events.back().is_some_and(|last| last.seq >= e.seq) {
            return; // already shown
        }
        self.events.push_back(e);
        if self.events.len() > KEEP {
            self.events.pop_front();
            self.sel.selected = self.sel.selected.saturating_sub(1);
            self.sel.offset = self.sel.offset.saturating_sub(1);
        }
        let len = self.events.len();
        if self.follow {
            self.sel.selected = len - 1;
        } else {
            self.unseen += 1;
        }
        self.sel.clamp(len, visible);
    }

    fn step(&mut self, delta: isize, visible: usize) {
        if self.audit_mode {
            return self.audit_sel.step(delta, self.audit.len(), visible);
        }
        let len = self.events.len();
        self.sel.step(delta, len, visible);
        // Scrolling up pauses follow; reaching the bottom resumes it.
        if delta < 0 && self.follow && len > 0 {
            self.follow = false;
        } else if delta > 0 && self.sel.selected + 1 == len && !self.follow {
            self.follow = true;
            self.unseen = 0;
        }
    }

    fn jump(&mut self, top: bool, visible: usize) {
        if self.audit_mode {
            let len = self.audit.len() as isize;
            return self.step(if top { -len } else { len }, visible);
        }
        let len = self.events.len();
        self.sel.selected = if top { 0 } else { len.saturating_sub(1) };
        self.follow = !top;
        if !top {
            self.unseen = 0;
        }
        self.sel.clamp(len, visible);
    }
}

impl View for Ledger {
    fn context(&self) -> Context {
        Context::Ledger
    }

    fn crumb(&self, _cx: &Dcx) -> Option<String> {
        self.audit_mode.then(|| "Audit trail".into())
    }

    fn summary(&self, cx: &Dcx) -> String {
        if self.audit_mode {
            return String::new();
        }
        let mut bits = Vec::new();
        if let Some(k) = self.kind {
            bits.push(format!("kind={k}"));
        }
        if let Some(p) = &self.position {
            bits.push(format!("position={}", short(p)));
        }
        let bottom = cx.key(Context::Ledger, Action::Bottom);
        bits.push(if self.follow {
            "● following".to_string()
        } else if self.unseen > 0 {
            format!("‖ paused — {} new events ({bottom} to return)", self.unseen)
        } else {
            format!(
                "‖ paused ({} or {bottom} to follow)",
                cx.key(Context::Ledger, Action::Follow)
            )
        });
        bits.join("  ")
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        let rows = cx.rows;
        match a {
            Action::Up => self.step(-1, rows),
            Action::Down => self.step(1, rows),
            Action::PageUp => self.step(-(rows as isize), rows),
            Action::PageDown => self.step(rows as isize, rows),
            Action::Top => self.jump(true, rows),
            Action::Bottom => self.jump(false, rows),
            Action::Open if !self.audit_mode => {
                let Some(e) = self.events.get(self.sel.selected) else {
                    return;
                };
                let d = match (&e.position_id, e.entity_type) {
                    (Some(p), _) => Detail::Position(p.clone()),
                    (None, EntityType::Institution | EntityType::Policy | EntityType::ApiKey) => {
                        Detail::Institution(e.institution_id.clone())
                    }
                    (None, EntityType::AssetTemplate) => Detail::Template(e.entity_id.clone()),
                    (None, EntityType::Asset) => Detail::Asset(e.entity_id.clone()),
                    (None, EntityType::Position) => return,
                };
                cx.out.push(Request::GoOpen(d));
            }
            Action::ToggleMode => {
                self.audit_mode = !self.audit_mode;
                if self.audit_mode {
                    cx.cmd(Cmd::LoadAudit);
                }
            }
            Action::Follow => {
                self.follow = !self.follow;
                if self.follow {
                    self.unseen = 0;
                    self.sel.selected = self.events.len().saturating_sub(1);
                    self.sel.clamp(self.events.len(), rows);
                }
                cx.info(if self.follow {
                    "Following new events"
                } else {
                    "Follow paused"
                });
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
            Action::ClearFilters => {
                self.kind = None;
                self.position = None;
                self.reload(cx);
                cx.info("Filters cleared");
            }
            _ => {}
        }
    }

    fn on_outcome(&mut self, o: Outcome, cx: &mut Cx) {
        if let Outcome::Picked(PickerPurpose::LedgerKind, v) = o {
            self.kind = v.and_then(|v| v.parse().ok());
            self.reload(cx);
        }
    }

    fn on_loaded(&mut self, l: &Loaded, cx: &mut Cx) {
        match l {
            Loaded::Ledger { generation, result } if *generation == self.generation => {
                match result {
                    Ok(events) => {
                        // Loaded newest first; keep events the stream delivered beyond them.
                        let newest = events.first().map(|e| e.seq).unwrap_or(0);
                        let later: Vec<LedgerEvent> = self
                            .events
                            .iter()
                            .filter(|e| e.seq > newest && self.matches(e))
                            .cloned()
                            .collect();
                        self.events = events.iter().rev().cloned().collect();
                        self.events.extend(later);
                        self.loaded = true;
                        self.unseen = 0;
                        let len = self.events.len();
                        if self.follow || self.sel.selected >= len {
                            self.sel.selected = len.saturating_sub(1);
                        }
                        self.sel.clamp(len, cx.rows);
                    }
                    Err(e) => cx.service_error("loading the ledger", e),
                }
            }
            Loaded::Health(h) => {
                self.anchored_to = h
                    .anchors
                    .as_ref()
                    .and_then(|a| a.last_confirmed.as_ref())
                    .map(|c| c.seq)
                    .unwrap_or(0);
            }
            Loaded::Audit(r) => match r {
                Ok(v) => {
                    self.audit = v.clone();
                    self.audit_sel.clamp(self.audit.len(), cx.rows);
                }
                Err(e) => cx.service_error("loading the audit trail", e),
            },
            _ => {}
        }
    }

    fn on_event(&mut self, e: &LedgerEvent, cx: &mut Cx) {
        if self.matches(e) {
            self.push(e.clone(), cx.rows);
        }
    }

    fn on_tick(&mut self, tick: u64, shown: bool, cx: &mut Cx) {
        // Refused actions write audit records but no ledger events: poll while it is shown.
        if shown && self.audit_mode && tick.is_multiple_of(8) {
            cx.cmd(Cmd::LoadAudit);
        }
    }

    fn on_nav(&mut self, nav: &Nav, cx: &mut Cx) -> bool {
        match nav {
            Nav::Ledger { position, kind } => {
                self.position = position.clone();
                self.kind = *kind;
                self.audit_mode = false;
                self.follow = true;
                self.reload(cx);
            }
            Nav::Audit => {
                self.audit_mode = true;
                cx.cmd(Cmd::LoadAudit);
            }
            _ => return false,
        }
        true
    }

    fn on_show(&mut self, cx: &mut Cx) {
        if self.audit_mode {
            cx.cmd(Cmd::LoadAudit);
        }
    }

    fn refresh(&mut self, cx: &mut Cx) {
        if self.audit_mode {
            cx.cmd(Cmd::LoadAudit);
        } else {
            self.reload(cx);
        }
    }

    fn on_click(&mut self, row: usize, cx: &mut Cx) {
        let (sel, len) = if self.audit_mode {
            (&mut self.audit_sel, self.audit.len())
        } else {
            (&mut self.sel, self.events.len())
        };
        match sel.click(row, len) {
            Some(true) => self.on_action(Action::Open, cx),
            Some(false) if !self.audit_mode => self.follow = self.sel.selected + 1 == len,
            _ => {}
        }
    }

    fn on_resize(&mut self, rows: usize) {
        self.sel.clamp(self.events.len(), rows);
    }

    fn selected_id(&self, _data: &Data) -> Option<String> {
        if self.audit_mode {
            self.audit
                .get(self.audit_sel.selected)
                .map(|a| a.id.clone())
        } else {
            self.events
                .get(self.sel.selected)
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
    fn draw_events(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let theme = cx.theme;
        if self.events.is_empty() {
            let msg = if self.loaded {
                "No ledger events yet: every change will appear here as it commits."
            } else {
                "Loading the ledger…"
            };
            return empty(f, theme, area, msg);
        }
        let wide = area.width >= 140;
        let visible = area.height.saturating_sub(1) as usize;
        let sel = self.sel.clamped(self.events.len(), visible);
        let rows = self
            .events
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
        if self.audit.is_empty() {
            return empty(f, theme, area, "No audit records visible to you yet.");
        }
        let wide = area.width >= 120;
        let visible = area.height.saturating_sub(1) as usize;
        let sel = self.audit_sel.clamped(self.audit.len(), visible);
        let rows = self
            .audit
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
