//! `mirror`: this store's ledger and audit trail applied, as they grow, to another store of any
//! backend, so that the target holds the same book — each ledger event stored again under its
//! own id by the change its replay makes (as an import does) and re-sealed by the target, which
//! must give it the source's seq and hash; each audit record likewise, in the audit chain's
//! order. A mirror starts from the target's heads (a new target gets everything from seq 1): an
//! event already there is not written again, and a mirror stopped at any moment — killed, or
//! either store gone — starts again where the target ends, with no gap and no duplicate. A
//! target whose history is not the source's is refused, naming the first seq where they part.
//! While it mirrors, the target is marked (`store::MirrorOf`): it takes no other writer until
//! `mirror promote`, and the mark carries each step's lag for `health` and the metrics.

use super::*;
use crate::domain::replay::{Effect, Replay};
use crate::store::{Heads, MirrorLast, MirrorOf, MirroredTo};
use serde::Serialize;
use std::collections::VecDeque;

/// Where one step of the mirror left the two stores.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorStep {
    /// Ledger events and audit records written to the target by this step.
    pub events: u64,
    pub audit_records: u64,
    /// The target's ledger head after the step, and the source's when it was read.
    pub head_seq: i64,
    pub source_head_seq: i64,
    /// Events the target is behind, and how much older its newest event is than the source's
    /// (0 when caught up).
    pub behind_events: i64,
    pub behind_seconds: f64,
}

/// A running mirror: the target's ledger replayed (what a lifecycle step needs to know of the
/// position it moves), kept between steps and rebuilt after a step that failed part way.
pub struct Mirror {
    replay: Option<(Replay, i64)>,
    /// Where it reads from and writes to, as the two stores name each other; when it started.
    source: String,
    target: String,
    started_at: time::Timestamp,
}

/// Which chain.
#[derive(Clone, Copy)]
pub(super) enum Chain {
    Ledger,
    Audit,
}

/// The hash at `seq` of one chain of `s` (None when the chain is shorter).
pub(super) async fn hash_at(s: &Service, chain: Chain, seq: i64) -> ServiceResult<Option<String>> {
    if seq == 0 {
        return Ok(Some(String::new()));
    }
    Ok(match chain {
        Chain::Ledger => s
            .store
            .read_ledger(&LedgerQuery {
                after_seq: seq - 1,
                limit: 1,
                ..Default::default()
            })
            .await?
            .into_iter()
            .next()
            .filter(|e| e.seq == seq)
            .map(|e| e.hash),
        Chain::Audit => s
            .store
            .list_audit(&AuditQuery {
                after_seq: Some(seq - 1),
                limit: 1,
                ..Default::default()
            })
            .await?
            .into_iter()
            .next()
            .filter(|a| a.seq == Some(seq))
            .and_then(|a| a.hash),
    })
}

/// A step's figures as the stores keep them.
fn last_step(step: &MirrorStep) -> MirrorLast {
    MirrorLast {
        step_at: time::now(),
        head_seq: step.head_seq,
        source_head_seq: step.source_head_seq,
        behind_events: step.behind_events,
        behind_ms: (step.behind_seconds * 1000.0) as i64,
    }
}

/// When the event at `seq` of `s` was recorded.
async fn event_time(s: &Service, seq: i64) -> ServiceResult<Option<time::Timestamp>> {
    let q = LedgerQuery {
        after_seq: seq - 1,
        limit: 1,
        ..Default::default()
    };
    Ok(s.store
        .read_ledger(&q)
        .await?
        .into_iter()
        .next()
        .map(|e| e.at))
}

/// The first seq at which the target's chain is not the source's, where the target holds one
/// (None: every record the target holds is the source's).
async fn first_foreign(
    source: &Service,
    target: &Service,
    chain: Chain,
    target_head: i64,
) -> ServiceResult<Option<i64>> {
    if hash_at(source, chain, target_head).await? == hash_at(target, chain, target_head).await? {
        return Ok(None);
    }
    Ok(Some(
        first_differing(source, target, chain, 0, target_head).await?,
    ))
}

/// The first seq in (`lo`, `hi`] at which the chains of `a` and `b` differ, where they are the
/// same at `lo` and differ at `hi`: each record's hash covers every record before it, so they
/// agree up to some seq and differ from the next on — found by halving, a few reads a side.
pub(super) async fn first_differing(
    a: &Service,
    b: &Service,
    chain: Chain,
    mut lo: i64,
    mut hi: i64,
) -> ServiceResult<i64> {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if hash_at(a, chain, mid).await? == hash_at(b, chain, mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

impl Mirror {
    /// One step: the source's events and audit records after the target's heads (up to `limit`
    /// of each), written to the target in order. Refuses a target whose history is not the
    /// source's.
    pub async fn step(
        &mut self,
        source: &Service,
        target: &Service,
        limit: u32,
    ) -> ServiceResult<MirrorStep> {
        let heads = target.store.heads().await?;
        let (seq, audit_seq) = (heads.ledger.0, heads.audit.0);
        for (chain, head, what) in [
            (Chain::Ledger, seq, "seq"),
            (Chain::Audit, audit_seq, "audit seq"),
        ] {
            if let Some(at) = first_foreign(source, target, chain, head).await? {
                self.replay = None;
                return Err(ServiceError::field(
                    "to",
                    format!(
                        "the target's history is not the source's from {what} {at} on: refusing \
                         to mirror into it (`escrowgrid compare` shows both)"
                    ),
                ));
            }
        }
        // The target is marked before anything is written to it: from here on it takes writes
        // from its mirror only.
        if target.store.mirror_of().await?.is_none() {
            self.mark(target, &MirrorStep::default()).await?;
        }
        self.catch_up_replay(target, seq).await?;
        let events = source
            .store
            .read_ledger(&LedgerQuery {
                after_seq: seq,
                limit,
                ..Default::default()
            })
            .await?;
        // Read after the events: every record of those events is among these, unless the
        // limit cut it off.
        let audit = source
            .store
            .list_audit(&AuditQuery {
                after_seq: Some(audit_seq),
                limit,
                ..Default::default()
            })
            .await?;
        let events_whole = events.len() < limit as usize;
        let audit_whole = audit.len() < limit as usize;
        let plan = pair(events, audit, events_whole, audit_whole);
        let mut step = MirrorStep::default();
        if !plan.is_empty() {
            let r = self
                .write_step(source, target, plan, heads, &mut step)
                .await;
            if let Err(err) = r {
                // Nothing of the step was written (the memory store: what came before the
                // failure, each whole): the replay is rebuilt from the target.
                self.replay = None;
                return Err(err);
            }
        }
        let now = target.store.ledger_head().await?;
        let source_head = source.store.ledger_head().await?;
        step.head_seq = now.as_ref().map_or(0, |h| h.0);
        step.source_head_seq = source_head.as_ref().map_or(0, |h| h.0);
        step.behind_events = (step.source_head_seq - step.head_seq).max(0);
        if step.behind_events > 0 {
            // An empty target is behind since the source's first event.
            let ours = match step.head_seq {
                0 => event_time(source, 1).await?,
                seq => event_time(target, seq).await?,
            };
            if let (Some(newest), Some(ours)) =
                (event_time(source, step.source_head_seq).await?, ours)
            {
                step.behind_seconds = ((newest - ours).num_milliseconds().max(0) as f64) / 1000.0;
            }
        }
        self.mark(target, &step).await?;
        // The source's side is told too, as well as it can be: its health shows the mirror.
        let mirrored = MirroredTo {
            target: self.target.clone(),
            started_at: self.started_at,
            last: last_step(&step),
        };
        if let Err(e) = source
            .store
            .set_mirrored_to(&self.target, Some(&mirrored))
            .await
        {
            tracing::warn!(error = %e, "mirror: the source's record of its mirror not written");
        }
        Ok(step)
    }

    /// The target's mark, with this step's figures (for `health` and the metrics).
    async fn mark(&self, target: &Service, step: &MirrorStep) -> ServiceResult<()> {
        let mark = MirrorOf {
            source: self.source.clone(),
            started_at: self.started_at,
            last: last_step(step),
        };
        Ok(target.store.set_mirror_of(Some(&mark)).await?)
    }

    /// The mirror ends (caught up with `--once`, or interrupted): the source forgets it. (A
    /// killed mirror's record stays, and the source's health says it stopped.)
    pub async fn end(&self, source: &Service) {
        if let Err(e) = source.store.set_mirrored_to(&self.target, None).await {
            tracing::warn!(error = %e, "mirror: the source's record of its mirror not removed");
        }
    }

    /// The target's ledger replayed up to `seq` (from seq 1 the first time, or after a failed
    /// step; then only what the target gained since).
    async fn catch_up_replay(&mut self, target: &Service, seq: i64) -> ServiceResult<()> {
        let (mut replay, mut at) = self.replay.take().unwrap_or_default();
        if at > seq {
            (replay, at) = (Replay::default(), 0);
        }
        target
            .ledger_pages(at, |page| {
                for e in page.iter().filter(|e| e.seq <= seq) {
                    replay.push(e);
                    at = e.seq;
                }
                Ok(at < seq)
            })
            .await?;
        if let Some(p) = replay.problems.first() {
            return Err(ServiceError::Internal(format!(
                "the target's ledger does not replay at seq {} ({}): {}; run `escrowgrid check` on it",
                p.seq, p.entity, p.what
            )));
        }
        self.replay = Some((replay, at));
        Ok(())
    }

    /// The step's events and records as one transaction on the target, appended where its
    /// chains end (`heads`) and committed only if they then end where the source's do after the
    /// same records — each hash covers all before it, so every event and record of the step was
    /// sealed as the source sealed it.
    async fn write_step(
        &mut self,
        source: &Service,
        target: &Service,
        plan: Vec<(Option<LedgerEvent>, Option<AuditEvent>)>,
        heads: Heads,
        step: &mut MirrorStep,
    ) -> ServiceResult<()> {
        let mut expect = heads.clone();
        let mut writes = Vec::with_capacity(plan.len());
        for (event, record) in plan {
            if let Some(a) = &record
                && let (Some(seq), Some(hash)) = (a.seq, &a.hash)
            {
                expect.audit = (seq, hash.clone());
                step.audit_records += 1;
            }
            writes.push(match event {
                Some(e) => {
                    let (replay, at) = self.replay.as_mut().expect("caught up before");
                    let Some(effect) = replay.push(&e) else {
                        let p = replay.problems.first();
                        return Err(ServiceError::Internal(format!(
                            "the source's event at seq {} does not replay: {}",
                            e.seq,
                            p.map(|p| p.what.as_str()).unwrap_or("-")
                        )));
                    };
                    *at = e.seq;
                    expect.ledger = (e.seq, e.hash.clone());
                    step.events += 1;
                    backup::replayed_write(&e, completed(source, effect).await?, record)
                }
                None => Write {
                    change: Change::None,
                    ledger: None,
                    audit: record,
                },
            });
        }
        target
            .store
            .import(writes, Some(heads), expect)
            .await
            .map_err(|e| match e {
                StoreError::Constraint(m) => ServiceError::Internal(format!(
                    "the target refused the mirror's step, and nothing of it was written: {m}"
                )),
                other => other.into(),
            })
    }
}

/// What an older ledger did not record, from the source's rows (as an import takes it from
/// the file): a key's hash, a lifecycle step's metadata.
async fn completed(source: &Service, effect: Effect) -> ServiceResult<Effect> {
    Ok(match effect {
        Effect::Key(mut k) if !k.hash_recorded => {
            if let Some(stored) = source.store.get_api_key(&k.key.id).await? {
                k.key.key_hash = stored.key_hash;
            }
            Effect::Key(k)
        }
        Effect::Step {
            position,
            from,
            from_version,
            mut step,
        } if !step.metadata_recorded => {
            if let Some(row) = source
                .store
                .position_events(&position.id)
                .await?
                .into_iter()
                .find(|x| x.id == step.event.id)
            {
                step.event.metadata = row.metadata;
            }
            Effect::Step {
                position,
                from,
                from_version,
                step,
            }
        }
        other => other,
    })
}

/// The events and records in the order to write them: each success record with the event it
/// records (the first of its action and entity not yet written), every other record alone,
/// and events with no record where they fall. `*_whole`: the read reached the source's end, so
/// what is not among them does not exist yet.
fn pair(
    events: Vec<LedgerEvent>,
    audit: Vec<AuditEvent>,
    events_whole: bool,
    audit_whole: bool,
) -> Vec<(Option<LedgerEvent>, Option<AuditEvent>)> {
    let recorded: std::collections::HashSet<&str> =
        LedgerKind::ALL.iter().map(|k| k.audit_action()).collect();
    let mut pending: VecDeque<LedgerEvent> = events.into();
    let mut out = Vec::new();
    for a in audit {
        let records_event = a.outcome == Outcome::Success && recorded.contains(a.action.as_str());
        let found = records_event
            .then(|| {
                pending.iter().position(|e| {
                    e.kind.audit_action() == a.action
                        && Some(e.entity_id.as_str()) == a.resource_id.as_deref()
                })
            })
            .flatten();
        match found {
            Some(i) => {
                out.extend(pending.drain(..i).map(|e| (Some(e), None)));
                let e = pending.pop_front();
                out.push((e, Some(a)));
            }
            // Every event read is written and the source has more: its event may come next
            // (both chains are in commit order) — the rest waits for the next step.
            None if records_event && pending.is_empty() && !events_whole => return out,
            // A record of no event (a revocation that found the key revoked, a read, a
            // refusal), or one whose event an older version wrote without it: alone.
            None => out.push((None, Some(a))),
        }
    }
    if audit_whole {
        out.extend(pending.drain(..).map(|e| (Some(e), None)));
    }
    out
}

impl Service {
    /// A new mirror of this store (root only: it copies every institution); see `Mirror`.
    /// `source` names this store in the target's mark, `target` the target in this store's
    /// record of its mirrors.
    pub fn mirror(&self, actor: &Actor, source: &str, target: &str) -> ServiceResult<Mirror> {
        if !actor.is_root() {
            return Err(Self::forbidden(
                actor,
                "mirror the store (it copies every institution)",
            ));
        }
        Ok(Mirror {
            replay: None,
            source: source.to_string(),
            target: target.to_string(),
            started_at: time::now(),
        })
    }

    /// The mark of a mirror's target, if this store is one (see `store::MirrorOf`).
    pub async fn mirror_of(&self, actor: &Actor) -> ServiceResult<Option<MirrorOf>> {
        self.op("mirror_of", actor, async move {
            Ok(self.store.mirror_of().await?)
        })
        .await
    }

    /// `mirror promote`: this store, a mirror's target, takes writes again (root only). The
    /// mark it had, or None when it was no mirror's target.
    pub async fn mirror_promote(&self, actor: &Actor) -> ServiceResult<Option<MirrorOf>> {
        self.op("mirror_promote", actor, async move {
            if !actor.is_root() {
                return Err(Self::forbidden(actor, "promote a mirror's target"));
            }
            let mark = self.store.mirror_of().await?;
            if mark.is_some() {
                self.store.set_mirror_of(None).await?;
                tracing::info!(source = ?mark.as_ref().map(|m| &m.source), "mirror target promoted");
            }
            Ok(mark)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EntityType, ids};

    fn event(seq: i64, kind: LedgerKind, entity: &str) -> LedgerEvent {
        LedgerEvent {
            id: ids::new_id(ids::LEDGER_EVENT),
            seq,
            kind,
            entity_type: EntityType::Position,
            entity_id: entity.into(),
            institution_id: "inst_1".into(),
            position_id: None,
            at: time::now(),
            payload: serde_json::json!({}),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn record(action: &str, outcome: Outcome, entity: &str) -> AuditEvent {
        AuditEvent {
            id: ids::new_id("aud"),
            occurred_at: time::now(),
            actor: "tester".into(),
            api_key_id: None,
            institution_id: None,
            action: action.into(),
            outcome,
            resource_type: None,
            resource_id: Some(entity.into()),
            subject_institution_id: None,
            payload: None,
            error: None,
            op_id: None,
            client: None,
            seq: None,
            prev_hash: None,
            hash: None,
        }
    }

    fn shape(plan: &[(Option<LedgerEvent>, Option<AuditEvent>)]) -> Vec<(Option<i64>, bool)> {
        plan.iter()
            .map(|(e, a)| (e.as_ref().map(|e| e.seq), a.is_some()))
            .collect()
    }

    /// Each success record goes with its event; a record of no event (a revocation that found
    /// the key revoked) and a refusal go alone; an event with no record where it falls.
    #[test]
    fn records_pair_with_their_events() {
        let created = LedgerKind::PositionCreated;
        let events = vec![
            event(1, created, "p1"),
            event(2, created, "p2"),
            event(3, created, "p3"),
        ];
        let audit = vec![
            record("API_KEY_REVOKED", Outcome::Success, "ak_1"),
            record("POSITION_CREATED", Outcome::Success, "p1"),
            record("POSITION_CREATED", Outcome::Failure, "p9"),
            record("POSITION_CREATED", Outcome::Success, "p3"),
        ];
        // Not every event read: the revocation's record goes alone all the same, p2 (no record
        // before p3's) where it falls.
        let plan = pair(events.clone(), audit.clone(), false, true);
        assert_eq!(
            shape(&plan),
            vec![
                (None, true),
                (Some(1), true),
                (None, true),
                (Some(2), false),
                (Some(3), true)
            ]
        );
        // A record whose event was not read yet (more events at the source): the step ends
        // before it, and it waits for the next.
        let plan = pair(
            events[..1].to_vec(),
            audit[1..2]
                .iter()
                .cloned()
                .chain([record("POSITION_CREATED", Outcome::Success, "p2")])
                .collect(),
            false,
            false,
        );
        assert_eq!(shape(&plan), vec![(Some(1), true)]);
        // The records cut short by their limit: the events after the last record wait too.
        let plan = pair(events, audit[..2].to_vec(), true, false);
        assert_eq!(shape(&plan), vec![(None, true), (Some(1), true)]);
    }
}
