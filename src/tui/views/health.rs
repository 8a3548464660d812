//! The Health tab: the store (reachable, ping, pool, schema, counts, durability), the ledger
//! head and the stream's lag, events per minute, a ping sparkline and positions by state; below
//! them on a tall screen, operation timings and the database's figures (`health_figures`).

use super::{ChainView, Cx, Dcx, View};
use crate::domain::PositionState;
use crate::domain::ledger::LedgerEvent;
use crate::service::CheckReport;
use crate::service::health::HealthReport;
use crate::service::stream::StreamStatus;
use crate::tui::keymap::{Action, Context};
use crate::tui::msg::{Cmd, Loaded};
use crate::tui::nav::Nav;
use crate::tui::widgets::{cut_lines, empty, group, kv, s};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Sparkline};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const PING_HISTORY: usize = 150;
/// The sparkline's scale is at least this (µs): pings far under a millisecond draw as the
/// near-empty bars they are, not as full ones.
const PING_SCALE_FLOOR_US: u64 = 1000;

#[derive(Default)]
pub struct Health {
    pub report: Option<HealthReport>,
    /// Ping in microseconds (0 when unreachable), oldest first.
    pub pings: VecDeque<u64>,
    /// When stream events arrived, over the last minute.
    pub arrivals: VecDeque<Instant>,
    /// The newest ledger seq this console has seen (loaded or streamed).
    pub seen: i64,
    /// The last `:check` this console ran.
    pub check: Option<CheckReport>,
}

impl View for Health {
    fn context(&self) -> Context {
        Context::Health
    }

    fn on_loaded(&mut self, l: &Loaded, _cx: &mut Cx) {
        match l {
            Loaded::Health(h) => {
                let ping = if h.connected {
                    h.ping_ms.map(|p| (p * 1000.0).max(1.0) as u64).unwrap_or(1)
                } else {
                    0
                };
                self.pings.push_back(ping);
                while self.pings.len() > PING_HISTORY {
                    self.pings.pop_front();
                }
                self.report = Some((**h).clone());
            }
            Loaded::Check(Ok(c)) => self.check = Some(c.clone()),
            Loaded::Ledger { result: Ok(ev), .. } => {
                let newest = ev.iter().map(|e| e.seq).max().unwrap_or(0);
                self.seen = self.seen.max(newest);
            }
            _ => {}
        }
    }

    /// Nothing on the Health tab opens: no Enter hint.
    fn offers(&self, a: Action) -> bool {
        a != Action::Open
    }

    fn on_event(&mut self, e: &LedgerEvent, _cx: &mut Cx) {
        let now = Instant::now();
        self.arrivals.push_back(now);
        while self
            .arrivals
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.arrivals.pop_front();
        }
        self.seen = self.seen.max(e.seq);
    }

    fn on_nav(&mut self, nav: &Nav, cx: &mut Cx) -> bool {
        if *nav != Nav::Health {
            return false;
        }
        self.on_show(cx);
        true
    }

    fn on_show(&mut self, cx: &mut Cx) {
        cx.cmd(Cmd::LoadHealth);
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        let theme = cx.theme;
        let Some(h) = &self.report else {
            return empty(f, theme, area, "Checking the store…");
        };
        let wide = area.width >= 120;
        // Below the store's figures, when the screen is tall enough: operation timings and the
        // database's own figures.
        let top = if wide { 19 } else { 23 };
        let (area, below) = if area.height >= top + 6 {
            let [a, b] =
                Layout::vertical([Constraint::Length(top), Constraint::Min(0)]).areas(area);
            (a, Some(b))
        } else {
            (area, None)
        };
        if let Some(below) = below {
            super::health_figures::draw(f, below, theme, h);
        }
        let (left, right) = if wide {
            let [a, b] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(area);
            (a, b)
        } else {
            let [a, b] = Layout::vertical([Constraint::Length(15), Constraint::Min(4)]).areas(area);
            (a, b)
        };
        let connected = if h.connected {
            Span::styled("connected", theme.ok())
        } else {
            Span::styled(
                format!(
                    "UNREACHABLE — {}",
                    h.error.as_deref().map(s).unwrap_or_default()
                ),
                theme.error(),
            )
        };
        let head_seq = h.ledger_head.as_ref().map(|x| x.seq).unwrap_or(0);
        let stream = match cx.stream {
            Some(StreamStatus::Live) => Span::styled(
                format!(
                    "live, lag {}",
                    crate::domain::text::counted(
                        (head_seq - self.seen).max(0) as u64,
                        "event",
                        "events"
                    )
                ),
                theme.ok(),
            ),
            Some(StreamStatus::Reconnecting(e)) => {
                Span::styled(format!("reconnecting: {}", s(e)), theme.warn())
            }
            None => Span::styled("starting", theme.muted()),
        };
        let counts = h.counts.as_ref();
        let c = |f: fn(&crate::service::Counts) -> i64| {
            counts
                .map(|c| group(f(c) as u64))
                .unwrap_or_else(|| "—".into())
        };
        // PostgreSQL: how the connection is protected (an alert when not encrypted or not
        // verified).
        let connection = h
            .transport
            .as_ref()
            .map(|t| connection_line(theme, "Connection", t));
        let mut lines = vec![
            kv(theme, "Backend", format!("{}  {}", h.backend, s(&h.target))),
            Line::from(vec![
                Span::styled(format!("{:<20}", "Store"), theme.muted()),
                connected,
            ]),
        ];
        lines.extend(connection);

        if let Some(w) = &h.writes_refused {
            lines.push(Line::from(vec![
                Span::styled(format!("{:<20}", "Writes"), theme.muted()),
                Span::styled(format!("refused: {}", s(w)), theme.error()),
            ]));
        }
        lines.extend([
            kv(
                theme,
                "Ping",
                h.ping_ms
                    .map(|p| format!("{p:.2} ms"))
                    .unwrap_or_else(|| "—".into()),
            ),
            kv(
                theme,
                "Pool",
                h.pool
                    .as_ref()
                    .map(|p| {
                        format!(
                            "{} in use, {} idle, max {}, {} waits",
                            p.size.saturating_sub(p.idle),
                            p.idle,
                            p.max,
                            group(p.waits)
                        )
                    })
                    .unwrap_or_else(|| "in-process".into()),
            ),
            kv(
                theme,
                "Schema version",
                h.schema_version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "n/a".into()),
            ),
            kv(
                theme,
                "Counts",
                format!(
                    "{} inst · {} tmpl · {} assets · {} positions",
                    c(|c| c.institutions),
                    c(|c| c.templates),
                    c(|c| c.assets),
                    c(|c| c.positions)
                ),
            ),
            kv(
                theme,
                "Held in escrow",
                counts
                    .map(|c| held_text(&c.held))
                    .unwrap_or_else(|| "—".into()),
            ),
            kv(
                theme,
                "Ledger head",
                h.ledger_head
                    .as_ref()
                    .map(|x| {
                        let hash = if x.hash.is_empty() {
                            String::new()
                        } else {
                            x.hash[..16].to_string() + "…"
                        };
                        format!("seq {} {hash}", x.seq)
                    })
                    .unwrap_or_else(|| "empty".into()),
            ),
            Line::from(vec![
                Span::styled(format!("{:<20}", "Stream"), theme.muted()),
                stream,
            ]),
            Line::from(vec![
                Span::styled(format!("{:<20}", "Chain"), theme.muted()),
                match &cx.chain.view {
                    ChainView::Verified { .. } => Span::styled(
                        format!(
                            "verified {}, each new event as it arrives{}",
                            cx.chain.range().unwrap_or_default(),
                            cx.chain
                                .full_text()
                                .map(|t| format!("; {t}"))
                                .unwrap_or_default()
                        ),
                        theme.ok(),
                    ),
                    ChainView::Broken { seq, reason } => {
                        Span::styled(format!("BROKEN at seq {seq}: {}", s(reason)), theme.error())
                    }
                    ChainView::Verifying => Span::styled("verifying…", theme.muted()),
                    ChainView::Unknown => {
                        Span::styled("not verified here (root sessions verify it)", theme.muted())
                    }
                },
            ]),
            Line::from(vec![
                Span::styled(format!("{:<20}", "Last check"), theme.muted()),
                self.last_check(cx),
            ]),
            kv(theme, "Events / minute", self.arrivals.len().to_string()),
            kv(theme, "Uptime", fmt_uptime(cx.started.elapsed().as_secs())),
            kv(theme, "Operator", s(&h.operator)),
            kv(
                theme,
                "Log file",
                h.log_file.as_deref().map(s).unwrap_or_else(|| "—".into()),
            ),
        ]);
        // Below the pool: the replica, and how its connections are protected.
        for (i, line) in replica_lines(theme, h).into_iter().enumerate() {
            lines.insert(4 + i, line);
        }
        if let Some(anchors) = anchors_line(theme, h) {
            // Below the chain's line.
            let at = lines.len().min(11);
            lines.insert(at, anchors);
        }
        for (i, mirror) in mirror_lines(theme, h).into_iter().enumerate() {
            let at = lines.len().min(11 + i);
            lines.insert(at, mirror);
        }
        // Through a server: its readiness (an alert when it is not ready).
        if let Some(r) = &h.server {
            let text = if r.ready {
                format!(
                    "{} ready{}",
                    s(&r.url),
                    r.chain_verified_seq
                        .map(|q| format!(" · chain verified to seq {q}"))
                        .unwrap_or_default()
                )
            } else {
                format!("{} NOT READY: {}", s(&r.url), s(&r.reasons.join("; ")))
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{:<20}", "Server"), theme.muted()),
                Span::styled(text, if r.ready { theme.ok() } else { theme.error() }),
            ]));
        }
        if h.scoped {
            lines.push(Line::from(Span::styled(
                "Counts are limited to your institution.",
                theme.muted(),
            )));
        }
        f.render_widget(Paragraph::new(cut_lines(lines, left.width)), left);
        let [spark, bars] =
            Layout::vertical([Constraint::Length(5), Constraint::Min(3)]).areas(right);
        // The newest pings that fit: a sparkline draws its data from the left, so with more
        // kept than fit it would show the oldest and never the one just taken.
        let shown = self.pings.len().saturating_sub(usize::from(spark.width));
        let data: Vec<u64> = self.pings.iter().skip(shown).copied().collect();
        let max = data.iter().copied().max().unwrap_or(0);
        f.render_widget(
            Sparkline::default()
                .max(max.max(PING_SCALE_FLOOR_US))
                .block(Block::default().borders(Borders::TOP).title(format!(
                    " Ping, last {} checks (max {:.2} ms) ",
                    data.len(),
                    max as f64 / 1000.0
                )))
                .data(&data)
                .style(theme.ok()),
            spark,
        );
        if let Some(counts) = counts {
            let bar_data: Vec<Bar> = counts
                .positions_by_state
                .iter()
                .map(|(st, n)| {
                    let label = match st {
                        PositionState::PartiallyReleased => "PART_REL".to_string(),
                        other => other.as_str().to_string(),
                    };
                    Bar::default()
                        .label(Line::from(label))
                        .value(*n as u64)
                        .style(theme.state(*st))
                })
                .collect();
            let width = ((bars.width as usize).saturating_sub(6) / 6).clamp(3, 12) as u16;
            f.render_widget(
                BarChart::default()
                    .block(
                        Block::default()
                            .borders(Borders::TOP)
                            .title(" Positions by state "),
                    )
                    .data(BarGroup::default().bars(&bar_data))
                    .bar_width(width)
                    .bar_gap(1),
                bars,
            );
        }
    }
}

impl Health {
    /// When the last check ran and what it found.
    fn last_check(&self, cx: &Dcx) -> Span<'static> {
        let theme = cx.theme;
        match &self.check {
            // Only root checks the store.
            None if !cx.session.root => Span::styled("not run", theme.muted()),
            None => Span::styled(
                format!(
                    "not run ({}check runs one)",
                    cx.key(Context::Global, Action::CommandLine)
                ),
                theme.muted(),
            ),
            Some(c) if c.ok => Span::styled(
                format!(
                    "{} consistent ({}, {})",
                    c.at.format("%H:%M:%S"),
                    crate::domain::text::counted(c.events, "event", "events"),
                    crate::domain::text::counted(c.entities, "entity", "entities")
                ),
                theme.ok(),
            ),
            Some(c) => Span::styled(
                format!(
                    "{} {} FINDINGS, first: {}",
                    c.at.format("%H:%M:%S"),
                    c.findings.len() as u64 + c.more,
                    c.findings.first().map(|f| s(&f.what)).unwrap_or_default()
                ),
                theme.error(),
            ),
        }
    }
}

/// The read replica: its state, lag in bytes and seconds, and the reads it answered.
/// On-chain anchors, once there are any: the last confirmed (seq, age, block, tx), how many
/// wait, the last error.
fn anchors_line(theme: &crate::tui::theme::Theme, h: &HealthReport) -> Option<Line<'static>> {
    let a = h.anchors.as_ref()?;
    let last = match &a.last_confirmed {
        Some(c) => {
            let age = crate::domain::time::parse(&c.updated_at)
                .ok()
                .and_then(|t| (crate::domain::time::now() - t).to_std().ok())
                .map(|d| fmt_age(d.as_secs()))
                .unwrap_or_default();
            format!(
                "seq {} ✓ ({age} ago, block {}, {})",
                c.seq,
                c.block_number.map(|b| b.to_string()).unwrap_or("-".into()),
                c.tx_hash
                    .as_deref()
                    .map(|t| t.chars().take(8).collect::<String>() + "…")
                    .unwrap_or("-".into())
            )
        }
        None => "none confirmed yet".into(),
    };
    let mut spans = vec![
        Span::styled(format!("{:<20}", "Anchored"), theme.muted()),
        Span::styled(last, theme.ok()),
        Span::raw(format!(" · {} queued", a.pending)),
    ];
    if let Some(e) = &a.last_error {
        spans.push(Span::styled(format!(" · {}", s(e)), theme.warn()));
    }
    Some(Line::from(spans))
}

/// A mirror's lag, on either side: this store as a mirror's target ("Mirror, read-only": it
/// takes no writes but its mirror's) and each store it is mirrored to ("Mirrored to") — how far
/// behind at the last step and how long ago that was; an alert when the mirror has stopped.
fn mirror_lines(theme: &crate::tui::theme::Theme, h: &HealthReport) -> Vec<Line<'static>> {
    let of = h
        .mirror
        .iter()
        .map(|m| ("Mirror, read-only", format!("of {}", s(&m.source)), &m.last));
    let to = h
        .mirrored_to
        .iter()
        .map(|m| ("Mirrored to", s(&m.target), &m.last));
    of.chain(to)
        .map(|(label, other, last)| {
            let age = fmt_age(last.step_age().as_secs());
            let (text, style) = if last.stopped() {
                (
                    format!("{other}: the mirror has stopped, last step {age} ago"),
                    theme.error(),
                )
            } else {
                (
                    format!(
                        "{other} · behind {} events ({:.1} s) · last step {age} ago",
                        last.behind_events,
                        last.behind_ms as f64 / 1000.0
                    ),
                    if last.behind_events > 0 {
                        theme.warn()
                    } else {
                        theme.ok()
                    },
                )
            };
            Line::from(vec![
                Span::styled(format!("{label:<20}"), theme.muted()),
                Span::styled(text, style),
            ])
        })
        .collect()
}

fn fmt_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

/// How a PostgreSQL connection is protected: an alert when it is not encrypted or the server
/// not verified.
fn connection_line(
    theme: &crate::tui::theme::Theme,
    label: &str,
    t: &crate::store::Transport,
) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label:<20}"), theme.muted()),
        Span::styled(
            t.describe(),
            if t.encrypted && t.certificate_verified {
                ratatui::style::Style::default()
            } else {
                theme.error()
            },
        ),
    ])
}

/// PostgreSQL only (the other stores have none): the replica's state, then its connection.
fn replica_lines(theme: &crate::tui::theme::Theme, h: &HealthReport) -> Vec<Line<'static>> {
    let Some(r) = &h.replica else {
        return if h.backend == "postgres" {
            vec![kv(theme, "Replica", "none configured")]
        } else {
            vec![]
        };
    };
    let lag = match (r.lag_bytes, r.lag_seconds) {
        (Some(b), Some(t)) => format!(", lag {} B / {t:.1} s", group(b.max(0) as u64)),
        (Some(b), None) => format!(", lag {} B", group(b.max(0) as u64)),
        _ => String::new(),
    };
    let text = format!(
        "{}{lag} · reads {} replica, {} primary{}",
        r.state,
        group(r.replica_reads),
        group(r.fallback_reads),
        r.error
            .as_deref()
            .map(|e| format!(" — {}", s(e)))
            .unwrap_or_default()
    );
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{:<20}", "Replica"), theme.muted()),
        Span::styled(text, if r.in_use { theme.ok() } else { theme.warn() }),
    ])];
    lines.extend(
        r.transport
            .as_ref()
            .map(|t| connection_line(theme, "Replica connection", t)),
    );
    lines
}

fn fmt_uptime(secs: u64) -> String {
    format!(
        "{}h {:02}m {:02}s",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// What funded positions hold, by currency ("1,250.00 USD · 80.50 EUR"), or "nothing".
pub fn held_text(held: &[(crate::domain::Currency, crate::domain::Balance)]) -> String {
    if held.is_empty() {
        return "nothing".into();
    }
    held.iter()
        .map(|(c, b)| format!("{} {c}", b.display_grouped()))
        .collect::<Vec<_>>()
        .join(" · ")
}
