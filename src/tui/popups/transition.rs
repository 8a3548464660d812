//! The transition dialog: the states allowed from the position's state, an optional reason, and
//! then a confirmation that names the move (the request carries the state and version seen, so a
//! move made by someone else meanwhile is refused, not overwritten). Over a marked set it offers
//! the states every one of them may move to, and the confirmation lists each position.
//!
//! A partial release asks for its amount (what is held shown beside it, checked as it is typed:
//! more than zero, less than what is held — all of it is a move to RELEASED). A marked set is
//! never partially released together: each position's amount is its own.

use super::{Confirm, Confirmed, Outcome};
use crate::domain::text::sanitize;
use crate::domain::{Money, Position, PositionState, lifecycle};
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
    /// The position to move: the selected one, or the first of the marked set.
    pub position: Position,
    /// The whole marked set (empty: one position).
    pub marked: Vec<Position>,
    pub targets: Vec<PositionState>,
    pub choice: usize,
    pub reason: TextArea<'static>,
    /// Focus on the reason box (else on the state list or the amount).
    pub on_reason: bool,
    /// The amount of a partial release (one line).
    pub amount: TextArea<'static>,
    /// Focus on the amount box (shown when the chosen state is PARTIALLY_RELEASED).
    pub on_amount: bool,
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
        let mut amount = TextArea::default();
        amount.set_cursor_line_style(Style::default());
        amount.set_placeholder_text("amount to release");
        Some(TransitionDialog {
            position,
            marked: Vec::new(),
            targets,
            choice: 0,
            reason,
            on_reason: false,
            amount,
            on_amount: false,
            error: None,
        })
    }

    /// The dialog for a marked set: the states every one of them may move to. Err: why there
    /// is none (a terminal position, or states with no common next state).
    pub fn bulk(marked: Vec<Position>) -> Result<Self, String> {
        let Some(first) = marked.first().cloned() else {
            return Err("mark positions first".into());
        };
        if let Some(p) = marked.iter().find(|p| p.state.is_terminal()) {
            return Err(format!(
                "{} is {}, a terminal state: unmark it to move the others",
                p.id, p.state
            ));
        }
        let targets: Vec<PositionState> = lifecycle::allowed_targets(first.state)
            .iter()
            .copied()
            .filter(|t| {
                *t != PositionState::PartiallyReleased
                    && marked
                        .iter()
                        .all(|p| lifecycle::allowed_targets(p.state).contains(t))
            })
            .collect();
        if targets.is_empty() {
            let mut states: Vec<&str> = marked.iter().map(|p| p.state.as_str()).collect();
            states.sort();
            states.dedup();
            return Err(format!(
                "the marked positions ({}) have no next state in common (a partial release is one \
                 position at a time: its amount is its own): mark positions of one state",
                states.join(", ")
            ));
        }
        let mut d = Self::new(first).expect("not terminal");
        d.targets = targets;
        d.marked = marked;
        Ok(d)
    }

    /// Whether the chosen move is a partial release (which takes an amount).
    pub fn releasing_part(&self) -> bool {
        self.marked.is_empty() && self.targets[self.choice] == PositionState::PartiallyReleased
    }

    pub fn on_key(&mut self, k: KeyEvent, action: Option<Action>) -> Outcome {
        let on_list = !self.on_reason && !self.on_amount;
        match action {
            Some(Action::Close) => return Outcome::Close,
            // The state list, then the amount (of a partial release), then the reason.
            Some(Action::SwitchFocus) => {
                (self.on_amount, self.on_reason) = match (on_list, self.on_amount) {
                    (true, _) if self.releasing_part() => (true, false),
                    (true, _) => (false, true),
                    (false, true) => (false, true),
                    _ => (false, false),
                };
            }
            Some(Action::Up) if on_list => {
                self.choice = self.choice.saturating_sub(1);
                self.error = self.amount_error();
            }
            Some(Action::Down) if on_list => {
                self.choice = (self.choice + 1).min(self.targets.len() - 1);
                self.error = self.amount_error();
            }
            Some(Action::Submit) => return self.confirmation(),
            _ if self.on_amount => {
                let _ = crate::tui::popups::line::edit(&mut self.amount, k);
                self.error = self.amount_error();
            }
            _ if self.on_reason => {
                let _ = crate::tui::popups::line::edit(&mut self.reason, k);
                self.error = None;
            }
            _ => {}
        }
        Outcome::Keep
    }

    /// The amount as typed (blank: none).
    fn amount_text(&self) -> Option<String> {
        let a = self.amount.lines().join("");
        let a = a.trim();
        (!a.is_empty()).then(|| a.to_string())
    }

    /// What is wrong with the amount for the chosen move, as it would be refused: checked as it
    /// is typed (a blank amount is only an error on submit).
    fn amount_error(&self) -> Option<String> {
        if !self.releasing_part() {
            return None;
        }
        let text = self.amount_text()?;
        let p = &self.position;
        let release = match Money::parse(&text) {
            Ok(m) => m,
            Err(e) => return Some(format!("amount: {e}")),
        };
        lifecycle::balance_step(
            p.amount,
            p.released,
            p.state,
            self.targets[self.choice],
            Some(release),
        )
        .err()
        .map(|e| format!("amount: {e}"))
    }

    /// Enter: the confirmation of the chosen move, or the reason's error.
    fn confirmation(&mut self) -> Outcome {
        let reason = self.reason.lines().join("\n");
        if let Err(e) = crate::domain::model::validate_reason(Some(&reason)) {
            self.error = Some(e.to_string());
            return Outcome::Keep;
        }
        let to = self.targets[self.choice];
        let reason = Some(reason).filter(|r| !r.trim().is_empty());
        if !self.marked.is_empty() {
            return self.bulk_confirmation(to, reason);
        }
        let amount = if self.releasing_part() {
            if let Some(e) = self.amount_error() {
                self.error = Some(e);
                self.on_amount = true;
                self.on_reason = false;
                return Outcome::Keep;
            }
            match self.amount_text() {
                Some(a) => Some(a),
                None => {
                    self.error = Some(format!(
                        "amount: a partial release needs its amount{}",
                        held_text(&self.position)
                            .map(|h| format!(" (held: {h})"))
                            .unwrap_or_default()
                    ));
                    self.on_amount = true;
                    self.on_reason = false;
                    return Outcome::Keep;
                }
            }
        } else {
            None
        };
        let p = &self.position;
        let mut req = request(p, to, reason.clone());
        req.amount = amount.clone();
        let mut body = vec![
            format!("Move {} from {} to {}?", p.id, p.state, to),
            format!(
                "{} · {} {}",
                sanitize(&p.holder_reference),
                p.amount.display_grouped(),
                p.currency
            ),
        ];
        if let Some(a) = amount.as_deref().and_then(|a| Money::parse(a).ok()) {
            body.push(format!(
                "Release {} {}{}",
                a.display_grouped(),
                p.currency,
                p.held
                    .and_then(|h| h.minus(a))
                    .map(|left| format!(" · {} {} left held", left.display_grouped(), p.currency))
                    .unwrap_or_default()
            ));
        } else if let Some(step) =
            lifecycle::balance_step(p.amount, p.released, p.state, to, None).ok()
            && let Some(moved) = step.moved.filter(|m| !m.is_zero())
        {
            body.push(match to {
                PositionState::Released => {
                    format!(
                        "Releases the {} {} held",
                        moved.display_grouped(),
                        p.currency
                    )
                }
                _ => format!(
                    "Returns the {} {} held",
                    moved.display_grouped(),
                    p.currency
                ),
            });
        }
        if let Some(reason) = &reason {
            body.push(format!("Reason: {}", sanitize(reason)));
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

    /// The confirmation of a move of the marked set: one line per position.
    fn bulk_confirmation(&self, to: PositionState, reason: Option<String>) -> Outcome {
        let n = self.marked.len();
        let mut body = vec![format!(
            "Move {} to {to}?",
            crate::domain::text::counted(n as u64, "marked position", "marked positions")
        )];
        if let Some(reason) = &reason {
            body.push(format!("Reason: {}", sanitize(reason)));
        }
        if to.is_terminal() {
            body.push(format!("{to} is final: they cannot move again."));
        }
        body.push(
            "Each moves only if no one else moved it first; the message log lists each result."
                .into(),
        );
        // One line each: short id, the move, the amount (never cut: the holder is last and
        // takes the cut), amounts aligned.
        let amounts: Vec<String> = self
            .marked
            .iter()
            .map(|p| format!("{} {}", p.amount.display_grouped(), p.currency))
            .collect();
        let aw = amounts.iter().map(|a| a.chars().count()).max().unwrap_or(0);
        let sw = self
            .marked
            .iter()
            .map(|p| p.state.as_str().len())
            .max()
            .unwrap_or(0);
        let lines = self
            .marked
            .iter()
            .zip(&amounts)
            .map(|(p, amount)| {
                format!(
                    "{}  {:<sw$} → {to}  {amount:>aw$}  {}",
                    short(&p.id),
                    p.state.as_str(),
                    sanitize(&p.holder_reference)
                )
            })
            .collect();
        let items = self
            .marked
            .iter()
            .map(|p| (p.id.clone(), request(p, to, reason.clone())))
            .collect();
        Outcome::Replace(super::Popup::Confirm(
            Confirm::new(
                format!(
                    "Confirm {}",
                    crate::domain::text::counted(n as u64, "transition", "transitions")
                ),
                body,
                Confirmed::Transitions(items),
            )
            .with_items(lines),
        ))
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keys: &KeyMap) {
        let h = self.targets.len() as u16 + 11 + if self.releasing_part() { 3 } else { 0 };
        let r = centered(area, 76, h);
        f.render_widget(Clear, r);
        let title = if self.marked.is_empty() {
            format!("Transition {}", short(&self.position.id))
        } else {
            format!(
                "Transition {}",
                crate::domain::text::counted(
                    self.marked.len() as u64,
                    "marked position",
                    "marked positions"
                )
            )
        };
        let block = dialog_block(theme, &title, false);
        let inner = block.inner(r);
        f.render_widget(block, r);
        let p: &Position = &self.position;
        let now = if self.marked.is_empty() {
            Line::from(vec![
                Span::raw("Now "),
                state_badge(theme, p.state),
                Span::raw(format!(
                    "   {} {} · {}",
                    p.amount.display_grouped(),
                    p.currency,
                    s(&p.holder_reference)
                )),
            ])
        } else {
            let mut by_state: Vec<(PositionState, usize)> = Vec::new();
            for m in &self.marked {
                match by_state.iter_mut().find(|(st, _)| *st == m.state) {
                    Some((_, n)) => *n += 1,
                    None => by_state.push((m.state, 1)),
                }
            }
            let mut spans = vec![Span::raw("Now ")];
            for (i, (st, n)) in by_state.into_iter().enumerate() {
                if i > 0 {
                    spans.push(Span::raw(", "));
                }
                spans.push(Span::raw(format!("{n} ")));
                spans.push(state_badge(theme, st));
            }
            Line::from(spans)
        };
        let mut lines = vec![
            now,
            Line::from(Span::styled(
                if self.marked.is_empty() {
                    "Move to (only the states allowed from here):"
                } else {
                    "Move all to (only the states allowed from every one):"
                },
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
            lines.push(if chosen && !self.on_reason && !self.on_amount {
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
        let mut y = inner.y + list_h + 1;
        if self.releasing_part() {
            let amount_area = Rect {
                x: inner.x,
                y,
                width: inner.width,
                height: 3,
            };
            let mut amount = self.amount.clone();
            let held = held_text(p).unwrap_or_else(|| "not known".into());
            amount.set_block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(
                        " Amount to release ({}) · held: {} ",
                        p.currency,
                        s(&held)
                    ))
                    .border_style(if self.on_amount {
                        theme.focus()
                    } else {
                        theme.muted()
                    }),
            );
            if !self.on_amount {
                amount.set_cursor_style(Style::default());
            }
            f.render_widget(&amount, amount_area);
            y += 3;
        }
        let reason_area = Rect {
            x: inner.x,
            y,
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

/// What a position holds, for the dialog ("750.00 USD"); None when not known.
fn held_text(p: &Position) -> Option<String> {
    p.held
        .map(|h| format!("{} {}", h.display_grouped(), p.currency))
}

/// The request for one position: it carries the state and version seen, so a move made by
/// someone else meanwhile is refused rather than overwritten.
fn request(p: &Position, to: PositionState, reason: Option<String>) -> TransitionRequest {
    TransitionRequest {
        to: to.as_str().into(),
        reason,
        expect_state: Some(p.state.as_str().into()),
        expect_version: Some(p.version),
        metadata: None,
        amount: None,
    }
}
