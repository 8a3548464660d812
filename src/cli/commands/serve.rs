//! `serve`: the service on the network until SIGTERM or SIGINT (see `crate::server`).

use crate::config::Config;
use crate::service::{Service, ServiceError, ServiceResult};
use std::sync::Arc;

pub async fn serve(svc: Service, cfg: &Config, listen: Option<String>) -> ServiceResult<i32> {
    let mut serve = cfg.serve.clone();
    if let Some(l) = listen {
        serve.listen = crate::config::parse_listen(&l).ok_or_else(|| {
            ServiceError::field(
                "listen",
                format!("'{l}' is not an address:port (such as 0.0.0.0:4000) or a port"),
            )
        })?;
    }
    let svc = Arc::new(svc);
    crate::server::check(&serve, &svc)?;
    // Signals are watched before the server says it listens.
    let stop = super::super::stop_requested()?;
    #[cfg(feature = "onchain")]
    let worker = if cfg.onchain.enabled {
        Some(super::anchor::spawn_worker(&svc, cfg).await?)
    } else {
        None
    };
    let scheme = if serve.tls.is_some() { "https" } else { "http" };
    let r = crate::server::serve(svc, serve, stop, |addr| {
        eprintln!("serving on {scheme}://{addr} (SIGTERM or Ctrl-C stops)");
    })
    .await;
    #[cfg(feature = "onchain")]
    if let Some(worker) = worker {
        worker.stop().await;
    }
    r.map(|()| 0)
}
