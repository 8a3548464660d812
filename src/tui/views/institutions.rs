//! The Institutions tab: every institution the operator may see, with its regions, verticals and
//! counts; Enter opens one, `n` creates one (root only).

use super::{Cx, Data, Dcx, Request, View};
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::Cmd;
use crate::tui::nav::{Detail, Nav};
use crate::tui::popups::{Popup, form};
use crate::tui::widgets::{Sel, date, empty, group, s, table};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;

#[derive(Default)]
pub struct Institutions {
    pub sel: Sel,
}

impl View for Institutions {
    fn context(&self) -> Context {
        Context::Institutions
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        let len = cx.data.institutions.len();
        match a {
            Action::Up => self.sel.step(-1, len, cx.rows),
            Action::Down => self.sel.step(1, len, cx.rows),
            Action::PageUp => self.sel.step(-(cx.rows as isize), len, cx.rows),
            Action::PageDown => self.sel.step(cx.rows as isize, len, cx.rows),
            Action::Top => self.sel.step(-(len as isize), len, cx.rows),
            Action::Bottom => self.sel.step(len as isize, len, cx.rows),
            Action::Open => {
                if let Some(i) = cx.data.institutions.get(self.sel.selected) {
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
        if self.sel.click(row, cx.data.institutions.len()) == Some(true) {
            self.on_action(Action::Open, cx);
        }
    }

    fn selected_id(&self, data: &Data) -> Option<String> {
        data.institutions
            .get(self.sel.selected)
            .map(|i| i.id.clone())
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let list = &cx.data.institutions;
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
