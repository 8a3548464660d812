//! Runs the console's `Cmd`s against the service, each in its own task, and sends the results back
//! as `Msg`s. The UI never waits for any of them.

use super::msg::{AuditPage, Cmd, LedgerPage, Loaded, Msg, PAGE, Submitted};
use super::popups::form::Submission;
use crate::domain::ledger::LedgerEvent;
use crate::service::api::Api;
use crate::service::stream::StreamFilter;
use crate::service::{Actor, ServiceError};
use crate::service::{AuditQuery, LedgerQuery, Page};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct Executor {
    /// The service in this process, or a server's client.
    svc: Arc<dyn Api>,
    actor: Actor,
    tx: mpsc::Sender<Msg>,
    /// The operator's witness file: chain verification starts from its newest head for this
    /// store and records the heads it verifies.
    witness: Option<std::path::PathBuf>,
    /// The `[onchain]` settings, for `:anchor`.
    onchain: crate::anchor::OnchainConfig,
    /// Stops the whole-chain verification running in the background, if one is.
    full_verify: Arc<std::sync::Mutex<tokio_util::sync::CancellationToken>>,
}

impl Executor {
    pub fn new(svc: Arc<dyn Api>, actor: Actor, tx: mpsc::Sender<Msg>) -> Self {
        Executor {
            svc,
            actor,
            tx,
            witness: None,
            onchain: Default::default(),
            full_verify: Default::default(),
        }
    }

    pub fn with_onchain(mut self, cfg: crate::anchor::OnchainConfig) -> Self {
        self.onchain = cfg;
        self
    }

    /// `:anchor`: the head anchored now (root only, which the service checks first; builds
    /// with the `onchain` feature).
    async fn anchor_now(
        &self,
    ) -> crate::service::ServiceResult<crate::domain::anchor::AnchorRecord> {
        let svc = crate::cli::local(self.svc.as_ref(), "anchoring")?;
        #[cfg(feature = "onchain")]
        {
            svc.publish_anchor(
                &self.actor,
                &self.onchain,
                crate::service::anchoring::signer(&self.onchain),
                std::time::Duration::from_secs(60),
            )
            .await
        }
        #[cfg(not(feature = "onchain"))]
        {
            let _ = svc;
            Err(ServiceError::Chain(
                "this build has no on-chain anchoring (build with --features onchain)".into(),
            ))
        }
    }

    /// Keeps verified heads in the operator's witness file.
    pub fn with_witness(mut self, path: std::path::PathBuf) -> Self {
        self.witness = Some(path);
        self
    }

    /// Verifies the chain on from `from`, or from the newest head witnessed for this store, or
    /// from seq 1; records the head it verified.
    async fn verify_chain(
        &self,
        from: Option<(i64, String)>,
    ) -> crate::service::ServiceResult<crate::service::VerifyReport> {
        let key = self.svc.store_key().await?;
        let witnessed = || {
            let (path, key) = (self.witness.as_ref()?, key.as_ref()?);
            crate::witness::load(path)
                .ok()?
                .into_iter()
                .filter(|w| w.of(key))
                .max_by_key(|w| w.seq)
                .map(|w| (w.seq, w.hash))
        };
        let from = from.or_else(witnessed);
        let r = self.svc.verify_from(&self.actor, from).await?;
        if r.ok
            && r.head_seq > 0
            && let (Some(path), Some(key)) = (&self.witness, &key)
        {
            let w = crate::witness::Witnessed::now(key, r.head_seq, &r.head_hash, None);
            if let Err(e) = crate::witness::record(path, &w) {
                tracing::warn!(error = %e, "console: cannot record the verified head");
            }
        }
        Ok(r)
    }

    /// Streams the ledger (everything after the current head) into the console.
    pub fn subscribe(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let head = this.svc.ledger_head_seq(&this.actor).await.unwrap_or(0);
            let mut sub = this
                .svc
                .subscribe(&this.actor, head, StreamFilter::default());
            while let Some(item) = sub.next().await {
                if this.tx.send(Msg::Stream(item)).await.is_err() {
                    break;
                }
            }
        });
    }

    /// Verifies the whole chain from seq 1, a slice at a time, sending its progress, until it
    /// ends or is cancelled (`CancelVerifyFull`, or the console going away).
    async fn verify_full(&self) -> Loaded {
        const SLICE: u64 = 5000;
        let cancel = tokio_util::sync::CancellationToken::new();
        *self.full_verify.lock().unwrap_or_else(|p| p.into_inner()) = cancel.clone();
        let total = self.svc.ledger_head_seq(&self.actor).await.unwrap_or(0);
        let mut from = None;
        loop {
            let slice = self
                .svc
                .verify_slice(&self.actor, from.clone(), Some(SLICE));
            let r = tokio::select! {
                r = slice => r,
                _ = cancel.cancelled() => break,
            };
            match r {
                Ok(v) if v.ok && v.partial => {
                    let progress = Loaded::FullVerifyProgress {
                        upto: v.head_seq,
                        total,
                    };
                    if self.tx.send(Msg::Loaded(Box::new(progress))).await.is_err() {
                        return Loaded::FullVerified {
                            result: Ok(v),
                            cancelled: true,
                        };
                    }
                    from = Some((v.head_seq, v.head_hash));
                }
                other => {
                    return Loaded::FullVerified {
                        result: other.map(|mut v| {
                            v.from_seq = 1;
                            v
                        }),
                        cancelled: false,
                    };
                }
            }
        }
        Loaded::FullVerified {
            result: Ok(crate::service::VerifyReport {
                ok: true,
                from_seq: 1,
                checked: 0,
                partial: true,
                head_seq: from.as_ref().map(|f| f.0).unwrap_or(0),
                head_hash: from.map(|f| f.1).unwrap_or_default(),
                broken: None,
                audit: None,
            }),
            cancelled: true,
        }
    }

    pub fn run(&self, cmd: Cmd) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Some(loaded) = this.execute(cmd).await {
                let _ = this.tx.send(Msg::Loaded(Box::new(loaded))).await;
            }
        });
    }

    /// Does one command against the service; None for the commands the terminal side handles
    /// (clipboard, simulator). Public so tests can drive the app without a terminal.
    pub async fn execute(&self, cmd: Cmd) -> Option<Loaded> {
        let (svc, a) = (&self.svc, &self.actor);
        Some(match cmd {
            Cmd::LoadInstitutions => {
                Loaded::Institutions(svc.list_institutions(a, Page::first(1000)).await)
            }
            Cmd::LoadSummaries(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    if let Ok(s) = svc.institution_summary(a, &id).await {
                        out.push((id, s));
                    }
                }
                Loaded::Summaries(out)
            }
            Cmd::LoadTemplates => {
                Loaded::Templates(svc.list_templates(a, None, Page::first(1000)).await)
            }
            Cmd::LoadAssets => {
                Loaded::Assets(svc.list_assets(a, None, None, Page::first(1000)).await)
            }
            Cmd::LoadPositions {
                generation,
                mode,
                query,
            } => Loaded::Positions {
                generation,
                mode,
                result: svc.list_positions(a, query).await,
            },
            Cmd::CountPositions { generation, filter } => Loaded::PositionCount {
                generation,
                result: svc.count_positions(a, filter).await,
            },
            Cmd::LoadPositionDetail(id) => {
                let result = async {
                    let d = svc.position_detail(a, &id).await?;
                    // Every event of the position, page by page.
                    let mut ledger = Vec::new();
                    loop {
                        let q = LedgerQuery {
                            position_id: Some(id.clone()),
                            after_seq: ledger.last().map(|e: &LedgerEvent| e.seq).unwrap_or(0),
                            limit: 1000,
                            ..Default::default()
                        };
                        let page = svc.ledger(a, q).await?;
                        let full = page.len() == 1000;
                        ledger.extend(page);
                        if !full {
                            break;
                        }
                    }
                    Ok((d, ledger))
                }
                .await;
                Loaded::PositionDetail { id, result }
            }
            Cmd::LoadInstitutionDetail(id) => {
                let result = svc.institution_detail(a, &id).await;
                Loaded::InstitutionDetail { id, result }
            }
            Cmd::LoadLedger {
                generation,
                position_id,
                kind,
                text,
                page,
            } => {
                let mut q = LedgerQuery {
                    position_id,
                    kind,
                    text,
                    limit: PAGE,
                    ..Default::default()
                };
                match page {
                    LedgerPage::Newest => q.newest_first = true,
                    LedgerPage::Oldest => {}
                    LedgerPage::Before(seq) => {
                        q.before_seq = Some(seq);
                        q.newest_first = true;
                    }
                    LedgerPage::After(seq) => q.after_seq = seq,
                    LedgerPage::From(seq) => q.after_seq = seq - 1,
                    LedgerPage::Since(t) => q.since = Some(t),
                }
                let newest_first = q.newest_first;
                let result = svc.ledger(a, q).await.map(|mut v| {
                    if newest_first {
                        v.reverse();
                    }
                    v
                });
                Loaded::Ledger {
                    generation,
                    page,
                    result,
                }
            }
            Cmd::LoadAudit {
                generation,
                action,
                text,
                page,
            } => {
                let mut q = AuditQuery {
                    action,
                    text,
                    limit: PAGE,
                    ..Default::default()
                };
                let oldest_first = match &page {
                    AuditPage::Newest => false,
                    AuditPage::Oldest => {
                        q.oldest_first = true;
                        true
                    }
                    AuditPage::Older(id) => {
                        q.before = Some(id.clone());
                        false
                    }
                    AuditPage::Newer(id) => {
                        q.after = Some(id.clone());
                        true
                    }
                    // Ids are time-ordered: the id of that moment is the cursor.
                    AuditPage::Since(t) => {
                        q.after = Some(crate::domain::ids::cursor_at(crate::domain::ids::AUDIT, t));
                        true
                    }
                };
                let result = svc.audit(a, q).await.map(|mut v| {
                    if oldest_first {
                        v.reverse();
                    }
                    v
                });
                Loaded::Audit {
                    generation,
                    page,
                    result,
                }
            }
            Cmd::LoadEventDetail(seq) => Loaded::EventDetail {
                seq,
                result: svc.ledger_event(a, seq).await.map(Box::new),
            },
            Cmd::LoadAuditRecord(id) => {
                let q = AuditQuery {
                    id: Some(id.clone()),
                    limit: 1,
                    ..Default::default()
                };
                let result = svc.audit(a, q).await.and_then(|v| {
                    v.into_iter()
                        .next()
                        .map(Box::new)
                        .ok_or_else(|| ServiceError::NotFound {
                            what: "audit record",
                            id: id.clone(),
                        })
                });
                Loaded::AuditRecord { id, result }
            }
            Cmd::LoadHealth => Loaded::Health(Box::new(svc.health(a).await)),
            Cmd::Verify => Loaded::Verify(svc.verify_ledger(a).await),
            Cmd::Check => Loaded::Check(svc.check(a).await),
            Cmd::Anchor => Loaded::Anchored(self.anchor_now().await),
            Cmd::VerifyChain(from) => Loaded::ChainVerified(self.verify_chain(from).await),
            Cmd::VerifyFull => self.verify_full().await,
            Cmd::CancelVerifyFull => {
                self.full_verify
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .cancel();
                return None;
            }
            Cmd::Export { path, force } => {
                let result = svc.export_file(a, &path, force).await;
                Loaded::Exported { path, result }
            }
            Cmd::Submit(s) => Loaded::Submitted(match s {
                Submission::Institution(x) => svc
                    .create_institution(a, x)
                    .await
                    .map(Submitted::Institution),
                Submission::Template(x) => svc.create_template(a, x).await.map(Submitted::Template),
                Submission::Asset(x) => svc.create_asset(a, x).await.map(Submitted::Asset),
                Submission::Position(x) => svc.create_position(a, x).await.map(Submitted::Position),
                Submission::ApiKey {
                    institution_id,
                    label,
                    role,
                } => svc
                    .create_api_key(a, Some(institution_id), label, role)
                    .await
                    .map(Submitted::ApiKey),
                Submission::Policy(x) => svc.set_policy(a, x).await.map(Submitted::Policy),
            }),
            Cmd::Transition { id, req } => {
                let result = svc.transition_position(a, &id, req).await;
                Loaded::Transitioned { id, result }
            }
            Cmd::Transitions { to, items } => {
                let mut results = Vec::with_capacity(items.len());
                for (id, req) in items {
                    let r = svc.transition_position(a, &id, req).await;
                    // A session that ended (its key revoked) moves nothing more.
                    let ended = matches!(r, Err(ServiceError::Unauthenticated(_)));
                    results.push((id, r));
                    if ended {
                        break;
                    }
                }
                Loaded::TransitionedMany { to, results }
            }
            Cmd::Revoke(id) => Loaded::Revoked(svc.revoke_api_key(a, &id).await),
            Cmd::Copy(_) | Cmd::PauseSimulator(_) => return None,
        })
    }
}

/// Runs queued commands inline until none are left, feeding their results back: the console
/// without its runtime, for tests and benchmarks.
pub async fn settle(app: &mut super::app::App, exec: &Executor) {
    for _ in 0..100 {
        let cmds = app.take_cmds();
        if cmds.is_empty() {
            return;
        }
        for c in cmds {
            if let Some(l) = exec.execute(c).await {
                app.update(Msg::Loaded(Box::new(l)));
            }
        }
    }
}
