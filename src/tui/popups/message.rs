//! A message: a result or an error, closed with a key; an API key token shown once can be copied
//! from it.

use super::Outcome;
use crate::tui::keymap::{Action, Context, KeyMap};
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, dialog_block, s};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

pub struct Message {
    pub title: String,
    pub body: Vec<String>,
    pub error: bool,
}

impl Message {
    pub fn new(title: impl Into<String>, body: Vec<String>, error: bool) -> Self {
        Message {
            title: title.into(),
            body,
            error,
        }
    }

    /// The API key token in the message, if it shows one.
    pub fn token(&self) -> Option<&String> {
        self.body
            .iter()
            .find(|l| crate::domain::apikey::looks_like_token(l))
    }

    pub fn on_action(&mut self, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Close) => Outcome::Close,
            Some(Action::Copy) => match self.token() {
                Some(t) => Outcome::Copy(t.clone()),
                None => Outcome::Keep,
            },
            _ => Outcome::Keep,
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keys: &KeyMap) {
        let footer = keys.footer(Context::Message);
        let width = self
            .body
            .iter()
            .map(|l| l.chars().count())
            .chain([footer.chars().count()])
            .max()
            .unwrap_or(20)
            .max(self.title.len()) as u16
            + 6;
        let r = centered(area, width.max(40), self.body.len() as u16 + 4);
        f.render_widget(Clear, r);
        let mut lines: Vec<Line> = self.body.iter().map(|l| Line::from(s(l))).collect();
        lines.push(Line::from(Span::styled(footer, theme.muted())));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(dialog_block(theme, &self.title, self.error)),
            r,
        );
    }
}
