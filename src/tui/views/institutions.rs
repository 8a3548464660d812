//! The Institutions tab: every institution the operator may see, with its regions, verticals and
//! counts; Enter opens one, `n` creates one (root only).

use super::text_filter::{TextFilter, step_match};
use super::{Cx, Data, Dcx, Request, View};
use crate::domain::Institution;
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::Cmd;
use crate::tui::msg::{Loaded, Submitted};
use crate::tui::nav::{Detail, Nav};
use crate::tui::popups::Outcome;
use crate::tui::popups::{Popup, form};
use crate::tui::widgets::{Sel, date, empty, group, s, table};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;

#[derive(Default)]
pub struct Institutions {
    pub sel: Sel,
    pub filter: TextFilter,
    /// Created through the form: selected when the list that holds it arrives.
    pub select: Option<String>,
}

impl Institutions {
    /// The institutions the `/` filter lets through, in the list's order.
    fn shown<'a>(&self, data: &'a Data) -> Vec<&'a Institution> {
        data.institutions
            .iter()
            .filter(|i| {
                let regions = i.regions.iter().map(|r| r.as_str());
                let verticals = i.verticals.iter().map(|v| v.as_str());
                self.filter.matches(
                    [i.name.as_str(), i.id.as_str()]
                        .into_iter()
                        .chain(regions)
                        .chain(verticals),
                )
            })
            .collect()
    }
}

impl View for Institutions {
    fn context(&self) -> Context {
        Context::Institutions
    }

    fn summary(&self, cx: &Dcx) -> String {
        let len = self.shown(cx.data).len();
        let mut bits: Vec<String> = self.filter.crumb().into_iter().collect();
        if len > 0 {
            bits.push(format!(
                "row {} of {}",
                group(self.sel.selected.min(len - 1) as u64 + 1),
                group(len as u64)
            ));
        } else if self.filter.text.is_some() {
            bits.push("no matches".into());
        }
        bits.join("  ")
    }

    fn filtering(&self) -> bool {
        self.filter.text.is_some()
    }

    fn on_outcome(&mut self, o: Outcome, cx: &mut Cx) {
        if self.filter.on_outcome(&o) {
            self.sel = Sel::default();
        }
        let _ = cx;
    }

    fn on_loaded(&mut self, l: &Loaded, cx: &mut Cx) {
        match l {
            Loaded::Submitted(Ok(Submitted::Institution(i))) => self.select = Some(i.id.clone()),
            Loaded::Institutions(Ok(_)) => {
                if let Some(id) = self.select.take() {
                    if !self.shown(cx.data).iter().any(|i| i.id == id) {
                        self.filter.set(None); // the new one is not hidden by the filter
                    }
                    let shown = self.shown(cx.data);
                    if let Some(n) = shown.iter().position(|i| i.id == id) {
                        self.sel.selected = n;
                        self.sel.clamp(shown.len(), cx.rows);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        let len = self.shown(cx.data).len();
        match a {
            Action::Filter => self.filter.open(cx),
            Action::NextMatch | Action::PrevMatch => {
                step_match(&mut self.sel, a == Action::NextMatch, len, cx.rows, cx)
            }
            Action::ClearFilters if self.filter.set(None) => self.sel = Sel::default(),
            Action::Up => self.sel.step(-1, len, cx.rows),
            Action::Down => self.sel.step(1, len, cx.rows),
            Action::PageUp => self.sel.step(-(cx.rows as isize), len, cx.rows),
            Action::PageDown => self.sel.step(cx.rows as isize, len, cx.rows),
            Action::Top => self.sel.step(-(len as isize), len, cx.rows),
            Action::Bottom => self.sel.step(len as isize, len, cx.rows),
            Action::Open => {
                if let Some(i) = self.shown(cx.data).get(self.sel.selected) {
                    let d = Detail::Institution(i.id.clone());
                    cx.out.push(Request::Open(d));
                }
            }
            Action::New => {
                // (the router has refused it to everyone but root)
                cx.popup(Popup::Form(Box::new(form::institution_form())));
            }
            _ => {}
        }
    }

    fn on_nav(&mut self, nav: &Nav, cx: &mut Cx) -> bool {
        if *nav != Nav::Institutions {
            return false;
        }
        self.on_show(cx);
        true
    }

    fn home_of(&self, d: &Detail) -> bool {
        matches!(d, Detail::Institution(_))
    }

    fn on_show(&mut self, cx: &mut Cx) {
        // Position counts move with every new position: refresh on arrival.
        cx.cmd(Cmd::LoadInstitutions);
    }

    fn on_click(&mut self, row: usize, cx: &mut Cx) {
        if self.sel.click(row, self.shown(cx.data).len()) == Some(true) {
            self.on_action(Action::Open, cx);
        }
    }

    fn selected_id(&self, data: &Data) -> Option<String> {
        self.shown(data)
            .get(self.sel.selected)
            .map(|i| i.id.clone())
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let list = self.shown(cx.data);
        if list.is_empty() && self.filter.text.is_some() {
            let text = format!(
                "No institution matches {}. Press / to change the filter.",
                self.filter.crumb().unwrap_or_default()
            );
            return empty(f, cx.theme, area, &text);
        }
        if list.is_empty() {
            let text = if cx.session.may(Context::Institutions, Action::New) {
                format!(
                    "No institutions yet. Press {} to create one, or run `escrowgrid seed --demo`.",
                    cx.key(Context::Institutions, Action::New)
                )
            } else {
                "No institutions visible to this session.".to_string()
            };
            return empty(f, cx.theme, area, &text);
        }
        let visible = area.height.saturating_sub(1) as usize;
        let sel = self.sel.clamped(list.len(), visible);
        let rows = list
            .iter()
            .skip(sel.offset)
            .take(visible)
            .map(|i| {
                let sm = cx.data.summaries.get(&i.id);
                let n = |v: Option<i64>| v.map(|x| group(x as u64)).unwrap_or_else(|| "…".into());
                let joined = |v: Vec<&str>| v.join(",");
                vec![
                    Line::from(s(&i.name)),
                    Line::from(joined(i.regions.iter().map(|r| r.as_str()).collect())),
                    Line::from(joined(i.verticals.iter().map(|v| v.as_str()).collect())),
                    Line::from(n(sm.map(|x| x.templates))).right_aligned(),
                    Line::from(n(sm.map(|x| x.assets))).right_aligned(),
                    Line::from(n(sm.map(|x| x.positions))).right_aligned(),
                    Line::from(date(&i.created_at)),
                ]
            })
            .collect();
        let t = table(
            cx.theme,
            area,
            &[
                "NAME",
                "REGIONS",
                "VERTICALS",
                "TMPL",
                "ASSETS",
                "POSITIONS",
                "CREATED",
            ],
            rows,
            Some(sel.selected - sel.offset),
            vec![
                Constraint::Fill(2),
                Constraint::Length(12),
                Constraint::Fill(1),
                Constraint::Length(4),
                Constraint::Length(6),
                Constraint::Length(9),
                Constraint::Length(10),
            ],
        );
        f.render_widget(t, area);
    }
}
