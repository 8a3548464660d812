//! A yes/no question before something that cannot be undone (quitting with unsaved input,
//! discarding a form, a transition, revoking a key). Yes hands its `Confirmed` to the router.

use super::Outcome;
use crate::service::TransitionRequest;
use crate::tui::keymap::{Action, Context, KeyMap};
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, dialog_block, s};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

/// What a yes does.
#[derive(Debug, Clone)]
pub enum Confirmed {
    Quit,
    DiscardForm,
    Transition {
        id: String,
        req: TransitionRequest,
    },
    Revoke(String),
    /// Replace an existing file with an export.
    Export(std::path::PathBuf),
}

pub struct Confirm {
    pub title: String,
    pub body: Vec<String>,
    pub action: Confirmed,
}

impl Confirm {
    pub fn new(title: impl Into<String>, body: Vec<String>, action: Confirmed) -> Self {
        Confirm {
            title: title.into(),
            body,
            action,
        }
    }

    pub fn on_action(&mut self, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Yes) => Outcome::Confirmed(self.action.clone()),
            Some(Action::No) => Outcome::Declined,
            _ => Outcome::Keep,
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keys: &KeyMap) {
        let width = self
            .body
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(20) as u16
            + 6;
        let r = centered(area, width.max(44), self.body.len() as u16 + 5);
        f.render_widget(Clear, r);
        let mut lines: Vec<Line> = self.body.iter().map(|l| Line::from(s(l))).collect();
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled(keys.key_text(Context::Confirm, Action::Yes), theme.accent()),
            Span::raw(" yes   "),
            Span::styled(keys.key_text(Context::Confirm, Action::No), theme.accent()),
            Span::raw(" no"),
        ]));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(dialog_block(theme, &self.title, false)),
            r,
        );
    }
}
