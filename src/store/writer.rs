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

use super::counters::Deltas;
use super::sql::{self, Arg, Dialect, Q, Ty};
use super::sqlconn::{Pools, Tx};
use super::wakers::CHANNEL;
use super::{Change, Committed, FaultInjector, StoreError, StoreResult, Write};
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::{GENESIS_HASH, PreparedEvent};
use crate::domain::{InstitutionPolicy, PositionState, ids};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// The most writes one transaction takes. Bounds the time a batch holds the chain head and the
/// memory of one batch; well above what a process's callers queue in practice.
pub const MAX_BATCH: usize = 256;

/// How many writes may queue before callers wait to queue theirs.
const QUEUE: usize = 4096;

/// A write with its ledger event prepared for the chain.
pub(crate) struct Prepared {
    pub change: Change,
    pub ledger: Option<PreparedEvent>,
    pub audit: Option<AuditEvent>,
}

impl Prepared {
    /// Runs in the caller's task: everything of sealing that does not need the chain head.
    pub fn new(w: Write) -> Self {
        Prepared {
            change: w.change,
            ledger: w.ledger.map(|d| d.prepare(ids::new_id(ids::LEDGER_EVENT))),
            audit: w.audit,
        }
    }
}

pub(crate) struct Job {
    write: Prepared,
    reply: oneshot::Sender<StoreResult<Committed>>,
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
        if self.jobs.send(Job { write, reply }).await.is_err() {
            faults.queued(-1);
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

/// What one write did inside an attempt.
enum Step {
    /// Applied. `link` is its ledger event's place: (seq, prev hash, hash).
    Applied {
        link: Option<(i64, String, String)>,
        policy: Option<InstitutionPolicy>,
        /// The event prepared again when the store chose its entity id (a policy upsert).
        renamed: Option<Box<PreparedEvent>>,
        applied: bool,
    },
    /// Refused before it changed anything; the batch goes on without it.
    Refused(StoreError),
}

/// How an attempt at a batch ended.
enum Attempt {
    Committed(Vec<Option<Step>>),
    /// Write `index` failed after it changed something: run the batch again without it.
    Failed {
        index: usize,
        error: StoreError,
    },
    /// The batch as a whole could not be committed (connection, begin, commit).
    Unavailable(StoreError),
}

impl Writer {
    pub fn spawn(self) -> WriterHandle {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(self.run(rx));
        WriterHandle { jobs }
    }

    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.recv().await {
            self.faults.writer_gate().await;
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            self.faults.queued(-(jobs.len() as i64));
            self.commit_batch(jobs).await;
        }
    }

    async fn commit_batch(&self, jobs: Vec<Job>) {
        let (mut writes, replies): (Vec<Prepared>, Vec<_>) =
            jobs.into_iter().map(|j| (j.write, j.reply)).unzip();
        let mut failed: Vec<Option<StoreError>> = vec![None; writes.len()];
        let answers: Vec<StoreResult<Committed>> = loop {
            match self.attempt(&writes, &failed).await {
                Attempt::Committed(steps) => {
                    let n = steps
                        .iter()
                        .filter(|s| matches!(s, Some(Step::Applied { .. })))
                        .count();
                    let mut newest = None;
                    let answers = steps
                        .into_iter()
                        .zip(writes.iter_mut())
                        .zip(failed.iter_mut())
                        .map(|((step, w), f)| match (step, f.take()) {
                            (_, Some(e)) | (Some(Step::Refused(e)), None) => Err(e),
                            (None, None) => {
                                Err(StoreError::Other("write was not attempted".into()))
                            }
                            (
                                Some(Step::Applied {
                                    link,
                                    policy,
                                    renamed,
                                    applied,
                                }),
                                None,
                            ) => {
                                let prepared = renamed.map(|r| *r).or_else(|| w.ledger.take());
                                let ledger = match (link, prepared) {
                                    (Some((seq, prev, hash)), Some(p)) => {
                                        newest = Some(seq);
                                        Some(p.into_event(seq - 1, &prev, hash).event)
                                    }
                                    _ => None,
                                };
                                Ok(Committed {
                                    ledger,
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
                    break answers;
                }
                Attempt::Failed { index, error } => {
                    failed[index] = Some(error);
                }
                Attempt::Unavailable(e) => {
                    break failed
                        .iter_mut()
                        .map(|f| Err(f.take().unwrap_or_else(|| e.clone())))
                        .collect();
                }
            }
        };
        for (reply, answer) in replies.into_iter().zip(answers) {
            // A caller that went away no longer wants its answer; its write stands.
            let _ = reply.send(answer);
        }
    }

    /// One transaction over every write not yet failed.
    async fn attempt(&self, writes: &[Prepared], failed: &[Option<StoreError>]) -> Attempt {
        let live = || {
            writes
                .iter()
                .zip(failed)
                .filter(|(_, f)| f.is_none())
                .map(|(w, _)| w)
        };
        if live().next().is_none() {
            return Attempt::Committed(writes.iter().map(|_| None).collect());
        }
        let mut tx = match self.pools.begin().await {
            Ok(tx) => tx,
            Err(e) => return Attempt::Unavailable(e),
        };
        let head = if live().any(|w| w.ledger.is_some()) {
            match self.read_head(&mut tx).await {
                Ok(h) => Some(h),
                Err(e) => {
                    tx.rollback().await;
                    return Attempt::Unavailable(e);
                }
            }
        } else {
            None
        };
        let (first_seq, first_hash) = head.clone().unwrap_or((0, GENESIS_HASH.to_string()));
        let (mut seq, mut prev) = (first_seq, first_hash.clone());
        let mut steps = Vec::with_capacity(writes.len());
        let mut deltas = Deltas::default();
        for (index, (w, f)) in writes.iter().zip(failed).enumerate() {
            if f.is_some() {
                steps.push(None);
                continue;
            }
            match self.apply(&mut tx, w, seq, &prev).await {
                Ok(step) => {
                    if let Step::Applied {
                        link: Some((s, _, h)),
                        ..
                    } = &step
                    {
                        seq = *s;
                        prev = h.clone();
                    }
                    if let Step::Applied { applied: true, .. } = &step {
                        let institution =
                            w.ledger.as_ref().map(|l| l.draft.institution_id.as_str());
                        deltas.record(&w.change, institution, w.audit.as_ref());
                    }
                    steps.push(Some(step));
                }
                Err(error) => {
                    tx.rollback().await;
                    return match error {
                        StoreError::Unavailable(_) => Attempt::Unavailable(error),
                        _ => Attempt::Failed { index, error },
                    };
                }
            }
        }
        let finish = async {
            if seq != first_seq {
                self.advance_head(&mut tx, seq, &prev).await?;
            }
            if !deltas.is_empty() {
                tx.exec(sql::add_counters(self.d, &deltas)).await?;
            }
            Ok::<_, StoreError>(())
        };
        if let Err(e) = finish.await {
            tx.rollback().await;
            return Attempt::Unavailable(e);
        }
        match tx.commit().await {
            Ok(()) => Attempt::Committed(steps),
            Err(e) => Attempt::Unavailable(e),
        }
    }

    /// The chain head, locked until commit. PostgreSQL: the `ledger_head` row `FOR UPDATE`, which
    /// serialises appends across every process. SQLite: `BEGIN IMMEDIATE` already holds the
    /// database's single write lock, so the newest event is the head.
    async fn read_head(&self, tx: &mut Tx) -> StoreResult<(i64, String)> {
        let q = match self.d {
            Dialect::Sqlite => sql::last_ledger_event(self.d),
            Dialect::Postgres => Q::new(
                self.d,
                "SELECT seq, hash FROM ledger_head WHERE id FOR UPDATE",
            ),
        };
        Ok(tx
            .fetch_optional::<(i64, String)>(q)
            .await?
            .unwrap_or((0, GENESIS_HASH.to_string())))
    }

    /// PostgreSQL keeps the head in its own row and tells listeners once per batch (delivered only
    /// when the transaction commits).
    async fn advance_head(&self, tx: &mut Tx, seq: i64, hash: &str) -> StoreResult<()> {
        if self.d != Dialect::Postgres {
            return Ok(());
        }
        let mut q = Q::new(self.d, "UPDATE ledger_head SET seq = ");
        q.bind(Ty::Int, Arg::Int(seq))
            .push(", hash = ")
            .bind(Ty::Text, Arg::Text(Some(hash.to_string())))
            .push(" WHERE id");
        tx.exec(q).await?;
        let mut q = Q::new(self.d, "SELECT pg_notify('");
        q.push(CHANNEL)
            .push("', ")
            .bind(Ty::Text, Arg::Text(Some(seq.to_string())))
            .push(")");
        tx.exec(q).await?;
        Ok(())
    }

    /// One write inside the batch's transaction, after the chain head (`seq`, `prev`).
    async fn apply(&self, tx: &mut Tx, w: &Prepared, seq: i64, prev: &str) -> StoreResult<Step> {
        let d = self.d;
        let mut policy = None;
        let mut renamed = None;
        let mut audit_id_override = None;
        match &w.change {
            Change::None => {}
            Change::CreateInstitution(x) => {
                tx.exec(sql::insert_institution(d, x)).await?;
            }
            Change::CreateTemplate(x) => {
                tx.exec(sql::insert_template(d, x)).await?;
            }
            Change::CreateAsset(x) => {
                tx.exec(sql::insert_asset(d, x)).await?;
            }
            Change::CreatePosition(x) => {
                tx.exec(sql::insert_position(d, x)).await?;
            }
            Change::CreateApiKey(x) => {
                tx.exec(sql::insert_api_key(d, x)).await?;
            }
            Change::TransitionPosition {
                position,
                expected_state,
                expected_version,
                event,
            } => {
                let n = tx
                    .exec(sql::update_position_state(
                        d,
                        position,
                        *expected_state,
                        *expected_version,
                    ))
                    .await?;
                if n == 0 {
                    // Nothing written yet: refuse this write alone.
                    let current: Option<(String, i64)> = tx
                        .fetch_optional(sql::position_state(d, &position.id))
                        .await?;
                    return Ok(Step::Refused(match current {
                        None => StoreError::NotFound {
                            entity: "position",
                            id: position.id.clone(),
                        },
                        Some((state, version)) => StoreError::Conflict {
                            id: position.id.clone(),
                            expected: *expected_state,
                            expected_version: *expected_version,
                            actual: state
                                .parse::<PositionState>()
                                .map_err(|e| StoreError::Corrupt(format!("position state: {e}")))?,
                            actual_version: version,
                        },
                    }));
                }
                tx.exec(sql::insert_position_event(d, event)).await?;
            }
            Change::UpsertPolicy(p) => {
                let row: sql::PolicyRow = tx
                    .fetch_optional(sql::upsert_policy(d, p))
                    .await?
                    .ok_or_else(|| StoreError::Other("policy upsert returned no row".into()))?;
                let stored = InstitutionPolicy::try_from(row)?;
                // The records name the stored policy (an existing one keeps its id).
                renamed = w
                    .ledger
                    .as_ref()
                    .filter(|l| l.draft.entity_id != stored.id)
                    .map(|l| Box::new(l.clone().with_entity_id(&stored.id)));
                audit_id_override = Some(stored.id.clone());
                policy = Some(stored);
            }
            Change::RevokeApiKey { id, at } => {
                if tx.exec(sql::revoke_api_key(d, id, at)).await? == 0 {
                    let exists: Option<sql::ApiKeyRow> =
                        tx.fetch_optional(sql::by_id(d, &sql::API_KEYS, id)).await?;
                    return Ok(match exists {
                        None => Step::Refused(StoreError::NotFound {
                            entity: "API key",
                            id: id.clone(),
                        }),
                        // Already revoked: nothing is written, and that is the answer.
                        Some(_) => Step::Applied {
                            link: None,
                            policy: None,
                            renamed: None,
                            applied: false,
                        },
                    });
                }
            }
        }
        let mut link = None;
        if let Some(prepared) = renamed.as_deref().or(w.ledger.as_ref()) {
            self.faults.check_ledger_append()?;
            let hash = prepared.chain_hash(seq, prev);
            tx.exec(sql::insert_ledger(d, prepared, seq + 1, prev, &hash))
                .await?;
            link = Some((seq + 1, prev.to_string(), hash));
        }
        if let Some(a) = &w.audit {
            match audit_id_override {
                Some(resource_id) if a.resource_id.as_ref() != Some(&resource_id) => {
                    let mut a = a.clone();
                    a.resource_id = Some(resource_id);
                    tx.exec(sql::insert_audit(d, &a)).await?;
                }
                _ => {
                    tx.exec(sql::insert_audit(d, a)).await?;
                }
            }
        }
        Ok(Step::Applied {
            link,
            policy,
            renamed,
            applied: true,
        })
    }
}
