//! The Assets tab: asset templates or assets (`m` switches); Enter opens one, `n` creates one.

use super::{Cx, Data, Dcx, Request, View};
use crate::domain::template::config_fields;
use crate::tui::keymap::{Action, Context};
use crate::tui::nav::{Detail, Nav};
use crate::tui::popups::{Popup, form};
use crate::tui::widgets::{Sel, date, empty, s, short, table};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;

pub struct Assets {
    /// Templates shown (else assets).
    pub templates: bool,
    pub tmpl_sel: Sel,
    pub asset_sel: Sel,
}

impl Default for Assets {
    fn default() -> Self {
        Assets {
            templates: true,
            tmpl_sel: Sel::default(),
            asset_sel: Sel::default(),
        }
    }
}

impl Assets {
    fn list(&mut self, data: &Data) -> (&mut Sel, usize) {
        if self.templates {
            (&mut self.tmpl_sel, data.templates.len())
        } else {
            (&mut self.asset_sel, data.assets.len())
        }
    }
}

impl View for Assets {
    fn context(&self) -> Context {
        Context::Assets
    }

    fn crumb(&self, _cx: &Dcx) -> Option<String> {
        Some(
            if self.templates {
                "Templates"
            } else {
                "Assets"
            }
            .into(),
        )
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        let rows = cx.rows;
        let (sel, len) = self.list(cx.data);
        match a {
            Action::Up => sel.step(-1, len, rows),
            Action::Down => sel.step(1, len, rows),
            Action::PageUp => sel.step(-(rows as isize), len, rows),
            Action::PageDown => sel.step(rows as isize, len, rows),
            Action::Top => sel.step(-(len as isize), len, rows),
            Action::Bottom => sel.step(len as isize, len, rows),
            Action::ToggleMode => self.templates = !self.templates,
            Action::Open => {
                let d = if self.templates {
                    cx.data
                        .templates
                        .get(self.tmpl_sel.selected)
                        .map(|t| Detail::Template(t.id.clone()))
                } else {
                    cx.data
                        .assets
                        .get(self.asset_sel.selected)
                        .map(|a| Detail::Asset(a.id.clone()))
                };
                if let Some(d) = d {
                    cx.out.push(Request::Open(d));
                }
            }
            Action::New => {
                let lookup = cx.data.lookup();
                let pre = cx.preselect.as_deref();
                let f = if self.templates {
                    form::template_form(&lookup, pre)
                } else {
                    form::asset_form(&lookup, pre)
                };
                if cx.data.institutions.is_empty() {
                    return cx.error(format!(
                        "create an institution first (Institutions tab, {})",
                        cx.key(Context::Institutions, Action::New)
                    ));
                }
                cx.popup(Popup::Form(Box::new(f)));
            }
            _ => {}
        }
    }

    fn on_nav(&mut self, nav: &Nav, _cx: &mut Cx) -> bool {
        match nav {
            Nav::Templates => self.templates = true,
            Nav::Assets => self.templates = false,
            _ => return false,
        }
        true
    }

    fn home_of(&self, d: &Detail) -> bool {
        matches!(d, Detail::Template(_) | Detail::Asset(_))
    }

    fn on_click(&mut self, row: usize, cx: &mut Cx) {
        let (sel, len) = self.list(cx.data);
        if sel.click(row, len) == Some(true) {
            self.on_action(Action::Open, cx);
        }
    }

    fn selected_id(&self, data: &Data) -> Option<String> {
        if self.templates {
            data.templates
                .get(self.tmpl_sel.selected)
                .map(|t| t.id.clone())
        } else {
            data.assets
                .get(self.asset_sel.selected)
                .map(|a| a.id.clone())
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let visible = area.height.saturating_sub(1) as usize;
        let (theme, data) = (cx.theme, cx.data);
        let switch = cx.key(Context::Assets, Action::ToggleMode);
        let create = if cx.session.may(Context::Assets, Action::New) {
            format!(
                "Press {} to create one",
                cx.key(Context::Assets, Action::New)
            )
        } else {
            "None visible to this session".to_string()
        };
        if self.templates {
            if data.templates.is_empty() {
                let text = format!("No templates yet. {create} ({switch} switches to assets).");
                return empty(f, theme, area, &text);
            }
            let sel = self.tmpl_sel.clamped(data.templates.len(), visible);
            let rows = data
                .templates
                .iter()
                .skip(sel.offset)
                .take(visible)
                .map(|t| {
                    vec![
                        Line::from(s(&t.name)),
                        Line::from(t.code.as_str()),
                        Line::from(t.region.as_str()),
                        Line::from(data.institution_name(&t.institution_id)),
                        Line::from(config_summary(&t.config, t.code)),
                    ]
                })
                .collect();
            let tb = table(
                theme,
                area,
                &["TEMPLATE", "CODE", "REGION", "INSTITUTION", "CONFIG"],
                rows,
                Some(sel.selected - sel.offset),
                vec![
                    Constraint::Fill(2),
                    Constraint::Length(16),
                    Constraint::Length(6),
                    Constraint::Fill(2),
                    Constraint::Fill(2),
                ],
            );
            f.render_widget(tb, area);
        } else {
            if data.assets.is_empty() {
                let text = format!("No assets yet. {create} ({switch} switches to templates).");
                return empty(f, theme, area, &text);
            }
            let sel = self.asset_sel.clamped(data.assets.len(), visible);
            let rows = data
                .assets
                .iter()
                .skip(sel.offset)
                .take(visible)
                .map(|a| {
                    let t = data.templates.iter().find(|t| t.id == a.template_id);
                    vec![
                        Line::from(s(&a.label)),
                        Line::from(
                            t.map(|t| s(&t.name))
                                .unwrap_or_else(|| short(&a.template_id)),
                        ),
                        Line::from(t.map(|t| t.code.as_str()).unwrap_or("")),
                        Line::from(data.institution_name(&a.institution_id)),
                        Line::from(date(&a.created_at)),
                    ]
                })
                .collect();
            let tb = table(
                theme,
                area,
                &["ASSET", "TEMPLATE", "CODE", "INSTITUTION", "CREATED"],
                rows,
                Some(sel.selected - sel.offset),
                vec![
                    Constraint::Fill(3),
                    Constraint::Fill(2),
                    Constraint::Length(16),
                    Constraint::Fill(2),
                    Constraint::Length(10),
                ],
            );
            f.render_widget(tb, area);
        }
    }
}

/// A template's known configuration in one line (`currency=USD maxTenorDays=90`).
fn config_summary(config: &serde_json::Value, code: crate::domain::TemplateCode) -> String {
    config_fields(code)
        .iter()
        .filter_map(|cf| {
            config.get(cf.key).map(|v| {
                format!(
                    "{}={}",
                    cf.key,
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string())
                )
            })
        })
        .map(|x| s(&x))
        .collect::<Vec<_>>()
        .join(" ")
}
