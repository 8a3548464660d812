//! A message: a result or an error, closed with a key; an API key token shown once can be copied
//! from it.

use super::Outcome;
use crate::service::{CheckReport, CreatedKey, ServiceResult, VerifyReport};
use crate::tui::keymap::{Action, Context, KeyMap};
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, cut_line, dialog_block, s};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

pub struct Message {
    pub title: String,
    pub body: Vec<String>,
    pub error: bool,
    /// The first line shown, when the message is taller than the screen.
    scroll: usize,
    /// How far it can scroll (set as it is drawn).
    max_scroll: std::cell::Cell<usize>,
}

impl Message {
    pub fn new(title: impl Into<String>, body: Vec<String>, error: bool) -> Self {
        Message {
            title: title.into(),
            body,
            error,
            scroll: 0,
            max_scroll: Default::default(),
        }
    }

    /// The message log, oldest first, each line with its time; opened at its end (the newest).
    pub fn log(entries: &[(String, bool, String)]) -> Self {
        let body = if entries.is_empty() {
            vec!["No messages yet in this session.".into()]
        } else {
            entries
                .iter()
                .map(|(at, error, text)| format!("{at}  {}{text}", if *error { "✗ " } else { "" }))
                .collect()
        };
        let mut m = Message::new(format!("Messages ({})", entries.len()), body, false);
        m.scroll = usize::MAX;
        m
    }

    /// The result of verifying the hash chain.
    pub fn verified(r: &ServiceResult<VerifyReport>) -> Self {
        match r {
            Ok(v) if v.ok => Message::new(
                "Ledger verified",
                vec![
                    format!(
                        "The hash chain is intact: {} checked.",
                        crate::domain::text::counted(v.checked, "event", "events")
                    ),
                    format!("Head: seq {}", v.head_seq),
                    format!("Hash: {}", v.head_hash),
                ],
                false,
            ),
            Ok(v) => {
                let (seq, reason) = v
                    .broken
                    .as_ref()
                    .map(|b| (b.seq, b.reason.clone()))
                    .unwrap_or_default();
                Message::new(
                    "Ledger BROKEN",
                    vec![
                        format!("The chain breaks at seq {seq}."),
                        reason,
                        format!(
                            "{} before it verified.",
                            crate::domain::text::counted(v.checked, "event", "events")
                        ),
                    ],
                    true,
                )
            }
            Err(e) => Message::new("Cannot verify", vec![e.to_string()], true),
        }
    }

    /// What `check` found, the first findings listed.
    pub fn check_findings(r: &CheckReport) -> Self {
        let mut body = vec![format!(
            "{} in {} and {}:",
            crate::domain::text::counted(r.findings.len() as u64 + r.more, "finding", "findings"),
            crate::domain::text::counted(r.events, "ledger event", "ledger events"),
            crate::domain::text::counted(r.entities, "entity", "entities")
        )];
        for f in r.findings.iter().take(12) {
            let seq = f.seq.map(|s| format!("seq {s} ")).unwrap_or_default();
            let entity = f.entity.as_deref().unwrap_or("");
            body.push(format!("{seq}{entity}: {}", f.what));
        }
        if r.findings.len() > 12 || r.more > 0 {
            body.push("… `escrowgrid check` lists them all.".into());
        }
        body.extend(r.notes.iter().map(|n| format!("note: {n}")));
        Message::new("Store INCONSISTENT", body, true)
    }

    /// A new API key's token, shown this once; `copy` is the key that copies it.
    pub fn api_key_created(k: &CreatedKey, copy: &str) -> Self {
        Message::new(
            "API key created — shown only once",
            vec![
                format!(
                    "{} · {} · {}",
                    k.api_key.label, k.api_key.role, k.api_key.id
                ),
                String::new(),
                k.token.clone(),
                String::new(),
                format!(
                    "Copy it now ({copy} copies it to the clipboard); only its SHA-256 is stored."
                ),
            ],
            false,
        )
    }

    /// A transition refused because someone else moved the position first.
    pub fn moved_first(id: &str, now: Option<&str>) -> Self {
        Message::new(
            "Someone else moved it first",
            vec![
                format!("Position {id} changed while you were deciding."),
                format!(
                    "It is now {}. Nothing was changed by you.",
                    now.unwrap_or("unknown")
                ),
                "Look at its fresh state and try again if still needed.".into(),
            ],
            true,
        )
    }

    /// The API key token in the message, if it shows one.
    pub fn token(&self) -> Option<&String> {
        self.body
            .iter()
            .find(|l| crate::domain::apikey::looks_like_token(l))
    }

    pub fn on_action(&mut self, action: Option<Action>) -> Outcome {
        let max = self.max_scroll.get();
        let at = self.scroll.min(max);
        match action {
            Some(Action::Close) => return Outcome::Close,
            Some(Action::Down) => self.scroll = (at + 1).min(max),
            Some(Action::Up) => self.scroll = at.saturating_sub(1),
            Some(Action::PageDown) => self.scroll = (at + 10).min(max),
            Some(Action::PageUp) => self.scroll = at.saturating_sub(10),
            Some(Action::Bottom) => self.scroll = max,
            Some(Action::Top) => self.scroll = 0,
            _ => {}
        }
        match action {
            Some(Action::Copy) => match self.token() {
                Some(t) => Outcome::Copy(t.clone()),
                None => Outcome::Keep,
            },
            _ => Outcome::Keep,
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme, keys: &KeyMap) {
        let footer = keys.footer(Context::Message);
        let longest = self
            .body
            .iter()
            .map(|l| l.width())
            .chain([footer.width(), self.title.width()])
            .max()
            .unwrap_or(20) as u16;
        let width = (longest + 6).max(40).min(area.width.saturating_sub(2));
        // Long lines wrap: the dialog is as tall as its wrapped text, up to the screen, and
        // scrolls beyond that.
        let lines: Vec<Line> = self.body.iter().map(|l| Line::from(s(l))).collect();
        let text = Paragraph::new(lines).wrap(Wrap { trim: false });
        let wrapped = text.line_count(width.saturating_sub(2));
        let r = centered(area, width, wrapped as u16 + 3);
        f.render_widget(Clear, r);
        let block = dialog_block(theme, &self.title, self.error);
        let inner = block.inner(r);
        f.render_widget(block, r);
        let body = Rect {
            height: inner.height.saturating_sub(1),
            ..inner
        };
        self.max_scroll
            .set(wrapped.saturating_sub(body.height as usize));
        let scroll = self.scroll.min(self.max_scroll.get());
        f.render_widget(text.scroll((scroll as u16, 0)), body);
        let more = if self.max_scroll.get() > 0 {
            format!(
                "{footer} · {}/{} scroll",
                keys.key_text(Context::Message, Action::Down),
                keys.key_text(Context::Message, Action::Up)
            )
        } else {
            footer
        };
        let foot = Rect {
            y: inner.bottom().saturating_sub(1),
            height: 1,
            ..inner
        };
        f.render_widget(
            Paragraph::new(cut_line(
                Line::from(Span::styled(more, theme.muted())),
                foot.width as usize,
            )),
            foot,
        );
    }
}
