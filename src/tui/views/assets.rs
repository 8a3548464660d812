//! The Assets tab: asset templates or assets (`m` switches), each list with its own `/` filter;
//! Enter opens one, `c` creates one.

use super::text_filter::{TextFilter, step_match};
use super::{Cx, Data, Dcx, Request, View};
use crate::domain::template::config_fields;
use crate::domain::{Asset, AssetTemplate};
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::{Loaded, Submitted};
use crate::tui::nav::{Detail, Nav};
use crate::tui::popups::Outcome;
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
    pub tmpl_filter: TextFilter,
    pub asset_filter: TextFilter,
    /// Created through a form: selected when the list that holds it arrives.
    pub select: Option<String>,
}

impl Default for Assets {
    fn default() -> Self {
        Assets {
            templates: true,
            tmpl_sel: Sel::default(),
            asset_sel: Sel::default(),
            tmpl_filter: TextFilter::default(),
            asset_filter: TextFilter::default(),
            select: None,
        }
    }
}

impl Assets {
    fn list(&mut self, data: &Data) -> (&mut Sel, usize) {
        if self.templates {
            let n = self.templates_shown(data).len();
            (&mut self.tmpl_sel, n)
        } else {
            let n = self.assets_shown(data).len();
            (&mut self.asset_sel, n)
        }
    }

    fn filter(&self) -> &TextFilter {
        if self.templates {
            &self.tmpl_filter
        } else {
            &self.asset_filter
        }
    }

    fn filter_mut(&mut self) -> &mut TextFilter {
        if self.templates {
            &mut self.tmpl_filter
        } else {
            &mut self.asset_filter
        }
    }

    /// The templates the `/` filter lets through.
    fn templates_shown<'a>(&self, data: &'a Data) -> Vec<&'a AssetTemplate> {
        data.templates
            .iter()
            .filter(|t| {
                let inst = data.institution_name(&t.institution_id);
                self.tmpl_filter.matches([
                    t.name.as_str(),
                    t.code.as_str(),
                    t.region.as_str(),
                    t.id.as_str(),
                    inst.as_str(),
                ])
            })
            .collect()
    }

    /// The assets the `/` filter lets through.
    fn assets_shown<'a>(&self, data: &'a Data) -> Vec<&'a Asset> {
        data.assets
            .iter()
            .filter(|a| {
                let inst = data.institution_name(&a.institution_id);
                let tmpl = data.template_name(&a.template_id);
                self.asset_filter.matches([
                    a.label.as_str(),
                    a.id.as_str(),
                    tmpl.as_str(),
                    inst.as_str(),
                ])
            })
            .collect()
    }

    /// The position of `id` in the list shown, clearing the filter if it hides it.
    fn reveal(&mut self, id: &str, data: &Data, rows: usize) {
        let find = |me: &Self| {
            if me.templates {
                me.templates_shown(data).iter().position(|t| t.id == id)
            } else {
                me.assets_shown(data).iter().position(|a| a.id == id)
            }
        };
        if find(self).is_none() {
            self.filter_mut().set(None);
        }
        if let Some(n) = find(self) {
            let (sel, len) = self.list(data);
            sel.selected = n;
            sel.clamp(len, rows);
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

    fn summary(&self, cx: &Dcx) -> String {
        let (at, len) = if self.templates {
            (self.tmpl_sel.selected, self.templates_shown(cx.data).len())
        } else {
            (self.asset_sel.selected, self.assets_shown(cx.data).len())
        };
        let mut bits: Vec<String> = self.filter().crumb().into_iter().collect();
        if len > 0 {
            bits.push(format!("row {} of {len}", at.min(len - 1) + 1));
        } else if self.filter().text.is_some() {
            bits.push("no matches".into());
        }
        bits.join("  ")
    }

    fn filtering(&self) -> bool {
        self.filter().text.is_some()
    }

    fn on_outcome(&mut self, o: Outcome, _cx: &mut Cx) {
        if self.filter_mut().on_outcome(&o) {
            if self.templates {
                self.tmpl_sel = Sel::default();
            } else {
                self.asset_sel = Sel::default();
            }
        }
    }

    fn on_loaded(&mut self, l: &Loaded, cx: &mut Cx) {
        match l {
            Loaded::Submitted(Ok(Submitted::Template(t))) => {
                self.templates = true;
                self.select = Some(t.id.clone());
            }
            Loaded::Submitted(Ok(Submitted::Asset(a))) => {
                self.templates = false;
                self.select = Some(a.id.clone());
            }
            Loaded::Templates(Ok(_)) if self.templates => {
                if let Some(id) = self.select.take() {
                    self.reveal(&id, cx.data, cx.rows);
                }
            }
            Loaded::Assets(Ok(_)) if !self.templates => {
                if let Some(id) = self.select.take() {
                    self.reveal(&id, cx.data, cx.rows);
                }
            }
            _ => {}
        }
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        let rows = cx.rows;
        if a == Action::Filter {
            return self.filter_mut().open(cx);
        }
        if a == Action::ClearFilters {
            if self.filter_mut().set(None) {
                *self.list(cx.data).0 = Sel::default();
            }
            return;
        }
        let (sel, len) = self.list(cx.data);
        match a {
            Action::NextMatch | Action::PrevMatch => {
                step_match(sel, a == Action::NextMatch, len, rows, cx)
            }
            Action::Up => sel.step(-1, len, rows),
            Action::Down => sel.step(1, len, rows),
            Action::PageUp => sel.step(-(rows as isize), len, rows),
            Action::PageDown => sel.step(rows as isize, len, rows),
            Action::Top => sel.step(-(len as isize), len, rows),
            Action::Bottom => sel.step(len as isize, len, rows),
            Action::ToggleMode => self.templates = !self.templates,
            Action::Open => {
                let d = if self.templates {
                    self.templates_shown(cx.data)
                        .get(self.tmpl_sel.selected)
                        .map(|t| Detail::Template(t.id.clone()))
                } else {
                    self.assets_shown(cx.data)
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
            self.templates_shown(data)
                .get(self.tmpl_sel.selected)
                .map(|t| t.id.clone())
        } else {
            self.assets_shown(data)
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
        let no_match = |filter: &TextFilter| {
            format!(
                "Nothing matches {}. Press / to change the filter.",
                filter.crumb().unwrap_or_default()
            )
        };
        if self.templates {
            let list = self.templates_shown(data);
            if list.is_empty() && self.tmpl_filter.text.is_some() {
                return empty(f, theme, area, &no_match(&self.tmpl_filter));
            }
            if list.is_empty() {
                let text = format!("No templates yet. {create} ({switch} switches to assets).");
                return empty(f, theme, area, &text);
            }
            let sel = self.tmpl_sel.clamped(list.len(), visible);
            let rows = list
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
            let list = self.assets_shown(data);
            if list.is_empty() && self.asset_filter.text.is_some() {
                return empty(f, theme, area, &no_match(&self.asset_filter));
            }
            if list.is_empty() {
                let text = format!("No assets yet. {create} ({switch} switches to templates).");
                return empty(f, theme, area, &text);
            }
            let sel = self.asset_sel.clamped(list.len(), visible);
            let rows = list
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
