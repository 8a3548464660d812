//! The chain as this console knows it: verified once at start (from the newest witnessed head of
//! this store, else seq 1), then event by event as the stream delivers them; a gap is read and
//! verified, a break is said at once.

use super::msg::Cmd;
use crate::domain::ledger::{ChainVerifier, LedgerEvent};
use crate::service::{ServiceResult, VerifyReport};

#[derive(Debug, Clone, Default, PartialEq)]
pub enum ChainView {
    /// Not verified (a session confined to one institution sees only its events).
    #[default]
    Unknown,
    Verifying,
    Verified {
        seq: i64,
        hash: String,
    },
    Broken {
        seq: i64,
        reason: String,
    },
}

/// The chain's state and the verification on its way.
#[derive(Debug, Default)]
pub struct ChainWatch {
    pub view: ChainView,
    /// A catch-up verification is on its way (the stream got ahead of the verified head).
    catching_up: bool,
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

    /// A verification's result; the error line to show when the chain is broken.
    pub fn on_result(&mut self, r: &ServiceResult<VerifyReport>) -> Option<String> {
        self.catching_up = false;
        match r {
            Ok(v) if v.ok => {
                // A later head verified meanwhile (event by event) stays.
                if !matches!(&self.view, ChainView::Verified { seq, .. } if *seq > v.head_seq) {
                    self.view = ChainView::Verified {
                        seq: v.head_seq,
                        hash: v.head_hash.clone(),
                    };
                }
                None
            }
            Ok(v) => {
                let b = v.broken.clone().unwrap_or_default();
                let line = format!("Hash chain BROKEN at seq {}: {}", b.seq, b.reason);
                self.view = ChainView::Broken {
                    seq: b.seq,
                    reason: b.reason,
                };
                Some(line)
            }
            Err(e) => {
                tracing::warn!(error = %e, "console: chain not verified");
                if self.view == ChainView::Verifying {
                    self.view = ChainView::Unknown;
                }
                None
            }
        }
    }

    /// A streamed event against the verified head: the next one must link to it and hash to
    /// what it says; one further ahead sends for the events between (the command returned).
    /// The error line when it breaks the chain.
    pub fn on_event(&mut self, e: &LedgerEvent) -> (Option<Cmd>, Option<String>) {
        let ChainView::Verified { seq, hash } = &self.view else {
            return (None, None);
        };
        if e.seq <= *seq {
            return (None, None);
        }
        if e.seq > seq + 1 {
            if self.catching_up {
                return (None, None);
            }
            self.catching_up = true;
            return (Some(Cmd::VerifyChain(Some((*seq, hash.clone())))), None);
        }
        match ChainVerifier::from_head(*seq, hash).push(e) {
            Ok(()) => {
                self.view = ChainView::Verified {
                    seq: e.seq,
                    hash: e.hash.clone(),
                };
                (None, None)
            }
            Err(b) => {
                let line = format!("Hash chain BROKEN at seq {}: {}", b.seq, b.reason);
                self.view = ChainView::Broken {
                    seq: b.seq,
                    reason: b.reason,
                };
                (None, Some(line))
            }
        }
    }
}
