//! The lower half of the Health tab: this console's operation timings (count, errors by code,
//! p50 / p99 over the last minute and since start) and the database's own figures (size,
//! deadlocks, conflicts, rows and vacuums per table, notes).

use crate::service::health::HealthReport;
use crate::tui::theme::Theme;
use crate::tui::widgets::{group, s, table};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

fn ms(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 1000.0 => format!("{v:.0}"),
        Some(v) => format!("{:.1}s", v / 1000.0),
    }
}

/// Draws the operations table, and beside it (or below, when narrow) the database figures.
pub fn draw(f: &mut Frame, area: Rect, theme: &Theme, h: &HealthReport) {
    if area.height < 4 {
        return;
    }
    let (ops, db) = match &h.db {
        Some(_) if area.width >= 120 => {
            let [a, b] =
                Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                    .areas(area);
            (a, Some(b))
        }
        _ => (area, None),
    };
    operations(f, ops, theme, h);
    if let Some(area) = db {
        database(f, area, theme, h);
    }
}

fn operations(f: &mut Frame, area: Rect, theme: &Theme, h: &HealthReport) {
    let mut figures: Vec<_> = h.operations.iter().collect();
    // Service operations first, then store calls; the busiest first in each.
    figures.sort_by_key(|o| (o.name.starts_with("store."), std::cmp::Reverse(o.count)));
    let rows: Vec<Vec<Line>> = figures
        .iter()
        .map(|o| {
            let errors: u64 = o.errors.values().sum();
            let errors = match o.errors.iter().max_by_key(|(_, n)| **n) {
                None => "0".to_string(),
                Some((code, _)) if o.errors.len() == 1 => format!("{errors} {code}"),
                Some((code, _)) => format!("{errors} ({code}…)"),
            };
            vec![
                Line::from(s(&o.name)),
                Line::from(group(o.count)),
                Line::from(errors),
                Line::from(ms(o.minute_p50_ms)),
                Line::from(ms(o.minute_p99_ms)),
                Line::from(ms(o.p50_ms)),
                Line::from(ms(o.p99_ms)),
            ]
        })
        .collect();
    let t = table(
        theme,
        area,
        &[
            "Operation",
            "Calls",
            "Errors",
            "p50 1m",
            "p99 1m",
            "p50",
            "p99",
        ],
        rows,
        None,
        vec![
            Constraint::Min(22),
            Constraint::Length(8),
            Constraint::Length(14),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
        ],
    )
    .block(
        Block::default()
            .borders(Borders::TOP)
            .title(" Operations of this console (ms) "),
    );
    f.render_widget(t, area);
}

fn database(f: &mut Frame, area: Rect, theme: &Theme, h: &HealthReport) {
    let Some(d) = &h.db else { return };
    let mut lines = vec![Line::from(vec![
        Span::styled("Size ", theme.muted()),
        Span::raw(format!("{:.1} MB", d.size_bytes as f64 / 1e6)),
        Span::styled("  Deadlocks ", theme.muted()),
        Span::styled(
            d.deadlocks.to_string(),
            if d.deadlocks > 0 {
                theme.warn()
            } else {
                theme.ok()
            },
        ),
        Span::styled("  Conflicts ", theme.muted()),
        Span::raw(d.conflicts.to_string()),
        Span::styled("  Rollbacks ", theme.muted()),
        Span::raw(group(d.rollbacks.max(0) as u64)),
    ])];
    for n in &d.notes {
        lines.push(Line::from(Span::styled(
            format!("Note: {}", s(n)),
            theme.warn(),
        )));
    }
    lines.push(Line::from(Span::styled(
        format!("{:<16}{:>10}{:>8}  {}", "Table", "live", "dead", "vacuumed"),
        theme.header(),
    )));
    for t in &d.tables {
        if t.name.starts_with('_') {
            continue;
        }
        lines.push(Line::from(format!(
            "{:<16}{:>10}{:>8}  {}",
            s(&t.name),
            group(t.live_rows.max(0) as u64),
            group(t.dead_rows.max(0) as u64),
            t.last_vacuum
                .as_deref()
                .map(|v| v.replace('T', " ").trim_end_matches('Z').to_string())
                .unwrap_or_else(|| "never".into())
        )));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::TOP).title(" Database ")),
        area,
    );
}
