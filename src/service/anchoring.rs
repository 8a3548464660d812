//! The anchors as the service shows them: their state to every role, the check of the stored
//! ledger against what the chain recorded to root.

use super::{Actor, Service, ServiceResult};
use crate::anchor::{AnchorVerification, ChainAnchor, Recomputer};
use crate::domain::anchor::{AnchorRecord, AnchorSummary};
use crate::store::SharedStore;

impl Service {
    /// The store behind the service (the anchoring worker writes the outbox through it).
    pub fn store(&self) -> SharedStore {
        self.store.clone()
    }

    /// The last confirmed anchor, how many wait, the last error: every role may see it.
    pub async fn anchor_summary(&self, actor: &Actor) -> ServiceResult<AnchorSummary> {
        self.op("anchor_summary", actor, async move {
            Ok(self.store.anchor_summary().await?)
        })
        .await
    }

    pub async fn list_anchors(
        &self,
        actor: &Actor,
        limit: u32,
    ) -> ServiceResult<Vec<AnchorRecord>> {
        self.op("list_anchors", actor, async move {
            Ok(self.store.list_anchors(limit).await?)
        })
        .await
    }

    /// Refuses anyone but root (publishing and verifying anchors read or speak for the whole
    /// ledger).
    pub fn require_root(&self, actor: &Actor, what: &str) -> ServiceResult<()> {
        if actor.is_root() {
            Ok(())
        } else {
            Err(Self::forbidden(actor, what))
        }
    }

    /// Recomputes the stored ledger from its events (never the stored hashes) and checks each
    /// anchor the chain recorded against it. Root only.
    pub async fn verify_against_anchors(
        &self,
        actor: &Actor,
        anchors: &[ChainAnchor],
    ) -> ServiceResult<AnchorVerification> {
        self.op("verify_anchors", actor, async move {
            self.require_root(actor, "verify the ledger against its anchors")?;
            let mut r = Recomputer::new(anchors);
            let last = anchors.iter().map(|a| a.seq).max().unwrap_or(0);
            if last > 0 {
                self.ledger_pages(0, |page| {
                    page.iter().for_each(|ev| r.push(ev));
                    Ok(page.last().is_some_and(|e| e.seq < last))
                })
                .await?;
            }
            Ok(r.finish(anchors))
        })
        .await
    }
}
