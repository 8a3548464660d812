//! Keeping a demo: `--demo --demo-keep URL` mirrors the console's in-memory store into the store
//! at URL as the session runs (`service::mirror`), so what was shown can be opened, compared or
//! checked later: `escrowgrid --database-url URL` after `mirror promote`, or read as it is.

use crate::service::{Actor, Service, ServiceError};
use std::sync::Arc;
use std::time::Duration;

/// How often the keeper looks for new events when it has caught up.
const IDLE: Duration = Duration::from_millis(500);

/// The keeper's task; aborted when dropped (the console ends).
pub struct Keeper(tokio::task::JoinHandle<()>);

impl Drop for Keeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts mirroring `svc` (the demo's store) into `target`; refuses at once a target that
/// holds another book.
/// `shown` names the target in the console's Health tab.
pub async fn spawn(
    svc: Arc<Service>,
    actor: Actor,
    target: Service,
    shown: &str,
) -> Result<Keeper, String> {
    let mut m = svc
        .mirror(&actor, "the demo console (memory)", shown)
        .map_err(|e| e.to_string())?;
    m.step(&svc, &target, 1000)
        .await
        .map_err(|e| format!("--demo-keep: {e}"))?;
    Ok(Keeper(tokio::spawn(async move {
        loop {
            let pause = match m.step(&svc, &target, 1000).await {
                Ok(s) if s.events == 0 && s.audit_records == 0 => IDLE,
                Ok(_) => Duration::ZERO,
                Err(ServiceError::Unavailable(why)) => {
                    tracing::warn!(%why, "demo keeper: the target is unavailable; trying again");
                    Duration::from_secs(1)
                }
                Err(e) => {
                    tracing::error!(error = %e, "demo keeper stopped");
                    return;
                }
            };
            tokio::time::sleep(pause).await;
        }
    })))
}
