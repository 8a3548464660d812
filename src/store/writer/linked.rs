//! PostgreSQL batches the database links: one statement (`sqlwrite::linked_statement`) inserts
//! the batch's rows, hands each ledger event's canonical bytes up to its previous hash and each
//! audit record's digest to `escrowgrid_link` (migration 12), which takes the chains' head row,
//! checks the head, links them onto it and moves it, and answers with each record's place. Any
//! writer links onto whatever head it finds, in one round trip: writers in several processes no
//! longer find the head moved under them, and the rows that need no head are written while
//! another writer holds it.

use super::{Attempt, Prepared, State, Step, Writer, outcome::outcome_unknown};
use crate::store::counters::Deltas;
use crate::store::sql::{Arg, Dialect, Q, Ty};
use crate::store::sqlconn::WriteConn;
use crate::store::sqlrows::{AuditRow, LedgerRow, PositionEventRow};
use crate::store::sqlwrite::{self, OneStatement, rows_of, whole_batch_fits};
use crate::store::wakers::CHANNEL;
use crate::store::{Change, StoreError, StoreResult};

/// A record's place in its chain as the database gave it: (seq, prev hash, hash).
type Link = (i64, String, String);

/// The statement's answer: its check, and every link as JSON `[[chain, ord, seq, prev, hash]]`.
type Answer = (String, Option<String>);

/// A stored record's id and place (NULL for a record outside the chain).
type Found = (String, Option<i64>, Option<String>, Option<String>);

impl Writer {
    /// The live writes as one linked statement (see `sqlwrite::linked_statement`); `Err` names a
    /// write that fails before anything is sent (a test's injected fault).
    /// `unmarked`: refused while the store is a mirror's target (see `OneStatement`).
    pub(super) fn linked_batch(
        &self,
        writes: &[Prepared],
        live: &[usize],
        unmarked: bool,
    ) -> Result<Q, (usize, StoreError)> {
        let mut deltas = Deltas::default();
        let (mut ledger, mut prefixes, mut audit, mut digests) = (vec![], vec![], vec![], vec![]);
        for &i in live {
            let w = &writes[i];
            if let Some(p) = &w.ledger {
                self.faults.check_ledger_append().map_err(|e| (i, e))?;
                ledger.push(LedgerRow::of(p, 0, "", "").args());
                prefixes.push(p.prefix.clone());
            }
            if let Some((a, digest)) = &w.audit {
                audit.push(AuditRow::of(a, (0, "", "")).args());
                digests.push(digest.clone());
            }
            let institution = w.ledger.as_ref().map(|l| l.draft.institution_id.as_str());
            deltas.record(&w.change, institution, w.audit.as_ref().map(|(a, _)| a));
        }
        let changes: Vec<&Change> = live.iter().map(|i| &writes[*i].change).collect();
        let (creates, transitions) = rows_of(Dialect::Postgres, &changes);
        let parts = OneStatement {
            creates,
            position_events: transitions
                .iter()
                .map(|(_, _, _, e)| PositionEventRow::of(self.d, e).args())
                .collect(),
            transitions: transitions
                .iter()
                .map(|(p, s, v, _)| (*p, *s, *v))
                .collect(),
            ledger,
            audit,
            prefixes,
            digests,
            deltas: &deltas,
            guards: sqlwrite::policy_guards(&changes),
            unmarked,
        };
        Ok(sqlwrite::linked_statement(parts, CHANNEL))
    }

    /// Each live write's step from the statement's answer: its ledger event and audit record
    /// take the places the database gave them, in the order they were sent.
    pub(super) fn linked_steps(
        writes: &[Prepared],
        live: &[usize],
        answer: Answer,
    ) -> StoreResult<Vec<Option<Step>>> {
        let links: Vec<(String, i64, i64, String, String)> = match &answer.1 {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| StoreError::Other(format!("the batch's links do not read: {e}")))?,
            None => Vec::new(),
        };
        let of = |chain: &str| -> Vec<Link> {
            links
                .iter()
                .filter(|(c, ..)| c == chain)
                .map(|(_, _, seq, prev, hash)| (*seq, prev.clone(), hash.clone()))
                .collect()
        };
        let (mut ledger, mut audit) = (of("L").into_iter(), of("A").into_iter());
        let mut steps: Vec<Option<Step>> = writes.iter().map(|_| None).collect();
        for &i in live {
            let w = &writes[i];
            let missing = || StoreError::Other("the database linked fewer records".into());
            let link = match &w.ledger {
                Some(_) => Some(ledger.next().ok_or_else(missing)?),
                None => None,
            };
            let audit_link = match &w.audit {
                Some(_) => audit.next().map(|(seq, _, hash)| (seq, hash)),
                None => None,
            };
            if w.audit.is_some() && audit_link.is_none() {
                return Err(missing());
            }
            steps[i] = Some(Step::Applied {
                link,
                audit_link,
                policy: None,
                applied: true,
            });
        }
        Ok(steps)
    }

    /// PostgreSQL: the whole batch as one linked statement that commits on its own. None when
    /// the batch does not qualify (a policy upsert or key revocation; two writes on one entity)
    /// or the statement was refused (a constraint, a position changed, a head that does not
    /// verify): the batch then runs under the head's lock, which finds the failing write.
    pub(super) async fn linked(&self, st: &mut State, writes: &[Prepared]) -> Option<Attempt> {
        if self.d != Dialect::Postgres {
            return None;
        }
        let live: Vec<usize> = (0..writes.len()).collect();
        if !whole_batch_fits(&live.iter().map(|i| &writes[*i].change).collect::<Vec<_>>()) {
            return None;
        }
        let q = match self.linked_batch(writes, &live, true) {
            Ok(q) => q,
            Err((index, error)) => return Some(Attempt::Failed { index, error }),
        };
        if st.conn.is_none() {
            match self.pools.writer_connection().await {
                Ok(c) => st.conn = Some(c),
                Err(e) => return Some(Attempt::Unavailable(e)),
            }
        }
        let conn = st.conn.as_mut().expect("set above");
        let lost = || StoreError::Unavailable("injected: the commit's answer was lost".into());
        match self.faults.take_commit_loss() {
            Some(false) => return Some(Attempt::UnknownLinked(lost())),
            Some(true) => {
                return Some(match conn.fetch_all::<Answer>(q).await {
                    Ok(_) => Attempt::UnknownLinked(lost()),
                    Err(error) => Attempt::Unavailable(error),
                });
            }
            None => {}
        }
        match conn.fetch_all::<Answer>(q).await {
            Ok(rows) => Some(
                rows.into_iter()
                    .next()
                    .ok_or_else(|| StoreError::Other("the batch answered nothing".into()))
                    .and_then(|a| Self::linked_steps(writes, &live, a))
                    .map_or_else(Attempt::UnknownLinked, Attempt::Committed),
            ),
            // Whether it committed is unknown: look before answering or trying again.
            Err(error) if outcome_unknown(&error) => Some(Attempt::UnknownLinked(error)),
            Err(e) if e.is_unavailable() => Some(Attempt::Unavailable(e)),
            Err(e) => {
                tracing::debug!(error = %e, "linked batch refused; applying it under the head's lock");
                None
            }
        }
    }

    /// What became of a linked batch whose commit went unanswered: its records are looked for
    /// by id on a fresh connection — all there (it landed: their places are its answers), none
    /// (tried again while `tries` allow), or the database cannot be asked.
    pub(super) async fn resolve_linked(
        &self,
        conn: &mut Option<WriteConn>,
        writes: &[Prepared],
        error: StoreError,
        tries: u32,
    ) -> Attempt {
        match self.find_linked(conn, writes).await {
            Ok(Some(steps)) => {
                tracing::info!(error = %error, "the commit's answer was lost, but the batch landed");
                Attempt::Committed(steps)
            }
            Ok(None) if tries < super::WRITE_TRIES => {
                tracing::info!(error = %error, "the batch did not land; trying again");
                Attempt::Retry(error)
            }
            Ok(None) => Attempt::Unavailable(error),
            Err(e) => Attempt::Unavailable(super::outcome::unknown(&error, &e)),
        }
    }

    /// The batch's steps if its records are stored (every one of them), None if none is.
    async fn find_linked(
        &self,
        conn: &mut Option<WriteConn>,
        writes: &[Prepared],
    ) -> StoreResult<Option<Vec<Option<Step>>>> {
        *conn = Some(self.pools.writer_connection().await?);
        let c = conn.as_mut().expect("set above");
        let ledger_ids: Vec<Option<String>> = writes
            .iter()
            .filter_map(|w| w.ledger.as_ref().map(|p| Some(p.id.clone())))
            .collect();
        let audit_ids: Vec<Option<String>> = writes
            .iter()
            .filter_map(|w| w.audit.as_ref().map(|(a, _)| Some(a.id.clone())))
            .collect();
        let mut links = Vec::new();
        for (chain, table, ids) in [
            ("L", "ledger_events", &ledger_ids),
            ("A", "audit_events", &audit_ids),
        ] {
            let mut q = Q::new(
                Dialect::Postgres,
                &format!("SELECT id, seq, prev_hash, hash FROM {table} WHERE id = ANY("),
            );
            q.bind_array(Ty::Text, Arg::Texts(ids.clone())).push(")");
            let rows: Vec<Found> = c.fetch_all(q).await?;
            let found: std::collections::HashMap<String, (i64, String, String)> = rows
                .into_iter()
                .filter_map(|(id, s, p, h)| Some((id, (s?, p?, h?))))
                .collect();
            if found.is_empty() {
                continue;
            }
            if found.len() != ids.len() {
                return Err(StoreError::Other(format!(
                    "{} of the batch's {} {table} rows are stored",
                    found.len(),
                    ids.len()
                )));
            }
            for (ord, id) in ids.iter().flatten().enumerate() {
                let (seq, prev, hash) = found[id].clone();
                links.push((chain.to_string(), ord as i64 + 1, seq, prev, hash));
            }
        }
        if links.is_empty() {
            return Ok(None);
        }
        let json = serde_json::to_string(&links).map_err(|e| StoreError::Other(e.to_string()))?;
        let live: Vec<usize> = (0..writes.len()).collect();
        Self::linked_steps(writes, &live, ("true".into(), Some(json))).map(Some)
    }
}
