//! What the app does with the answers that come back: loads, the store's health, verified heads,
//! forms submitted and positions moved (one or many).

use super::*;

impl App {
    /// The session's key no longer admits it: nothing more is asked of the service.
    pub(super) fn sign_out(&mut self, e: &ServiceError) {
        if self.signed_out.is_none() {
            tracing::warn!(error = %e, "console: the session has ended");
            self.signed_out = Some(e.to_string());
        }
        self.cmds.clear();
    }

    pub(super) fn on_loaded(&mut self, l: Loaded) {
        if let Some(e) = l.session_ended() {
            return self.sign_out(&e.clone());
        }
        // The router's own: the shared lookups, and what answers a dialog or the whole screen.
        match &l {
            Loaded::Institutions(Ok(v)) => {
                self.data.institutions = v.clone();
                let ids = v.iter().map(|i| i.id.clone()).collect();
                self.cmds.push(Cmd::LoadSummaries(ids));
            }
            Loaded::Institutions(Err(e)) => self.service_error("loading institutions", e),
            Loaded::Summaries(s) => self.data.summaries.extend(s.iter().cloned()),
            Loaded::Templates(Ok(v)) => self.data.templates = v.clone(),
            Loaded::Templates(Err(e)) => self.service_error("loading templates", e),
            Loaded::Assets(Ok(v)) => self.data.assets = v.clone(),
            Loaded::Assets(Err(e)) => self.service_error("loading assets", e),
            Loaded::Health(h) => {
                self.replica = h.replica.as_ref().and_then(|r| r.stepped_aside());
                self.on_health(h.connected, h.error.as_deref())
            }
            Loaded::Verify(r) => {
                self.on_verified(r);
                let u = self.chain.on_result(r);
                self.on_chain(u);
            }
            Loaded::ChainVerified(r) => {
                let u = self.chain.on_result(r);
                self.on_chain(u);
            }
            Loaded::FullVerifyProgress { upto, total } => self.chain.on_progress(*upto, *total),
            Loaded::FullVerified { result, cancelled } => {
                if let Some(line) = self.chain.on_full(result, *cancelled) {
                    self.error(line);
                }
            }
            Loaded::Check(Ok(c)) if !c.ok => {
                self.popups.push(Popup::Message(Message::check_findings(c)))
            }
            Loaded::Submitted(r) => self.on_submitted(r),
            Loaded::Transitioned { id, result } => self.on_transitioned(id, result),
            Loaded::TransitionedMany { to, results } => self.on_transitioned_many(to, results),
            _ => {}
        }
        match l.status() {
            Some(Ok(line)) => self.info(line),
            Some(Err(line)) => self.error(line),
            None => {}
        }
        self.broadcast(|v, cx| v.on_loaded(&l, cx));
    }

    pub(super) fn service_error(&mut self, what: &str, e: &ServiceError) {
        self.error(format!("{what}: {e}"));
    }

    pub(super) fn on_health(&mut self, connected: bool, error: Option<&str>) {
        let was_down = self.connected == Some(false);
        if was_down && connected {
            // Back after an outage: reload what may have failed meanwhile.
            self.cmds
                .extend([Cmd::LoadInstitutions, Cmd::LoadTemplates, Cmd::LoadAssets]);
            for i in 0..self.tabs.len() {
                self.with(Target::Tab(i), |v, cx| v.refresh(cx));
            }
            self.info("The store is reachable again; views reloaded");
        } else if !connected && !was_down {
            self.error(format!(
                "the store is unreachable ({}); retrying — nothing you do now is saved",
                error.unwrap_or("no answer")
            ));
        }
        self.connected = Some(connected);
    }

    /// Whether the last health check reached the store (None before the first).
    pub fn connected(&self) -> Option<bool> {
        self.connected
    }

    /// The message log, whole and wrapped, newest at the bottom.
    pub(super) fn show_messages(&mut self) {
        let entries: Vec<(String, bool, String)> = self
            .messages
            .iter()
            .map(|(at, level, text)| (at.clone(), *level == Level::Error, text.clone()))
            .collect();
        self.popups.push(Popup::Message(Message::log(&entries)));
    }

    /// What the chain's state asks: a verification to run, a break to say.
    pub(super) fn on_chain(&mut self, u: crate::tui::chain::ChainUpdate) {
        self.cmds.extend(u.cmd);
        if let Some(line) = u.error {
            self.error(line);
        }
    }

    pub(super) fn on_verified(&mut self, r: &ServiceResult<VerifyReport>) {
        // The result replaces "Verifying the hash chain…" in the status bar.
        match r {
            Ok(v) if v.ok => self.info(format!(
                "Hash chain intact: verified seq {}–{}",
                v.from_seq, v.head_seq
            )),
            Ok(v) => self.error(format!(
                "Hash chain BROKEN at seq {}",
                v.broken.as_ref().map(|b| b.seq).unwrap_or(0)
            )),
            Err(_) => self.status = None,
        }
        self.popups.push(Popup::Message(Message::verified(r)));
    }

    /// A form's reply: its errors land on its fields, or it closes. It may wait under a
    /// question asked meanwhile (quit?), which stays on top.
    pub(super) fn on_submitted(&mut self, r: &ServiceResult<Submitted>) {
        let saving = |p: &Popup| matches!(p, Popup::Form(f) if f.submitting);
        let Some(i) = self.popups.iter().rposition(saving) else {
            return;
        };
        let s = match (r, &mut self.popups[i]) {
            (Err(e), Popup::Form(form)) => {
                form.submitting = false;
                return form.apply_errors(e.field_errors(), &e.to_string());
            }
            (Err(_), _) => return,
            (Ok(s), _) => s,
        };
        self.popups.remove(i);
        match s {
            Submitted::Institution(_) => self.cmds.push(Cmd::LoadInstitutions),
            Submitted::Template(_) => self.cmds.push(Cmd::LoadTemplates),
            Submitted::Asset(_) => self.cmds.push(Cmd::LoadAssets),
            Submitted::ApiKey(k) => {
                let copy = self.keymap.key_text(Context::Message, Action::Copy);
                let token = Popup::Message(Message::api_key_created(k, &copy));
                self.popups.insert(i, token);
            }
            Submitted::Position(_) | Submitted::Policy(_) => {}
        }
        self.info(s.summary());
    }

    pub(super) fn on_transitioned(&mut self, id: &str, r: &ServiceResult<TransitionOutcome>) {
        match r {
            Ok(o) if o.applied => {
                let e = o.event.as_ref();
                self.info(format!(
                    "{}: {} → {}{}",
                    id,
                    e.map(|e| e.from_state.as_str()).unwrap_or("?"),
                    o.position.state,
                    o.ledger_seq
                        .map(|s| format!(" (ledger seq {s})"))
                        .unwrap_or_default()
                ));
            }
            Ok(o) => self.info(format!(
                "{} is already {}: nothing changed",
                id, o.position.state
            )),
            Err(ServiceError::Conflict { current, .. }) => {
                let now = current.as_ref().map(|p| p.state.to_string());
                // The "Moving …" line is answered too, and the log keeps what happened.
                self.error(format!(
                    "{id} was moved by someone else first: it is {}; nothing changed",
                    now.as_deref().unwrap_or("changed")
                ));
                self.popups
                    .push(Popup::Message(Message::moved_first(id, now.as_deref())));
            }
            Err(e) => self.service_error("transition refused", e),
        }
    }

    /// A marked set moved: one line per position in the message log (moved, already there,
    /// moved by someone else first, refused), and a summary on the status line.
    pub(super) fn on_transitioned_many(
        &mut self,
        to: &str,
        results: &[(String, ServiceResult<TransitionOutcome>)],
    ) {
        let (mut moved, mut already, mut raced, mut refused) = (0u64, 0u64, 0u64, 0u64);
        for (id, r) in results {
            let (level, line) = match r {
                Ok(o) if o.applied => {
                    moved += 1;
                    let from = o.event.as_ref().map(|e| e.from_state.as_str());
                    (
                        Level::Info,
                        format!(
                            "{id}: {} → {}{}",
                            from.unwrap_or("?"),
                            o.position.state,
                            o.ledger_seq
                                .map(|s| format!(" (ledger seq {s})"))
                                .unwrap_or_default()
                        ),
                    )
                }
                Ok(o) => {
                    already += 1;
                    (
                        Level::Info,
                        format!("{id}: already {}, nothing changed", o.position.state),
                    )
                }
                Err(ServiceError::Conflict { current, .. }) => {
                    raced += 1;
                    let now = current.as_ref().map(|p| p.state.to_string());
                    (
                        Level::Error,
                        format!(
                            "{id}: moved by someone else first: it is {}; nothing changed",
                            now.as_deref().unwrap_or("changed")
                        ),
                    )
                }
                Err(e) => {
                    refused += 1;
                    (Level::Error, format!("{id}: refused: {e}"))
                }
            };
            self.log(level, line);
        }
        let mut parts = vec![format!(
            "Moved {moved} of {} to {to}",
            crate::domain::text::counted(results.len() as u64, "position", "positions")
        )];
        if already > 0 {
            parts.push(format!("{already} already there"));
        }
        if raced > 0 {
            parts.push(format!("{raced} moved by someone else first"));
        }
        if refused > 0 {
            parts.push(format!("{refused} refused"));
        }
        let summary = format!(
            "{}; {} lists each",
            parts.join(", "),
            self.keymap.key_text(Context::Global, Action::Messages)
        );
        if raced + refused > 0 {
            self.error(format!("{summary} (those not moved stay marked)"));
        } else {
            self.info(summary);
        }
    }

    // ---- keys -----------------------------------------------------------------------------------
}
