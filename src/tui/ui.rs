//! Drawing: a pure function of the app state. Every piece of text that came from the database goes
//! through `text::sanitize`, so control characters and escape sequences never reach the terminal.

use super::app::{
    App, Level, MIN_HEIGHT, MIN_WIDTH, Popup, Tab, TransitionDialog, View, short, sort_key_label,
};
use super::form::{Form, Input};
use super::keymap::{Context, keys_text};
use crate::domain::ledger::LedgerEvent;
use crate::domain::template::config_fields;
use crate::domain::text::sanitize;
use crate::domain::{Position, PositionState, time};
use crate::service::PositionSortKey;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, Wrap,
};

fn s(x: &str) -> String {
    sanitize(x).into_owned()
}

/// The tab bar's titles, as drawn (also used to map mouse clicks to tabs).
fn tab_labels() -> Vec<String> {
    Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| format!(" {} {} ", i + 1, t.title()))
        .collect()
}

/// The tab under a column of the tab bar.
pub fn tab_at(column: u16) -> Option<Tab> {
    let mut x = 0u16;
    for (i, l) in tab_labels().iter().enumerate() {
        let w = l.chars().count() as u16;
        if column >= x && column < x + w {
            return Some(Tab::ALL[i]);
        }
        x += w + 1;
    }
    None
}

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if app.too_small() {
        let msg = Paragraph::new(vec![
            Line::from(Span::styled("Terminal too small", app.theme.error())),
            Line::from(format!(
                "{}×{} — EscrowGrid needs at least {MIN_WIDTH}×{MIN_HEIGHT}.",
                area.width, area.height
            )),
            Line::from("Enlarge the window, or press q to quit."),
        ])
        .wrap(Wrap { trim: true });
        f.render_widget(msg, area);
        return;
    }
    let [tabs, crumb, body, hints, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(f, app, tabs);
    draw_breadcrumb(f, app, crumb);
    match app.stack.last() {
        Some(View::Position(id)) => draw_position_detail(f, app, body, id),
        Some(View::Institution(id)) => draw_institution_detail(f, app, body, id),
        Some(View::Template(id)) => draw_template_detail(f, app, body, id),
        Some(View::Asset(id)) => draw_asset_detail(f, app, body, id),
        None => match app.tab {
            Tab::Institutions => draw_institutions(f, app, body),
            Tab::Assets => draw_assets(f, app, body),
            Tab::Positions => draw_positions(f, app, body),
            Tab::Ledger if app.ledger.audit_mode => draw_audit(f, app, body),
            Tab::Ledger => draw_ledger(f, app, body),
            Tab::Health => draw_health(f, app, body),
        },
    }
    draw_hints(f, app, hints);
    draw_status(f, app, status);
    if let Some(p) = &app.popup {
        draw_popup(f, app, p, area, hints);
    }
}

fn draw_tabs(f: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    for (i, l) in tab_labels().into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("│", app.theme.muted()));
        }
        let style = if Tab::ALL[i] == app.tab {
            app.theme.selected()
        } else {
            Style::default()
        };
        spans.push(Span::styled(l, style));
    }
    let title = " EscrowGrid ";
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let pad = (area.width as usize).saturating_sub(used + title.len());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(title, app.theme.accent()));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn view_label(app: &App, v: &View) -> String {
    match v {
        View::Position(id) => short(id),
        View::Institution(id) => s(&app.institution_name(id)),
        View::Template(id) => app
            .templates
            .iter()
            .find(|t| &t.id == id)
            .map(|t| s(&t.name))
            .unwrap_or_else(|| short(id)),
        View::Asset(id) => s(&app.asset_label(id)),
    }
}

fn draw_breadcrumb(f: &mut Frame, app: &App, area: Rect) {
    let mut parts = vec![Span::styled(app.tab.title(), app.theme.accent())];
    if app.tab == Tab::Assets && app.stack.is_empty() {
        parts.push(Span::raw(if app.assets_mode_templates {
            " › Templates"
        } else {
            " › Assets"
        }));
    }
    if app.tab == Tab::Ledger && app.stack.is_empty() && app.ledger.audit_mode {
        parts.push(Span::raw(" › Audit trail"));
    }
    for v in &app.stack {
        parts.push(Span::styled(" › ", app.theme.muted()));
        parts.push(Span::raw(view_label(app, v)));
    }
    if app.stack.is_empty() {
        let extra = match app.tab {
            Tab::Positions => positions_summary(app),
            Tab::Ledger if !app.ledger.audit_mode => ledger_summary(app),
            _ => String::new(),
        };
        if !extra.is_empty() {
            parts.push(Span::styled(format!("   {extra}"), app.theme.muted()));
        }
    }
    f.render_widget(Paragraph::new(Line::from(parts)), area);
}

fn positions_summary(app: &App) -> String {
    let p = &app.positions;
    let mut bits = Vec::new();
    if let Some(st) = p.filter.state {
        bits.push(format!("state={st}"));
    }
    if let Some(i) = &p.filter.institution_id {
        bits.push(format!("institution={}", s(&app.institution_name(i))));
    }
    if let Some(t) = &p.filter.template_id {
        let name = app
            .templates
            .iter()
            .find(|x| &x.id == t)
            .map(|x| s(&x.name))
            .unwrap_or_else(|| short(t));
        bits.push(format!("template={name}"));
    }
    if let Some(a) = &p.filter.asset_id {
        bits.push(format!("asset={}", s(&app.asset_label(a))));
    }
    if let Some(t) = &p.filter.text {
        bits.push(format!("/{}", s(t)));
    }
    bits.push(format!(
        "sort {} {}",
        sort_key_label(p.sort),
        if p.descending { "▼" } else { "▲" }
    ));
    let pos = match (p.total, p.base_index) {
        (Some(t), Some(b)) if !p.rows.is_empty() => format!(
            "row {} of {}",
            group(b + p.sel.selected as u64 + 1),
            group(t as u64)
        ),
        (Some(t), _) => format!("{} positions", group(t as u64)),
        _ => String::new(),
    };
    bits.push(pos);
    if p.loading.is_some() {
        bits.push("loading…".into());
    }
    bits.join("  ")
}

fn ledger_summary(app: &App) -> String {
    let l = &app.ledger;
    let mut bits = Vec::new();
    if let Some(k) = l.kind {
        bits.push(format!("kind={k}"));
    }
    if let Some(p) = &l.position {
        bits.push(format!("position={}", short(p)));
    }
    bits.push(if l.follow {
        "● following".to_string()
    } else if l.unseen > 0 {
        format!("‖ paused — {} new events (G to return)", l.unseen)
    } else {
        "‖ paused (f or G to follow)".to_string()
    });
    bits.join("  ")
}

fn group(n: u64) -> String {
    crate::domain::text::group_digits(&n.to_string())
}

fn header<'a>(app: &App, cols: &[&'a str]) -> Row<'a> {
    Row::new(cols.iter().map(|c| Cell::from(*c))).style(app.theme.header())
}

/// A table of the visible slice of rows, with the selected one highlighted.
fn table<'a>(
    app: &App,
    header_row: Row<'a>,
    rows: Vec<Row<'a>>,
    selected: Option<usize>,
    widths: Vec<Constraint>,
) -> Table<'a> {
    let rows: Vec<Row> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            if Some(i) == selected {
                r.style(app.theme.selected())
            } else {
                r
            }
        })
        .collect();
    Table::new(rows, widths)
        .header(header_row)
        .column_spacing(1)
}

fn empty(f: &mut Frame, app: &App, area: Rect, text: &str) {
    let [_, line] = Layout::vertical([Constraint::Length(1), Constraint::Length(3)]).areas(area);
    f.render_widget(
        Paragraph::new(Span::styled(text.to_string(), app.theme.muted())),
        line,
    );
}

fn date(t: &time::Timestamp) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn datetime(t: &time::Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn draw_institutions(f: &mut Frame, app: &App, area: Rect) {
    if app.institutions.is_empty() {
        return empty(
            f,
            app,
            area,
            "No institutions yet. Press n to create one, or run `escrowgrid seed --demo`.",
        );
    }
    let sel = app.inst_sel;
    let visible = area.height.saturating_sub(1) as usize;
    let rows = app
        .institutions
        .iter()
        .skip(sel.offset)
        .take(visible)
        .map(|i| {
            let sm = app.summaries.get(&i.id);
            let n = |v: Option<i64>| v.map(|x| group(x as u64)).unwrap_or_else(|| "…".into());
            Row::new(vec![
                Cell::from(s(&i.name)),
                Cell::from(
                    i.regions
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                Cell::from(
                    i.verticals
                        .iter()
                        .map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                Cell::from(n(sm.map(|x| x.templates))),
                Cell::from(n(sm.map(|x| x.assets))),
                Cell::from(n(sm.map(|x| x.positions))),
                Cell::from(date(&i.created_at)),
            ])
        })
        .collect();
    let t = table(
        app,
        header(
            app,
            &[
                "NAME",
                "REGIONS",
                "VERTICALS",
                "TMPL",
                "ASSETS",
                "POSITIONS",
                "CREATED",
            ],
        ),
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

fn draw_assets(f: &mut Frame, app: &App, area: Rect) {
    let visible = area.height.saturating_sub(1) as usize;
    if app.assets_mode_templates {
        if app.templates.is_empty() {
            return empty(
                f,
                app,
                area,
                "No templates yet. Press n to create one (m switches to assets).",
            );
        }
        let sel = app.tmpl_sel;
        let rows = app
            .templates
            .iter()
            .skip(sel.offset)
            .take(visible)
            .map(|t| {
                let cfg = config_summary(&t.config, t.code);
                Row::new(vec![
                    Cell::from(s(&t.name)),
                    Cell::from(t.code.as_str()),
                    Cell::from(t.region.as_str()),
                    Cell::from(s(&app.institution_name(&t.institution_id))),
                    Cell::from(cfg),
                ])
            })
            .collect();
        let tb = table(
            app,
            header(
                app,
                &["TEMPLATE", "CODE", "REGION", "INSTITUTION", "CONFIG"],
            ),
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
        if app.assets.is_empty() {
            return empty(
                f,
                app,
                area,
                "No assets yet. Press n to create one (m switches to templates).",
            );
        }
        let sel = app.asset_sel;
        let rows = app
            .assets
            .iter()
            .skip(sel.offset)
            .take(visible)
            .map(|a| {
                let t = app.templates.iter().find(|t| t.id == a.template_id);
                Row::new(vec![
                    Cell::from(s(&a.label)),
                    Cell::from(
                        t.map(|t| s(&t.name))
                            .unwrap_or_else(|| short(&a.template_id)),
                    ),
                    Cell::from(t.map(|t| t.code.as_str()).unwrap_or("")),
                    Cell::from(s(&app.institution_name(&a.institution_id))),
                    Cell::from(date(&a.created_at)),
                ])
            })
            .collect();
        let tb = table(
            app,
            header(
                app,
                &["ASSET", "TEMPLATE", "CODE", "INSTITUTION", "CREATED"],
            ),
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

/// Splits `text` into spans, highlighting case-insensitive matches of `needle`.
fn highlighted<'a>(text: String, needle: Option<&str>, style: Style) -> Line<'a> {
    let Some(n) = needle.filter(|n| !n.is_empty()) else {
        return Line::from(text);
    };
    let lower = text.to_ascii_lowercase();
    let n = n.to_ascii_lowercase();
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(pos) = lower[i..].find(&n) {
        let start = i + pos;
        let end = start + n.len();
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            break;
        }
        if start > i {
            spans.push(Span::raw(text[i..start].to_string()));
        }
        spans.push(Span::styled(text[start..end].to_string(), style));
        i = end;
    }
    spans.push(Span::raw(text[i..].to_string()));
    Line::from(spans)
}

fn state_badge(app: &App, st: PositionState) -> Span<'static> {
    Span::styled(st.as_str().to_string(), app.theme.state(st))
}

fn draw_positions(f: &mut Frame, app: &App, area: Rect) {
    let p = &app.positions;
    if p.rows.is_empty() {
        let msg = if !p.loaded_once || p.loading.is_some() {
            "Loading positions…".to_string()
        } else if p.filter != Default::default() {
            "No positions match the filters. x clears them.".to_string()
        } else {
            "No positions yet. Press n to create one.".to_string()
        };
        return empty(f, app, area, &msg);
    }
    let wide = area.width >= 140;
    let visible = area.height.saturating_sub(1) as usize;
    let needle = p.filter.text.as_deref();
    let hl = app.theme.matched();
    let today = chrono::Utc::now().date_naive();
    let arrow = |keys: &[PositionSortKey], name: &'static str| -> String {
        match keys.iter().find(|k| **k == p.sort) {
            Some(PositionSortKey::Currency) => {
                format!("{name} by CCY{}", if p.descending { "▼" } else { "▲" })
            }
            Some(_) => format!("{name}{}", if p.descending { "▼" } else { "▲" }),
            None => name.to_string(),
        }
    };
    // Ids are time-ordered, so their distinctive part is the tail: a short id at every width
    // (the whole id is in the detail), and the room goes to the names.
    let mut head = vec![arrow(&[PositionSortKey::Created], "ID")];
    let mut widths = vec![Constraint::Length(10)];
    if wide {
        head.push(arrow(&[PositionSortKey::Institution], "INSTITUTION"));
        head.push(arrow(&[PositionSortKey::Asset], "ASSET"));
        widths.push(Constraint::Fill(2));
        widths.push(Constraint::Fill(2));
    }
    head.push(arrow(&[PositionSortKey::Holder], "HOLDER"));
    widths.push(Constraint::Fill(2));
    head.push(arrow(
        &[PositionSortKey::Amount, PositionSortKey::Currency],
        "AMOUNT",
    ));
    widths.push(Constraint::Length(22));
    head.push(arrow(&[PositionSortKey::State], "STATE"));
    widths.push(Constraint::Length(18));
    if wide {
        head.push("EXT REF".into());
        widths.push(Constraint::Fill(1));
    }
    head.push(arrow(&[PositionSortKey::Updated], "UPDATED"));
    widths.push(Constraint::Length(if wide { 19 } else { 8 }));
    // The columns' widths as the table will lay them out, so a cut text can end in "…".
    let cols: Vec<usize> = Layout::horizontal(widths.clone())
        .spacing(1)
        .split(area)
        .iter()
        .map(|r| r.width as usize)
        .collect();
    // Column indexes (wide: id, institution, asset, holder, amount, state, ext ref, updated).
    const ID: usize = 0;
    const INST: usize = 1;
    const ASSET: usize = 2;
    const EXT_REF: usize = 6;
    let holder = if wide { 3 } else { 1 };
    let fit =
        |text: String, col: usize| ellipsize(&text, cols.get(col).copied().unwrap_or(usize::MAX));
    let rows = p
        .rows
        .iter()
        .skip(p.sel.offset)
        .take(visible)
        .map(|r| {
            let id = format!("…{}", &r.id[r.id.len().saturating_sub(8)..]);
            let mut cells = vec![Cell::from(highlighted(fit(id, ID), needle, hl))];
            if wide {
                cells.push(Cell::from(fit(
                    s(&app.institution_name(&r.institution_id)),
                    INST,
                )));
                cells.push(Cell::from(fit(s(&app.asset_label(&r.asset_id)), ASSET)));
            }
            cells.push(Cell::from(highlighted(
                fit(s(&r.holder_reference), holder),
                needle,
                hl,
            )));
            cells.push(Cell::from(
                Line::from(format!("{} {}", r.amount.display_grouped(), r.currency))
                    .right_aligned(),
            ));
            cells.push(Cell::from(state_badge(app, r.state)));
            if wide {
                cells.push(Cell::from(highlighted(
                    fit(
                        r.external_reference.as_deref().map(s).unwrap_or_default(),
                        EXT_REF,
                    ),
                    needle,
                    hl,
                )));
            }
            let updated = if wide {
                datetime(&r.updated_at)
            } else if r.updated_at.date_naive() == today {
                r.updated_at.format("%H:%M").to_string()
            } else {
                r.updated_at.format("%m-%d").to_string()
            };
            cells.push(Cell::from(updated));
            Row::new(cells)
        })
        .collect();
    let header_row = Row::new(head.into_iter().map(Cell::from)).style(app.theme.header());
    let t = table(
        app,
        header_row,
        rows,
        Some(p.sel.selected - p.sel.offset),
        widths,
    );
    f.render_widget(t, area);
}

fn ledger_detail(e: &LedgerEvent) -> String {
    use crate::domain::payloads::Payload;
    let txt = match e.typed() {
        Some(Payload::PositionStateChanged(t)) => format!(
            "{} → {}{}",
            t.from_state,
            t.to_state,
            t.reason.map(|r| format!("  “{r}”")).unwrap_or_default()
        ),
        Some(Payload::PositionCreated(p)) => format!(
            "{} {} · {}",
            p.amount.display_grouped(),
            p.currency,
            p.holder_reference
        ),
        Some(Payload::PolicyUpserted(p)) => format!("policy {}", p.region),
        Some(_) => e.summary(),
        None => String::new(),
    };
    s(&txt)
}

fn draw_ledger(f: &mut Frame, app: &App, area: Rect) {
    let l = &app.ledger;
    if l.events.is_empty() {
        let msg = if l.loaded {
            "No ledger events yet: every change will appear here as it commits."
        } else {
            "Loading the ledger…"
        };
        return empty(f, app, area, msg);
    }
    let wide = area.width >= 140;
    let visible = area.height.saturating_sub(1) as usize;
    let rows = l
        .events
        .iter()
        .skip(l.sel.offset)
        .take(visible)
        .map(|e| {
            let mut cells = vec![
                Cell::from(Line::from(e.seq.to_string()).right_aligned()),
                Cell::from(if wide {
                    time::format(&e.at)
                } else {
                    e.at.format("%H:%M:%S%.3f").to_string()
                }),
                Cell::from(e.kind.as_str()),
                Cell::from(if wide {
                    e.entity_id.clone()
                } else {
                    short(&e.entity_id)
                }),
                Cell::from(ledger_detail(e)),
            ];
            if wide {
                cells.push(Cell::from(Span::styled(
                    e.hash[..16].to_string(),
                    app.theme.muted(),
                )));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(7),
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
        app,
        header(app, &cols),
        rows,
        Some(l.sel.selected - l.sel.offset),
        widths,
    );
    f.render_widget(t, area);
}

fn draw_audit(f: &mut Frame, app: &App, area: Rect) {
    let l = &app.ledger;
    if l.audit.is_empty() {
        return empty(f, app, area, "No audit records visible to you yet.");
    }
    let wide = area.width >= 120;
    let visible = area.height.saturating_sub(1) as usize;
    let rows = l
        .audit
        .iter()
        .skip(l.audit_sel.offset)
        .take(visible)
        .map(|a| {
            let outcome = match a.outcome {
                crate::domain::Outcome::Success => Span::styled("success", app.theme.ok()),
                crate::domain::Outcome::Failure => Span::styled("FAILURE", app.theme.error()),
            };
            // A failure's reason matters more than the id it concerned.
            let detail = match (&a.error, &a.resource_id) {
                (Some(e), _) => {
                    Span::styled(s(&format!("{}: {}", e.code, e.message)), app.theme.error())
                }
                (None, Some(r)) => Span::raw(if wide { r.clone() } else { short(r) }),
                (None, None) => Span::raw(""),
            };
            Row::new(vec![
                Cell::from(if wide {
                    datetime(&a.occurred_at)
                } else {
                    a.occurred_at.format("%m-%d %H:%M:%S").to_string()
                }),
                Cell::from(s(&a.actor)),
                Cell::from(s(&a.action)),
                Cell::from(outcome),
                Cell::from(detail),
            ])
        })
        .collect();
    let t = table(
        app,
        header(
            app,
            &["AT", "ACTOR", "ACTION", "OUTCOME", "RESOURCE / ERROR"],
        ),
        rows,
        Some(l.audit_sel.selected - l.audit_sel.offset),
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

fn kv<'a>(app: &App, k: &str, v: impl Into<Span<'a>>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{k:<20}"), app.theme.muted()),
        v.into(),
    ])
}

fn draw_position_detail(f: &mut Frame, app: &App, area: Rect, id: &str) {
    let Some((d, ledger)) = app
        .position_detail
        .as_ref()
        .filter(|(d, _)| d.position.id == id)
    else {
        return empty(f, app, area, "Loading the position…");
    };
    let p = &d.position;
    let wide = area.width >= 120;
    let [top, rest] = Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(area);
    let allowed = crate::domain::lifecycle::allowed_targets(p.state);
    let next = if allowed.is_empty() {
        "none: terminal state".to_string()
    } else {
        allowed
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let info = vec![
        kv(app, "Id", p.id.clone()),
        Line::from(vec![
            Span::styled(format!("{:<20}", "State"), app.theme.muted()),
            state_badge(app, p.state),
            Span::styled(format!("   next: {next}"), app.theme.muted()),
        ]),
        kv(
            app,
            "Amount",
            format!("{} {}", p.amount.display_grouped(), p.currency),
        ),
        kv(app, "Holder reference", s(&p.holder_reference)),
        kv(
            app,
            "External reference",
            p.external_reference
                .as_deref()
                .map(s)
                .unwrap_or_else(|| "—".into()),
        ),
        kv(
            app,
            "Institution",
            format!(
                "{} ({})",
                s(&app.institution_name(&p.institution_id)),
                short(&p.institution_id)
            ),
        ),
        kv(
            app,
            "Asset",
            format!(
                "{} ({})",
                s(&app.asset_label(&p.asset_id)),
                short(&p.asset_id)
            ),
        ),
        kv(
            app,
            "Created / updated",
            format!(
                "{} / {}  (version {})",
                time::format(&p.created_at),
                time::format(&p.updated_at),
                p.version
            ),
        ),
    ];
    f.render_widget(Paragraph::new(info), top);
    let (tl_area, led_area) = if wide {
        let [a, b] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
            .areas(rest);
        (a, b)
    } else {
        let [a, b] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(rest);
        (a, b)
    };
    let mut tl = vec![Line::from(vec![
        Span::styled(datetime(&p.created_at), app.theme.muted()),
        Span::raw("  created  "),
        state_badge(app, PositionState::Created),
    ])];
    for e in &d.events {
        let mut spans = vec![
            Span::styled(datetime(&e.at), app.theme.muted()),
            Span::raw("  "),
            state_badge(app, e.from_state),
            Span::raw(" → "),
            state_badge(app, e.to_state),
        ];
        if let Some(r) = &e.reason {
            spans.push(Span::raw(format!("  “{}”", s(r))));
        }
        tl.push(Line::from(spans));
    }
    let skip = tl
        .len()
        .saturating_sub(tl_area.height.saturating_sub(2) as usize);
    f.render_widget(
        Paragraph::new(tl.into_iter().skip(skip).collect::<Vec<_>>())
            .block(Block::default().borders(Borders::TOP).title(" Lifecycle ")),
        tl_area,
    );
    let rows: Vec<Row> = ledger
        .iter()
        .rev()
        .take(led_area.height.saturating_sub(2) as usize)
        .rev()
        .map(|e| {
            Row::new(vec![
                Cell::from(Line::from(e.seq.to_string()).right_aligned()),
                Cell::from(e.kind.as_str()),
                Cell::from(ledger_detail(e)),
                Cell::from(Span::styled(e.hash[..12].to_string(), app.theme.muted())),
            ])
        })
        .collect();
    let t = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Length(22),
            Constraint::Fill(1),
            Constraint::Length(12),
        ],
    )
    .header(header(app, &["SEQ", "KIND", "DETAIL", "HASH"]))
    .block(
        Block::default()
            .borders(Borders::TOP)
            .title(" Ledger events "),
    );
    f.render_widget(t, led_area);
}

fn draw_institution_detail(f: &mut Frame, app: &App, area: Rect, id: &str) {
    let Some(d) = app
        .institution_detail
        .as_ref()
        .filter(|d| d.institution.id == id)
    else {
        return empty(f, app, area, "Loading the institution…");
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
    f.render_widget(
        Paragraph::new(vec![
            kv(app, "Id", i.id.clone()),
            kv(
                app,
                "Regions · verticals",
                format!(
                    "{} · {}",
                    i.regions
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    i.verticals
                        .iter()
                        .map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            kv(
                app,
                "Templates · assets",
                format!(
                    "{} · {} · {} positions",
                    d.summary.templates,
                    d.summary.assets,
                    group(d.summary.positions as u64)
                ),
            ),
            kv(app, "Created", time::format(&i.created_at)),
        ]),
        info,
    );
    let sel = app.detail_sel.selected;
    let pol_rows: Vec<Row> = i
        .regions
        .iter()
        .enumerate()
        .map(|(n, r)| {
            let p = d
                .policies
                .iter()
                .find(|p| p.region == *r)
                .map(|p| &p.config.position);
            let m = |v: Option<crate::domain::Money>| {
                v.map(|m| m.display_grouped()).unwrap_or_else(|| "—".into())
            };
            let row = Row::new(vec![
                Cell::from(r.as_str()),
                Cell::from(Line::from(m(p.and_then(|p| p.min_amount))).right_aligned()),
                Cell::from(Line::from(m(p.and_then(|p| p.max_amount))).right_aligned()),
                Cell::from(match p.and_then(|p| p.allowed_currencies.as_ref()) {
                    None if p.is_none() => "no policy: any amount, any currency".to_string(),
                    None => "any".to_string(),
                    Some(v) if v.is_empty() => "none (blocked)".to_string(),
                    Some(v) => v.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" "),
                }),
            ]);
            if n == sel {
                row.style(app.theme.selected())
            } else {
                row
            }
        })
        .collect();
    f.render_widget(
        Table::new(
            pol_rows,
            [
                Constraint::Length(8),
                Constraint::Length(20),
                Constraint::Length(20),
                Constraint::Fill(1),
            ],
        )
        .header(header(
            app,
            &["REGION", "MIN AMOUNT", "MAX AMOUNT", "CURRENCIES"],
        ))
        .block(
            Block::default()
                .borders(Borders::TOP)
                .title(" Policies (e edits the selected region) "),
        ),
        pol,
    );
    match &d.keys {
        None => f.render_widget(
            Paragraph::new(Span::styled(
                "API keys are visible to admins only.",
                app.theme.muted(),
            ))
            .block(Block::default().borders(Borders::TOP).title(" API keys ")),
            keys,
        ),
        Some(list) => {
            let base = i.regions.len();
            let rows: Vec<Row> = list
                .iter()
                .enumerate()
                .map(|(n, k)| {
                    let row = Row::new(vec![
                        Cell::from(s(&k.label)),
                        Cell::from(k.role.as_str()),
                        Cell::from(if area.width >= 120 {
                            k.id.clone()
                        } else {
                            short(&k.id)
                        }),
                        Cell::from(date(&k.created_at)),
                        Cell::from(match &k.revoked_at {
                            Some(t) => {
                                Span::styled(format!("revoked {}", date(t)), app.theme.error())
                            }
                            None => Span::styled("active", app.theme.ok()),
                        }),
                    ]);
                    if base + n == sel {
                        row.style(app.theme.selected())
                    } else {
                        row
                    }
                })
                .collect();
            let title = if list.is_empty() {
                " API keys — none yet (K creates one) "
            } else {
                " API keys (K new, D revoke) "
            };
            f.render_widget(
                Table::new(
                    rows,
                    [
                        Constraint::Fill(1),
                        Constraint::Length(9),
                        Constraint::Length(if area.width >= 120 { 39 } else { 14 }),
                        Constraint::Length(10),
                        Constraint::Length(18),
                    ],
                )
                .header(header(app, &["LABEL", "ROLE", "ID", "CREATED", "STATUS"]))
                .block(Block::default().borders(Borders::TOP).title(title)),
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
            Span::styled(format!("{:<17}", t.code.as_str()), app.theme.muted()),
            Span::raw(format!("{} ({})", s(&t.name), t.region)),
            Span::styled(format!("  {}", assets.join(" · ")), app.theme.muted()),
        ]));
    }
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::TOP)
                .title(" Templates and their assets "),
        ),
        rest,
    );
}

fn draw_template_detail(f: &mut Frame, app: &App, area: Rect, id: &str) {
    let Some(t) = app.templates.iter().find(|t| t.id == id) else {
        return empty(
            f,
            app,
            area,
            "Template not found (it may be outside your institution).",
        );
    };
    let mut lines = vec![
        kv(app, "Id", t.id.clone()),
        kv(app, "Name", s(&t.name)),
        kv(
            app,
            "Institution",
            s(&app.institution_name(&t.institution_id)),
        ),
        kv(
            app,
            "Code · vertical",
            format!("{} · {}", t.code, t.vertical),
        ),
        kv(app, "Region", t.region.as_str()),
        kv(app, "Created", time::format(&t.created_at)),
        Line::from(""),
        Line::from(Span::styled("Configuration", app.theme.header())),
    ];
    let known = config_fields(t.code);
    for cf in known {
        let v = t
            .config
            .get(cf.key)
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_else(|| "—".into());
        lines.push(kv(app, cf.label, s(&v)));
    }
    if let Some(m) = t.config.as_object() {
        for (k, v) in m
            .iter()
            .filter(|(k, _)| !known.iter().any(|c| c.key == k.as_str()))
        {
            lines.push(kv(app, &s(k), s(&v.to_string())));
        }
    }
    let n = app.assets.iter().filter(|a| a.template_id == t.id).count();
    lines.push(Line::from(""));
    lines.push(kv(app, "Assets", n.to_string()));
    f.render_widget(Paragraph::new(lines), area);
}

fn draw_asset_detail(f: &mut Frame, app: &App, area: Rect, id: &str) {
    let Some(a) = app.assets.iter().find(|a| a.id == id) else {
        return empty(
            f,
            app,
            area,
            "Asset not found (it may be outside your institution).",
        );
    };
    let mut lines = vec![
        kv(app, "Id", a.id.clone()),
        kv(app, "Label", s(&a.label)),
        kv(
            app,
            "Institution",
            s(&app.institution_name(&a.institution_id)),
        ),
        kv(
            app,
            "Template",
            app.templates
                .iter()
                .find(|t| t.id == a.template_id)
                .map(|t| format!("{} ({})", s(&t.name), t.code))
                .unwrap_or_else(|| a.template_id.clone()),
        ),
        kv(app, "Created", time::format(&a.created_at)),
        Line::from(""),
        Line::from(Span::styled("Metadata", app.theme.header())),
    ];
    let pretty = serde_json::to_string_pretty(&a.metadata).unwrap_or_default();
    lines.extend(pretty.lines().map(|l| Line::from(s(l))));
    f.render_widget(Paragraph::new(lines), area);
}

fn fmt_uptime(secs: u64) -> String {
    format!(
        "{}h {:02}m {:02}s",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn draw_health(f: &mut Frame, app: &App, area: Rect) {
    let Some(h) = &app.health.report else {
        return empty(f, app, area, "Checking the store…");
    };
    let wide = area.width >= 120;
    let (left, right) = if wide {
        let [a, b] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(area);
        (a, b)
    } else {
        let [a, b] = Layout::vertical([Constraint::Length(13), Constraint::Min(4)]).areas(area);
        (a, b)
    };
    let connected = if h.connected {
        Span::styled("connected", app.theme.ok())
    } else {
        Span::styled(
            format!(
                "UNREACHABLE — {}",
                h.error.as_deref().map(s).unwrap_or_default()
            ),
            app.theme.error(),
        )
    };
    let head_seq = h.ledger_head.as_ref().map(|x| x.seq).unwrap_or(0);
    let last_seen = app.ledger.events.back().map(|e| e.seq).unwrap_or(0);
    let stream = match &app.stream {
        Some(crate::service::stream::StreamStatus::Live) => Span::styled(
            format!("live, lag {} events", (head_seq - last_seen).max(0)),
            app.theme.ok(),
        ),
        Some(crate::service::stream::StreamStatus::Reconnecting(e)) => {
            Span::styled(format!("reconnecting: {}", s(e)), app.theme.warn())
        }
        None => Span::styled("starting", app.theme.muted()),
    };
    let counts = h.counts.as_ref();
    let c = |f: fn(&crate::service::Counts) -> i64| {
        counts
            .map(|c| group(f(c) as u64))
            .unwrap_or_else(|| "—".into())
    };
    let mut lines = vec![
        kv(app, "Backend", format!("{}  {}", h.backend, s(&h.target))),
        Line::from(vec![
            Span::styled(format!("{:<20}", "Store"), app.theme.muted()),
            connected,
        ]),
        kv(
            app,
            "Ping",
            h.ping_ms
                .map(|p| format!("{p:.2} ms"))
                .unwrap_or_else(|| "—".into()),
        ),
        kv(
            app,
            "Pool",
            h.pool
                .as_ref()
                .map(|p| {
                    format!(
                        "{} in use, {} idle, max {}",
                        p.size.saturating_sub(p.idle),
                        p.idle,
                        p.max
                    )
                })
                .unwrap_or_else(|| "in-process".into()),
        ),
        kv(
            app,
            "Schema version",
            h.schema_version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "n/a".into()),
        ),
        kv(
            app,
            "Counts",
            format!(
                "{} inst · {} tmpl · {} assets · {} positions",
                c(|c| c.institutions),
                c(|c| c.templates),
                c(|c| c.assets),
                c(|c| c.positions)
            ),
        ),
        kv(
            app,
            "Ledger head",
            h.ledger_head
                .as_ref()
                .map(|x| {
                    format!(
                        "seq {} {}",
                        x.seq,
                        if x.hash.is_empty() {
                            String::new()
                        } else {
                            x.hash[..16].to_string() + "…"
                        }
                    )
                })
                .unwrap_or_else(|| "empty".into()),
        ),
        Line::from(vec![
            Span::styled(format!("{:<20}", "Stream"), app.theme.muted()),
            stream,
        ]),
        kv(
            app,
            "Events / minute",
            app.ledger.arrivals.len().to_string(),
        ),
        kv(app, "Uptime", fmt_uptime(app.started.elapsed().as_secs())),
        kv(app, "Operator", s(&h.operator)),
        kv(
            app,
            "Log file",
            h.log_file.as_deref().map(s).unwrap_or_else(|| "—".into()),
        ),
    ];
    if h.scoped {
        lines.push(Line::from(Span::styled(
            "Counts are limited to your institution.",
            app.theme.muted(),
        )));
    }
    f.render_widget(Paragraph::new(lines), left);
    let [spark, bars] = Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(right);
    let data: Vec<u64> = app.health.pings.iter().copied().collect();
    let max = data.iter().copied().max().unwrap_or(1);
    f.render_widget(
        Sparkline::default()
            .block(Block::default().borders(Borders::TOP).title(format!(
                " Ping, last {} checks (max {:.2} ms) ",
                data.len(),
                max as f64 / 1000.0
            )))
            .data(&data)
            .style(app.theme.ok()),
        spark,
    );
    if let Some(counts) = counts {
        let bar_data: Vec<Bar> = counts
            .positions_by_state
            .iter()
            .map(|(st, n)| {
                let label = match st {
                    PositionState::PartiallyReleased => "PART_REL".to_string(),
                    other => other.as_str().to_string(),
                };
                Bar::default()
                    .label(Line::from(label))
                    .value(*n as u64)
                    .style(app.theme.state(*st))
            })
            .collect();
        let width = ((bars.width as usize).saturating_sub(6) / 6).clamp(3, 12) as u16;
        f.render_widget(
            BarChart::default()
                .block(
                    Block::default()
                        .borders(Borders::TOP)
                        .title(" Positions by state "),
                )
                .data(BarGroup::default().bars(&bar_data))
                .bar_width(width)
                .bar_gap(1),
            bars,
        );
    }
}

fn draw_hints(f: &mut Frame, app: &App, area: Rect) {
    let ctx = app.context();
    let mut spans = Vec::new();
    let mut used = 0usize;
    use super::keymap::Action;
    let mut bindings = app.keymap.for_context(ctx, app.session.read_only);
    // Help first, so the way to every other key is always on screen; the ways back and to the
    // command line last, with their room kept, so a narrow screen drops the view's own keys
    // before those.
    bindings.sort_by_key(|b| b.action != Action::Help);
    let hints: Vec<(String, &str, bool)> = bindings
        .iter()
        .filter(|b| app.offers(b.action))
        .filter_map(|b| {
            let essential = matches!(b.action, Action::Back | Action::CommandLine);
            b.hint
                .map(|label| (keys_text(&b.keys[..1]), label, essential))
        })
        .collect();
    let width =
        |(key, label, _): &(String, &str, bool)| key.chars().count() + label.chars().count() + 3;
    let reserved: usize = hints.iter().filter(|h| h.2).map(width).sum();
    let room = (area.width as usize).saturating_sub(reserved);
    let mut shown: Vec<&(String, &str, bool)> = Vec::new();
    for h in hints.iter().filter(|h| !h.2) {
        if used + width(h) > room {
            break;
        }
        used += width(h);
        shown.push(h);
    }
    shown.extend(hints.iter().filter(|h| h.2));
    for (key, label, _) in shown {
        spans.push(Span::styled(key.clone(), app.theme.accent()));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_status(f: &mut Frame, app: &App, area: Rect) {
    let stream = match (&app.stream, app.ledger.follow) {
        (Some(crate::service::stream::StreamStatus::Reconnecting(_)), _) => {
            Span::styled("● reconnecting", app.theme.warn())
        }
        (None, _) => Span::styled("○ connecting", app.theme.muted()),
        (Some(_), false) if app.tab == Tab::Ledger => Span::styled("‖ paused", app.theme.warn()),
        (Some(_), _) => Span::styled("● live", app.theme.ok()),
    };
    let store = match &app.health.report {
        Some(h) if !h.connected => Span::styled(
            format!(" {} UNREACHABLE ", app.session.backend),
            app.theme.error(),
        ),
        _ => Span::styled(format!(" {} ", app.session.backend), app.theme.selected()),
    };
    let mut spans = vec![
        store,
        Span::raw(" "),
        Span::styled(app.session.operator.clone(), app.theme.accent()),
        Span::raw(if app.session.read_only {
            " (read-only) "
        } else {
            " "
        }),
        stream,
    ];
    if app.session.demo {
        spans.push(Span::styled(
            if app.sim_paused {
                "  demo ‖ paused"
            } else {
                "  demo ▶"
            },
            app.theme.muted(),
        ));
    }
    if let Some(m) = &app.status {
        spans.push(Span::raw("  "));
        let style = if m.level == Level::Error {
            app.theme.error()
        } else {
            Style::default()
        };
        let text = s(&m.text);
        spans.push(Span::styled(text, style));
        if m.level == Level::Error {
            spans.push(Span::styled("  (Esc dismisses)", app.theme.muted()));
        }
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn popup_block<'a>(app: &App, title: &str, error: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
        .border_style(if error {
            app.theme.error()
        } else {
            app.theme.accent()
        })
}

fn draw_popup(f: &mut Frame, app: &App, p: &Popup, area: Rect, bottom: Rect) {
    match p {
        Popup::Help(scroll) => draw_help(f, app, area, *scroll),
        Popup::Message { title, body, error } => {
            let width = body
                .iter()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(20)
                .max(title.len()) as u16
                + 6;
            let r = centered(area, width.max(40), body.len() as u16 + 4);
            f.render_widget(Clear, r);
            let mut lines: Vec<Line> = body.iter().map(|l| Line::from(s(l))).collect();
            lines.push(Line::from(Span::styled(
                "Enter/Esc close",
                app.theme.muted(),
            )));
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(popup_block(app, title, *error)),
                r,
            );
        }
        Popup::Confirm { title, body, .. } => {
            let width = body.iter().map(|l| l.chars().count()).max().unwrap_or(20) as u16 + 6;
            let r = centered(area, width.max(44), body.len() as u16 + 5);
            f.render_widget(Clear, r);
            let mut lines: Vec<Line> = body.iter().map(|l| Line::from(s(l))).collect();
            lines.push(Line::from(""));
            lines.push(Line::from(vec![
                Span::styled("y", app.theme.accent()),
                Span::raw(" yes   "),
                Span::styled("n", app.theme.accent()),
                Span::raw("/Esc no"),
            ]));
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(popup_block(app, title, false)),
                r,
            );
        }
        Popup::Form(form) => draw_form(f, app, form, area),
        Popup::Transition(d) => draw_transition(f, app, d, area),
        Popup::CommandLine(t) | Popup::Filter(t) => {
            f.render_widget(Clear, bottom);
            let prefix = if matches!(p, Popup::CommandLine(_)) {
                ":"
            } else {
                "/"
            };
            let [pre, input] =
                Layout::horizontal([Constraint::Length(1), Constraint::Min(1)]).areas(bottom);
            f.render_widget(
                Paragraph::new(Span::styled(prefix, app.theme.accent())),
                pre,
            );
            f.render_widget(t, input);
        }
        Popup::Picker {
            title,
            options,
            index,
            ..
        } => {
            let h = (options.len() as u16 + 2).min(area.height.saturating_sub(4));
            let r = centered(area, 44, h);
            f.render_widget(Clear, r);
            let inner_h = h.saturating_sub(2) as usize;
            let skip = index.saturating_sub(inner_h.saturating_sub(1));
            let lines: Vec<Line> = options
                .iter()
                .enumerate()
                .skip(skip)
                .take(inner_h)
                .map(|(i, (_, label))| {
                    let l = Line::from(format!(" {label}"));
                    if i == *index {
                        l.style(app.theme.selected())
                    } else {
                        l
                    }
                })
                .collect();
            f.render_widget(
                Paragraph::new(lines).block(popup_block(app, title, false)),
                r,
            );
        }
    }
}

fn draw_help(f: &mut Frame, app: &App, area: Rect, scroll: usize) {
    let r = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    f.render_widget(Clear, r);
    let ctx = app.context();
    let entries = help_entries(app);
    let key_w = entries
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(4);
    let inner_w = r.width.saturating_sub(2) as usize;
    let inner_h = r.height.saturating_sub(2) as usize;
    let columns = if inner_w >= 116 { 2 } else { 1 };
    let col_w = inner_w / columns;
    let per_col = entries.len().div_ceil(columns);
    let mut lines = Vec::new();
    for row in 0..per_col {
        let mut spans = Vec::new();
        for col in 0..columns {
            if let Some((k, h)) = entries.get(col * per_col + row) {
                let room = col_w.saturating_sub(key_w + 3);
                let help: String = h.chars().take(room).collect();
                spans.push(Span::styled(format!(" {k:>key_w$}  "), app.theme.accent()));
                spans.push(Span::raw(format!("{help:<room$}")));
            }
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "Commands (:)  positions state=S institution=NAME text=T sort=-amount · ledger pos_… kind=K · open ID · verify · audit · quit",
        app.theme.muted(),
    )));
    let body = inner_h.saturating_sub(1);
    let max_scroll = lines.len().saturating_sub(body);
    let scroll = scroll.min(max_scroll);
    let more = if max_scroll > 0 { "  (j/k scroll)" } else { "" };
    let shown: Vec<Line> = lines.into_iter().skip(scroll).take(body).collect();
    let title = format!("Keys — {}{more}", context_name(ctx));
    f.render_widget(
        Paragraph::new(shown)
            .wrap(Wrap { trim: false })
            .block(popup_block(app, &title, false)),
        r,
    );
}

/// Every key of the current view with what it does, from the key map itself.
pub fn help_entries(app: &App) -> Vec<(String, &'static str)> {
    app.keymap
        .for_context(app.context(), app.session.read_only)
        .into_iter()
        .filter(|b| b.action != super::keymap::Action::PauseSimulator || app.session.demo)
        .map(|b| (keys_text(&b.keys), b.help))
        .collect()
}

fn context_name(c: Context) -> &'static str {
    match c {
        Context::Global => "everywhere",
        Context::Institutions => "Institutions",
        Context::InstitutionDetail => "Institution detail",
        Context::Assets => "Assets",
        Context::Positions => "Positions",
        Context::PositionDetail => "Position detail",
        Context::Ledger => "Ledger",
        Context::Health => "Health",
    }
}

/// `text` cut to `max` characters, ending in `…` when cut.
fn ellipsize(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn draw_form(f: &mut Frame, app: &App, form: &Form, area: Rect) {
    // Labels get the room of the longest one (so none runs into its value), up to a third of
    // the form; an error takes the lines it needs under its field.
    let form_w = 86u16.min(area.width);
    let longest = form
        .fields
        .iter()
        .map(|x| x.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_w = (longest as u16 + 3).clamp(12, (form_w / 3).max(12));
    let error_lines = |x: &crate::tui::form::Field| -> u16 {
        let text_w = form_w.saturating_sub(2 + label_w + 2).max(10) as usize;
        x.error
            .as_ref()
            .map(|e| e.chars().count().div_ceil(text_w).max(1) as u16)
            .unwrap_or(0)
    };
    let heights: Vec<u16> = form
        .fields
        .iter()
        .map(|x| x.height() + error_lines(x))
        .collect();
    let needed: u16 = heights.iter().sum::<u16>() + 5;
    let r = centered(area, 86, needed);
    f.render_widget(Clear, r);
    let block = popup_block(app, &form.title, form.error.is_some());
    let inner = block.inner(r);
    f.render_widget(block, r);
    // Scroll so the focused field is visible.
    let avail = inner.height.saturating_sub(2);
    let mut start = 0;
    while start < form.focus && heights[start..=form.focus].iter().sum::<u16>() > avail {
        start += 1;
    }
    let mut y = inner.y;
    for (i, field) in form.fields.iter().enumerate().skip(start) {
        let h = field.height();
        if y + h > inner.y + avail {
            break;
        }
        let focused = i == form.focus;
        let label_style = if focused {
            app.theme.focus()
        } else {
            app.theme.muted()
        };
        let marker = if focused { "›" } else { " " };
        f.render_widget(
            Paragraph::new(Span::styled(
                format!(
                    "{marker}{:<w$}",
                    ellipsize(&field.label, label_w as usize - 2),
                    w = label_w as usize - 1
                ),
                label_style,
            )),
            Rect {
                x: inner.x,
                y,
                width: label_w,
                height: 1,
            },
        );
        let value_area = Rect {
            x: inner.x + label_w,
            y,
            width: inner.width.saturating_sub(label_w),
            height: h,
        };
        match &field.input {
            Input::Text(t) | Input::Json(t) => f.render_widget(t, value_area),
            Input::Select { options, index } => {
                let text = options
                    .get(*index)
                    .map(|o| o.label.clone())
                    .unwrap_or_else(|| "(nothing to choose)".into());
                let line = if focused {
                    Line::from(vec![
                        Span::styled("◀ ", app.theme.accent()),
                        Span::styled(s(&text), app.theme.selected()),
                        Span::styled(" ▶", app.theme.accent()),
                    ])
                } else {
                    Line::from(s(&text))
                };
                f.render_widget(Paragraph::new(line), value_area);
            }
            Input::Multi {
                options,
                chosen,
                cursor,
            } => {
                let mut spans = Vec::new();
                for (n, (o, c)) in options.iter().zip(chosen).enumerate() {
                    let mark = if *c { "[x] " } else { "[ ] " };
                    let style = if focused && n == *cursor {
                        app.theme.selected()
                    } else {
                        Style::default()
                    };
                    spans.push(Span::styled(format!("{mark}{}", o.label), style));
                    spans.push(Span::raw("  "));
                }
                f.render_widget(
                    Paragraph::new(Line::from(spans)).wrap(Wrap { trim: false }),
                    value_area,
                );
            }
        }
        y += h;
        if let Some(e) = &field.error {
            let lines = error_lines(field);
            f.render_widget(
                Paragraph::new(Span::styled(format!("✗ {}", s(e)), app.theme.error()))
                    .wrap(Wrap { trim: false }),
                Rect {
                    x: inner.x + label_w,
                    y,
                    width: inner.width.saturating_sub(label_w),
                    height: lines,
                },
            );
            y += lines;
        }
    }
    let footer_y = inner.y + inner.height.saturating_sub(2);
    let status = if form.submitting {
        Span::styled("Saving…", app.theme.muted())
    } else if let Some(e) = &form.error {
        Span::styled(s(e), app.theme.error())
    } else {
        Span::raw("")
    };
    f.render_widget(
        Paragraph::new(status),
        Rect {
            x: inner.x,
            y: footer_y,
            width: inner.width,
            height: 1,
        },
    );
    let json = matches!(
        form.fields.get(form.focus).map(|x| &x.input),
        Some(Input::Json(_))
    );
    let help = if json {
        "Tab next field · Ctrl-S save · Esc cancel"
    } else {
        "Tab/↓ next · ←/→/Space choose · Enter or Ctrl-S save · Esc cancel"
    };
    f.render_widget(
        Paragraph::new(Span::styled(help, app.theme.muted())),
        Rect {
            x: inner.x,
            y: footer_y + 1,
            width: inner.width,
            height: 1,
        },
    );
}

fn draw_transition(f: &mut Frame, app: &App, d: &TransitionDialog, area: Rect) {
    let h = d.targets.len() as u16 + 11;
    let r = centered(area, 76, h);
    f.render_widget(Clear, r);
    let block = popup_block(app, &format!("Transition {}", short(&d.position.id)), false);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let p: &Position = &d.position;
    let mut lines = vec![
        Line::from(vec![
            Span::raw("Now "),
            state_badge(app, p.state),
            Span::raw(format!(
                "   {} {} · {}",
                p.amount.display_grouped(),
                p.currency,
                s(&p.holder_reference)
            )),
        ]),
        Line::from(Span::styled(
            "Move to (only the states allowed from here):",
            app.theme.muted(),
        )),
    ];
    for (i, t) in d.targets.iter().enumerate() {
        let chosen = i == d.choice;
        let marker = if chosen { "› " } else { "  " };
        let mut spans = vec![Span::raw(marker), state_badge(app, *t)];
        if t.is_terminal() {
            spans.push(Span::styled("  (final)", app.theme.muted()));
        }
        let line = Line::from(spans);
        lines.push(if chosen && !d.on_reason {
            line.style(Style::default().add_modifier(Modifier::BOLD))
        } else {
            line
        });
    }
    let list_h = lines.len() as u16;
    f.render_widget(
        Paragraph::new(lines),
        Rect {
            height: list_h,
            ..inner
        },
    );
    let reason_area = Rect {
        x: inner.x,
        y: inner.y + list_h + 1,
        width: inner.width,
        height: 4,
    };
    let mut reason = d.reason.clone();
    reason.set_block(
        Block::default()
            .borders(Borders::ALL)
            .title(" Reason ")
            .border_style(if d.on_reason {
                app.theme.focus()
            } else {
                app.theme.muted()
            }),
    );
    if !d.on_reason {
        reason.set_cursor_style(Style::default());
    }
    f.render_widget(&reason, reason_area);
    let mut footer = vec![Line::from(Span::styled(
        "↑/↓ choose · Tab reason · Enter next (you confirm after) · Esc cancel",
        app.theme.muted(),
    ))];
    if let Some(e) = &d.error {
        footer.insert(0, Line::from(Span::styled(s(e), app.theme.error())));
    }
    let y = reason_area.y + reason_area.height;
    f.render_widget(
        Paragraph::new(footer),
        Rect {
            x: inner.x,
            y,
            width: inner.width,
            height: inner.height.saturating_sub(y - inner.y),
        },
    );
}

/// The whole screen as text (for tests and text screenshots).
pub fn render_to_string(app: &App, w: u16, h: u16) -> String {
    let backend = ratatui::backend::TestBackend::new(w, h);
    let mut term = ratatui::Terminal::new(backend).expect("test terminal");
    term.draw(|f| draw(f, app)).expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
