//! The transition dialog: the states allowed from the position's state, an optional reason, and
//! then a confirmation that names the move (the request carries the state and version seen, so a
//! move made by someone else meanwhile is refused, not overwritten).

use super::{Confirm, Confirmed, Outcome};
use crate::domain::text::sanitize;
use crate::domain::{Position, PositionState, lifecycle};
use crate::service::TransitionRequest;
use crate::tui::keymap::{Action, Context, KeyMap};
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, dialog_block, s, short, state_badge};
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::TextArea;

pub struct TransitionDialog {
    pub position: Position,
    pub targets: Vec<PositionState>,
    pub choice: usize,
    pub reason: TextArea<'static>,
    /// Focus on the reason box (else on the state list).
    pub on_reason: bool,
    pub error: Option<String>,
}

impl TransitionDialog {
    /// The dialog for a position; None for a terminal one (nowhere to go).
    pub fn new(position: Position) -> Option<Self> {
        let targets = lifecycle::allowed_targets(position.state).to_vec();
        if targets.is_empty() {
            return None;
        }
        let mut reason = TextArea::default();
        reason.set_cursor_line_style(Style::default());
        reason.set_placeholder_text("reason (optional, up to 1000 characters)");
        Some(TransitionDialog {
            position,
            targets,
            choice: 0,
            reason,
            on_reason: false,
            error: None,
        })
    }

    pub fn on_key(&mut self, k: KeyEvent, action: Option<Action>) -> Outcome {
        match action {
            Some(Action::Close) => return Outcome::Close,
            Some(Action::SwitchFocus) => self.on_reason = !self.on_reason,
            Some(Action::Up) if !self.on_reason => self.choice = self.choice.saturating_sub(1),
            Some(Action::Down) if !self.on_reason => {
                self.choice = (self.choice + 1).min(self.targets.len() - 1)
            }
            Some(Action::Submit) => return self.confirmation(),
            _ if self.on_reason => {
                let _ = crate::tui::popups::line::edit(&mut self.reason, k);
                self.error = None;
            }
            _ => {}
        }
        Outcome::Keep
    }

    /// Enter: the confirmation of the chosen move, or the reason's error.
    fn confirmation(&mut self) -> Outcome {
        let reason = self.reason.lines().join("\n");
        if let Err(e) = crate::domain::model::validate_reason(Some(&reason)) {
            self.error = Some(e.to_string());
            return Outcome::Keep;
        }
        let to = self.targets[self.choice];
        let p = &self.position;
        let req = TransitionRequest {
            to: to.as_str().into(),
            reason: Some(reason.clone()).filter(|r| !r.trim().is_empty()),
            expect_state: Some(p.state.as_str().into()),
            expect_version: Some(p.version),
            metadata: None,
        };
        let mut body = vec![
            format!("Move {} from {} to {}?", p.id, p.state, to),
            format!(
                "{} · {} {}",
                sanitize(&p.holder_reference),
                p.amount.display_grouped(),
                p.currency
            ),
        ];
        if !reason.trim().is_empty() {
            body.push(format!("Reason: {}", sanitize(&reason)));
        }
        if to.is_terminal() {
            body.push(format!("{to} is final: the position cannot move again."));
        }
        Outcome::Replace(super::Popup::Confirm(Confirm::new(
            "Confirm transition",
            body,
            Confirmed::Transition {
                id: p.id.clone(),
                req,
            },
        )))
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keys: &KeyMap) {
        let h = self.targets.len() as u16 + 11;
        let r = centered(area, 76, h);
        f.render_widget(Clear, r);
        let block = dialog_block(
            theme,
            &format!("Transition {}", short(&self.position.id)),
            false,
        );
        let inner = block.inner(r);
        f.render_widget(block, r);
        let p: &Position = &self.position;
        let mut lines = vec![
            Line::from(vec![
                Span::raw("Now "),
                state_badge(theme, p.state),
                Span::raw(format!(
                    "   {} {} · {}",
                    p.amount.display_grouped(),
                    p.currency,
                    s(&p.holder_reference)
                )),
            ]),
            Line::from(Span::styled(
                "Move to (only the states allowed from here):",
                theme.muted(),
            )),
        ];
        for (i, t) in self.targets.iter().enumerate() {
            let chosen = i == self.choice;
            let marker = if chosen { "› " } else { "  " };
            let mut spans = vec![Span::raw(marker), state_badge(theme, *t)];
            if t.is_terminal() {
                spans.push(Span::styled("  (final)", theme.muted()));
            }
            let line = Line::from(spans);
            lines.push(if chosen && !self.on_reason {
                line.style(Style::default().add_modifier(Modifier::BOLD))
            } else {
                line
            });
        }
        let list_h = lines.len() as u16;
        f.render_widget(
            Paragraph::new(lines),
            Rect {
                height: list_h,
                ..inner
            },
        );
        let reason_area = Rect {
            x: inner.x,
            y: inner.y + list_h + 1,
            width: inner.width,
            height: 4,
        };
        let mut reason = self.reason.clone();
        reason.set_block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Reason ")
                .border_style(if self.on_reason {
                    theme.focus()
                } else {
                    theme.muted()
                }),
        );
        if !self.on_reason {
            reason.set_cursor_style(Style::default());
        }
        f.render_widget(&reason, reason_area);
        let choose = format!(
            "{}/{} choose · ",
            keys.key_text(Context::TransitionDialog, Action::Up),
            keys.key_text(Context::TransitionDialog, Action::Down)
        );
        let mut footer = vec![Line::from(Span::styled(
            choose + &keys.footer(Context::TransitionDialog),
            theme.muted(),
        ))];
        if let Some(e) = &self.error {
            footer.insert(0, Line::from(Span::styled(s(e), theme.error())));
        }
        let y = reason_area.y + reason_area.height;
        f.render_widget(
            Paragraph::new(footer),
            Rect {
                x: inner.x,
                y,
                width: inner.width,
                height: inner.height.saturating_sub(y - inner.y),
            },
        );
    }
}
