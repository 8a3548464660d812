//! A yes/no question before something that cannot be undone (quitting with unsaved input,
//! discarding a form, a transition, revoking a key). Yes hands its `Confirmed` to the router.

use super::Outcome;
use crate::service::TransitionRequest;
use crate::tui::keymap::{Action, Context, KeyMap};
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, cut, dialog_block, s};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

/// What a yes does.
#[derive(Debug, Clone)]
pub enum Confirmed {
    Quit,
    DiscardForm,
    Transition {
        id: String,
        req: TransitionRequest,
    },
    /// Move each of a marked set: (id, request).
    Transitions(Vec<(String, TransitionRequest)>),
    Revoke(String),
    /// Replace an existing file with an export.
    Export(std::path::PathBuf),
}

pub struct Confirm {
    pub title: String,
    pub body: Vec<String>,
    /// A list under the body (the positions of a bulk move): one line each, cut to the
    /// dialog's width, and as many as fit, with how many more there are.
    pub items: Vec<String>,
    pub action: Confirmed,
}

impl Confirm {
    pub fn new(title: impl Into<String>, body: Vec<String>, action: Confirmed) -> Self {
        Confirm {
            title: title.into(),
            body,
            items: Vec::new(),
            action,
        }
    }

    pub fn with_items(mut self, items: Vec<String>) -> Self {
        self.items = items;
        self
    }

    pub fn on_action(&mut self, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Yes) => Outcome::Confirmed(self.action.clone()),
            Some(Action::No) => Outcome::Declined,
            _ => Outcome::Keep,
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keys: &KeyMap) {
        let widest = self
            .body
            .iter()
            .chain(&self.items)
            .map(|l| UnicodeWidthStr::width(s(l).as_str()))
            .max()
            .unwrap_or(20) as u16;
        let r = centered(area, (widest + 4).max(44), area.height);
        let inner_w = r.width.saturating_sub(2).max(1) as usize;
        // The body wraps; the list takes one row per item.
        let body_rows: usize = self
            .body
            .iter()
            .map(|l| {
                UnicodeWidthStr::width(s(l).as_str())
                    .max(1)
                    .div_ceil(inner_w)
            })
            .sum();
        let room =
            (r.height as usize).saturating_sub(body_rows + 4 + usize::from(!self.items.is_empty()));
        let (shown, more) = if self.items.len() > room {
            (
                room.saturating_sub(1),
                self.items.len() - room.saturating_sub(1),
            )
        } else {
            (self.items.len(), 0)
        };
        let list_rows = shown + usize::from(more > 0) + usize::from(!self.items.is_empty());
        let h = (body_rows + list_rows + 4) as u16;
        let r = centered(area, r.width, h);
        f.render_widget(Clear, r);
        let lines: Vec<Line> = self.body.iter().map(|l| Line::from(s(l))).collect();
        let mut list: Vec<Line> = Vec::new();
        if !self.items.is_empty() {
            list.push(Line::from(""));
            list.extend(
                self.items
                    .iter()
                    .take(shown)
                    .map(|l| Line::from(cut(&s(l), inner_w))),
            );
            if more > 0 {
                list.push(Line::styled(format!("… and {more} more"), theme.muted()));
            }
        }
        let keys_line = Line::from(vec![
            Span::styled(keys.key_text(Context::Confirm, Action::Yes), theme.accent()),
            Span::raw(" yes   "),
            Span::styled(keys.key_text(Context::Confirm, Action::No), theme.accent()),
            Span::raw(" no"),
        ]);
        let block = dialog_block(theme, &self.title, false);
        let inner = block.inner(r);
        f.render_widget(block, r);
        let [body, items, keys_area] = Layout::vertical([
            Constraint::Length(body_rows as u16),
            Constraint::Length(list_rows as u16),
            Constraint::Length(2),
        ])
        .areas(inner);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
        f.render_widget(Paragraph::new(list), items);
        f.render_widget(Paragraph::new(vec![Line::from(""), keys_line]), keys_area);
    }
}
