//! The frame around the views: the tab bar, the breadcrumb with the tab's summary, the hint bar
//! (from the key map, the view's own keys dropped first when the screen is narrow), the status
//! bar, and the dialogs over it all. Drawing is a pure function of the app's state.

use super::app::{App, Level, Tab};
use super::keymap::{Action, Context, keys_text};
use super::layout::{Areas, MIN_HEIGHT, MIN_WIDTH, tab_labels};
use super::popups::Popup;
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
    // A message too long for the status bar takes the hint bar's row above it too.
    if status_fits(app, areas.status.width) {
        draw_hints(f, app, areas.hints);
    } else {
        draw_long_message(f, app, areas.hints);
    }
    draw_status(f, app, areas.status);
    if let Some(p) = app.popup() {
        p.draw(f, area, areas.hints, &app.theme, &app.keymap);
        // The `:` and `/` lines sit on the hint bar's row: a long message goes above them.
        if matches!(p, Popup::CommandLine(_) | Popup::Filter(_))
            && !status_fits(app, areas.status.width)
            && areas.hints.y > areas.body.y
        {
            let above = Rect {
                y: areas.hints.y - 1,
                ..areas.hints
            };
            f.render_widget(ratatui::widgets::Clear, above);
            draw_long_message(f, app, above);
        }
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
    let context = app.top().context();
    let mut bindings = app.keymap.for_context(context, app.session.read_only);
    // Help first, so the way to every other key is always on screen; the ways back and to the
    // command line last, with their room kept, so a narrow screen drops the view's own keys
    // before those.
    bindings.sort_by_key(|b| b.action != Action::Help);
    let hints: Vec<(String, &str, bool)> = bindings
        .iter()
        .filter(|b| app.offers(b.action) && app.session.may(context, b.action))
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

/// The status bar's spans before any message: the store, the operator, the stream, the chain.
fn status_spans(app: &App) -> Vec<Span<'static>> {
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
    spans
}

/// The status message's style and its "dismisses" hint (an error stays until dismissed).
fn message_parts(app: &App, error: bool) -> (Style, String) {
    let back = app.keymap.key_text(Context::Global, Action::Back);
    if error {
        (app.theme.error(), format!("  ({back} dismisses)"))
    } else {
        (Style::default(), String::new())
    }
}

/// Whether the status message (if any) fits on the status bar beside what is always there.
fn status_fits(app: &App, width: u16) -> bool {
    let Some(m) = &app.status else { return true };
    let used: usize = status_spans(app).iter().map(|sp| sp.width()).sum();
    let (_, hint) = message_parts(app, m.level == Level::Error);
    used + 2 + s(&m.text).width() + hint.width() <= width as usize
}

/// A message too long for the status bar, on the hint bar's row (cut, if even that is too
/// short, with where to read it whole).
fn draw_long_message(f: &mut Frame, app: &App, area: Rect) {
    let Some(m) = &app.status else { return };
    let (style, _) = message_parts(app, m.level == Level::Error);
    let text = s(&m.text);
    let line = if text.width() <= area.width as usize {
        Line::from(Span::styled(text, style))
    } else {
        let log = app.keymap.key_text(Context::Global, Action::Messages);
        let more = format!("  ({log}: the whole message)");
        let room = (area.width as usize).saturating_sub(more.width());
        Line::from(vec![
            Span::styled(cut(&text, room), style),
            Span::styled(more, app.theme.muted()),
        ])
    };
    f.render_widget(Paragraph::new(line), area);
}

fn draw_status(f: &mut Frame, app: &App, area: Rect) {
    let mut spans = status_spans(app);
    if let Some(m) = &app.status {
        let error = m.level == Level::Error;
        let (style, hint) = message_parts(app, error);
        spans.push(Span::raw("  "));
        if status_fits(app, area.width) {
            spans.push(Span::styled(s(&m.text), style));
            spans.push(Span::styled(hint, app.theme.muted()));
        } else if error {
            // The message is on the row above.
            spans.push(Span::styled(
                hint.trim_start().to_string(),
                app.theme.muted(),
            ));
        }
    }
    let line = cut_line(Line::from(spans), area.width as usize);
    f.render_widget(Paragraph::new(line), area);
}
