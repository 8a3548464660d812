//! The in-memory store's two chains hashed off the writer's path. A commit appends its ledger
//! event and audit record in place under the data's lock, as always, and hands their canonical
//! text to a thread of the store's own, which links them in the same order: the SHA-256 of both
//! chains — about a seventh of a write with one caller — runs beside the next write instead of
//! inside it (on a second core, where there is one).
//!
//! Nothing reads a record before it is linked: every read of a hash (a ledger page, an audit
//! page, the heads) holds the data's lock, so no write can land meanwhile, and takes the
//! chains' lock, which the thread holds while it links; whatever is still queued then, the
//! reader links itself (`Seal::sealed`). So a read never waits for the thread to be scheduled,
//! and the chains are as they were to the store's callers: the same hashes, in the same order,
//! visible with the write that made them.
//!
//! The thread runs at the lowest priority there is: when every core is busy with writes, the
//! writes link the queue themselves, in runs, outside the data's lock (`BACKLOG`).

use super::records::Chunked;
use crate::domain::audit::link_hash_bytes;
use crate::domain::ledger::{GENESIS_HASH, hex32_in, link_prefix};
use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::{Duration, Instant};

/// What writes leave to be linked: each chain's records in order, as their canonical text.
#[derive(Default)]
struct Queue {
    /// Ledger events: the canonical JSON up to and including `"prevHash":`.
    ledger: Vec<String>,
    /// Audit records: the canonical JSON their digest covers.
    audit: Vec<String>,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.ledger.is_empty() && self.audit.is_empty()
    }
}

/// The chains' hashes, the record at index i's at index i.
#[derive(Default)]
pub(super) struct Hashes {
    pub ledger: Chunked<[u8; 32]>,
    pub audit: Chunked<[u8; 32]>,
}

/// The chains' lock: their hashes, and the batch being linked (kept for its capacity).
#[derive(Default)]
struct Chains {
    hashes: Hashes,
    batch: Queue,
}

struct Shared {
    queue: Mutex<Queue>,
    chains: Mutex<Chains>,
    /// The thread is asleep (or about to be): a write that hands it work wakes it. Written only
    /// when the thread falls asleep or wakes, so a write reads it from its own cache.
    asleep: AtomicBool,
    /// The queue has grown past `BACKLOG`: the next write to let the data's lock go links it.
    long: AtomicBool,
    closed: AtomicBool,
}

/// The linking thread of one memory store; it ends when the store is dropped.
pub(super) struct Seal {
    shared: Arc<Shared>,
    /// None when no thread could be started: each write then links its own records.
    thread: Option<std::thread::Thread>,
}

/// While writes come, the thread looks for more every `NAP` (a caller's next write comes a few
/// microseconds after the last): a write pays no system call to wake it, and the two share no
/// memory between the thread's looks. After `AWAKE` without any, it sleeps until woken.
const NAP: Duration = Duration::from_micros(20);
const AWAKE: Duration = Duration::from_millis(5);

/// Records queued past which a write links the queue itself: the queue stays short when the
/// thread gets no core (every core busy with writes, `idle_priority`), and a write that links it
/// spends about a tenth of a millisecond doing so (measured against 1024: p99 at 16 callers
/// 0.4–0.9 ms against 1.2–1.6 ms).
const BACKLOG: usize = 128;

impl Seal {
    pub(super) fn new() -> Seal {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            chains: Mutex::new(Chains::default()),
            asleep: AtomicBool::new(false),
            long: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("escrowgrid-seal".into())
            .spawn(move || run(&theirs))
            .map(|h| h.thread().clone());
        if let Err(e) = &thread {
            tracing::warn!(error = %e, "no thread to link the memory store's chains: writes link them");
        }
        Seal {
            shared,
            thread: thread.ok(),
        }
    }

    /// Hands over one write's records, in chain order: called under the data's write lock, so
    /// the queue's order is the data's.
    pub(super) fn hand(&self, ledger: Option<String>, audit: Option<String>) {
        if ledger.is_none() && audit.is_none() {
            return;
        }
        let mut q = self.shared.queue.lock();
        q.ledger.extend(ledger);
        q.audit.extend(audit);
        if q.ledger.len().max(q.audit.len()) >= BACKLOG {
            self.shared.long.store(true, Ordering::Relaxed);
        }
    }

    /// After a write has let the data's lock go: wakes the thread if it sleeps, and links the
    /// queue on this thread if it has grown long (the thread got no core for a while).
    pub(super) fn wake(&self) {
        let Some(thread) = &self.thread else {
            link(&self.shared, &mut self.shared.chains.lock());
            return;
        };
        if self.shared.long.swap(false, Ordering::Relaxed) {
            link(&self.shared, &mut self.shared.chains.lock());
        }
        // Pairs with the thread's fence between "asleep" and its last look at the queue: either
        // it sees the records handed over, or this sees it asleep.
        fence(Ordering::SeqCst);
        if self.shared.asleep.load(Ordering::Relaxed) {
            thread.unpark();
        }
    }

    /// The hashes of everything handed over so far. Called with the data's lock held, so that
    /// is everything the data holds.
    pub(super) fn sealed(&self) -> MappedMutexGuard<'_, Hashes> {
        let mut chains = self.shared.chains.lock();
        link(&self.shared, &mut chains);
        MutexGuard::map(chains, |c| &mut c.hashes)
    }

    /// Forgets every hash (the data they belong to was dropped). Called with the data's write
    /// lock held.
    pub(super) fn reset(&self) {
        *self.sealed() = Hashes::default();
    }
}

impl Drop for Seal {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        if let Some(t) = &self.thread {
            t.unpark();
        }
    }
}

/// Links what is queued after the hashes so far; false when nothing was.
fn link(shared: &Shared, chains: &mut Chains) -> bool {
    let Chains { hashes, batch } = chains;
    std::mem::swap(&mut *shared.queue.lock(), batch);
    if batch.is_empty() {
        return false;
    }
    let mut buf = [0u8; 64];
    for prefix in batch.ledger.drain(..) {
        let prev = hashes
            .ledger
            .last()
            .map_or(GENESIS_HASH, |p| hex32_in(p, &mut buf));
        let hash = link_prefix(&prefix, hashes.ledger.len() as i64, prev);
        hashes.ledger.push(hash);
    }
    let mut digest = [0u8; 64];
    for body in batch.audit.drain(..) {
        let d = hex32_in(&Sha256::digest(body.as_bytes()).into(), &mut digest);
        let prev = hashes
            .audit
            .last()
            .map_or(GENESIS_HASH, |p| hex32_in(p, &mut buf));
        let hash = link_hash_bytes(d, prev, hashes.audit.len() as i64 + 1);
        hashes.audit.push(hash);
    }
    true
}

/// The calling thread runs only on a core nothing else wants (Linux's `SCHED_IDLE`): with one
/// caller it has the second core to itself; when every core is busy with writes it gives way,
/// the queue grows to `BACKLOG` and the writes link it themselves, in runs (measured: a thread
/// that competed with the writers for the cores cost 16 callers 5–18% of their writes).
fn idle_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: the calling thread (pid 0), a valid policy and a parameter that outlives the
        // call; a refusal leaves the thread at its priority, which is only slower.
        let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if r != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "linking thread kept its priority");
        }
    }
}

/// The thread: links what writes hand over; naps while they come, sleeps when they stop.
fn run(shared: &Shared) {
    idle_priority();
    let mut last_work = Instant::now();
    loop {
        if link(shared, &mut shared.chains.lock()) {
            last_work = Instant::now();
            continue;
        }
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        if last_work.elapsed() < AWAKE {
            std::thread::park_timeout(NAP);
            continue;
        }
        shared.asleep.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if shared.queue.lock().is_empty() && !shared.closed.load(Ordering::SeqCst) {
            std::thread::park();
        }
        shared.asleep.store(false, Ordering::Relaxed);
        last_work = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::link_hash;
    use crate::domain::ledger::hex32;

    #[test]
    fn the_thread_links_both_chains_as_a_writer_linking_in_place_would() {
        let seal = Seal::new();
        let prefixes: Vec<String> = (0..300)
            .map(|i| format!("{{\"n\":{i},\"prevHash\":"))
            .collect();
        let bodies: Vec<String> = (0..200).map(|i| format!("{{\"a\":{i}}}")).collect();
        for (i, prefix) in prefixes.iter().enumerate() {
            seal.hand(Some(prefix.clone()), bodies.get(i).cloned());
            if i % 7 == 0 {
                seal.wake();
            }
        }
        seal.wake();
        let h = seal.sealed();
        assert_eq!((h.ledger.len(), h.audit.len()), (300, 200));
        let mut prev = GENESIS_HASH.to_string();
        for (i, p) in prefixes.iter().enumerate() {
            let mut canonical = p.clone();
            canonical.push_str(&format!("\"{prev}\",\"seq\":{}}}", i + 1));
            let want = hex32(&Sha256::digest(canonical.as_bytes()).into());
            assert_eq!(
                hex32(h.ledger.get(i).unwrap()),
                want,
                "ledger event {}",
                i + 1
            );
            prev = want;
        }
        let mut prev = GENESIS_HASH.to_string();
        for (i, b) in bodies.iter().enumerate() {
            let digest = hex32(&Sha256::digest(b.as_bytes()).into());
            let want = link_hash(&digest, &prev, i as i64 + 1);
            assert_eq!(
                hex32(h.audit.get(i).unwrap()),
                want,
                "audit record {}",
                i + 1
            );
            prev = want;
        }
    }

    #[test]
    fn a_reader_links_what_a_sleeping_thread_has_not() {
        let seal = Seal::new();
        // Long enough for the thread to have gone to sleep.
        std::thread::sleep(AWAKE * 10);
        assert!(
            seal.shared.asleep.load(Ordering::SeqCst),
            "the idle thread sleeps"
        );
        // Handed over without a wake-up: the thread sleeps on; the reader links it.
        seal.hand(Some("{\"prevHash\":".into()), Some("{}".into()));
        let h = seal.sealed();
        assert_eq!((h.ledger.len(), h.audit.len()), (1, 1));
        let want = link_prefix("{\"prevHash\":", 0, GENESIS_HASH);
        assert_eq!(h.ledger.get(0), Some(&want));
        drop(h);
        seal.reset();
        assert_eq!(seal.sealed().ledger.len(), 0, "a reset forgets the hashes");
    }

    #[test]
    fn a_long_queue_is_linked_by_the_write_that_lets_the_lock_go() {
        let seal = Seal::new();
        // The thread gone (as if it got no core): only writes can link.
        seal.shared.closed.store(true, Ordering::SeqCst);
        seal.thread.as_ref().expect("a thread").unpark();
        let start = Instant::now();
        while Arc::strong_count(&seal.shared) > 1 {
            assert!(start.elapsed() < Duration::from_secs(20), "the thread ends");
            std::thread::sleep(Duration::from_millis(1));
        }
        let prefix = |i: usize| format!("{{\"n\":{i},\"prevHash\":");
        for i in 0..BACKLOG - 1 {
            seal.hand(Some(prefix(i)), None);
            seal.wake();
        }
        assert_eq!(
            seal.shared.queue.lock().ledger.len(),
            BACKLOG - 1,
            "a short queue waits"
        );
        seal.hand(Some(prefix(BACKLOG)), None);
        seal.wake();
        assert!(
            seal.shared.queue.lock().is_empty(),
            "the write linked the long queue"
        );
        assert_eq!(seal.shared.chains.lock().hashes.ledger.len(), BACKLOG);
    }

    #[test]
    fn the_thread_ends_when_the_store_drops_its_seal() {
        let seal = Seal::new();
        let shared = Arc::downgrade(&seal.shared);
        drop(seal);
        let start = std::time::Instant::now();
        while shared.strong_count() > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the linking thread still runs after its store is gone"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
