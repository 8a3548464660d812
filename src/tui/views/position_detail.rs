//! A position in full: its fields, the states it may move to, its lifecycle and its ledger
//! events; `t` transitions it, Enter goes nowhere further. It follows the stream.

use super::{Cx, Data, Dcx, Request, View};
use crate::domain::ledger::LedgerEvent;
use crate::domain::{PositionState, time};
use crate::service::PositionDetail as Fetched;
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::{Cmd, Loaded};
use crate::tui::nav::Detail;
use crate::tui::widgets::{
    Columns, cut_lines, datetime, empty, kv, ledger_detail, s, section, short, state_badge,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

pub struct PositionDetail {
    detail: Detail,
    pub shown: Option<(Fetched, Vec<LedgerEvent>)>,
}

impl PositionDetail {
    pub fn new(id: String) -> Self {
        PositionDetail {
            detail: Detail::Position(id),
            shown: None,
        }
    }

    fn id(&self) -> &str {
        self.detail.id()
    }
}

impl View for PositionDetail {
    fn context(&self) -> Context {
        Context::PositionDetail
    }

    fn crumb(&self, _cx: &Dcx) -> Option<String> {
        Some(short(self.id()))
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        if a == Action::Transition {
            let p = self.shown.as_ref().map(|(d, _)| d.position.clone());
            cx.open_transition(p.as_ref());
        }
    }

    fn on_loaded(&mut self, l: &Loaded, cx: &mut Cx) {
        match l {
            Loaded::PositionDetail { id, result } if id == self.id() => match result {
                Ok(d) => self.shown = Some(d.clone()),
                Err(e) => {
                    // Nothing of it to show (not found, another institution's): close the
                    // empty pane and say why; a failed refresh keeps what is shown.
                    if self.shown.is_none() {
                        cx.out.push(Request::CloseDetail);
                    }
                    cx.service_error("loading the position", e)
                }
            },
            Loaded::Transitioned { id, .. } if id == self.id() => self.refresh(cx),
            _ => {}
        }
    }

    fn on_event(&mut self, e: &LedgerEvent, cx: &mut Cx) {
        if e.position_id.as_deref() == Some(self.id()) {
            self.refresh(cx);
        }
    }

    fn refresh(&mut self, cx: &mut Cx) {
        cx.cmd(Cmd::LoadPositionDetail(self.id().to_string()));
    }

    fn selected_id(&self, _data: &Data) -> Option<String> {
        Some(self.id().to_string())
    }

    fn offers(&self, a: Action) -> bool {
        match a {
            Action::Transition => self
                .shown
                .as_ref()
                .is_some_and(|(d, _)| !d.position.state.is_terminal()),
            // A position's detail opens nothing further.
            Action::Open => false,
            _ => true,
        }
    }

    fn detail(&self) -> Option<&Detail> {
        Some(&self.detail)
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let theme = cx.theme;
        let Some((d, ledger)) = &self.shown else {
            return empty(f, theme, area, "Loading the position…");
        };
        let p = &d.position;
        let wide = area.width >= 120;
        let [top, rest] =
            Layout::vertical([Constraint::Length(10), Constraint::Min(3)]).areas(area);
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
            kv(theme, "Id", p.id.clone()),
            Line::from(vec![
                Span::styled(format!("{:<20}", "State"), theme.muted()),
                state_badge(theme, p.state),
                Span::styled(format!("   next: {next}"), theme.muted()),
            ]),
            kv(
                theme,
                "Amount",
                format!("{} {}", p.amount.display_grouped(), p.currency),
            ),
            balance_line(theme, p, top.width),
            kv(theme, "Holder reference", s(&p.holder_reference)),
            kv(
                theme,
                "External reference",
                p.external_reference
                    .as_deref()
                    .map(s)
                    .unwrap_or_else(|| "—".into()),
            ),
            kv(
                theme,
                "Institution",
                format!(
                    "{} ({})",
                    cx.data.institution_name(&p.institution_id),
                    short(&p.institution_id)
                ),
            ),
            kv(
                theme,
                "Asset",
                format!(
                    "{} ({})",
                    cx.data.asset_label(&p.asset_id),
                    short(&p.asset_id)
                ),
            ),
            kv(
                theme,
                "Created / updated",
                format!(
                    "{} / {}  (version {})",
                    time::format(&p.created_at),
                    time::format(&p.updated_at),
                    p.version
                ),
            ),
        ];
        f.render_widget(Paragraph::new(cut_lines(info, top.width)), top);
        let (tl_area, led_area) = if wide {
            let [a, b] =
                Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .areas(rest);
            (a, b)
        } else {
            let [a, b] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(rest);
            (a, b)
        };
        let mut tl = vec![Line::from(vec![
            Span::styled(datetime(&p.created_at), theme.muted()),
            Span::raw("  created  "),
            state_badge(theme, PositionState::Created),
        ])];
        for e in &d.events {
            let mut spans = vec![
                Span::styled(datetime(&e.at), theme.muted()),
                Span::raw("  "),
                state_badge(theme, e.from_state),
                Span::raw(" → "),
                state_badge(theme, e.to_state),
            ];
            if let Some(r) = &e.reason {
                spans.push(Span::raw(format!("  “{}”", s(r))));
            }
            if let Some(m) = e.amount.filter(|m| !m.is_zero()) {
                let verb = match e.to_state {
                    PositionState::PartiallyReleased | PositionState::Released => "released",
                    _ => "returned",
                };
                spans.push(Span::raw(format!(
                    "  {} {} {verb}",
                    m.display_grouped(),
                    p.currency
                )));
            }
            if let Some(a) = &e.actor {
                spans.push(Span::styled(format!("  by {}", s(a)), theme.muted()));
            }
            tl.push(Line::from(spans));
        }
        let skip = tl
            .len()
            .saturating_sub(tl_area.height.saturating_sub(2) as usize);
        f.render_widget(
            Paragraph::new(cut_lines(tl.into_iter().skip(skip), tl_area.width))
                .block(section("Lifecycle")),
            tl_area,
        );
        let widths = [
            Constraint::Length(7),
            Constraint::Length(22),
            Constraint::Fill(1),
            Constraint::Length(12),
        ];
        let cols = Columns::new(led_area, &widths);
        let rows: Vec<Row> = ledger
            .iter()
            .rev()
            .take(led_area.height.saturating_sub(2) as usize)
            .rev()
            .map(|e| {
                cols.row(vec![
                    Line::from(e.seq.to_string()).right_aligned(),
                    Line::from(e.kind.as_str()),
                    Line::from(ledger_detail(e)),
                    Line::from(Span::styled(e.hash[..12].to_string(), theme.muted())),
                ])
            })
            .collect();
        let t = Table::new(rows, widths)
            .header(cols.header(theme, &["SEQ", "KIND", "DETAIL", "HASH"]))
            .block(section("Ledger events"));
        f.render_widget(t, led_area);
    }
}

/// "Released · held": the two figures and a bar of the part released (what a CANCELLED or
/// EXPIRED position held was returned).
fn balance_line(
    theme: &crate::tui::theme::Theme,
    p: &crate::domain::Position,
    width: u16,
) -> Line<'static> {
    let (Some(released), Some(held)) = (p.released, p.held) else {
        return kv(
            theme,
            "Released · held",
            "not known: partial releases were recorded without amounts".to_string(),
        );
    };
    let label = match p.state {
        PositionState::Cancelled | PositionState::Expired => "Released · returned",
        _ => "Released · held",
    };
    let figures = format!(
        "{} · {} {}",
        released.display_grouped(),
        held.display_grouped(),
        p.currency
    );
    let part = released.as_decimal() / p.amount.as_decimal();
    let bar_w = (width as usize)
        .saturating_sub(20 + figures.chars().count() + 12)
        .min(24);
    let mut spans = vec![
        Span::styled(format!("{label:<20}"), theme.muted()),
        Span::raw(figures),
    ];
    if bar_w >= 8 {
        let filled = (part * rust_decimal::Decimal::from(bar_w as u64))
            .round()
            .to_string()
            .parse::<usize>()
            .unwrap_or(0)
            .min(bar_w);
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            "█".repeat(filled),
            theme.state(PositionState::Released),
        ));
        spans.push(Span::styled("░".repeat(bar_w - filled), theme.muted()));
        let pct = (part * rust_decimal::Decimal::from(100)).round();
        spans.push(Span::styled(format!(" {pct}% released"), theme.muted()));
    }
    Line::from(spans)
}
