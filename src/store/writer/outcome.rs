//! The chain head as the writer reads it under its lock and advances it, and a batch's outcome:
//! how often the writer tries again when the database rolled a batch back, and how it finds out
//! whether a batch whose commit went unanswered landed.

use super::{Attempt, Heads, Step, Writer};
use crate::store::sql::{self, Arg, Dialect, Q, Ty};
use crate::store::sqlconn::{Tx, WriteConn};
use crate::store::sqlrows;
use crate::store::wakers::CHANNEL;
use crate::store::{StoreError, StoreResult};

/// How often a batch is tried in all when the database keeps rolling it back for conflicts.
pub(super) const WRITE_TRIES: u32 = 5;

/// The error a caller gets when the database kept rolling its batch back (`e`, `tries` times).
pub(super) fn gave_up(e: &StoreError, tries: u32) -> StoreError {
    StoreError::Unavailable(format!("{} (tried {tries} times)", e.reason()))
}

/// The error a caller gets when its commit went unanswered (`error`) and the database could not
/// be asked whether it landed (`asking`).
pub(super) fn unknown(error: &StoreError, asking: &StoreError) -> StoreError {
    StoreError::Unavailable(format!(
        "{}; whether the write landed is unknown (the database cannot be asked: {}): look for it \
         in the ledger before trying again",
        error.reason(),
        asking.reason()
    ))
}

/// Whether an error while committing leaves the outcome unknown (the connection broke or the
/// server stopped answering), rather than a refusal the server reported.
pub(super) fn outcome_unknown(e: &StoreError) -> bool {
    match e {
        StoreError::Unavailable(_) => true,
        StoreError::Timeout { kind, .. } => *kind != super::super::TimeoutKind::Statement,
        _ => false,
    }
}

impl Writer {
    /// A test's injected commit loss (`FaultInjector::lose_next_commit`): commits or rolls back
    /// the transaction as the fault says, and returns true when it did either.
    pub(super) async fn faults_lose_commit(&self, tx: &mut Tx<'_>) -> bool {
        match self.faults.take_commit_loss() {
            None => false,
            Some(true) => tx.0.simple("COMMIT").await.is_ok(),
            Some(false) => {
                let _ = tx.0.simple("ROLLBACK").await;
                true
            }
        }
    }

    /// What became of a batch whose commit went unanswered (`error`), asked on a fresh
    /// connection: landed (committed), not landed (tried again while `tries` allow), or unknown
    /// (the database cannot be asked: the caller is told to look before trying again).
    pub(super) async fn resolve(
        &self,
        conn: &mut Option<WriteConn>,
        steps: Vec<Option<Step>>,
        error: StoreError,
        tries: u32,
    ) -> Attempt {
        match self.landed(conn, &steps).await {
            Ok(true) => {
                tracing::info!(error = %error, "the commit's answer was lost, but the batch landed");
                // The heads it left are read again by the next batch.
                Attempt::Committed(steps)
            }
            Ok(false) if tries < WRITE_TRIES => {
                tracing::info!(error = %error, "the batch did not land; trying again");
                Attempt::Retry(error)
            }
            Ok(false) => Attempt::Unavailable(error),
            Err(e) => Attempt::Unavailable(unknown(&error, &e)),
        }
    }

    /// Whether a batch whose commit went unanswered landed: its newest ledger event (or, for a
    /// batch of audit records only, its newest audit record) is stored at its seq with its hash
    /// (a hash covers the record's id and content, so no other write's has it). Asked on a fresh
    /// connection.
    async fn landed(
        &self,
        conn: &mut Option<WriteConn>,
        steps: &[Option<Step>],
    ) -> StoreResult<bool> {
        let (table, (seq, hash)) = match (newest_link(steps), newest_audit_link(steps)) {
            (Some(l), _) => ("ledger_events", l),
            (None, Some(a)) => ("audit_events", a),
            (None, None) => {
                return Err(StoreError::Other(
                    "the batch has no ledger event or audit record to look for".into(),
                ));
            }
        };
        *conn = Some(self.pools.writer_connection().await?);
        let mut q = Q::new(self.d, &format!("SELECT hash FROM {table} WHERE seq = "));
        q.bind(Ty::Int, Arg::Int(seq));
        let rows: Vec<(String,)> = conn.as_mut().expect("set above").fetch_all(q).await?;
        Ok(rows.first().is_some_and(|(h,)| *h == hash))
    }

    /// The chain head, locked until commit. PostgreSQL: the `ledger_head` row `FOR UPDATE`, which
    /// serialises appends across every process. SQLite: `BEGIN IMMEDIATE` already holds the
    /// database's single write lock, so the newest event is the head.
    pub(super) async fn read_head(&self, tx: &mut Tx<'_>) -> StoreResult<Heads> {
        let row = tx
            .fetch_optional::<sqlrows::HeadsRow>(sql::heads_for_update(self.d))
            .await?;
        let heads = sqlrows::heads(row);
        let last = tx
            .fetch_optional(sql::ledger_event_at(self.d, heads.ledger.0))
            .await?;
        match sqlrows::broken_head(&heads.ledger, last) {
            Some(e) => Err(e),
            None => Ok(heads),
        }
    }

    /// PostgreSQL keeps the heads in their own row and tells listeners of new ledger events
    /// once per batch, in one statement (a notification is delivered only when the transaction
    /// commits).
    pub(super) async fn advance_head(
        &self,
        tx: &mut Tx<'_>,
        from: &Heads,
        to: &Heads,
    ) -> StoreResult<()> {
        if self.d != Dialect::Postgres {
            return Ok(());
        }
        let text = |s: &str| Arg::Text(Some(s.to_string()));
        let mut q = Q::new(self.d, "WITH head AS (UPDATE ledger_head SET seq = ");
        q.bind(Ty::Int, Arg::Int(to.ledger.0))
            .push(", hash = ")
            .bind(Ty::Text, text(&to.ledger.1))
            .push(", audit_seq = ")
            .bind(Ty::Int, Arg::Int(to.audit.0))
            .push(", audit_hash = ")
            .bind(Ty::Text, text(&to.audit.1))
            .push(" WHERE id RETURNING seq) SELECT ");
        if to.ledger != from.ledger {
            q.push("pg_notify('")
                .push(CHANNEL)
                .push("', ")
                .bind(Ty::Text, Arg::Text(Some(to.ledger.0.to_string())))
                .push(") FROM head");
        } else {
            q.push("1 FROM head");
        }
        tx.exec(q).await?;
        Ok(())
    }
}

/// The audit head a committed batch left: its newest audit record's (seq, hash).
pub(super) fn newest_audit_link(steps: &[Option<Step>]) -> Option<(i64, String)> {
    steps
        .iter()
        .filter_map(|s| match s {
            Some(Step::Applied {
                audit_link: Some(l),
                ..
            }) => Some(l.clone()),
            _ => None,
        })
        .max_by_key(|(seq, _)| *seq)
}

/// The head a committed batch left: its newest ledger event's (seq, hash).
pub(super) fn newest_link(steps: &[Option<Step>]) -> Option<(i64, String)> {
    steps
        .iter()
        .filter_map(|s| match s {
            Some(Step::Applied {
                link: Some((seq, _, hash)),
                ..
            }) => Some((*seq, hash.clone())),
            _ => None,
        })
        .max_by_key(|(seq, _)| *seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceError;

    /// "store unavailable:" is said once, however many errors a message wraps.
    #[test]
    fn a_wrapped_error_says_store_unavailable_once() {
        let retried = StoreError::Retryable("deadlock detected".into());
        let e = ServiceError::from(gave_up(&retried, 5)).to_string();
        assert_eq!(e, "store unavailable: deadlock detected (tried 5 times)");
        let lost = StoreError::Unavailable("connection reset".into());
        let asking = StoreError::Unavailable("cannot connect to db: refused".into());
        let e = ServiceError::from(unknown(&lost, &asking)).to_string();
        assert_eq!(e.matches("store unavailable").count(), 1, "{e}");
        assert!(
            e.starts_with("store unavailable: connection reset; whether the write landed"),
            "{e}"
        );
    }
}
