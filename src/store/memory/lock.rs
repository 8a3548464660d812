//! The lock over the in-memory store's data, taken so that a task waiting for it does not put
//! its thread to sleep at once. With 16 callers on the runtime's two threads, a write holds the
//! data for about a microsecond; a thread that finds it held and sleeps in the kernel is woken by
//! a system call, and that sleeping and waking was an eighth of the writes' time. A task that finds
//! it held tries a few times, then gives its thread to the other tasks (whose writes prepare
//! outside the lock) and tries again; after a few turns it waits as a thread would, so none
//! waits long.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Tries at the lock before a waiting task gives its thread away, and turns before it waits.
const SPINS: usize = 16;
const TURNS: usize = 4;

pub(super) struct DataLock<T>(RwLock<T>);

impl<T> DataLock<T> {
    pub(super) fn new(v: T) -> Self {
        DataLock(RwLock::new(v))
    }

    /// To write, from a task.
    pub(super) async fn write(&self) -> RwLockWriteGuard<'_, T> {
        take(|| self.0.try_write(), || self.0.write()).await
    }

    /// To read, from a task.
    pub(super) async fn read(&self) -> RwLockReadGuard<'_, T> {
        take(|| self.0.try_read(), || self.0.read()).await
    }

    /// To read at once, or None while a write holds it.
    pub(super) fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        spin(|| self.0.try_read())
    }

    /// To write or read where there is no task to give away (waits as a thread).
    pub(super) fn write_blocking(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write()
    }

    pub(super) fn read_blocking(&self) -> RwLockReadGuard<'_, T> {
        self.0.read()
    }
}

/// The lock as `try_take` gets it: within `SPINS` tries, else after giving the thread away, up to
/// `TURNS` times; then as `wait` gets it (the thread waits).
async fn take<G>(try_take: impl Fn() -> Option<G>, wait: impl FnOnce() -> G) -> G {
    for _ in 0..TURNS {
        if let Some(g) = spin(&try_take) {
            return g;
        }
        YieldOnce(false).await;
    }
    wait()
}

/// What `try_take` gives within `SPINS` tries.
fn spin<G>(try_take: impl Fn() -> Option<G>) -> Option<G> {
    for _ in 0..SPINS {
        if let Some(g) = try_take() {
            return Some(g);
        }
        std::hint::spin_loop();
    }
    None
}

/// Gives the thread to the runtime's other tasks once: the task wakes itself, so it is queued
/// again at once behind them (`tokio::task::yield_now` waits for the runtime's next turn of its
/// I/O driver, which put a millisecond on the slowest writes with 16 callers).
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// On a runtime with one thread, a task holds the lock across two turns while another asks
    /// for it: the asker must give the thread back so the holder can finish (a lock that put the
    /// thread to sleep would never be released: the holder could not run again).
    #[test]
    // The holder keeps the lock across its turns on purpose: that is the case under test.
    #[allow(clippy::await_holding_lock)]
    fn a_task_waiting_for_the_lock_lets_the_holder_run_on_the_same_thread() {
        for ask in ["write", "read"] {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a runtime");
                let tasks = tokio::task::LocalSet::new();
                let order = tasks.block_on(&rt, async move {
                    let lock = Arc::new(DataLock::new(Vec::new()));
                    let holder = {
                        let lock = lock.clone();
                        tokio::task::spawn_local(async move {
                            let mut held = lock.0.try_write().expect("free");
                            // Two turns with the lock held: the asker runs and finds it held.
                            YieldOnce(false).await;
                            YieldOnce(false).await;
                            held.push("holder");
                        })
                    };
                    let asker = {
                        let lock = lock.clone();
                        tokio::task::spawn_local(async move {
                            match ask {
                                "write" => lock.write().await.push("asker"),
                                _ => assert_eq!(lock.read().await.len(), 1),
                            }
                        })
                    };
                    holder.await.expect("the holder");
                    asker.await.expect("the asker");
                    lock.read_blocking().clone()
                });
                let _ = tx.send(order);
            });
            let order = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("a {ask} waiting for the lock blocked its thread"));
            let want: &[&str] = match ask {
                "write" => &["holder", "asker"],
                _ => &["holder"],
            };
            assert_eq!(order, want);
        }
    }

    #[test]
    fn try_read_gives_none_while_a_write_holds_the_lock() {
        let lock = DataLock::new(1);
        let held = lock.write_blocking();
        assert!(lock.try_read().is_none());
        drop(held);
        assert_eq!(*lock.try_read().expect("free"), 1);
    }
}
