//! Faults a test injects into any store: a ledger append that fails, a commit whose answer is
//! lost, and a writer held while writes queue.

use super::{StoreError, StoreResult};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// Test hooks shared by all backends: a ledger append that fails after the entity write (to
/// prove that a write rolls back whole), and a gate that holds the writer while writes queue (to
/// put chosen writes into one batch).
#[derive(Debug, Default)]
pub struct FaultInjector {
    fail_next_ledger_append: AtomicBool,
    /// 0: none; 1: the next commit lands but its answer is lost; 2: the next commit is lost
    /// before it reaches the database (PostgreSQL writer).
    lose_next_commit: std::sync::atomic::AtomicU8,
    gate: tokio::sync::Mutex<()>,
    /// Whether a test holds the gate (so a write need not take the gate's lock otherwise).
    holding: AtomicBool,
    queued: AtomicI64,
}

/// The writer held by a test (`FaultInjector::hold_writer`) until this is dropped.
pub struct WriterHold<'a> {
    _gate: tokio::sync::MutexGuard<'a, ()>,
    holding: &'a AtomicBool,
}

impl Drop for WriterHold<'_> {
    fn drop(&mut self) {
        self.holding.store(false, Ordering::SeqCst);
    }
}

impl FaultInjector {
    pub fn fail_next_ledger_append(&self) {
        self.fail_next_ledger_append.store(true, Ordering::SeqCst);
    }
    /// Called by a store right before it appends a ledger event.
    pub(crate) fn check_ledger_append(&self) -> StoreResult<()> {
        if self.fail_next_ledger_append.swap(false, Ordering::SeqCst) {
            Err(StoreError::Other("injected ledger append failure".into()))
        } else {
            Ok(())
        }
    }
    /// The next PostgreSQL commit lands, but the writer hears nothing back (`landed`: true), or
    /// it never reaches the database (false), as when the connection breaks at that moment.
    pub fn lose_next_commit(&self, landed: bool) {
        self.lose_next_commit
            .store(if landed { 1 } else { 2 }, Ordering::SeqCst);
    }
    /// Called by the writer at a commit: Some(landed) when the commit is to be lost.
    pub(crate) fn take_commit_loss(&self) -> Option<bool> {
        match self.lose_next_commit.swap(0, Ordering::SeqCst) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }
    /// Holds the writer (before it takes its next batch) until the guard is dropped.
    pub async fn hold_writer(&self) -> WriterHold<'_> {
        self.holding.store(true, Ordering::SeqCst);
        WriterHold {
            _gate: self.gate.lock().await,
            holding: &self.holding,
        }
    }
    pub(crate) async fn writer_gate(&self) {
        if self.holding.load(Ordering::SeqCst) {
            drop(self.gate.lock().await);
        }
    }
    /// A write of a store without a writer task (memory) passes the gate: counted as queued
    /// while a test holds it.
    pub(crate) async fn pass_gate(&self) {
        if self.holding.load(Ordering::SeqCst) {
            self.queued(1);
            drop(self.gate.lock().await);
            self.queued(-1);
        }
    }
    /// Writes queued and not yet taken by the writer.
    pub fn queued_writes(&self) -> i64 {
        self.queued.load(Ordering::SeqCst)
    }
    pub(crate) fn queued(&self, n: i64) {
        self.queued.fetch_add(n, Ordering::SeqCst);
    }
}
