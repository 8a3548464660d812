//! A picker: one value from a short list (a state, an institution, a ledger kind), opened on the
//! current value; its first choice clears the filter.

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
    pub index: usize,
    pub purpose: PickerPurpose,
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
        }
    }

    pub fn on_action(&mut self, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Close) => return Outcome::Close,
            Some(Action::Up) => self.index = self.index.saturating_sub(1),
            Some(Action::Down) => {
                self.index = (self.index + 1).min(self.options.len().saturating_sub(1))
            }
            Some(Action::Submit) => {
                let v = self
                    .options
                    .get(self.index)
                    .map(|(v, _)| v.clone())
                    .filter(|v| !v.is_empty());
                return Outcome::Picked(self.purpose, v);
            }
            _ => {}
        }
        Outcome::Keep
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keys: &KeyMap) {
        let h = (self.options.len() as u16 + 3).min(area.height.saturating_sub(4));
        let r = centered(area, 44, h);
        f.render_widget(Clear, r);
        let inner_h = h.saturating_sub(3) as usize;
        let skip = self.index.saturating_sub(inner_h.saturating_sub(1));
        let mut lines: Vec<Line> = self
            .options
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
        lines.push(Line::styled(keys.footer(Context::Picker), theme.muted()));
        f.render_widget(
            Paragraph::new(lines).block(dialog_block(theme, &self.title, false)),
            r,
        );
    }
}
