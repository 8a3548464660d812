//! The ledger stream: every event after a given seq, then every new one as it commits, with no
//! gap and no duplicate — also events written by other processes. A background task reads by seq
//! (the source of truth) and uses the backend's waker only to know when to read again.

use super::session::{RECHECK, Sessions};
use super::{Actor, Service, ServiceError};
use crate::domain::LedgerKind;
use crate::domain::ledger::LedgerEvent;
use crate::store::{LedgerQuery, LedgerWaker, SharedStore};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Even without a wake-up, re-read this often (a safety net against lost notifications).
const MAX_WAIT: Duration = Duration::from_secs(2);
const PAGE: u32 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStatus {
    /// Caught up and waiting for new events.
    Live,
    /// The store could not be read; retrying.
    Reconnecting(String),
}

#[derive(Debug, Clone)]
pub enum StreamItem {
    Event(Box<LedgerEvent>),
    Status(StreamStatus),
    /// The stream has ended for good: its session's key was revoked, removed or changed (the
    /// reason, as an operator reads it). Nothing follows.
    Ended(ServiceError),
}

#[derive(Debug, Clone, Default)]
pub struct StreamFilter {
    pub position_id: Option<String>,
    pub kind: Option<LedgerKind>,
}

/// A running subscription; dropping it stops the background task.
pub struct Subscription {
    pub rx: mpsc::Receiver<StreamItem>,
    cancel: CancellationToken,
}

impl Subscription {
    /// A subscription fed by another task (a server's stream, read by its client), which
    /// stops when `cancel` is cancelled (on drop).
    pub fn from_channel(rx: mpsc::Receiver<StreamItem>, cancel: CancellationToken) -> Self {
        Subscription { rx, cancel }
    }

    pub async fn next(&mut self) -> Option<StreamItem> {
        self.rx.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Service {
    /// Streams ledger events with seq > `after` (scoped to the actor's institution).
    pub fn subscribe(&self, actor: &Actor, after: i64, filter: StreamFilter) -> Subscription {
        let (tx, rx) = mpsc::channel(1024);
        let cancel = CancellationToken::new();
        let task = StreamTask {
            store: self.store.clone(),
            sessions: self.sessions.clone(),
            actor: actor.clone(),
            scope: actor.scope().map(str::to_string),
            filter,
            last: after,
            tx,
            cancel: cancel.clone(),
            status: None,
        };
        tokio::spawn(task.run());
        Subscription { rx, cancel }
    }
}

struct StreamTask {
    store: SharedStore,
    sessions: Arc<Sessions>,
    /// Whose stream it is: a key's stream checks the key at every read and at least every
    /// `RECHECK`, and ends when the key no longer admits it.
    actor: Actor,
    scope: Option<String>,
    filter: StreamFilter,
    last: i64,
    tx: mpsc::Sender<StreamItem>,
    cancel: CancellationToken,
    status: Option<StreamStatus>,
}

impl StreamTask {
    async fn set_status(&mut self, s: StreamStatus) -> bool {
        if self.status.as_ref() != Some(&s) {
            self.status = Some(s.clone());
            if let StreamStatus::Reconnecting(e) = &s {
                tracing::warn!(error = %e, "ledger stream: store unreachable, retrying");
            }
            return self.tx.send(StreamItem::Status(s)).await.is_ok();
        }
        true
    }

    /// Sleeps unless cancelled; false when cancelled.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    async fn run(mut self) {
        let mut waker: Option<Box<dyn LedgerWaker>> = None;
        let mut backoff = Duration::from_millis(200);
        // A key's stream wakes at least this often to check its key.
        let max_wait = match self.actor {
            Actor::Key { .. } => RECHECK,
            _ => MAX_WAIT,
        };
        loop {
            if self.cancel.is_cancelled() || self.tx.is_closed() {
                return;
            }
            match self.sessions.admit(self.store.as_ref(), &self.actor).await {
                Ok(()) => {}
                Err(e @ ServiceError::Unauthenticated(_)) => {
                    let _ = self.tx.send(StreamItem::Ended(e)).await;
                    return;
                }
                // The key could not be read: the store is away; the read below says so.
                Err(_) => {}
            }
            // Catch up by seq: the only source of events.
            let q = LedgerQuery {
                after_seq: self.last,
                institution_id: self.scope.clone(),
                position_id: self.filter.position_id.clone(),
                kind: self.filter.kind,
                limit: PAGE,
                ..Default::default()
            };
            let page = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = self.store.read_ledger(&q) => r,
            };
            match page {
                Ok(events) => {
                    backoff = Duration::from_millis(200);
                    let full = events.len() == PAGE as usize;
                    for ev in events {
                        if ev.seq <= self.last {
                            continue;
                        }
                        self.last = ev.seq;
                        if self.tx.send(StreamItem::Event(Box::new(ev))).await.is_err() {
                            return;
                        }
                    }
                    if full {
                        continue;
                    }
                    if !self.set_status(StreamStatus::Live).await {
                        return;
                    }
                }
                Err(e) => {
                    if !self
                        .set_status(StreamStatus::Reconnecting(e.to_string()))
                        .await
                        || !self.pause(backoff).await
                    {
                        return;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
            // Wait for a hint that there is more.
            if waker.is_none() {
                match self.store.ledger_waker().await {
                    Ok(w) => waker = Some(w),
                    Err(e) => {
                        tracing::warn!(error = %e, "ledger stream: no waker, polling");
                        if !self.pause(Duration::from_secs(1)).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            let w = waker.as_mut().expect("set above");
            let woke = tokio::select! {
                _ = self.cancel.cancelled() => return,
                r = w.wait(max_wait) => r,
            };
            if let Err(e) = woke {
                // Notifications are down: poll meanwhile, and say so.
                if !self
                    .set_status(StreamStatus::Reconnecting(format!("notifications: {e}")))
                    .await
                    || !self.pause(backoff).await
                {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
