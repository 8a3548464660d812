//! The frame around the views: the tab bar, the breadcrumb with the tab's summary, the hint bar
//! (from the key map, the view's own keys dropped first when the screen is narrow), the status
//! bar, and the dialogs over it all. Drawing is a pure function of the app's state.

use super::app::{App, Level, Tab};
use super::keymap::{Action, Context, keys_text};
use super::layout::{Areas, MIN_HEIGHT, MIN_WIDTH, tab_labels};
use super::views::ChainView;
use super::widgets::{cut, cut_line, s};
use crate::service::stream::StreamStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let areas = if app.areas.status.width == area.width && app.areas.status.bottom() == area.height
    {
        app.areas
    } else {
        Areas::of(area.width, area.height)
    };
    if areas.too_small() {
        let msg = Paragraph::new(vec![
            Line::from(Span::styled("Terminal too small", app.theme.error())),
            Line::from(format!(
                "{}×{} — EscrowGrid needs at least {MIN_WIDTH}×{MIN_HEIGHT}.",
                area.width, area.height
            )),
            Line::from(format!(
                "Enlarge the window, or press {} to quit.",
                app.keymap.key_text(Context::Global, Action::Quit)
            )),
        ])
        .wrap(Wrap { trim: true });
        f.render_widget(msg, area);
        return;
    }
    let cx = app.dcx();
    draw_tabs(f, app, areas.tabs);
    draw_breadcrumb(f, app, areas.crumb);
    app.top().draw(f, areas.body, &cx);
    draw_hints(f, app, areas.hints);
    draw_status(f, app, areas.status);
    if let Some(p) = app.popup() {
        p.draw(f, area, areas.hints, &app.theme, &app.keymap);
    }
}

fn draw_tabs(f: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    for (i, l) in tab_labels(&Tab::titles()).into_iter().enumerate() {
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

fn draw_breadcrumb(f: &mut Frame, app: &App, area: Rect) {
    let cx = app.dcx();
    let sep = || Span::styled(" › ", app.theme.muted());
    let mut parts = vec![Span::styled(app.tab.title(), app.theme.accent())];
    let mut details = app.stack().peekable();
    if details.peek().is_none() {
        let tab = app.tab_view();
        if let Some(mode) = tab.crumb(&cx) {
            parts.push(sep());
            parts.push(Span::raw(mode));
        }
        let summary = tab.summary(&cx);
        if !summary.is_empty() {
            // The summary's last part (where the selection is: "row 8 of 307") stays whole;
            // what is before it gives way.
            let used: usize = parts.iter().map(|p| p.width()).sum();
            let room = (area.width as usize).saturating_sub(used + 3);
            let (head, tail) = summary.rsplit_once("  ").unwrap_or(("", &summary));
            let text = if summary.width() <= room || head.is_empty() {
                summary.clone()
            } else {
                let keep = room.saturating_sub(tail.width() + 2);
                format!("{}  {tail}", cut(head, keep))
            };
            parts.push(Span::styled(format!("   {text}"), app.theme.muted()));
        }
    }
    for v in details {
        parts.push(sep());
        parts.push(Span::raw(v.crumb(&cx).unwrap_or_default()));
    }
    let line = cut_line(Line::from(parts), area.width as usize);
    f.render_widget(Paragraph::new(line), area);
}

fn draw_hints(f: &mut Frame, app: &App, area: Rect) {
    let mut bindings = app
        .keymap
        .for_context(app.top().context(), app.session.read_only);
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
    let mut used = 0usize;
    let mut shown: Vec<&(String, &str, bool)> = Vec::new();
    for h in hints.iter().filter(|h| !h.2) {
        if used + width(h) > room {
            break;
        }
        used += width(h);
        shown.push(h);
    }
    shown.extend(hints.iter().filter(|h| h.2));
    let mut spans = Vec::new();
    for (key, label, _) in shown {
        spans.push(Span::styled(key.clone(), app.theme.accent()));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_status(f: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let stream = match &app.stream {
        Some(StreamStatus::Reconnecting(_)) => Span::styled("● reconnecting", theme.warn()),
        None => Span::styled("○ connecting", theme.muted()),
        Some(_) if !app.tab_view().follows() => Span::styled("‖ paused", theme.warn()),
        Some(_) => Span::styled("● live", theme.ok()),
    };
    let store = match app.connected() {
        Some(false) => Span::styled(
            format!(" {} UNREACHABLE ", app.session.backend),
            theme.error(),
        ),
        _ => Span::styled(format!(" {} ", app.session.backend), theme.selected()),
    };
    let mut spans = vec![
        store,
        Span::raw(" "),
        Span::styled(app.session.operator.clone(), theme.accent()),
        Span::raw(if app.session.read_only {
            " (read-only) "
        } else {
            " "
        }),
        stream,
    ];
    // The chain's state yields its room to a message (a break is one too).
    match &app.chain.view {
        _ if app.status.is_some() => {}
        ChainView::Verified { .. } => spans.push(Span::styled(
            format!("  ✓ verified {}", app.chain.range().unwrap_or_default()),
            theme.ok(),
        )),
        ChainView::Broken { seq, .. } => spans.push(Span::styled(
            format!("  CHAIN BROKEN at seq {seq}"),
            theme.error(),
        )),
        ChainView::Verifying => spans.push(Span::styled("  verifying chain…", theme.muted())),
        ChainView::Unknown => {}
    }
    if let Some(r) = &app.replica {
        spans.push(Span::styled(format!("  {}", s(r)), theme.warn()));
    }
    if app.session.demo {
        spans.push(Span::styled(
            if app.sim_paused {
                "  demo ‖ paused"
            } else {
                "  demo ▶"
            },
            theme.muted(),
        ));
    }
    if let Some(m) = &app.status {
        spans.push(Span::raw("  "));
        let error = m.level == Level::Error;
        let style = if error {
            theme.error()
        } else {
            Style::default()
        };
        spans.push(Span::styled(s(&m.text), style));
        if error {
            let back = app.keymap.key_text(Context::Global, Action::Back);
            spans.push(Span::styled(format!("  ({back} dismisses)"), theme.muted()));
        }
    }
    let line = cut_line(Line::from(spans), area.width as usize);
    f.render_widget(Paragraph::new(line), area);
}
