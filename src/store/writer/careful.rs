//! The careful path: a batch applied under the chains' head lock (`BEGIN`, the head read and
//! checked, the statements, `COMMIT`), in groups that no two writes of which touch one entity, or
//! one write at a time to find the one that fails. SQLite's batches that do not fit one call, and
//! PostgreSQL's that the linked statement refused, come here.

use super::*;
use crate::store::mirror_mark;

impl Writer {
    /// One transaction over every write not yet failed.
    pub(super) async fn attempt(
        &self,
        conn: &mut Option<WriteConn>,
        writes: &[Prepared],
        failed: &[Option<StoreError>],
        mode: Mode,
    ) -> Attempt {
        let live: Vec<usize> = (0..writes.len()).filter(|i| failed[*i].is_none()).collect();
        if live.is_empty() {
            return Attempt::Committed(writes.iter().map(|_| None).collect());
        }
        // A kept PostgreSQL connection that broke since the last batch fails at BEGIN, before
        // anything is sent: take a fresh one and try once more. (On SQLite a failed BEGIN means
        // the database stayed busy for the whole busy timeout: no second wait.)
        let mut fresh = conn.is_none() || self.d != Dialect::Postgres;
        loop {
            if conn.is_none() {
                match self.pools.writer_connection().await {
                    Ok(c) => *conn = Some(c),
                    Err(e) => return Attempt::Unavailable(e),
                }
            }
            match conn.as_mut().expect("set above").begin().await {
                Ok(()) => break,
                Err(e) => {
                    *conn = None;
                    if fresh || !e.is_unavailable() {
                        return Attempt::Unavailable(e);
                    }
                    fresh = true;
                }
            }
        }
        let mut tx = Tx(conn.as_mut().expect("connected"));
        // A mirror's target takes no write but its mirror's (which come as imports).
        match tx
            .fetch_all::<crate::store::tables::MirrorOfRow>(mirror_mark::read(self.d))
            .await
        {
            Ok(rows) if rows.is_empty() => {}
            Ok(rows) => {
                tx.rollback().await;
                return Attempt::Unavailable(mirror_mark::refused(rows.into_iter().next()));
            }
            Err(e) => {
                tx.rollback().await;
                return Attempt::Unavailable(e);
            }
        }
        match self.apply_all(&mut tx, writes, &live, mode).await {
            Ok(steps) if self.d == Dialect::Postgres && self.faults_lose_commit(&mut tx).await => {
                let error =
                    StoreError::Unavailable("injected: the commit's answer was lost".into());
                Attempt::Unknown { steps, error }
            }
            Ok(steps) => match tx.commit().await {
                Ok(()) => Attempt::Committed(steps),
                Err(e @ StoreError::Retryable(_)) => Attempt::Retry(e),
                Err(error) if self.d == Dialect::Postgres && outcome_unknown(&error) => {
                    Attempt::Unknown { steps, error }
                }
                Err(e) => Attempt::Unavailable(e),
            },
            Err(e) => {
                tx.rollback().await;
                match e {
                    GroupError::Statement(e @ StoreError::Retryable(_))
                    | GroupError::WholeBatch(e @ StoreError::Retryable(_))
                    | GroupError::Write(_, e @ StoreError::Retryable(_)) => Attempt::Retry(e),
                    GroupError::Statement(e)
                    | GroupError::WholeBatch(e)
                    | GroupError::Write(_, e)
                        if e.is_unavailable() =>
                    {
                        Attempt::Unavailable(e)
                    }
                    GroupError::WholeBatch(_) => Attempt::Isolate,
                    GroupError::Write(index, error) => Attempt::Failed { index, error },
                    GroupError::Statement(error) if live.len() == 1 => Attempt::Failed {
                        index: live[0],
                        error,
                    },
                    GroupError::Statement(_) => Attempt::Isolate,
                }
            }
        }
    }

    /// Applies the live writes in arrival order, in groups that no two writes of which touch the
    /// same entity (one write per group when isolating), then the deferred rows, the heads and
    /// the counters. Returns each write's step.
    pub(super) async fn apply_all(
        &self,
        tx: &mut Tx<'_>,
        writes: &[Prepared],
        live: &[usize],
        mode: Mode,
    ) -> Result<Vec<Option<Step>>, GroupError> {
        let chained = live
            .iter()
            .any(|i| writes[*i].ledger.is_some() || writes[*i].audit.is_some());
        let first = if chained {
            self.read_head(tx).await.map_err(GroupError::Statement)?
        } else {
            Heads::default()
        };
        if mode == Mode::Bulk
            && self.d == Dialect::Postgres
            && whole_batch_fits(&live.iter().map(|i| &writes[*i].change).collect::<Vec<_>>())
        {
            // Under the head's lock (verified above), linked by the database as the one
            // statement is; a stale transition or a constraint aborts it, and the batch is
            // then isolated write by write.
            let q = self
                .linked_batch(writes, live, false)
                .map_err(|(i, e)| GroupError::Write(i, e))?;
            let answer = tx
                .fetch_optional::<(String, Option<String>)>(q)
                .await
                .map_err(GroupError::WholeBatch)?
                .ok_or_else(|| StoreError::Other("the batch answered nothing".into()))
                .map_err(GroupError::Statement)?;
            let steps = Self::linked_steps(writes, live, answer).map_err(GroupError::Statement)?;
            return Ok(steps);
        }
        let mut pending = Pending::after(&first);
        let mut steps: Vec<Option<Step>> = writes.iter().map(|_| None).collect();
        let mut rest = live;
        while let Some(&first) = rest.first() {
            let special = matches!(
                writes[first].change,
                Change::UpsertPolicy(_) | Change::RevokeApiKey { .. }
            );
            let take = if special || mode == Mode::Isolating {
                1
            } else {
                let mut seen = HashSet::new();
                rest.iter()
                    .take_while(|i| {
                        let w = &writes[**i];
                        !matches!(
                            w.change,
                            Change::UpsertPolicy(_) | Change::RevokeApiKey { .. }
                        ) && entity_of(&w.change).is_none_or(|e| seen.insert(e))
                    })
                    .count()
            };
            let (group, tail) = rest.split_at(take);
            rest = tail;
            // A transition checks its position's newest ledger event: the events this batch
            // has linked so far go in first.
            let transitions = group
                .iter()
                .any(|i| matches!(writes[*i].change, Change::TransitionPosition { .. }));
            if transitions && !pending.ledger.is_empty() {
                self.flush_rows(tx, &mut pending)
                    .await
                    .map_err(GroupError::Statement)?;
            }
            let r = if special {
                self.apply_special(tx, writes, first, &mut pending, &mut steps)
                    .await
            } else {
                self.apply_group(tx, writes, group, &mut pending, &mut steps)
                    .await
            };
            r.map_err(|e| match e {
                GroupError::Statement(e) if group.len() == 1 => GroupError::Write(group[0], e),
                other => other,
            })?;
            if mode == Mode::Isolating {
                self.flush_rows(tx, &mut pending)
                    .await
                    .map_err(|e| GroupError::Write(group[0], e))?;
            }
        }
        self.flush_rows(tx, &mut pending)
            .await
            .map_err(GroupError::Statement)?;
        let last = pending.heads();
        if last != first {
            self.advance_head(tx, &first, &last)
                .await
                .map_err(GroupError::Statement)?;
        }
        if !pending.deltas.is_empty() {
            tx.exec(sqlwrite::add_counters(self.d, &pending.deltas))
                .await
                .map_err(GroupError::Statement)?;
        }
        Ok(steps)
    }

    /// Inserts the ledger and audit rows gathered so far.
    async fn flush_rows(&self, tx: &mut Tx<'_>, pending: &mut Pending<'_>) -> StoreResult<()> {
        if !pending.ledger.is_empty() {
            let rows = std::mem::take(&mut pending.ledger);
            tx.exec(sqlwrite::insert_many(self.d, &sql::LEDGER, rows))
                .await?;
        }
        if !pending.audit.is_empty() {
            let rows = std::mem::take(&mut pending.audit);
            tx.exec(sqlwrite::insert_many(self.d, &sql::AUDIT, rows))
                .await?;
        }
        Ok(())
    }

    /// A group of creates, transitions and audit-only writes: one statement per table.
    async fn apply_group<'a>(
        &self,
        tx: &mut Tx<'_>,
        writes: &'a [Prepared],
        group: &[usize],
        pending: &mut Pending<'a>,
        steps: &mut [Option<Step>],
    ) -> Result<(), GroupError> {
        let d = self.d;
        // A create or release whose policy changed since it was checked is refused alone,
        // unwritten.
        let mut stale: HashSet<usize> = HashSet::new();
        for (institution, seen) in
            sqlwrite::policy_guards(&group.iter().map(|i| &writes[*i].change).collect::<Vec<_>>())
        {
            let row: Option<sqlrows::PolicyRow> = tx
                .fetch_optional(sql::get_policy(d, institution, seen.region.as_str()))
                .await
                .map_err(GroupError::Statement)?;
            let stored = row
                .map(InstitutionPolicy::try_from)
                .transpose()
                .map_err(GroupError::Statement)?;
            if !seen.is_current(stored.as_ref()) {
                stale.extend(
                    group
                        .iter()
                        .copied()
                        .filter(|i| writes[*i].change.policy_seen() == Some((institution, seen))),
                );
            }
        }
        let changes: Vec<&Change> = group
            .iter()
            .filter(|i| !stale.contains(i))
            .map(|i| &writes[*i].change)
            .collect();
        let (creates, transitions) = rows_of(d, &changes);
        for (table, rows) in creates {
            if !rows.is_empty() {
                tx.exec(sqlwrite::insert_many(d, table, rows))
                    .await
                    .map_err(GroupError::Statement)?;
            }
        }
        let mut refused: HashMap<&str, StoreError> = HashMap::new();
        if !transitions.is_empty() {
            let items: Vec<_> = transitions
                .iter()
                .map(|(p, s, v, _)| (*p, *s, *v))
                .collect();
            let updated: HashSet<String> = tx
                .fetch_all::<(String,)>(sqlwrite::update_positions_states(d, &items))
                .await
                .map_err(GroupError::Statement)?
                .into_iter()
                .map(|(id,)| id)
                .collect();
            let mut events = Vec::new();
            for (p, expected_state, expected_version, event) in &transitions {
                if updated.contains(&p.id) {
                    events.push(sqlrows::PositionEventRow::of(self.d, event).args());
                    continue;
                }
                // Not updated, so nothing of it was written: refuse it alone.
                let current: Option<(String, i64)> = tx
                    .fetch_optional(sqlwrite::position_state(d, &p.id))
                    .await
                    .map_err(GroupError::Statement)?;
                let why = match current {
                    None => StoreError::NotFound {
                        entity: "position",
                        id: p.id.clone(),
                    },
                    // The row is as the caller read it, so its ledger refused it: the row was
                    // changed behind the ledger.
                    Some((state, version))
                        if state == expected_state.as_str() && version == *expected_version =>
                    {
                        let ledger: Option<(Option<String>, i64)> = tx
                            .fetch_optional(sqlwrite::ledger_state(d, &p.id))
                            .await
                            .map_err(GroupError::Statement)?;
                        let says = match ledger {
                            Some((Some(s), v)) => format!("leaves it {s} (version {v})"),
                            _ => "is missing".into(),
                        };
                        StoreError::Other(format!(
                            "position {} disagrees with its ledger: the row says {state} \
                             (version {version}), its newest ledger event {says}; the transition \
                             is refused (`escrowgrid check` lists what differs)",
                            p.id
                        ))
                    }
                    Some((state, version)) => StoreError::Conflict {
                        id: p.id.clone(),
                        expected: *expected_state,
                        expected_version: *expected_version,
                        actual: state.parse::<PositionState>().map_err(|e| {
                            GroupError::Statement(StoreError::Corrupt(format!(
                                "position state: {e}"
                            )))
                        })?,
                        actual_version: version,
                    },
                };
                refused.insert(p.id.as_str(), why);
            }
            if !events.is_empty() {
                tx.exec(sqlwrite::insert_many(d, &sql::POSITION_EVENTS, events))
                    .await
                    .map_err(GroupError::Statement)?;
            }
        }
        for &i in group {
            let w = &writes[i];
            if stale.contains(&i)
                && let Some((institution, seen)) = w.change.policy_seen()
            {
                steps[i] = Some(Step::Refused(StoreError::PolicyChanged {
                    institution_id: institution.to_string(),
                    region: seen.region,
                }));
                continue;
            }
            if let Change::TransitionPosition { position, .. } = &w.change
                && let Some(why) = refused.remove(position.id.as_str())
            {
                steps[i] = Some(Step::Refused(why));
                continue;
            }
            let (link, audit_link) = self
                .applied(w, w.ledger.as_ref(), None, pending)
                .map_err(|e| GroupError::Write(i, e))?;
            steps[i] = Some(Step::Applied {
                link,
                audit_link,
                policy: None,
                applied: true,
            });
        }
        Ok(())
    }

    /// A write that applied: its ledger event (`ledger`) and its audit record (`w`'s, or
    /// `renamed_audit` when the store renamed what it is about) go next in their chains, their
    /// rows are queued to be inserted with the others, and it is counted.
    #[allow(clippy::type_complexity)]
    pub(super) fn applied<'a>(
        &self,
        w: &'a Prepared,
        ledger: Option<&PreparedEvent>,
        renamed_audit: Option<&AuditEvent>,
        pending: &mut Pending<'a>,
    ) -> StoreResult<(Option<(i64, String, String)>, Option<(i64, String)>)> {
        let link = self.link(ledger, pending)?;
        let audit_link = match (&w.audit, renamed_audit) {
            (_, Some(a)) => Some(pending.link_audit(a, &a.digest())),
            (Some((a, digest)), None) => Some(pending.link_audit(a, digest)),
            (None, None) => None,
        };
        let institution = w.ledger.as_ref().map(|l| l.draft.institution_id.as_str());
        pending
            .deltas
            .record(&w.change, institution, w.audit.as_ref().map(|(a, _)| a));
        Ok((link, audit_link))
    }

    /// Puts a write's ledger event next in the chain; its row is inserted with the others.
    fn link(
        &self,
        prepared: Option<&PreparedEvent>,
        pending: &mut Pending<'_>,
    ) -> StoreResult<Option<(i64, String, String)>> {
        let Some(p) = prepared else {
            return Ok(None);
        };
        self.faults.check_ledger_append()?;
        let hash = p.chain_hash(pending.seq, &pending.prev);
        let prev = std::mem::replace(&mut pending.prev, hash.clone());
        pending.seq += 1;
        pending
            .ledger
            .push(sqlrows::LedgerRow::of(p, pending.seq, &prev, &hash).args());
        Ok(Some((pending.seq, prev, hash)))
    }

    /// A policy upsert or a key revocation: each needs what the database answers before its
    /// records can be written.
    async fn apply_special<'a>(
        &self,
        tx: &mut Tx<'_>,
        writes: &'a [Prepared],
        i: usize,
        pending: &mut Pending<'a>,
        steps: &mut [Option<Step>],
    ) -> Result<(), GroupError> {
        let d = self.d;
        let w = &writes[i];
        let stmt = GroupError::Statement;
        let (policy, renamed) = match &w.change {
            Change::UpsertPolicy(p) => {
                let row: sqlrows::PolicyRow = tx
                    .fetch_optional(sqlwrite::upsert_policy(d, p))
                    .await
                    .map_err(stmt)?
                    .ok_or_else(|| {
                        stmt(StoreError::Other("policy upsert returned no row".into()))
                    })?;
                let stored = InstitutionPolicy::try_from(row).map_err(stmt)?;
                // The records name the stored policy (an existing one keeps its id).
                let renamed = w
                    .ledger
                    .as_ref()
                    .filter(|l| l.draft.entity_id != stored.id)
                    .map(|l| Box::new(l.clone().with_entity_id(&stored.id)));
                (Some(stored), renamed)
            }
            Change::RevokeApiKey { id, at } => {
                if tx
                    .exec(sqlwrite::revoke_api_key(d, id, at))
                    .await
                    .map_err(stmt)?
                    == 0
                {
                    let exists: Option<sqlrows::ApiKeyRow> = tx
                        .fetch_optional(sql::by_id(d, &sql::API_KEYS, id))
                        .await
                        .map_err(stmt)?;
                    steps[i] = Some(match exists {
                        None => Step::Refused(StoreError::NotFound {
                            entity: "API key",
                            id: id.clone(),
                        }),
                        // Already revoked: nothing is written, and that is the answer.
                        Some(_) => Step::Applied {
                            link: None,
                            audit_link: None,
                            policy: None,
                            applied: false,
                        },
                    });
                    return Ok(());
                }
                (None, None)
            }
            _ => (None, None),
        };
        // The records name the stored policy (an existing one keeps its id).
        let renamed_audit = match (&w.audit, &policy) {
            (Some((a, _)), Some(p)) if a.resource_id.as_ref() != Some(&p.id) => {
                let mut a = a.clone();
                a.resource_id = Some(p.id.clone());
                Some(a)
            }
            _ => None,
        };
        let (link, audit_link) = self
            .applied(
                w,
                renamed.as_deref().or(w.ledger.as_ref()),
                renamed_audit.as_ref(),
                pending,
            )
            .map_err(|e| GroupError::Write(i, e))?;
        steps[i] = Some(Step::Applied {
            link,
            audit_link,
            policy,
            applied: true,
        });
        Ok(())
    }
}
