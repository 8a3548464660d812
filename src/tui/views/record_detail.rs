//! A ledger event or an audit record, whole. An event: its kind, seq, time, who acted (actor,
//! key and operation, from the audit record of the action that wrote it), what it is about, its
//! payload as indented JSON, its previous hash and hash, and whether a confirmed on-chain anchor
//! covers it. A record: its action, outcome, actor, key, operation, what it concerned and the
//! whole error. `Enter` opens what the event is about (over this view: `Esc` comes back here, and
//! again to the Ledger tab); the arrows scroll.

use super::{Cx, Data, Dcx, Request, View};
use crate::domain::EntityType;
use crate::domain::audit::AuditEvent;
use crate::domain::time;
use crate::service::EventDetail;
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::{Cmd, Loaded};
use crate::tui::nav::Detail;
use crate::tui::widgets::{cut_lines, empty, kv, s, section};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

pub struct RecordDetail {
    detail: Detail,
    event: Option<EventDetail>,
    record: Option<AuditEvent>,
    /// Lines scrolled off the top.
    scroll: usize,
    /// Events up to this seq are covered by a confirmed anchor (from the health reports).
    anchored_to: Option<i64>,
}

impl RecordDetail {
    pub fn new(detail: Detail) -> Self {
        RecordDetail {
            detail,
            event: None,
            record: None,
            scroll: 0,
            anchored_to: None,
        }
    }

    /// What the event is about, as a detail view.
    fn subject(&self) -> Option<Detail> {
        let e = &self.event.as_ref()?.event;
        Some(match (&e.position_id, e.entity_type) {
            (Some(p), _) => Detail::Position(p.clone()),
            (None, EntityType::Institution | EntityType::Policy | EntityType::ApiKey) => {
                Detail::Institution(e.institution_id.clone())
            }
            (None, EntityType::AssetTemplate) => Detail::Template(e.entity_id.clone()),
            (None, EntityType::Asset) => Detail::Asset(e.entity_id.clone()),
            (None, EntityType::Position) => return None,
        })
    }

    fn event_lines(&self, d: &EventDetail, cx: &Dcx) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
        let theme = cx.theme;
        let e = &d.event;
        let who = |a: &AuditEvent| {
            let key = a.api_key_id.as_deref().map(s).unwrap_or_else(|| "—".into());
            (
                s(&a.actor),
                key,
                a.op_id.as_deref().map(s).unwrap_or_else(|| "—".into()),
            )
        };
        let (actor, key, op) = match &d.audit {
            Some(a) => who(a),
            None => (
                e.payload
                    .get("actor")
                    .and_then(|v| v.as_str())
                    .map(s)
                    .unwrap_or_else(|| "—".into()),
                "—".into(),
                "— (no audit record found)".into(),
            ),
        };
        let anchored = match self.anchored_to {
            Some(a) if e.seq <= a => {
                Span::styled(format!("yes: covered by the anchor of seq {a}"), theme.ok())
            }
            Some(a) if a > 0 => {
                Span::styled(format!("not yet (anchored to seq {a})"), theme.muted())
            }
            _ => Span::styled("no confirmed anchor", theme.muted()),
        };
        let facts = vec![
            kv(theme, "Kind", e.kind.as_str().to_string()),
            kv(theme, "Seq", e.seq.to_string()),
            kv(theme, "Time", time::format(&e.at)),
            kv(theme, "Actor", actor),
            kv(theme, "Key", key),
            kv(theme, "Operation", op),
            kv(
                theme,
                "About",
                format!("{} {}", e.entity_type.as_str(), s(&e.entity_id)),
            ),
            kv(
                theme,
                "Institution",
                cx.data.institution_name(&e.institution_id),
            ),
            kv(theme, "Previous hash", e.prev_hash.clone()),
            kv(theme, "Hash", e.hash.clone()),
            kv(theme, "Anchored", anchored),
        ];
        let json = serde_json::to_string_pretty(&e.payload).unwrap_or_default();
        let payload = json.lines().map(|l| Line::from(s(l))).collect();
        (facts, payload)
    }

    fn record_lines(&self, a: &AuditEvent, cx: &Dcx) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
        let theme = cx.theme;
        let opt = |v: &Option<String>| v.as_deref().map(s).unwrap_or_else(|| "—".into());
        let outcome = match a.outcome {
            crate::domain::Outcome::Success => Span::styled("success", theme.ok()),
            crate::domain::Outcome::Failure => Span::styled("FAILURE", theme.error()),
        };
        let facts = vec![
            kv(theme, "Action", s(&a.action)),
            kv(theme, "Outcome", outcome),
            kv(theme, "Time", time::format(&a.occurred_at)),
            kv(theme, "Actor", s(&a.actor)),
            kv(theme, "Key", opt(&a.api_key_id)),
            kv(theme, "Operation", opt(&a.op_id)),
            kv(
                theme,
                "Concerning",
                format!("{} {}", opt(&a.resource_type), opt(&a.resource_id)),
            ),
            kv(
                theme,
                "Institution",
                a.subject_institution_id
                    .as_deref()
                    .map(|i| cx.data.institution_name(i))
                    .unwrap_or_else(|| "—".into()),
            ),
            kv(
                theme,
                "Audit seq",
                a.seq
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "— (outside the chain)".into()),
            ),
            kv(theme, "Hash", opt(&a.hash)),
        ];
        let mut more = Vec::new();
        if let Some(err) = &a.error {
            more.push(Line::from(Span::styled(
                format!("{}: {}", s(&err.code), s(&err.message)),
                theme.error(),
            )));
            more.push(Line::from(""));
        }
        if let Some(p) = &a.payload {
            let json = serde_json::to_string_pretty(p).unwrap_or_default();
            more.extend(json.lines().map(|l| Line::from(s(l))));
        }
        (facts, more)
    }
}

impl View for RecordDetail {
    fn context(&self) -> Context {
        Context::Global
    }

    fn crumb(&self, _cx: &Dcx) -> Option<String> {
        Some(match &self.detail {
            Detail::LedgerEvent(seq) => format!("ledger seq {seq}"),
            other => format!("audit record {}", crate::tui::widgets::short(other.id())),
        })
    }

    fn refresh(&mut self, cx: &mut Cx) {
        match &self.detail {
            Detail::LedgerEvent(seq) => cx.cmd(Cmd::LoadEventDetail(*seq)),
            other => cx.cmd(Cmd::LoadAuditRecord(other.id().to_string())),
        }
    }

    fn on_loaded(&mut self, l: &Loaded, cx: &mut Cx) {
        match l {
            Loaded::EventDetail { seq, result } if self.detail == Detail::LedgerEvent(*seq) => {
                match result {
                    Ok(d) => self.event = Some((**d).clone()),
                    Err(e) => {
                        cx.out.push(Request::CloseDetail);
                        cx.service_error("opening the ledger event", e);
                    }
                }
            }
            Loaded::AuditRecord { id, result } if self.detail.id() == id => match result {
                Ok(r) => self.record = Some((**r).clone()),
                Err(e) => {
                    cx.out.push(Request::CloseDetail);
                    cx.service_error("opening the audit record", e);
                }
            },
            Loaded::Health(h) => {
                self.anchored_to = Some(
                    h.anchors
                        .as_ref()
                        .and_then(|a| a.last_confirmed.as_ref())
                        .map(|c| c.seq)
                        .unwrap_or(0),
                );
            }
            _ => {}
        }
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        match a {
            Action::Down => self.scroll += 1,
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::PageDown => self.scroll += cx.rows,
            Action::PageUp => self.scroll = self.scroll.saturating_sub(cx.rows),
            Action::Top => self.scroll = 0,
            Action::Open => {
                if let Some(d) = self.subject() {
                    cx.out.push(Request::Open(d));
                }
            }
            _ => {}
        }
    }

    fn offers(&self, a: Action) -> bool {
        a != Action::Open || self.subject().is_some()
    }

    fn selected_id(&self, _data: &Data) -> Option<String> {
        match &self.detail {
            Detail::LedgerEvent(_) => self.event.as_ref().map(|d| d.event.id.clone()),
            other => Some(other.id().to_string()),
        }
    }

    fn detail(&self) -> Option<&Detail> {
        Some(&self.detail)
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let (facts, more, title) = match (&self.event, &self.record) {
            (Some(d), _) => {
                let (a, b) = self.event_lines(d, cx);
                (a, b, "Payload")
            }
            (None, Some(r)) => {
                let (a, b) = self.record_lines(r, cx);
                (
                    a,
                    b,
                    if r.error.is_some() {
                        "Error and payload"
                    } else {
                        "Payload"
                    },
                )
            }
            _ => return empty(f, cx.theme, area, "Loading…"),
        };
        let [top, rest] =
            Layout::vertical([Constraint::Length(facts.len() as u16), Constraint::Min(1)])
                .areas(area);
        f.render_widget(Paragraph::new(cut_lines(facts, top.width)), top);
        let shown: Vec<Line> = more.into_iter().skip(self.scroll).collect();
        f.render_widget(
            Paragraph::new(shown)
                .wrap(Wrap { trim: false })
                .block(section(title)),
            rest,
        );
    }
}
