//! Reading the ledger and the audit trail, verifying the chain, and the store-level figures
//! (head, counts, schema) callers may see.

use super::*;
use crate::domain::ledger::ChainBreak;

impl Service {
    // ---- ledger and audit -----------------------------------------------------------------------

    /// The seq of the newest ledger event (0 for an empty ledger). Seqs are global, so this is the
    /// same for every caller; the head's hash is shown to root only (see `health`).
    pub async fn ledger_head_seq(&self, actor: &Actor) -> ServiceResult<i64> {
        self.op("ledger_head_seq", actor, async move {
            Ok(self.store.ledger_head().await?.map(|(s, _)| s).unwrap_or(0))
        })
        .await
    }

    /// Entity, ledger and audit counts, limited to the caller's institution if it has one.
    pub async fn counts(&self, actor: &Actor) -> ServiceResult<Counts> {
        self.op("counts", actor, async move {
            Ok(self.store.counts(actor.scope()).await?)
        })
        .await
    }

    /// The store's backend and the newest migration applied to it.
    pub async fn schema(&self) -> ServiceResult<(Backend, Option<i64>)> {
        self.op("schema", None, async move {
            Ok((self.store.backend(), self.store.schema_version().await?))
        })
        .await
    }

    pub async fn ledger(
        &self,
        actor: &Actor,
        mut q: LedgerQuery,
    ) -> ServiceResult<Vec<LedgerEvent>> {
        self.op("ledger", actor, async move {
            let r = async {
                q.institution_id = self
                    .read_scope(actor, q.institution_id.as_deref(), "the ledger")
                    .await?;
                if let Some(p) = &q.position_id {
                    self.filter_position(actor, p).await?;
                }
                Ok(self.store.read_ledger(&q).await?)
            }
            .await;
            self.audit_read(actor, Read::Ledger, q.position_id.as_deref(), r)
                .await
        })
        .await
    }

    /// Walks the whole chain from seq 1, page by page; reports the first broken seq.
    pub async fn verify_ledger(&self, actor: &Actor) -> ServiceResult<VerifyReport> {
        self.op("verify_ledger", actor, async move {
            self.verify_from(actor, None).await
        })
        .await
    }

    /// Verifies the chain on from a head verified before (`seq`, `hash`; that event must still
    /// have that hash), or from seq 1: how a console keeps "verified to seq N" current by reading
    /// only what is new.
    pub async fn verify_from(
        &self,
        actor: &Actor,
        from: Option<(i64, String)>,
    ) -> ServiceResult<VerifyReport> {
        self.op("verify_from", actor, async move {
            if !actor.is_root() {
                let refused = Err(Self::forbidden(
                    actor,
                    "verify the whole ledger (it spans every institution)",
                ));
                return self.audit_read(actor, Read::Verify, None, refused).await;
            }
            let (mut v, after) = match &from {
                Some((seq, hash)) if *seq > 0 => {
                    let q = LedgerQuery {
                        after_seq: seq - 1,
                        limit: 1,
                        ..Default::default()
                    };
                    let found = self.store.read_ledger(&q).await?.into_iter().next();
                    if found
                        .as_ref()
                        .is_none_or(|e| e.seq != *seq || e.hash != *hash)
                    {
                        return Ok(VerifyReport {
                            ok: false,
                            checked: 0,
                            head_seq: *seq,
                            head_hash: hash.clone(),
                            broken: Some(ChainBreak {
                                seq: *seq,
                                reason: format!(
                                    "seq {seq} is gone or no longer has the hash verified before"
                                ),
                            }),
                        });
                    }
                    (ChainVerifier::from_head(*seq, hash), *seq)
                }
                _ => (ChainVerifier::default(), 0),
            };
            let mut broken = None;
            self.ledger_pages(after, |page| {
                for ev in &page {
                    if let Err(b) = v.push(ev) {
                        broken = Some(b);
                        return Ok(false);
                    }
                }
                Ok(true)
            })
            .await?;
            let (seq, hash) = v.head();
            Ok(VerifyReport {
                ok: broken.is_none(),
                checked: v.checked,
                head_seq: seq,
                head_hash: hash.to_string(),
                broken,
            })
        })
        .await
    }

    /// The ledger against heads verified before (witness files): a witnessed seq that is gone
    /// (the ledger was cut) or has another hash (the history was rewritten, hashes and all) is
    /// tampering. Root only, as verifying is.
    pub async fn compare_witnessed(
        &self,
        actor: &Actor,
        witnessed: &[Witnessed],
    ) -> ServiceResult<Vec<Finding>> {
        self.op("compare_witnessed", actor, async move {
        if !actor.is_root() {
            let refused = Err(Self::forbidden(
                actor,
                "compare the ledger with witnessed heads",
            ));
            return self.audit_read(actor, Read::Verify, None, refused).await;
        }
        let head = self.store.ledger_head().await?.map(|h| h.0).unwrap_or(0);
        let mut out = Vec::new();
        for w in witnessed {
            let q = LedgerQuery {
                after_seq: w.seq - 1,
                limit: 1,
                ..Default::default()
            };
            let found = self.store.read_ledger(&q).await?.into_iter().next();
            let when = time::format(&w.at);
            let what = match found.filter(|e| e.seq == w.seq) {
                None => format!(
                    "TAMPERED: seq {} was witnessed on {when} and is gone; the ledger now ends at seq {head}",
                    w.seq
                ),
                Some(e) if e.hash != w.hash => format!(
                    "TAMPERED: seq {} was witnessed on {when} with hash {}…; it now has hash {}…",
                    w.seq,
                    &w.hash[..w.hash.len().min(16)],
                    &e.hash[..16]
                ),
                Some(_) => continue,
            };
            out.push(Finding {
                entity: None,
                seq: Some(w.seq),
                what,
            });
        }
        Ok(out)
        })
        .await
    }

    /// Where this service's data lives, as `health` names it (the key of its witnessed heads).
    pub fn store_target(&self) -> String {
        self.store.target()
    }

    pub async fn audit(&self, actor: &Actor, mut q: AuditQuery) -> ServiceResult<Vec<AuditEvent>> {
        self.op("audit", actor, async move {
            let r = async {
                q.institution_id = self
                    .read_scope(actor, q.institution_id.as_deref(), "the audit trail")
                    .await?;
                Ok(self.store.list_audit(&q).await?)
            }
            .await;
            self.audit_read(actor, Read::Audit, None, r).await
        })
        .await
    }
}
