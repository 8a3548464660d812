//! An institution in full: its counts, the policy of each of its regions (`e` edits the
//! selected one), its API keys (`K` creates one, `D` revokes the selected one; admins only) and
//! its templates with their assets. Enter shows its positions; Esc there comes back here.

use super::{Cx, Data, Dcx, Request, View};
use crate::domain::apikey::ApiKey;
use crate::domain::ledger::LedgerEvent;
use crate::domain::{EntityType, Region, time};
use crate::service::{InstitutionDetail as Fetched, PositionFilter};
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::{Cmd, Loaded, Submitted};
use crate::tui::nav::Detail;
use crate::tui::popups::{Confirm, Confirmed, Popup, form};
use crate::tui::widgets::{
    Columns, Sel, cut_lines, date, empty, group, kv, money_width, s, section, short,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

pub struct InstitutionDetail {
    detail: Detail,
    pub shown: Option<Fetched>,
    /// One row per region's policy, then one per API key.
    pub sel: Sel,
}

impl InstitutionDetail {
    pub fn new(id: String) -> Self {
        InstitutionDetail {
            detail: Detail::Institution(id),
            shown: None,
            sel: Sel::default(),
        }
    }

    fn id(&self) -> &str {
        self.detail.id()
    }

    /// Selectable rows: one per region's policy, then one per key.
    fn rows(&self) -> usize {
        self.shown
            .as_ref()
            .map(|d| d.institution.regions.len() + d.keys.as_ref().map_or(0, |k| k.len()))
            .unwrap_or(0)
    }

    /// The policy-grid region selected.
    fn selected_region(&self) -> Option<Region> {
        let d = self.shown.as_ref()?;
        d.institution.regions.get(self.sel.selected).copied()
    }

    /// The API key row selected.
    fn selected_key(&self) -> Option<&ApiKey> {
        let d = self.shown.as_ref()?;
        let i = self.sel.selected.checked_sub(d.institution.regions.len())?;
        d.keys.as_ref()?.get(i)
    }
}

impl View for InstitutionDetail {
    fn context(&self) -> Context {
        Context::InstitutionDetail
    }

    fn crumb(&self, cx: &Dcx) -> Option<String> {
        Some(cx.data.institution_name(self.id()))
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        let n = self.rows();
        match a {
            Action::Up => self.sel.step(-1, n, n.max(1)),
            Action::Down => self.sel.step(1, n, n.max(1)),
            Action::PageUp | Action::Top => self.sel.step(-(n as isize), n, n.max(1)),
            Action::PageDown | Action::Bottom => self.sel.step(n as isize, n, n.max(1)),
            Action::Open => cx.out.push(Request::Drill(PositionFilter {
                institution_id: Some(self.id().to_string()),
                ..Default::default()
            })),
            Action::NewKey => {
                // (the router has refused it to sessions that do not manage keys)
                let Some(d) = &self.shown else { return };
                let f = form::api_key_form(&d.institution.id, &d.institution.name);
                cx.popup(Popup::Form(Box::new(f)));
            }
            Action::RevokeKey => match self.selected_key() {
                Some(key) if key.revoked_at.is_some() => {
                    cx.info(format!("API key {} is already revoked", key.id))
                }
                Some(key) => {
                    let mut body = vec![
                        format!("{} · {} · {}", key.label, key.role, key.id),
                        "Anyone using this key loses access at once. This cannot be undone.".into(),
                    ];
                    if cx.session.key_id.as_deref() == Some(key.id.as_str()) {
                        body.push(
                            "This is the key of this session: revoking it ends this session, \
                             and the console returns to its sign-in screen."
                                .into(),
                        );
                    }
                    let c =
                        Confirm::new("Revoke API key?", body, Confirmed::Revoke(key.id.clone()));
                    cx.popup(Popup::Confirm(c));
                }
                None => cx.error("select an API key row first"),
            },
            Action::EditPolicy => match (self.selected_region(), &self.shown) {
                (Some(region), Some(d)) => {
                    let existing = d.policies.iter().find(|p| p.region == region);
                    let f = form::policy_form(self.id(), region, existing);
                    cx.popup(Popup::Form(Box::new(f)));
                }
                _ => cx.error("select a region row of the policy grid first"),
            },
            _ => {}
        }
    }

    fn on_loaded(&mut self, l: &Loaded, cx: &mut Cx) {
        match l {
            Loaded::InstitutionDetail { id, result } if id == self.id() => match result {
                Ok(d) => {
                    self.shown = Some(d.clone());
                    let n = self.rows();
                    self.sel.clamp(n, n.max(1));
                }
                Err(e) => {
                    if self.shown.is_none() {
                        cx.out.push(Request::CloseDetail);
                    }
                    cx.service_error("loading the institution", e)
                }
            },
            Loaded::Submitted(Ok(Submitted::ApiKey(_) | Submitted::Policy(_))) => self.refresh(cx),
            Loaded::Revoked(Ok(o)) if !o.already_revoked => self.refresh(cx),
            _ => {}
        }
    }

    fn on_event(&mut self, e: &LedgerEvent, cx: &mut Cx) {
        let touches = matches!(
            e.entity_type,
            EntityType::Policy | EntityType::ApiKey | EntityType::AssetTemplate | EntityType::Asset
        );
        if e.institution_id == self.id() && touches {
            self.refresh(cx);
        }
    }

    fn refresh(&mut self, cx: &mut Cx) {
        cx.cmd(Cmd::LoadInstitutionDetail(self.id().to_string()));
    }

    fn selected_id(&self, _data: &Data) -> Option<String> {
        Some(
            self.selected_key()
                .map(|k| k.id.clone())
                .unwrap_or_else(|| self.id().to_string()),
        )
    }

    fn institution_focus(&self) -> Option<&str> {
        Some(self.id())
    }

    fn detail(&self) -> Option<&Detail> {
        Some(&self.detail)
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let theme = cx.theme;
        let Some(d) = &self.shown else {
            return empty(f, theme, area, "Loading the institution…");
        };
        let i = &d.institution;
        let regions = i.regions.len() as u16;
        let keys_n = d.keys.as_ref().map(|k| k.len()).unwrap_or(0) as u16;
        let [info, pol, keys, rest] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Length(regions + 2),
            Constraint::Length((keys_n + 2).max(3)),
            Constraint::Min(0),
        ])
        .areas(area);
        let joined = |v: Vec<&str>| v.join(", ");
        f.render_widget(
            Paragraph::new(cut_lines(
                vec![
                    kv(theme, "Id", i.id.clone()),
                    kv(
                        theme,
                        "Regions · verticals",
                        format!(
                            "{} · {}",
                            joined(i.regions.iter().map(|r| r.as_str()).collect()),
                            joined(i.verticals.iter().map(|v| v.as_str()).collect())
                        ),
                    ),
                    kv(
                        theme,
                        "Templates · assets",
                        format!(
                            "{} · {} · {} positions",
                            d.summary.templates,
                            d.summary.assets,
                            group(d.summary.positions as u64)
                        ),
                    ),
                    kv(theme, "Created", time::format(&i.created_at)),
                ],
                info.width,
            )),
            info,
        );
        let sel = self.sel.selected;
        let money = |v: Option<crate::domain::Money>| {
            v.map(|m| m.display_grouped()).unwrap_or_else(|| "—".into())
        };
        let policy_of = |r: &crate::domain::Region| {
            d.policies
                .iter()
                .find(|p| p.region == *r)
                .map(|p| &p.config.position)
        };
        // The amounts are never cut: their columns fit the widest of them.
        let amounts: Vec<String> = i
            .regions
            .iter()
            .flat_map(|r| {
                let p = policy_of(r);
                [
                    money(p.and_then(|p| p.min_amount)),
                    money(p.and_then(|p| p.max_amount)),
                ]
            })
            .collect();
        let amount_w = money_width("MIN AMOUNT", amounts.iter().map(String::as_str));
        let pol_widths = [
            Constraint::Length(8),
            Constraint::Length(amount_w),
            Constraint::Length(amount_w),
            Constraint::Fill(1),
        ];
        let pol_cols = Columns::new(pol, &pol_widths);
        let pol_rows: Vec<Row> = i
            .regions
            .iter()
            .enumerate()
            .map(|(n, r)| {
                let p = policy_of(r);
                let row = pol_cols.row(vec![
                    Line::from(r.as_str()),
                    Line::from(money(p.and_then(|p| p.min_amount))).right_aligned(),
                    Line::from(money(p.and_then(|p| p.max_amount))).right_aligned(),
                    Line::from(match p.and_then(|p| p.allowed_currencies.as_ref()) {
                        None if p.is_none() => "no policy: any amount, any currency".to_string(),
                        None => "any".to_string(),
                        Some(v) if v.is_empty() => "none (blocked)".to_string(),
                        Some(v) => v.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" "),
                    }),
                ]);
                if n == sel {
                    row.style(theme.selected())
                } else {
                    row
                }
            })
            .collect();
        let ctx = Context::InstitutionDetail;
        f.render_widget(
            Table::new(pol_rows, pol_widths)
                .header(
                    pol_cols.header(theme, &["REGION", "MIN AMOUNT", "MAX AMOUNT", "CURRENCIES"]),
                )
                .block(section(if cx.session.may(ctx, Action::EditPolicy) {
                    format!(
                        "Policies ({} edits the selected region)",
                        cx.key(ctx, Action::EditPolicy)
                    )
                } else {
                    "Policies".to_string()
                })),
            pol,
        );
        match &d.keys {
            None => f.render_widget(
                Paragraph::new(Span::styled(
                    "API keys are visible to admins only.",
                    theme.muted(),
                ))
                .block(section("API keys")),
                keys,
            ),
            Some(list) => {
                let base = i.regions.len();
                let key_widths = [
                    Constraint::Fill(1),
                    Constraint::Length(9),
                    Constraint::Length(if area.width >= 120 { 39 } else { 14 }),
                    Constraint::Length(10),
                    Constraint::Length(18),
                ];
                let key_cols = Columns::new(keys, &key_widths);
                let rows: Vec<Row> = list
                    .iter()
                    .enumerate()
                    .map(|(n, k)| {
                        let row = key_cols.row(vec![
                            Line::from(s(&k.label)),
                            Line::from(k.role.as_str()),
                            Line::from(if area.width >= 120 {
                                k.id.clone()
                            } else {
                                short(&k.id)
                            }),
                            Line::from(date(&k.created_at)),
                            Line::from(match &k.revoked_at {
                                Some(t) => {
                                    Span::styled(format!("revoked {}", date(t)), theme.error())
                                }
                                None => Span::styled("active", theme.ok()),
                            }),
                        ]);
                        if base + n == sel {
                            row.style(theme.selected())
                        } else {
                            row
                        }
                    })
                    .collect();
                let new = cx.key(ctx, Action::NewKey);
                let title = if !cx.session.may(ctx, Action::NewKey) {
                    if list.is_empty() {
                        "API keys — none".to_string()
                    } else {
                        "API keys".to_string()
                    }
                } else if list.is_empty() {
                    format!("API keys — none yet ({new} creates one)")
                } else {
                    format!(
                        "API keys ({new} new, {} revoke)",
                        cx.key(ctx, Action::RevokeKey)
                    )
                };
                f.render_widget(
                    Table::new(rows, key_widths)
                        .header(
                            key_cols.header(theme, &["LABEL", "ROLE", "ID", "CREATED", "STATUS"]),
                        )
                        .block(section(title)),
                    keys,
                );
            }
        }
        let mut lines: Vec<Line> = Vec::new();
        for t in &d.templates {
            let assets: Vec<String> = d
                .assets
                .iter()
                .filter(|a| a.template_id == t.id)
                .map(|a| s(&a.label))
                .collect();
            lines.push(Line::from(vec![
                Span::styled(format!("{:<17}", t.code.as_str()), theme.muted()),
                Span::raw(format!("{} ({})", s(&t.name), t.region)),
                Span::styled(format!("  {}", assets.join(" · ")), theme.muted()),
            ]));
        }
        f.render_widget(
            Paragraph::new(cut_lines(lines, area.width))
                .block(section("Templates and their assets")),
            rest,
        );
    }
}
