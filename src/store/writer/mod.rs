//! The writer that batches commits, one per SQL store and process. Callers prepare their write
//! (ids, canonical bytes, the hash state of everything but the chain link) in their own task and
//! queue it; the writer takes every write waiting (up to `MAX_BATCH`), applies them in one
//! transaction in arrival order, links their ledger events into the chain after one head read,
//! updates the head and the counters once, notifies once, commits once — and only then answers
//! each caller with its own result. A batch of one commits at once: there is no timer.
//!
//! A write that fails fails alone: the transaction is rolled back and the batch runs again without
//! it (the others never see its effects, and it sees none of theirs). A write refused for a reason
//! found before it changed anything (a stale transition, a missing key) is simply left out.
//! Across processes on one PostgreSQL database the `ledger_head` row, locked once per batch, is
//! what orders the chain; on SQLite `BEGIN IMMEDIATE` is.

mod careful;
mod linked;
mod outcome;

use super::counters::Deltas;
use super::sql::{self, Arg, Dialect, Q};
use super::sqlconn::{Pools, Tx, WriteConn};
use super::sqlrows;
use super::sqlwrite::{self, entity_of, rows_of, whole_batch_fits};
use super::{Change, Committed, FaultInjector, Heads, StoreError, StoreResult, Write};
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::PreparedEvent;
use crate::domain::{InstitutionPolicy, PositionState};
use outcome::{WRITE_TRIES, outcome_unknown};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};

/// The most writes one transaction takes. Bounds the time a batch holds the chain head and the
/// memory of one batch; well above what a process's callers queue in practice.
pub const MAX_BATCH: usize = 256;

/// How many writes may queue before callers wait to queue theirs.
const QUEUE: usize = 4096;

/// A write with its ledger event and audit record prepared for their chains.
pub(crate) struct Prepared {
    pub change: Change,
    pub ledger: Option<PreparedEvent>,
    /// The audit record with its digest (`AuditEvent::digest`).
    pub audit: Option<(AuditEvent, String)>,
}

impl Prepared {
    /// Runs in the caller's task: everything of sealing that does not need the chains' heads.
    pub fn new(w: Write) -> Self {
        Prepared {
            change: w.change,
            ledger: w
                .ledger
                .map(crate::domain::ledger::LedgerDraft::prepare_with_id),
            audit: w.audit.map(|a| {
                let d = a.digest();
                (a, d)
            }),
        }
    }
}

// Jobs are moved through the queue, not kept: boxing every write to shrink the rare import
// would cost an allocation per write.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Job {
    One {
        write: Prepared,
        reply: oneshot::Sender<StoreResult<Committed>>,
    },
    /// A whole import into an empty store (`after` None), or a mirror's step appended where the
    /// chains end (`after`), in one transaction, committed only if the chains end on `expect`
    /// (see `Store::import`).
    Import {
        writes: Vec<Prepared>,
        after: Option<Heads>,
        expect: Heads,
        reply: oneshot::Sender<StoreResult<()>>,
    },
}

/// The caller's side: queues a write and waits for its answer.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    jobs: mpsc::Sender<Job>,
}

impl WriterHandle {
    pub async fn commit(&self, faults: &FaultInjector, w: Write) -> StoreResult<Committed> {
        let write = Prepared::new(w);
        let (reply, answer) = oneshot::channel();
        faults.queued(1);
        if self.jobs.send(Job::One { write, reply }).await.is_err() {
            faults.queued(-1);
            return Err(StoreError::Unavailable(
                "the store's writer has stopped".into(),
            ));
        }
        answer.await.map_err(|_| {
            StoreError::Unavailable("the store's writer stopped before answering".into())
        })?
    }

    pub async fn import(
        &self,
        writes: Vec<Write>,
        after: Option<Heads>,
        expect: Heads,
    ) -> StoreResult<()> {
        let writes = writes.into_iter().map(Prepared::new).collect();
        let (reply, answer) = oneshot::channel();
        let job = Job::Import {
            writes,
            after,
            expect,
            reply,
        };
        if self.jobs.send(job).await.is_err() {
            return Err(StoreError::Unavailable(
                "the store's writer has stopped".into(),
            ));
        }
        answer.await.map_err(|_| {
            StoreError::Unavailable("the store's writer stopped before answering".into())
        })?
    }
}

pub(crate) struct Writer {
    pub d: Dialect,
    pub pools: Pools,
    pub faults: Arc<FaultInjector>,
    /// Head seq after this process's own commits, so in-process subscribers wake at once.
    pub head_tx: Arc<watch::Sender<i64>>,
}

/// What one write did inside an attempt. (Steps live for one batch: a box per applied write
/// would cost more than the size difference.)
#[allow(clippy::large_enum_variant)]
enum Step {
    /// Applied. `link` is its ledger event's place: (seq, prev hash, hash); `audit_link` its
    /// audit record's (seq, hash).
    Applied {
        link: Option<(i64, String, String)>,
        audit_link: Option<(i64, String)>,
        policy: Option<InstitutionPolicy>,
        applied: bool,
    },
    /// Refused before it changed anything; the batch goes on without it.
    Refused(StoreError),
}

/// How an attempt at a batch ended.
enum Attempt {
    /// Committed.
    Committed(Vec<Option<Step>>),
    /// Write `index` failed after it changed something: run the batch again without it.
    Failed { index: usize, error: StoreError },
    /// A statement over several writes failed: run the batch again a write at a time, to find
    /// the one that fails.
    Isolate,
    /// The batch as a whole could not be committed (connection, begin, a statement timeout).
    Unavailable(StoreError),
    /// The database rolled the transaction back to resolve a conflict with another (deadlock,
    /// serialization failure): nothing changed, so the batch is tried again after a pause.
    Retry(StoreError),
    /// The connection failed while the batch's commit was under way: it may have landed. The
    /// writer looks for the batch's newest ledger event before it answers or tries again.
    Unknown {
        steps: Vec<Option<Step>>,
        error: StoreError,
    },
    /// As `Unknown`, for a batch the database linked (`linked.rs`): its places in the chains
    /// are the database's, so the writer looks for its records by id.
    UnknownLinked(StoreError),
}

/// What the writer keeps between batches.
#[derive(Default)]
struct State {
    conn: Option<WriteConn>,
}

/// Bulk: each statement covers as many writes as it can. Isolating: each covers one write, so a
/// failing statement names its write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bulk,
    Isolating,
}

/// Why a group of writes could not be applied.
enum GroupError {
    /// The whole-batch statement was refused: its check names no write, so the batch is
    /// isolated write by write, whatever its size.
    WholeBatch(StoreError),
    /// A statement failed; if the group has one write, it is the one.
    Statement(StoreError),
    /// This write failed.
    Write(usize, StoreError),
}

/// The chains as the attempt extends them, and the rows it defers to the end of the batch.
struct Pending<'a> {
    seq: i64,
    prev: String,
    audit_seq: i64,
    audit_prev: String,
    ledger: Vec<Vec<Arg>>,
    audit: Vec<Vec<Arg>>,
    deltas: Deltas<'a>,
}

impl<'a> Pending<'a> {
    /// Nothing pending yet, after `heads`.
    fn after(heads: &Heads) -> Self {
        Pending {
            seq: heads.ledger.0,
            prev: heads.ledger.1.clone(),
            audit_seq: heads.audit.0,
            audit_prev: heads.audit.1.clone(),
            ledger: Vec::new(),
            audit: Vec::new(),
            deltas: Deltas::default(),
        }
    }

    /// The heads the writes linked so far leave.
    fn heads(&self) -> Heads {
        Heads {
            ledger: (self.seq, self.prev.clone()),
            audit: (self.audit_seq, self.audit_prev.clone()),
        }
    }

    /// Puts an audit record (with its digest) next in the audit chain; its row is inserted with
    /// the others. Returns its (seq, hash).
    fn link_audit(&mut self, a: &AuditEvent, digest: &str) -> (i64, String) {
        let seq = self.audit_seq + 1;
        let hash = crate::domain::audit::link_hash(digest, &self.audit_prev, seq);
        let prev = std::mem::replace(&mut self.audit_prev, hash.clone());
        self.audit_seq = seq;
        self.audit
            .push(sqlrows::AuditRow::of(a, (seq, &prev, &hash)).args());
        (seq, hash)
    }
}

impl Writer {
    pub fn spawn(self) -> WriterHandle {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(self.run(rx));
        WriterHandle { jobs }
    }

    async fn run(self, mut queue: mpsc::Receiver<Job>) {
        let mut state = State::default();
        // An import taken while a batch was gathered waits for that batch to commit.
        let mut held: Option<Job> = None;
        loop {
            let first = match held.take() {
                Some(j) => j,
                None => match queue.recv().await {
                    Some(j) => j,
                    None => return,
                },
            };
            self.faults.writer_gate().await;
            let (write, reply) = match first {
                Job::One { write, reply } => (write, reply),
                Job::Import {
                    writes,
                    after,
                    expect,
                    reply,
                } => {
                    let r = self
                        .import(&mut state, &writes, after.as_ref(), &expect)
                        .await;
                    let _ = reply.send(r);
                    continue;
                }
            };
            let mut jobs = vec![(write, reply)];
            while jobs.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(Job::One { write, reply }) => jobs.push((write, reply)),
                    Ok(import) => {
                        held = Some(import);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.faults.queued(-(jobs.len() as i64));
            let (n, started) = (jobs.len(), Instant::now());
            self.commit_batch(&mut state, jobs).await;
            tracing::debug!(
                writes = n,
                micros = started.elapsed().as_micros() as u64,
                "batch"
            );
            if self.pools.shared_writer() {
                state.conn = None;
            }
        }
    }

    /// An import: every write in one transaction (in statements of at most `MAX_BATCH`
    /// writes), into a store that must be empty, committed only when nothing failed and both
    /// chains end on `expect`; otherwise rolled back whole.
    async fn import(
        &self,
        st: &mut State,
        writes: &[Prepared],
        after: Option<&Heads>,
        expect: &Heads,
    ) -> StoreResult<()> {
        let mut conn = match st.conn.take() {
            Some(c) => c,
            None => self.pools.writer_connection().await?,
        };
        conn.begin().await?;
        let mut tx = Tx(&mut conn);
        let r = self.import_in(&mut tx, writes, after, expect).await;
        match r {
            Ok(()) => tx.commit().await?,
            Err(e) => {
                tx.rollback().await;
                return Err(e);
            }
        }
        self.head_tx.send_replace(expect.ledger.0);
        if !self.pools.shared_writer() {
            st.conn = Some(conn);
        }
        Ok(())
    }

    async fn import_in(
        &self,
        tx: &mut Tx<'_>,
        writes: &[Prepared],
        after: Option<&Heads>,
        expect: &Heads,
    ) -> StoreResult<()> {
        match after {
            None => {
                let held: Vec<(i64,)> = tx.fetch_all(Q::new(self.d, sql::HELD_ROWS)).await?;
                if held.first().is_some_and(|(n,)| *n > 0) {
                    return Err(StoreError::Constraint(
                        "an import needs an empty store; this one holds records".into(),
                    ));
                }
            }
            Some(after) => {
                let now = self.read_head(tx).await?;
                if now != *after {
                    return Err(super::moved(&now, after));
                }
            }
        }
        for (n, chunk) in writes.chunks(MAX_BATCH).enumerate() {
            let live: Vec<usize> = (0..chunk.len()).collect();
            let at = |i: usize| n * MAX_BATCH + i + 1;
            let steps = match self.apply_all(tx, chunk, &live, Mode::Bulk).await {
                Ok(steps) => steps,
                Err(GroupError::Write(i, e)) => {
                    return Err(StoreError::Constraint(format!(
                        "write {} failed: {e}",
                        at(i)
                    )));
                }
                Err(GroupError::Statement(e) | GroupError::WholeBatch(e)) => {
                    return Err(StoreError::Constraint(format!(
                        "writes {} to {} failed: {e}",
                        at(0),
                        at(chunk.len() - 1)
                    )));
                }
            };
            if let Some((i, e)) = steps.into_iter().enumerate().find_map(|(i, s)| match s {
                Some(Step::Refused(e)) => Some((i, e)),
                _ => None,
            }) {
                return Err(StoreError::Constraint(format!(
                    "write {} was refused: {e}",
                    at(i)
                )));
            }
        }
        let heads = self.read_head(tx).await?;
        if heads != *expect {
            return Err(StoreError::Constraint(format!(
                "the import would end at ledger seq {} hash {} and audit seq {} hash {}, \
                 the export at ledger seq {} hash {} and audit seq {} hash {}",
                heads.ledger.0,
                heads.ledger.1,
                heads.audit.0,
                heads.audit.1,
                expect.ledger.0,
                expect.ledger.1,
                expect.audit.0,
                expect.audit.1
            )));
        }
        Ok(())
    }

    async fn commit_batch(
        &self,
        st: &mut State,
        jobs: Vec<(Prepared, oneshot::Sender<StoreResult<Committed>>)>,
    ) {
        let (writes, replies): (Vec<Prepared>, Vec<_>) = jobs.into_iter().unzip();
        let mut failed: Vec<Option<StoreError>> = vec![None; writes.len()];
        let mut mode = Mode::Bulk;
        let mut attempt = match self.linked(st, &writes).await {
            Some(a) => a,
            None => match self.sqlite_batch(st, &writes).await {
                Some(a) => a,
                None => self.attempt(&mut st.conn, &writes, &failed, mode).await,
            },
        };
        let mut tries = 1;
        let answers: Vec<StoreResult<Committed>> = loop {
            match attempt {
                Attempt::Retry(e) if tries >= WRITE_TRIES => {
                    attempt = Attempt::Unavailable(outcome::gave_up(&e, tries));
                    continue;
                }
                Attempt::Retry(e) => {
                    tracing::info!(error = %e, tries, "the database rolled the batch back; trying again");
                    tokio::time::sleep(super::sqlconn::backoff(tries)).await;
                    tries += 1;
                }
                Attempt::Unknown { steps, error } => {
                    st.conn = None;
                    attempt = self.resolve(&mut st.conn, steps, error, tries).await;
                    continue;
                }
                Attempt::UnknownLinked(error) => {
                    st.conn = None;
                    attempt = self
                        .resolve_linked(&mut st.conn, &writes, error, tries)
                        .await;
                    continue;
                }
                Attempt::Committed(steps) => break self.answers(steps, &mut failed),
                Attempt::Failed { index, error } => {
                    failed[index] = Some(error);
                    mode = Mode::Bulk;
                }
                Attempt::Isolate => mode = Mode::Isolating,
                Attempt::Unavailable(e) => {
                    // The connection may be broken: the next batch takes a fresh one.
                    st.conn = None;
                    break failed
                        .iter_mut()
                        .map(|f| Err(f.take().unwrap_or_else(|| e.clone())))
                        .collect();
                }
            }
            attempt = self.attempt(&mut st.conn, &writes, &failed, mode).await;
        };
        for (reply, answer) in replies.into_iter().zip(answers) {
            // A caller that went away no longer wants its answer; its write stands.
            let _ = reply.send(answer);
        }
    }

    /// SQLite: the whole batch in two calls to sqlx's SQLite thread (`BEGIN IMMEDIATE` with the
    /// head read, then every statement and `COMMIT`), where a statement per table would take one
    /// each. None when the batch does not qualify; a refused batch is isolated write by write.
    async fn sqlite_batch(&self, st: &mut State, writes: &[Prepared]) -> Option<Attempt> {
        let live: Vec<usize> = (0..writes.len()).collect();
        if self.d != Dialect::Sqlite
            || !whole_batch_fits(&live.iter().map(|i| &writes[*i].change).collect::<Vec<_>>())
        {
            return None;
        }
        if st.conn.is_none() {
            match self.pools.writer_connection().await {
                Ok(c) => st.conn = Some(c),
                Err(e) => return Some(Attempt::Unavailable(e)),
            }
        }
        let conn = st.conn.as_mut().expect("set above");
        let head = Q::new(self.d, sql::SQLITE_BEGIN_WITH_HEADS);
        let head = match conn.fetch_all::<sqlrows::HeadsRow>(head).await {
            Ok(rows) => sqlrows::heads(rows.into_iter().next()),
            Err(e) => {
                let _ = conn.simple("ROLLBACK").await;
                return Some(match e {
                    e if e.is_unavailable() => Attempt::Unavailable(e),
                    _ => Attempt::Isolate,
                });
            }
        };
        let last = conn
            .fetch_all(sql::ledger_event_at(self.d, head.ledger.0))
            .await;
        let broken = last.map(|r| sqlrows::broken_head(&head.ledger, r.into_iter().next()));
        if let Err(e) | Ok(Some(e)) = broken {
            let _ = conn.simple("ROLLBACK").await;
            return Some(Attempt::Unavailable(e));
        }
        let (q, steps) = match self.whole_batch(writes, &live, head)? {
            Ok(built) => built,
            Err((index, error)) => {
                let _ = conn.simple("ROLLBACK").await;
                return Some(Attempt::Failed { index, error });
            }
        };
        match conn.exec(q).await {
            Ok(_) => Some(Attempt::Committed(steps)),
            Err(e) => {
                // Whatever failed, the transaction is still open (or already gone): end it.
                let _ = conn.simple("ROLLBACK").await;
                Some(match e {
                    e if e.is_unavailable() => Attempt::Unavailable(e),
                    _ => Attempt::Isolate,
                })
            }
        }
    }

    /// SQLite: the live writes as one call after `head` (`sqlwrite::sqlite_batch`, which ends
    /// with COMMIT), linked here, each write's step should it succeed. None when the batch does
    /// not qualify (a policy upsert or key revocation; two writes on one entity); `Err` when a
    /// write fails as it is linked (a test's injected fault).
    #[allow(clippy::type_complexity)]
    fn whole_batch(
        &self,
        writes: &[Prepared],
        live: &[usize],
        head: Heads,
    ) -> Option<Result<(Q, Vec<Option<Step>>), (usize, StoreError)>> {
        if !whole_batch_fits(&live.iter().map(|i| &writes[*i].change).collect::<Vec<_>>()) {
            return None;
        }
        let mut pending = Pending::after(&head);
        let mut steps: Vec<Option<Step>> = writes.iter().map(|_| None).collect();
        for &i in live {
            let w = &writes[i];
            let (link, audit_link) = match self.applied(w, w.ledger.as_ref(), None, &mut pending) {
                Ok(l) => l,
                Err(error) => return Some(Err((i, error))),
            };
            steps[i] = Some(Step::Applied {
                link,
                audit_link,
                policy: None,
                applied: true,
            });
        }
        let changes: Vec<&Change> = live.iter().map(|i| &writes[*i].change).collect();
        let (creates, transitions) = rows_of(self.d, &changes);
        let parts = sqlwrite::OneStatement {
            creates,
            position_events: transitions
                .iter()
                .map(|(_, _, _, e)| sqlrows::PositionEventRow::of(self.d, e).args())
                .collect(),
            transitions: transitions
                .iter()
                .map(|(p, s, v, _)| (*p, *s, *v))
                .collect(),
            ledger: std::mem::take(&mut pending.ledger),
            audit: std::mem::take(&mut pending.audit),
            prefixes: Vec::new(),
            digests: Vec::new(),
            deltas: &pending.deltas,
            guards: sqlwrite::policy_guards(&changes),
            unmarked: true,
        };
        Some(Ok((sqlwrite::sqlite_batch(parts), steps)))
    }

    /// Each caller's answer after a commit; tells in-process subscribers of the new head.
    fn answers(
        &self,
        steps: Vec<Option<Step>>,
        failed: &mut [Option<StoreError>],
    ) -> Vec<StoreResult<Committed>> {
        let n = steps
            .iter()
            .filter(|s| matches!(s, Some(Step::Applied { .. })))
            .count();
        let mut newest = None;
        let answers = steps
            .into_iter()
            .zip(failed.iter_mut())
            .map(|(step, f)| match (step, f.take()) {
                (_, Some(e)) | (Some(Step::Refused(e)), None) => Err(e),
                (None, None) => Err(StoreError::Other("write was not attempted".into())),
                (
                    Some(Step::Applied {
                        link,
                        audit_link,
                        policy,
                        applied,
                    }),
                    None,
                ) => {
                    let ledger = link.map(|(seq, ..)| {
                        newest = Some(seq);
                        seq
                    });
                    Ok(Committed {
                        ledger,
                        audit: audit_link.map(|(seq, _)| seq),
                        policy,
                        applied,
                        batch: n,
                    })
                }
            })
            .collect();
        if let Some(seq) = newest {
            self.head_tx.send_if_modified(|h| {
                let newer = seq > *h;
                if newer {
                    *h = seq;
                }
                newer
            });
        }
        answers
    }
}
