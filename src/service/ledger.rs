//! Reading the ledger and the audit trail, verifying the chain, and the store-level figures
//! (head, counts, schema) callers may see.

use super::*;
use crate::domain::audit::AuditVerifier;
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
            Ok((
                self.store.backend(),
                self.store.diagnostics().schema_version().await?,
            ))
        })
        .await
    }

    /// The schema beside this binary's migrations (None: the backend migrates on open).
    pub async fn migrations(
        &self,
    ) -> ServiceResult<(Backend, Option<crate::store::schema::SchemaStatus>)> {
        self.op("migrations", None, async move {
            Ok((
                self.store.backend(),
                self.store.diagnostics().schema_status().await?,
            ))
        })
        .await
    }

    /// Applies the pending migrations (root: the local operator, who holds the database's
    /// owner credentials).
    pub async fn apply_migrations(
        &self,
        actor: &Actor,
    ) -> ServiceResult<Option<crate::store::schema::SchemaStatus>> {
        self.op("apply_migrations", actor, async move {
            self.require_root(actor, "apply migrations")?;
            Ok(self.store.diagnostics().apply_migrations().await?)
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

    /// Walks the whole chain from seq 1, page by page, and the audit trail's chain; reports
    /// the first broken seq of each.
    pub async fn verify_ledger(&self, actor: &Actor) -> ServiceResult<VerifyReport> {
        self.op("verify_ledger", actor, async move {
            let mut r = self.verify_from(actor, None).await?;
            let audit = self.verify_audit_chain().await?;
            r.ok &= audit.ok;
            r.audit = Some(audit);
            Ok(r)
        })
        .await
    }

    /// The audit trail's chain from seq 1 (the caller has checked the actor may verify), and
    /// the records outside it.
    pub(super) async fn verify_audit_chain(&self) -> ServiceResult<AuditChainReport> {
        let mut v = AuditVerifier::default();
        let mut broken = None;
        self.audit_chain_pages(0, |page| {
            for a in &page {
                if let Err(b) = v.push(a) {
                    broken = Some(b);
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await?;
        let unchained = self.unchained_audit().await?.len() as u64;
        if broken.is_none()
            && let (seq, hash) = self.store.heads().await?.audit
            && (seq, hash.as_str()) != v.head()
        {
            broken = Some(ChainBreak {
                seq,
                reason: format!(
                    "the stored audit head (seq {seq}) is not the last record's (seq {})",
                    v.head().0
                ),
            });
        }
        let (head_seq, head_hash) = v.head();
        Ok(AuditChainReport {
            ok: broken.is_none() && unchained == 0,
            checked: v.checked,
            head_seq,
            head_hash: head_hash.to_string(),
            broken,
            unchained,
        })
    }

    /// Verifies the chain on from a head verified before (`seq`, `hash`; that event must still
    /// have that hash), or from seq 1: how a console keeps "verified to seq N" current by reading
    /// only what is new.
    pub async fn verify_from(
        &self,
        actor: &Actor,
        from: Option<(i64, String)>,
    ) -> ServiceResult<VerifyReport> {
        self.verify_slice(actor, from, None).await
    }

    /// `verify_from`, stopping after at least `max` events (a page boundary) when given: how a
    /// long verification runs a slice at a time, saying how far it got (`partial`).
    pub async fn verify_slice(
        &self,
        actor: &Actor,
        from: Option<(i64, String)>,
        max: Option<u64>,
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
                            from_seq: *seq,
                            checked: 0,
                            partial: false,
                            head_seq: *seq,
                            head_hash: hash.clone(),
                            broken: Some(ChainBreak {
                                seq: *seq,
                                reason: format!(
                                    "seq {seq} is gone or no longer has the hash verified before"
                                ),
                            }),
                            audit: None,
                        });
                    }
                    (ChainVerifier::from_head(*seq, hash), *seq)
                }
                _ => (ChainVerifier::default(), 0),
            };
            let mut broken = None;
            let mut partial = false;
            self.ledger_pages(after, |page| {
                for ev in &page {
                    if let Err(b) = v.push(ev) {
                        broken = Some(b);
                        return Ok(false);
                    }
                }
                partial = max.is_some_and(|m| v.checked >= m);
                Ok(!partial)
            })
            .await?;
            let (seq, hash) = v.head();
            Ok(VerifyReport {
                ok: broken.is_none(),
                from_seq: after + 1,
                checked: v.checked,
                partial,
                head_seq: seq,
                head_hash: hash.to_string(),
                broken,
                audit: None,
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
        let audit_head = self.store.heads().await?.audit.0;
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
                None => Some(format!(
                    "TAMPERED: seq {} was witnessed on {when} and is gone; the ledger now ends at seq {head}",
                    w.seq
                )),
                Some(e) if e.hash != w.hash => Some(format!(
                    "TAMPERED: seq {} was witnessed on {when} with hash {}…; it now has hash {}…",
                    w.seq,
                    &w.hash[..w.hash.len().min(16)],
                    &e.hash[..16]
                )),
                Some(_) => None,
            };
            if let Some(what) = what {
                out.push(Finding {
                    entity: None,
                    seq: Some(w.seq),
                    what,
                });
            }
            // The audit trail's head witnessed with it: deleting or editing a refusal's record
            // (in no ledger event) shows here.
            let (Some(seq), Some(hash)) = (w.audit_seq, &w.audit_hash) else {
                continue;
            };
            let q = AuditQuery {
                after_seq: Some(seq - 1),
                limit: 1,
                ..Default::default()
            };
            let found = self.store.list_audit(&q).await?.into_iter().next();
            let what = match found.filter(|a| a.seq == Some(seq)) {
                None => format!(
                    "TAMPERED: audit seq {seq} was witnessed on {when} and is gone; the audit trail now ends at seq {audit_head}"
                ),
                Some(a) if a.hash.as_deref() != Some(hash.as_str()) => format!(
                    "TAMPERED: audit seq {seq} was witnessed on {when} with hash {}…; it now has another",
                    &hash[..hash.len().min(16)]
                ),
                Some(_) => continue,
            };
            out.push(Finding {
                entity: None,
                seq: None,
                what,
            });
        }
        Ok(out)
        })
        .await
    }

    /// Where this service's data lives, as `health` names it.
    pub fn store_target(&self) -> String {
        self.store.diagnostics().target()
    }

    /// What its heads are witnessed under (None: a store of this process only, never
    /// witnessed).
    pub async fn store_key(&self) -> ServiceResult<Option<crate::witness::StoreKey>> {
        Ok(self
            .store
            .diagnostics()
            .identity()
            .await?
            .map(|identity| crate::witness::StoreKey {
                identity,
                target: self.store.diagnostics().target(),
            }))
    }

    /// One ledger event whole (as the caller may see it), with the audit record of the action
    /// that wrote it: the success record of its action and entity whose payload is the event's.
    pub async fn ledger_event(&self, actor: &Actor, seq: i64) -> ServiceResult<EventDetail> {
        self.op("ledger_event", actor, async move {
            let q = LedgerQuery {
                after_seq: seq - 1,
                limit: 1,
                ..Default::default()
            };
            let event = self
                .ledger(actor, q)
                .await?
                .into_iter()
                .find(|e| e.seq == seq)
                .ok_or_else(|| ServiceError::NotFound {
                    what: "ledger event",
                    id: format!("seq {seq}"),
                })?;
            let q = AuditQuery {
                action: Some(event.kind.audit_action().to_string()),
                resource_id: Some(event.entity_id.clone()),
                outcome: Some(Outcome::Success),
                institution_id: actor.scope().map(str::to_string),
                limit: 1000,
                ..Default::default()
            };
            let want = crate::domain::ledger::canonical_value(&event.payload);
            let audit = self
                .store
                .list_audit(&q)
                .await?
                .into_iter()
                .find(|a| a.payload.as_ref().is_some_and(|p| p.as_str() == want));
            Ok(EventDetail { event, audit })
        })
        .await
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
