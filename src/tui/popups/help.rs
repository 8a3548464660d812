//! The key overlay (`?`): every key of the view under it, then the keys of the dialogs, all read
//! from the key map, so it lists what the keys really do, remapped or not.

use super::Outcome;
use crate::tui::keymap::{Action, Context, KeyMap, keys_text};
use crate::tui::theme::Theme;
use crate::tui::views::Session;
use crate::tui::widgets::{centered, cut, dialog_block};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

pub struct Help {
    /// The context of the view under the overlay.
    pub context: Context,
    /// Who is asking: keys this session may not use are left out.
    pub session: Session,
    pub scroll: usize,
    /// How far the overlay could scroll when last drawn (scrolling stops there).
    max_scroll: std::cell::Cell<usize>,
}

impl Help {
    pub fn new(context: Context, session: &Session) -> Self {
        Help {
            context,
            session: session.clone(),
            scroll: 0,
            max_scroll: std::cell::Cell::new(usize::MAX),
        }
    }

    pub fn on_action(&mut self, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Close) => return Outcome::Close,
            Some(Action::Down) => self.scroll += 1,
            Some(Action::Up) => self.scroll = self.scroll.saturating_sub(1),
            Some(Action::PageDown) => self.scroll += 10,
            Some(Action::PageUp) => self.scroll = self.scroll.saturating_sub(10),
            _ => {}
        }
        self.scroll = self.scroll.min(self.max_scroll.get());
        Outcome::Keep
    }

    /// Every key of the view with what it does, from the key map itself.
    pub fn entries(&self, keys: &KeyMap) -> Vec<(String, &'static str)> {
        keys.for_context(self.context, self.session.read_only)
            .into_iter()
            .filter(|b| b.action != Action::PauseSimulator || self.session.demo)
            .filter(|b| self.session.may(self.context, b.action))
            .map(|b| (keys_text(&b.keys), b.help))
            .collect()
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keys: &KeyMap) {
        let r = centered(
            area,
            area.width.saturating_sub(4),
            area.height.saturating_sub(2),
        );
        f.render_widget(Clear, r);
        // The view's keys, then each dialog's; the `:` commands last.
        let mut sections = vec![(None, self.entries(keys))];
        for ctx in Context::DIALOGS {
            let own: Vec<(String, &'static str)> = keys
                .bindings
                .iter()
                .filter(|b| b.context == ctx)
                .map(|b| (keys_text(&b.keys), b.help))
                .collect();
            if !own.is_empty() {
                sections.push((Some(format!("In {}", ctx.name())), own));
            }
        }
        let key_w = sections
            .iter()
            .flat_map(|(_, e)| e.iter().map(|(k, _)| k.chars().count()))
            .max()
            .unwrap_or(4);
        let inner_w = r.width.saturating_sub(2) as usize;
        let inner_h = r.height.saturating_sub(2) as usize;
        let columns = if inner_w >= 116 { 2 } else { 1 };
        let col_w = inner_w / columns;
        let mut lines = Vec::new();
        for (title, entries) in &sections {
            if let Some(title) = title {
                lines.push(Line::from(""));
                lines.push(Line::from(Span::styled(title.clone(), theme.header())));
            }
            lines.extend(columned(entries, columns, col_w, key_w, theme));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            format!(
                "Commands (:) — {} completes, {}/{} recall earlier ones",
                keys.key_text(Context::LineInput, Action::Complete),
                keys.key_text(Context::LineInput, Action::HistoryBack),
                keys.key_text(Context::LineInput, Action::HistoryForward)
            ),
            theme.header(),
        )));
        for (command, what) in COMMANDS {
            if (command.starts_with("check") || command.starts_with("anchor")) && !self.session.root
            {
                continue;
            }
            // One line when both fit, else the description under the command; never wrapped
            // (scrolling counts lines).
            let both = command.chars().count() + what.chars().count() + 3;
            if both <= inner_w {
                lines.push(Line::from(vec![
                    Span::styled(format!(" {command}"), theme.accent()),
                    Span::styled(format!("  {what}"), theme.muted()),
                ]));
            } else {
                lines.push(Line::styled(
                    cut(&format!(" {command}"), inner_w),
                    theme.accent(),
                ));
                lines.push(Line::styled(
                    cut(&format!("     {what}"), inner_w),
                    theme.muted(),
                ));
            }
        }
        let body = inner_h.saturating_sub(1);
        let max_scroll = lines.len().saturating_sub(body);
        self.max_scroll.set(max_scroll);
        let scroll = self.scroll.min(max_scroll);
        let more = if max_scroll > 0 {
            format!(
                "  ({}/{} scroll)",
                keys.key_text(Context::KeyHelp, Action::Down),
                keys.key_text(Context::KeyHelp, Action::Up)
            )
        } else {
            String::new()
        };
        let shown: Vec<Line> = lines.into_iter().skip(scroll).take(body).collect();
        let title = format!("Keys — {}{more}", self.context.name());
        f.render_widget(
            Paragraph::new(shown)
                .wrap(Wrap { trim: false })
                .block(dialog_block(theme, &title, false)),
            r,
        );
    }
}

/// The `:` commands and what each does.
const COMMANDS: &[(&str, &str)] = &[
    (
        "positions state=S institution=NAME asset=ID holder=REF text=T sort=[-]KEY",
        "the Positions tab, filtered and sorted",
    ),
    (
        "ledger [pos_ID] kind=K seq=N since=TIME",
        "the ledger: of a position, of a kind, from a seq or a time",
    ),
    ("audit since=TIME", "the audit trail from a time"),
    (
        "open ID",
        "a position, institution, template or asset by its whole id",
    ),
    ("institutions · templates · assets · health", "a tab"),
    ("messages", "the message log (M)"),
    (
        "verify [stop]",
        "verify the hash chain (stop: the background verification)",
    ),
    (
        "check",
        "check every stored entity against the ledger (root)",
    ),
    ("anchor", "anchor the ledger head on the chain now (root)"),
    ("export FILE", "the whole store into a file"),
    ("quit", "quit"),
];

/// Key–help pairs laid out in `columns` columns, filled top to bottom.
fn columned(
    entries: &[(String, &'static str)],
    columns: usize,
    col_w: usize,
    key_w: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let per_col = entries.len().div_ceil(columns);
    let mut lines = Vec::new();
    for row in 0..per_col {
        let mut spans = Vec::new();
        for col in 0..columns {
            if let Some((k, h)) = entries.get(col * per_col + row) {
                let room = col_w.saturating_sub(key_w + 3);
                let help = cut(h, room);
                let pad = room.saturating_sub(unicode_width::UnicodeWidthStr::width(help.as_str()));
                spans.push(Span::styled(format!(" {k:>key_w$}  "), theme.accent()));
                spans.push(Span::raw(format!("{help}{}", " ".repeat(pad))));
            }
        }
        lines.push(Line::from(spans));
    }
    lines
}
