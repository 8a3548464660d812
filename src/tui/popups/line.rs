//! A one-line input on the hint bar's row: the `:` command line and the `/` text filter.

use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Clear, Paragraph};
use ratatui_textarea::TextArea;

/// One key into a text field, with the shell's line keys: Ctrl-U deletes to the start of the
/// line (the text area's own Ctrl-U is undo, which nobody at a prompt expects), Ctrl-W the word
/// before the cursor; every other key is the text area's.
/// Whether the text changed.
pub fn edit(t: &mut TextArea<'static>, k: KeyEvent) -> bool {
    use crossterm::event::{KeyCode, KeyModifiers};
    if k.modifiers == KeyModifiers::CONTROL && k.code == KeyCode::Char('u') {
        t.delete_line_by_head()
    } else {
        t.input(k)
    }
}

pub struct LineInput {
    pub text: TextArea<'static>,
}

/// What a key did to the line.
pub enum LineEvent {
    Typed(String),
    Done(String),
    Cancelled,
}

impl LineInput {
    pub fn new(initial: &str) -> Self {
        let mut t = TextArea::new(vec![initial.to_string()]);
        t.set_cursor_line_style(ratatui::style::Style::default());
        t.move_cursor(ratatui_textarea::CursorMove::End);
        LineInput { text: t }
    }

    pub fn value(&self) -> String {
        self.text.lines().join(" ")
    }

    pub fn on_key(&mut self, k: KeyEvent, action: Option<Action>) -> LineEvent {
        match action {
            Some(Action::Close) => LineEvent::Cancelled,
            Some(Action::Submit) => LineEvent::Done(self.value()),
            // (the : line's own keys; the / line has no use for them)
            Some(Action::Complete | Action::HistoryBack | Action::HistoryForward) => {
                LineEvent::Typed(self.value())
            }
            _ => {
                let _ = edit(&mut self.text, k);
                LineEvent::Typed(self.value())
            }
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, prefix: &str, theme: &Theme) {
        f.render_widget(Clear, area);
        let [pre, input] =
            Layout::horizontal([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        f.render_widget(
            Paragraph::new(Span::styled(prefix.to_string(), theme.accent())),
            pre,
        );
        f.render_widget(&self.text, input);
    }
}
