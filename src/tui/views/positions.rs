//! The Positions tab: a window of at most `WINDOW` rows over any number of positions, paged with
//! keyset cursors as the selection nears an edge; filters (text as you type, state, institution),
//! sort by any column, and rows kept current by the ledger stream.

use super::{Cx, Data, Dcx, Request, View};
use crate::domain::ledger::LedgerEvent;
use crate::domain::{EntityType, LedgerKind, Position, PositionState};
use crate::service::{
    PositionCursor, PositionFilter, PositionQuery, PositionSortKey, ServiceError, ServiceResult,
};
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::{Cmd, Loaded, PageMode, Submitted};
use crate::tui::nav::{Detail, Nav};
use crate::tui::popups::{LineInput, Outcome, Picker, PickerPurpose, Popup, form};
use crate::tui::widgets::{
    Sel, datetime, empty, group, highlighted, money_width, s, state_badge, table,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use std::time::{Duration, Instant};

/// Rows fetched per page; the loaded window holds at most `WINDOW` rows.
pub const PAGE: u32 = 200;
pub const WINDOW: usize = 1000;
/// How long typing in the `/` filter must pause before the filter applies.
const FILTER_PAUSE: Duration = Duration::from_millis(150);

pub struct Positions {
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
    /// The filter before the last place the tab was sent to (Esc from a detail's positions).
    pub filter_before: Option<PositionFilter>,
    /// The first page is loading for `g`: select its first row (a reload keeps the row).
    pub to_top: bool,
    /// Created through the form: selected when the first page that holds it arrives.
    pub select: Option<String>,
    /// The marked positions (Space), in the order marked, kept current by the stream; `t`
    /// moves them all. Marks outlive filters and pages: a mark is on a position, not a row.
    pub marked: Vec<Position>,
}

impl Default for Positions {
    fn default() -> Self {
        Positions {
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
            filter_before: None,
            to_top: false,
            select: None,
            marked: Vec::new(),
        }
    }
}

impl Positions {
    fn query(&self, mode: PageMode) -> PositionQuery {
        let cursor = match mode {
            PageMode::Append => self.rows.last().map(|r| PositionCursor::of(self.sort, r)),
            PageMode::Prepend => self.rows.first().map(|r| PositionCursor::of(self.sort, r)),
            PageMode::First | PageMode::Last => None,
        };
        PositionQuery {
            filter: self.filter.clone(),
            sort: self.sort,
            descending: self.descending,
            cursor,
            backwards: matches!(mode, PageMode::Prepend | PageMode::Last),
            limit: PAGE,
        }
    }

    fn load(&mut self, mode: PageMode, cx: &mut Cx) {
        if self.loading.is_some() && !matches!(mode, PageMode::First | PageMode::Last) {
            return;
        }
        let query = self.query(mode);
        self.loading = Some(mode);
        cx.cmd(Cmd::LoadPositions {
            generation: self.generation,
            mode,
            query,
        });
    }

    /// New filter or sort: start over from the first page.
    pub fn reload(&mut self, cx: &mut Cx) {
        self.generation += 1;
        self.loading = None;
        self.stale = false;
        self.load(PageMode::First, cx);
        cx.cmd(Cmd::CountPositions {
            generation: self.generation,
            filter: self.filter.clone(),
        });
    }

    fn loaded(
        &mut self,
        generation: u64,
        mode: PageMode,
        result: &ServiceResult<Vec<Position>>,
        cx: &mut Cx,
    ) {
        if generation != self.generation {
            return; // a reply to an older filter
        }
        self.loading = None;
        let rows = match result {
            Ok(r) => r.clone(),
            Err(e) => return cx.service_error("loading positions", e),
        };
        let full = rows.len() == PAGE as usize;
        self.loaded_once = true;
        match mode {
            PageMode::First => {
                let created = self.select.take();
                let keep = self
                    .rows
                    .get(self.sel.selected)
                    .filter(|_| !std::mem::take(&mut self.to_top))
                    .map(|r| r.id.clone());
                if let Some(id) = &created
                    && !rows.iter().any(|r| &r.id == id)
                {
                    cx.info(format!(
                        "Created {id}: not among the first {} rows of this filter and sort",
                        rows.len()
                    ));
                }
                let keep = created
                    .filter(|id| rows.iter().any(|r| &r.id == id))
                    .or(keep);
                self.rows = rows;
                self.at_start = true;
                self.at_end = !full;
                self.base_index = Some(0);
                self.sel.selected = keep
                    .and_then(|id| self.rows.iter().position(|r| r.id == id))
                    .unwrap_or(0);
            }
            PageMode::Last => {
                self.rows = rows;
                self.at_end = true;
                self.at_start = !full;
                self.base_index = match (self.at_start, self.total) {
                    (true, _) => Some(0),
                    (false, Some(t)) => Some((t as u64).saturating_sub(self.rows.len() as u64)),
                    _ => None,
                };
                self.sel.selected = self.rows.len().saturating_sub(1);
            }
            PageMode::Append => {
                self.at_end = !full;
                self.rows.extend(rows);
                if self.rows.len() > WINDOW {
                    let drop = self.rows.len() - WINDOW;
                    self.rows.drain(..drop);
                    self.sel.selected = self.sel.selected.saturating_sub(drop);
                    self.sel.offset = self.sel.offset.saturating_sub(drop);
                    self.base_index = self.base_index.map(|b| b + drop as u64);
                    self.at_start = false;
                }
            }
            PageMode::Prepend => {
                let n = rows.len();
                self.at_start = !full;
                let mut new = rows;
                new.append(&mut self.rows);
                self.rows = new;
                self.sel.selected += n;
                self.sel.offset += n;
                self.base_index = self.base_index.map(|b| b.saturating_sub(n as u64));
                if self.at_start {
                    self.base_index = Some(0);
                }
                if self.rows.len() > WINDOW {
                    self.rows.truncate(WINDOW);
                    self.at_end = false;
                }
            }
        }
        self.sel.clamp(self.rows.len(), cx.rows);
        self.maybe_page(cx);
    }

    /// Loads the neighbouring page when the selection nears the edge of the window.
    fn maybe_page(&mut self, cx: &mut Cx) {
        if self.loading.is_some() || self.rows.is_empty() {
            return;
        }
        let margin = cx.rows * 2;
        if !self.at_end && self.sel.selected + margin >= self.rows.len() {
            self.load(PageMode::Append, cx);
        } else if !self.at_start && self.sel.selected < margin {
            self.load(PageMode::Prepend, cx);
        }
    }

    fn step(&mut self, delta: isize, cx: &mut Cx) {
        self.sel.step(delta, self.rows.len(), cx.rows);
        self.maybe_page(cx);
    }

    fn jump(&mut self, top: bool, cx: &mut Cx) {
        if top {
            if self.at_start {
                self.sel.selected = 0;
            } else {
                self.sel = Sel::default();
                self.generation += 1;
                self.loading = None;
                self.to_top = true;
                self.load(PageMode::First, cx);
            }
        } else if self.at_end {
            self.sel.selected = self.rows.len().saturating_sub(1);
        } else {
            self.generation += 1;
            self.loading = None;
            self.load(PageMode::Last, cx);
        }
        self.sel.clamp(self.rows.len(), cx.rows);
    }

    /// Applies the `/` text (empty clears it), unless it is already the filter.
    fn apply_text(&mut self, text: &str, cx: &mut Cx) {
        self.typed = None;
        let text = Some(text.trim().to_string()).filter(|s| !s.is_empty());
        if text != self.filter.text {
            self.filter.text = text;
            self.reload(cx);
        }
    }

    fn selected(&self) -> Option<&Position> {
        self.rows.get(self.sel.selected)
    }

    /// A position as the service now has it: the row shown (and its mark) follows.
    fn replace_row(&mut self, p: &Position) {
        for row in self.rows.iter_mut().chain(self.marked.iter_mut()) {
            if row.id == p.id {
                *row = p.clone();
            }
        }
    }

    fn is_marked(&self, id: &str) -> bool {
        self.marked.iter().any(|m| m.id == id)
    }

    /// Space: marks the row, or unmarks it, and goes on to the next.
    fn toggle_mark(&mut self, cx: &mut Cx) {
        let Some(p) = self.selected().cloned() else {
            return;
        };
        match self.marked.iter().position(|m| m.id == p.id) {
            Some(i) => {
                self.marked.remove(i);
            }
            None => self.marked.push(p),
        }
        self.step(1, cx);
    }
}

impl View for Positions {
    fn context(&self) -> Context {
        Context::Positions
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
            // Every row shown matches the text: the next row, round past the ends.
            Action::NextMatch if self.at_end && self.sel.selected + 1 >= self.rows.len() => {
                self.jump(true, cx);
                cx.info("wrapped to the first match");
            }
            Action::PrevMatch if self.at_start && self.sel.selected == 0 => {
                self.jump(false, cx);
                cx.info("wrapped to the last match");
            }
            Action::NextMatch => self.step(1, cx),
            Action::PrevMatch => self.step(-1, cx),
            Action::Open => {
                if let Some(p) = self.selected() {
                    cx.out.push(Request::Open(Detail::Position(p.id.clone())));
                }
            }
            Action::New => {
                if cx.data.institutions.is_empty() {
                    return cx.error(format!(
                        "create an institution first (Institutions tab, {})",
                        cx.key(Context::Institutions, Action::New)
                    ));
                }
                let f = form::position_form(&cx.data.lookup(), cx.preselect.as_deref());
                cx.popup(Popup::Form(Box::new(f)));
            }
            Action::Transition if !self.marked.is_empty() => {
                match crate::tui::popups::TransitionDialog::bulk(self.marked.clone()) {
                    Ok(d) => cx.popup(Popup::Transition(Box::new(d))),
                    Err(why) => cx.error(why),
                }
            }
            Action::Transition => {
                let p = self.selected().cloned();
                cx.open_transition(p.as_ref());
            }
            Action::Mark => self.toggle_mark(cx),
            Action::ClearMarks if !self.marked.is_empty() => {
                let n = std::mem::take(&mut self.marked).len();
                cx.info(format!(
                    "Unmarked {}",
                    crate::domain::text::counted(n as u64, "position", "positions")
                ));
            }
            Action::Filter => {
                self.text_before = Some(self.filter.text.clone());
                let current = self.filter.text.clone().unwrap_or_default();
                cx.popup(Popup::Filter(LineInput::new(&current)));
            }
            Action::FilterState => {
                let options = PositionState::ALL.iter().map(|s| s.as_str().to_string());
                let current = self.filter.state.map(|s| s.as_str().to_string());
                cx.popup(Popup::Picker(Picker::new(
                    "Filter by state",
                    "all states",
                    options.map(|v| (v.clone(), v)).collect(),
                    current.as_deref(),
                    PickerPurpose::PositionState,
                )));
            }
            Action::FilterInstitution => {
                let options = cx
                    .data
                    .institutions
                    .iter()
                    .map(|i| (i.id.clone(), s(&i.name)))
                    .collect();
                cx.popup(Popup::Picker(Picker::new(
                    "Filter by institution",
                    "all institutions",
                    options,
                    self.filter.institution_id.as_deref(),
                    PickerPurpose::PositionInstitution,
                )));
            }
            Action::ClearFilters => {
                self.filter = PositionFilter::default();
                self.reload(cx);
                cx.info("Filters cleared");
            }
            Action::SortNext => {
                let all = PositionSortKey::ALL;
                let i = all.iter().position(|k| *k == self.sort).unwrap_or(0);
                self.sort = all[(i + 1) % all.len()];
                self.descending = false;
                self.reload(cx);
            }
            Action::SortReverse => {
                self.descending = !self.descending;
                self.reload(cx);
            }
            _ => {}
        }
    }

    fn on_outcome(&mut self, o: Outcome, cx: &mut Cx) {
        match o {
            // Filter as you type, once typing pauses (see `on_tick`).
            Outcome::FilterTyped(text) => self.typed = Some((text, Instant::now())),
            Outcome::FilterApplied(text) => {
                self.apply_text(&text, cx);
                self.text_before = None;
            }
            Outcome::FilterCancelled => {
                // Back to the filter the popup opened with.
                self.typed = None;
                if let Some(before) = self.text_before.take()
                    && before != self.filter.text
                {
                    self.filter.text = before;
                    self.reload(cx);
                }
            }
            Outcome::Picked(PickerPurpose::PositionState, v) => {
                self.filter.state = v.and_then(|v| v.parse().ok());
                self.reload(cx);
            }
            Outcome::Picked(PickerPurpose::PositionInstitution, v) => {
                self.filter.institution_id = v;
                self.reload(cx);
            }
            _ => {}
        }
    }

    fn on_loaded(&mut self, l: &Loaded, cx: &mut Cx) {
        match l {
            Loaded::Positions {
                generation,
                mode,
                result,
            } => self.loaded(*generation, *mode, result, cx),
            Loaded::PositionCount { generation, result } if *generation == self.generation => {
                match result {
                    Ok(n) => {
                        self.total = Some(*n);
                        if self.at_end && self.base_index.is_none() {
                            self.base_index =
                                Some((*n as u64).saturating_sub(self.rows.len() as u64));
                        }
                    }
                    Err(e) => cx.service_error("counting positions", e),
                }
            }
            // Keep the table's row in step with what a detail or a transition shows.
            Loaded::PositionDetail { result: Ok(d), .. } => self.replace_row(&d.0.position),
            Loaded::Transitioned { result: Ok(o), .. } if o.applied => {
                self.replace_row(&o.position)
            }
            Loaded::Transitioned {
                result:
                    Err(ServiceError::Conflict {
                        current: Some(p), ..
                    }),
                ..
            } => self.replace_row(p),
            // Those that moved (or were already there) are unmarked; the rest stay marked.
            Loaded::TransitionedMany { results, .. } => {
                for (id, r) in results {
                    match r {
                        Ok(o) => {
                            self.replace_row(&o.position);
                            self.marked.retain(|m| &m.id != id);
                        }
                        Err(ServiceError::Conflict {
                            current: Some(p), ..
                        }) => self.replace_row(p),
                        Err(_) => {}
                    }
                }
            }
            Loaded::Submitted(Ok(Submitted::Position(p))) => {
                // The new position, selected in a fresh first page.
                self.select = Some(p.id.clone());
                self.generation += 1;
                self.loading = None;
                self.load(PageMode::First, cx);
                self.count_stale = true;
            }
            _ => {}
        }
    }

    fn on_event(&mut self, e: &LedgerEvent, _cx: &mut Cx) {
        if e.entity_type != EntityType::Position {
            return;
        }
        if e.kind == LedgerKind::PositionStateChanged {
            // Update the row in place: cheap, and the table stays where it is.
            if let Some(t) = e.transition() {
                for row in self.rows.iter_mut().chain(self.marked.iter_mut()) {
                    if row.id == e.entity_id {
                        row.state = t.to_state;
                        row.updated_at = e.at;
                        row.version = t.version;
                    }
                }
            }
        }
        self.stale = true;
        self.count_stale = true;
    }

    fn on_tick(&mut self, tick: u64, shown: bool, cx: &mut Cx) {
        if let Some((text, at)) = &self.typed
            && at.elapsed() >= FILTER_PAUSE
        {
            let text = text.clone();
            self.apply_text(&text, cx);
        }
        // Positions changed elsewhere: recount every few seconds (a count scans an index, so
        // not on every event), and refresh the window if it shows the newest.
        if self.count_stale && tick.is_multiple_of(20) {
            self.count_stale = false;
            cx.cmd(Cmd::CountPositions {
                generation: self.generation,
                filter: self.filter.clone(),
            });
        }
        if self.stale && tick.is_multiple_of(4) && self.loading.is_none() {
            self.stale = false;
            let created = self.sort == PositionSortKey::Created;
            if created && self.descending && self.at_start && shown {
                self.load(PageMode::First, cx);
            } else if self.at_end && created && !self.descending {
                self.load(PageMode::Append, cx);
            }
        }
    }

    fn on_nav(&mut self, nav: &Nav, cx: &mut Cx) -> bool {
        let Nav::Positions { filter, sort } = nav else {
            return false;
        };
        self.filter_before = Some(std::mem::replace(&mut self.filter, filter.clone()));
        if let Some((key, desc)) = sort {
            self.sort = *key;
            self.descending = *desc;
        }
        self.reload(cx);
        true
    }

    fn restore(&mut self, cx: &mut Cx) {
        if let Some(f) = self.filter_before.take() {
            self.filter = f;
            self.reload(cx);
        }
    }

    fn home_of(&self, d: &Detail) -> bool {
        matches!(d, Detail::Position(_))
    }

    fn on_show(&mut self, cx: &mut Cx) {
        if !self.loaded_once || self.stale {
            self.reload(cx);
        }
    }

    fn refresh(&mut self, cx: &mut Cx) {
        self.reload(cx);
    }

    fn on_click(&mut self, row: usize, cx: &mut Cx) {
        if self.sel.click(row, self.rows.len()) == Some(true) {
            self.on_action(Action::Open, cx);
        }
    }

    fn on_resize(&mut self, rows: usize) {
        self.sel.clamp(self.rows.len(), rows);
    }

    fn selected_id(&self, _data: &Data) -> Option<String> {
        self.selected().map(|p| p.id.clone())
    }

    fn offers(&self, a: Action) -> bool {
        match a {
            Action::Transition => {
                !self.marked.is_empty() || self.selected().is_some_and(|p| !p.state.is_terminal())
            }
            Action::ClearMarks => !self.marked.is_empty(),
            _ => true,
        }
    }

    fn institution_focus(&self) -> Option<&str> {
        self.filter.institution_id.as_deref()
    }

    fn filtering(&self) -> bool {
        self.filter.text.is_some()
    }

    fn summary(&self, cx: &Dcx) -> String {
        let mut bits = Vec::new();
        if let Some(st) = self.filter.state {
            bits.push(format!("state={st}"));
        }
        if let Some(i) = &self.filter.institution_id {
            bits.push(format!("institution={}", cx.data.institution_name(i)));
        }
        if let Some(t) = &self.filter.template_id {
            bits.push(format!("template={}", cx.data.template_name(t)));
        }
        if let Some(a) = &self.filter.asset_id {
            bits.push(format!("asset={}", cx.data.asset_label(a)));
        }
        if let Some(t) = &self.filter.text {
            bits.push(format!("/{}", s(t)));
        }
        bits.push(format!(
            "sort {} {}",
            self.sort.as_str(),
            if self.descending { "▼" } else { "▲" }
        ));
        let pos = match (self.total, self.base_index) {
            (Some(t), Some(b)) if !self.rows.is_empty() => format!(
                "row {} of {}",
                group(b + self.sel.selected as u64 + 1),
                group(t as u64)
            ),
            (Some(t), _) => format!("{} positions", group(t as u64)),
            _ => String::new(),
        };
        bits.push(pos);
        if !self.marked.is_empty() {
            bits.push(format!("{} marked", group(self.marked.len() as u64)));
        }
        if self.loading.is_some() {
            bits.push("loading…".into());
        }
        bits.join("  ")
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let theme = cx.theme;
        if self.rows.is_empty() {
            let msg = if !self.loaded_once || self.loading.is_some() {
                "Loading positions…".to_string()
            } else if self.filter != Default::default() {
                format!(
                    "No positions match the filters. {} clears them.",
                    cx.key(Context::Positions, Action::ClearFilters)
                )
            } else if cx.session.may(Context::Positions, Action::New) {
                format!(
                    "No positions yet. Press {} to create one.",
                    cx.key(Context::Positions, Action::New)
                )
            } else {
                "No positions visible to this session.".to_string()
            };
            return empty(f, theme, area, &msg);
        }
        let wide = area.width >= 140;
        let visible = area.height.saturating_sub(1) as usize;
        let sel = self.sel.clamped(self.rows.len(), visible);
        let needle = self.filter.text.as_deref();
        let hl = theme.matched();
        let today = chrono::Utc::now().date_naive();
        let arrow = |keys: &[PositionSortKey], name: &'static str| -> String {
            let dir = if self.descending { "▼" } else { "▲" };
            match keys.iter().find(|k| **k == self.sort) {
                Some(PositionSortKey::Currency) => format!("{name} by CCY{dir}"),
                Some(PositionSortKey::Held) if name == "AMOUNT" => format!("{name} by HELD{dir}"),
                Some(_) => format!("{name}{dir}"),
                None => name.to_string(),
            }
        };
        // Ids are time-ordered, so their distinctive part is the tail: a short id at every
        // width (the whole id is in the detail), and the room goes to the names.
        // With marks, a column of ✓ before the ids.
        let marks = !self.marked.is_empty();
        let mut head = vec![
            if marks { " " } else { "" }.to_string() + &arrow(&[PositionSortKey::Created], "ID"),
        ];
        let mut widths = vec![Constraint::Length(10 + u16::from(marks))];
        if wide {
            head.push(arrow(&[PositionSortKey::Institution], "INSTITUTION"));
            head.push(arrow(&[PositionSortKey::Asset], "ASSET"));
            widths.push(Constraint::Fill(2));
            widths.push(Constraint::Fill(2));
        }
        head.push(arrow(&[PositionSortKey::Holder], "HOLDER"));
        widths.push(Constraint::Fill(2));
        let shown: Vec<&Position> = self.rows.iter().skip(sel.offset).take(visible).collect();
        let amounts: Vec<String> = shown
            .iter()
            .map(|r| format!("{} {}", r.amount.display_grouped(), r.currency))
            .collect();
        let amount_keys: &[PositionSortKey] = if wide {
            &[PositionSortKey::Amount, PositionSortKey::Currency]
        } else {
            &[
                PositionSortKey::Amount,
                PositionSortKey::Currency,
                PositionSortKey::Held,
            ]
        };
        let amount_head = arrow(amount_keys, "AMOUNT");
        // Every digit shows: the column is as wide as the widest amount on screen.
        let amount_width = money_width(&amount_head, amounts.iter().map(String::as_str));
        head.push(amount_head);
        widths.push(Constraint::Length(amount_width));
        // What each still holds ("?" where partial releases were recorded without amounts).
        let helds: Vec<String> = shown
            .iter()
            .map(|r| r.held.map_or("?".into(), |h| h.display_grouped()))
            .collect();
        if wide {
            let held_head = arrow(&[PositionSortKey::Held], "HELD");
            let held_width = money_width(&held_head, helds.iter().map(String::as_str));
            head.push(held_head);
            widths.push(Constraint::Length(held_width));
        }
        head.push(arrow(&[PositionSortKey::State], "STATE"));
        widths.push(Constraint::Length(18));
        if wide {
            head.push("EXT REF".into());
            widths.push(Constraint::Fill(1));
        }
        head.push(arrow(&[PositionSortKey::Updated], "UPDATED"));
        widths.push(Constraint::Length(if wide { 19 } else { 8 }));
        let rows = shown
            .iter()
            .zip(amounts)
            .zip(helds)
            .map(|((r, amount), held)| {
                let id = format!("…{}", &r.id[r.id.len().saturating_sub(8)..]);
                let mut id = highlighted(id, needle, hl);
                if marks {
                    let mark = if self.is_marked(&r.id) { "✓" } else { " " };
                    id.spans
                        .insert(0, ratatui::text::Span::styled(mark, theme.accent()));
                }
                let mut cells = vec![id];
                if wide {
                    cells.push(Line::from(cx.data.institution_name(&r.institution_id)));
                    cells.push(Line::from(cx.data.asset_label(&r.asset_id)));
                }
                cells.push(highlighted(s(&r.holder_reference), needle, hl));
                cells.push(Line::from(amount).right_aligned());
                if wide {
                    cells.push(Line::from(held).right_aligned());
                }
                cells.push(Line::from(state_badge(theme, r.state)));
                if wide {
                    let ext = r.external_reference.as_deref().map(s).unwrap_or_default();
                    cells.push(highlighted(ext, needle, hl));
                }
                let updated = if wide {
                    datetime(&r.updated_at)
                } else if r.updated_at.date_naive() == today {
                    r.updated_at.format("%H:%M").to_string()
                } else {
                    r.updated_at.format("%m-%d").to_string()
                };
                cells.push(Line::from(updated));
                cells
            })
            .collect();
        let head: Vec<&str> = head.iter().map(String::as_str).collect();
        let t = table(
            theme,
            area,
            &head,
            rows,
            Some(sel.selected - sel.offset),
            widths,
        );
        f.render_widget(t, area);
    }
}
