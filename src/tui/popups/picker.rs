//! A picker: one value from a short list (a state, an institution, a ledger kind), opened on the
//! current value; its first choice clears the filter. Typing narrows the list to the choices
//! that contain what is typed (Backspace and Ctrl-U undo it), so `Enter` after a few letters
//! picks.

use super::Outcome;
use crate::tui::keymap::{Action, Context, KeyMap};
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, dialog_block};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

/// What the picked value is for (the view that opened the picker knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickerPurpose {
    PositionState,
    PositionInstitution,
    LedgerKind,
    AuditAction,
}

pub struct Picker {
    pub title: String,
    /// (value, label); the first has an empty value: "all".
    pub options: Vec<(String, String)>,
    /// The index, in `shown()`, of the highlighted choice.
    pub index: usize,
    pub purpose: PickerPurpose,
    /// What has been typed to narrow the list.
    pub query: String,
}

impl Picker {
    /// A picker whose first choice (`all`) clears the filter, opened on the current value.
    pub fn new(
        title: &str,
        all: &str,
        choices: Vec<(String, String)>,
        current: Option<&str>,
        purpose: PickerPurpose,
    ) -> Self {
        let mut options = vec![(String::new(), all.to_string())];
        options.extend(choices);
        let index = current
            .and_then(|c| options.iter().position(|(v, _)| v == c))
            .unwrap_or(0);
        Picker {
            title: title.into(),
            options,
            index,
            purpose,
            query: String::new(),
        }
    }

    /// The choices shown: all of them, or those containing the query (ignoring case), without
    /// the "all" choice.
    pub fn shown(&self) -> Vec<&(String, String)> {
        if self.query.is_empty() {
            return self.options.iter().collect();
        }
        let q = self.query.to_lowercase();
        self.options
            .iter()
            .skip(1)
            .filter(|(v, l)| v.to_lowercase().contains(&q) || l.to_lowercase().contains(&q))
            .collect()
    }

    pub fn on_key(&mut self, k: crossterm::event::KeyEvent, action: Option<Action>) -> Outcome {
        use crossterm::event::{KeyCode, KeyModifiers};
        let len = self.shown().len();
        match action {
            Some(Action::Close) => return Outcome::Close,
            Some(Action::Up) => self.index = self.index.saturating_sub(1),
            Some(Action::Down) => self.index = (self.index + 1).min(len.saturating_sub(1)),
            Some(Action::Submit) => {
                let v = self
                    .shown()
                    .get(self.index)
                    .map(|(v, _)| v.clone())
                    .filter(|v| !v.is_empty());
                return Outcome::Picked(self.purpose, v);
            }
            _ => {
                let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
                match k.code {
                    KeyCode::Char('u') if ctrl => self.query.clear(),
                    KeyCode::Char(c) if !ctrl && !c.is_control() => self.query.push(c),
                    KeyCode::Backspace => {
                        self.query.pop();
                    }
                    _ => return Outcome::Keep,
                }
                self.index = 0;
            }
        }
        Outcome::Keep
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keys: &KeyMap) {
        let shown = self.shown();
        let h = (self.options.len() as u16 + 3).min(area.height.saturating_sub(4));
        let r = centered(area, 44, h);
        f.render_widget(Clear, r);
        let inner_h = h.saturating_sub(3) as usize;
        let skip = self.index.saturating_sub(inner_h.saturating_sub(1));
        let mut lines: Vec<Line> = shown
            .iter()
            .enumerate()
            .skip(skip)
            .take(inner_h)
            .map(|(i, (_, label))| {
                let l = Line::from(format!(" {label}"));
                if i == self.index {
                    l.style(theme.selected())
                } else {
                    l
                }
            })
            .collect();
        if shown.is_empty() {
            lines.push(Line::styled(" nothing matches", theme.muted()));
        }
        while lines.len() < inner_h {
            lines.push(Line::from(""));
        }
        lines.push(Line::styled(keys.footer(Context::Picker), theme.muted()));
        let title = if self.query.is_empty() {
            format!("{} (type to narrow)", self.title)
        } else {
            format!("{}: {}", self.title, crate::tui::widgets::s(&self.query))
        };
        f.render_widget(
            Paragraph::new(lines).block(dialog_block(theme, &title, false)),
            r,
        );
    }
}
