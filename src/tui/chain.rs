//! The chain as this console knows it, saying only what it verified: at start from the newest
//! head this operator witnessed for this store (else from seq 1), then event by event as the
//! stream delivers them (a gap is read and verified, a break is said at once). When the start
//! began at a witnessed head, the whole chain from seq 1 is verified too, in the background and
//! a slice at a time (its progress on the Health tab; `:verify stop` cancels it), so an edit
//! below the witnessed head is found as well.

use super::msg::Cmd;
use crate::domain::ledger::{ChainVerifier, LedgerEvent};
use crate::service::{ServiceResult, VerifyReport};

#[derive(Debug, Clone, Default, PartialEq)]
pub enum ChainView {
    /// Not verified (a session confined to one institution sees only its events).
    #[default]
    Unknown,
    Verifying,
    /// Every event from `from` to `seq` hashes as its successor says (`from` is 1 once the
    /// whole chain was verified; before that, the seq after a witnessed head).
    Verified {
        from: i64,
        seq: i64,
        hash: String,
    },
    Broken {
        seq: i64,
        reason: String,
    },
}

/// The whole-chain verification that runs in the background after a start from a witnessed
/// head.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum FullCheck {
    /// None needed (the start verified from seq 1), or none started (a confined session).
    #[default]
    Idle,
    Running {
        /// Verified from seq 1 up to here so far.
        upto: i64,
        /// The head when it began.
        total: i64,
    },
    Done,
    Cancelled {
        upto: i64,
    },
    /// It could not be finished (the store went away); the verified range stands as it was.
    Failed(String),
}

/// What a result asks of the console: a command to run, a line to show as an error.
#[derive(Debug, Default)]
pub struct ChainUpdate {
    pub cmd: Option<Cmd>,
    pub error: Option<String>,
}

/// The chain's state and the verifications on their way.
#[derive(Debug, Default)]
pub struct ChainWatch {
    pub view: ChainView,
    pub full: FullCheck,
    /// A catch-up verification is on its way (the stream got ahead of the verified head).
    catching_up: bool,
}

fn broken(view: &mut ChainView, seq: i64, reason: String) -> String {
    let line = format!("Hash chain BROKEN at seq {seq}: {reason}");
    *view = ChainView::Broken { seq, reason };
    line
}

impl ChainWatch {
    /// The first verification, for a session that sees the whole chain.
    pub fn start(&mut self, whole_chain: bool) -> Option<Cmd> {
        if !whole_chain {
            return None;
        }
        self.view = ChainView::Verifying;
        Some(Cmd::VerifyChain(None))
    }

    /// A verification's result (at start, or catching up on a gap).
    pub fn on_result(&mut self, r: &ServiceResult<VerifyReport>) -> ChainUpdate {
        let starting = self.view == ChainView::Verifying;
        self.catching_up = false;
        let mut out = ChainUpdate::default();
        match r {
            Ok(v) if v.ok => {
                let from = match &self.view {
                    ChainView::Verified { from, .. } => (*from).min(v.from_seq),
                    _ => v.from_seq,
                };
                // A later head verified meanwhile (event by event) stays.
                if !matches!(&self.view, ChainView::Verified { seq, .. } if *seq > v.head_seq) {
                    self.view = ChainView::Verified {
                        from,
                        seq: v.head_seq,
                        hash: v.head_hash.clone(),
                    };
                } else if let ChainView::Verified { from: f, .. } = &mut self.view {
                    *f = from;
                }
                if starting && v.from_seq > 1 {
                    self.full = FullCheck::Running {
                        upto: 0,
                        total: v.head_seq,
                    };
                    out.cmd = Some(Cmd::VerifyFull);
                }
            }
            Ok(v) => {
                let b = v.broken.clone().unwrap_or_default();
                out.error = Some(broken(&mut self.view, b.seq, b.reason));
            }
            Err(e) => {
                tracing::warn!(error = %e, "console: chain not verified");
                if starting {
                    self.view = ChainView::Unknown;
                }
            }
        }
        out
    }

    /// The background verification got to `upto` of `total`.
    pub fn on_progress(&mut self, upto: i64, total: i64) {
        if matches!(self.full, FullCheck::Running { .. }) {
            self.full = FullCheck::Running { upto, total };
        }
    }

    /// The background verification ended: verified from seq 1 to its head, broken, cancelled
    /// (`upto`), or not finished.
    pub fn on_full(&mut self, r: &ServiceResult<VerifyReport>, cancelled: bool) -> Option<String> {
        match r {
            Ok(_) if cancelled => {
                let upto = match self.full {
                    FullCheck::Running { upto, .. } => upto,
                    _ => 0,
                };
                self.full = FullCheck::Cancelled { upto };
                None
            }
            Ok(v) if v.ok => {
                self.full = FullCheck::Done;
                match &mut self.view {
                    // Verified from 1 to its head; the range verified since joins it.
                    ChainView::Verified { from, .. } if *from <= v.head_seq + 1 => *from = 1,
                    ChainView::Verified { .. } | ChainView::Broken { .. } => {}
                    view => {
                        *view = ChainView::Verified {
                            from: 1,
                            seq: v.head_seq,
                            hash: v.head_hash.clone(),
                        }
                    }
                }
                None
            }
            Ok(v) => {
                self.full = FullCheck::Done;
                let b = v.broken.clone().unwrap_or_default();
                Some(broken(&mut self.view, b.seq, b.reason))
            }
            Err(e) => {
                self.full = FullCheck::Failed(e.to_string());
                None
            }
        }
    }

    /// A streamed event against the verified head: the next one must link to it and hash to
    /// what it says; one further ahead sends for the events between (the command returned).
    /// The error line when it breaks the chain.
    pub fn on_event(&mut self, e: &LedgerEvent) -> ChainUpdate {
        let ChainView::Verified { from, seq, hash } = &self.view else {
            return ChainUpdate::default();
        };
        if e.seq <= *seq {
            return ChainUpdate::default();
        }
        if e.seq > seq + 1 {
            if self.catching_up {
                return ChainUpdate::default();
            }
            self.catching_up = true;
            return ChainUpdate {
                cmd: Some(Cmd::VerifyChain(Some((*seq, hash.clone())))),
                error: None,
            };
        }
        let from = *from;
        match ChainVerifier::from_head(*seq, hash).push(e) {
            Ok(()) => {
                self.view = ChainView::Verified {
                    from,
                    seq: e.seq,
                    hash: e.hash.clone(),
                };
                ChainUpdate::default()
            }
            Err(b) => ChainUpdate {
                cmd: None,
                error: Some(broken(&mut self.view, b.seq, b.reason)),
            },
        }
    }

    /// The verified range in words: "seq 1–984", or "seq 900–984" before the whole chain is
    /// done ("seq 984 as witnessed" when nothing after the witnessed head is new yet).
    pub fn range(&self) -> Option<String> {
        match &self.view {
            ChainView::Verified { from, seq, .. } if from > seq => {
                Some(format!("seq {seq} as witnessed"))
            }
            ChainView::Verified { from, seq, .. } => Some(format!("seq {from}–{seq}")),
            _ => None,
        }
    }

    /// The background verification in words, for the Health tab.
    pub fn full_text(&self) -> Option<String> {
        match &self.full {
            FullCheck::Idle => None,
            FullCheck::Running { upto, total } => Some(format!(
                "whole chain: verifying seq 1–{total}, at {upto} ({}%)",
                if *total > 0 { upto * 100 / total } else { 0 }
            )),
            FullCheck::Done => Some("whole chain verified from seq 1".into()),
            FullCheck::Cancelled { upto } => Some(format!(
                "whole chain: cancelled at seq {upto} (`:verify` runs it again)"
            )),
            FullCheck::Failed(e) => Some(format!("whole chain: not finished ({e})")),
        }
    }
}
