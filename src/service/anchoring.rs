//! The anchors as the service shows them: their state to every role, the check of the stored
//! ledger against what the chain recorded to root; and, in builds with the `onchain` feature,
//! publishing them — the worker of a console, a server or `anchor run`, and one anchor now —
//! for root only, checked here before the chain is even reached.

use super::{Actor, Service, ServiceResult};
use crate::anchor::{AnchorVerification, ChainAnchor, Recomputer};
use crate::domain::anchor::{AnchorRecord, AnchorSummary};

/// The anchoring worker running in this process; dropping it (or `stop`) stops the worker.
#[cfg(feature = "onchain")]
pub struct Anchoring {
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[cfg(feature = "onchain")]
impl Anchoring {
    /// Stops the worker and waits for it to finish what it is doing.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits until the worker ends by itself (it ends only when told to, or on a panic).
    pub async fn ended(&mut self) {
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
            self.task = None;
        }
    }
}

#[cfg(feature = "onchain")]
impl Drop for Anchoring {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The chain, reached with the signer's key from the environment (`ESCROWGRID_ONCHAIN_KEY` or
/// its file): what publishing needs. An unreachable chain is `Chain`, a setting that is wrong
/// or missing is a field error naming `onchain`.
#[cfg(feature = "onchain")]
pub async fn signer(
    cfg: &crate::anchor::OnchainConfig,
) -> ServiceResult<crate::anchor::chain::Chain> {
    use super::ServiceError;
    let settings = |e: String| ServiceError::field("onchain", e);
    let key =
        crate::anchor::signer_key(&|k| crate::config::Env::get(&crate::config::ProcessEnv, k))
            .map_err(settings)?;
    crate::anchor::chain::Chain::connect(cfg, Some(&key))
        .await
        .map_err(|e| {
            if e.starts_with("cannot reach") || e.contains("did not answer") {
                ServiceError::Chain(e)
            } else {
                settings(e)
            }
        })
}

#[cfg(feature = "onchain")]
impl Service {
    /// Starts the anchoring worker (`[onchain]` in a console, a server, or `anchor run`):
    /// root only, checked before `chain` connects to the chain.
    pub async fn start_anchoring(
        &self,
        actor: &Actor,
        cfg: &crate::anchor::OnchainConfig,
        chain: impl std::future::Future<Output = ServiceResult<crate::anchor::chain::Chain>>,
    ) -> ServiceResult<Anchoring> {
        self.require_root(actor, "run the anchoring worker")?;
        let worker =
            crate::anchor::worker::Worker::new(self.store.clone(), chain.await?, cfg.clone());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        Ok(Anchoring {
            stop,
            task: Some(tokio::spawn(worker.run(stopped))),
        })
    }

    /// Anchors the ledger head now (`anchor publish`, the console's `:anchor`) and waits up to
    /// `wait` for it to settle: root only, checked before `chain` connects to the chain.
    pub async fn publish_anchor(
        &self,
        actor: &Actor,
        cfg: &crate::anchor::OnchainConfig,
        chain: impl std::future::Future<Output = ServiceResult<crate::anchor::chain::Chain>>,
        wait: std::time::Duration,
    ) -> ServiceResult<AnchorRecord> {
        self.op("publish_anchor", actor, async move {
            self.require_root(actor, "publish an anchor")?;
            let worker =
                crate::anchor::worker::Worker::new(self.store.clone(), chain.await?, cfg.clone());
            worker
                .publish_now(wait)
                .await
                .map_err(super::ServiceError::Chain)
        })
        .await
    }
}

impl Service {
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
