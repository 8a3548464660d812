//! The `:` line as it is typed: `Tab` completes the last word (a command, an argument's name
//! or its value) and lists the candidates above the line when several remain; `↑` / `↓` walk
//! the commands run before in this session; Ctrl-U and Ctrl-W delete as at a shell prompt.

use super::command_line::complete;
use super::line::{LineEvent, LineInput};
use crate::domain::Institution;
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crate::tui::widgets::cut;
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

pub struct CommandInput {
    pub line: LineInput,
    /// Earlier commands, oldest first.
    history: Vec<String>,
    /// Where in the history ↑ has gone (None: at the line being typed).
    at: Option<usize>,
    /// The line being typed, kept while walking the history.
    draft: String,
    /// What the last Tab could not choose between.
    pub candidates: Vec<String>,
}

impl CommandInput {
    pub fn new(initial: &str, history: Vec<String>) -> Self {
        CommandInput {
            line: LineInput::new(initial),
            history,
            at: None,
            draft: String::new(),
            candidates: Vec::new(),
        }
    }

    pub fn value(&self) -> String {
        self.line.value()
    }

    fn set(&mut self, text: &str) {
        self.line = LineInput::new(text);
    }

    pub fn on_key(
        &mut self,
        k: KeyEvent,
        action: Option<Action>,
        institutions: &[Institution],
    ) -> LineEvent {
        match action {
            Some(Action::Complete) => {
                let c = complete(&self.value(), institutions);
                self.set(&c.line);
                self.candidates = c.candidates;
                return LineEvent::Typed(self.value());
            }
            Some(Action::HistoryBack) => {
                let at = match self.at {
                    None if self.history.is_empty() => return LineEvent::Typed(self.value()),
                    None => {
                        self.draft = self.value();
                        self.history.len() - 1
                    }
                    Some(a) => a.saturating_sub(1),
                };
                self.at = Some(at);
                let text = self.history[at].clone();
                self.set(&text);
                return LineEvent::Typed(self.value());
            }
            Some(Action::HistoryForward) => {
                match self.at {
                    None => {}
                    Some(a) if a + 1 < self.history.len() => {
                        self.at = Some(a + 1);
                        let text = self.history[a + 1].clone();
                        self.set(&text);
                    }
                    Some(_) => {
                        self.at = None;
                        let draft = std::mem::take(&mut self.draft);
                        self.set(&draft);
                    }
                }
                return LineEvent::Typed(self.value());
            }
            _ => {}
        }
        let e = self.line.on_key(k, action);
        if matches!(e, LineEvent::Typed(_)) {
            self.candidates.clear();
        }
        e
    }

    /// The line on the `line` row; the candidates of the last Tab on the row above it.
    pub fn draw(&self, f: &mut Frame, line: Rect, theme: &Theme) {
        self.line.draw(f, line, ":", theme);
        if self.candidates.is_empty() || line.y == 0 {
            return;
        }
        let above = Rect {
            y: line.y - 1,
            ..line
        };
        let text = self.candidates.join("  ");
        f.render_widget(Clear, above);
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(
                cut(&format!(" {text}"), above.width as usize),
                theme.muted(),
            ))),
            above,
        );
    }
}
