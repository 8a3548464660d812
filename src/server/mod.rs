//! `escrowgrid serve`: the service on the network. One store opened once, behind an HTTPS API
//! (`/v1`, every request authenticated against the store), the live ledger as Server-Sent
//! Events, and the probes and metrics an SRE's tools read (`/health`, `/ready`, `/metrics`).
//! Only this process holds the database's credentials; its callers hold API keys.

pub mod api;
pub mod http;
pub mod stream;

use crate::config::ServeConfig;
use crate::metrics::{Metrics, SharedMetrics};
use crate::service::{Actor, Service, ServiceError, ServiceResult};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Failed sign-ins allowed per client address: a burst of this many, then one per 6 s.
const FAILED_SIGN_INS_PER_MINUTE: u32 = 10;

/// What every handler shares.
pub struct App {
    pub svc: Arc<Service>,
    pub cfg: ServeConfig,
    /// Requests per key (None: `rate_limit_per_s = 0`).
    pub per_key: Option<DefaultKeyedRateLimiter<String>>,
    /// Failed sign-ins per client address.
    pub failures: DefaultKeyedRateLimiter<IpAddr>,
    pub blocked: http::Blocked,
    /// Every request this server answered, by route.
    pub http: SharedMetrics,
    /// Cancelled when the server stops: streams end with a final event.
    pub stop: CancellationToken,
    /// The chain as the last background check found it (None until the first ends).
    pub chain: std::sync::Mutex<Option<ChainCheck>>,
}

/// What the background check of the ledger's chain found (`/ready` reports it).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainCheck {
    pub ok: bool,
    /// The newest seq verified.
    pub head_seq: i64,
    pub at: String,
    /// Where and why it broke.
    pub broken: Option<String>,
}

/// How often the server verifies the events written since its last check.
const CHAIN_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Verifies the chain from seq 1, then every `CHAIN_CHECK_EVERY` the events written since the
/// head verified last, until the server stops. A store that cannot be read is retried; a broken
/// chain stays broken (`/ready` says so) until the server restarts.
async fn check_chain(app: Arc<App>) {
    let mut from: Option<(i64, String)> = None;
    loop {
        match app.svc.verify_from(&Actor::Root, from.clone()).await {
            Ok(r) => {
                let check = ChainCheck {
                    ok: r.ok,
                    head_seq: r.head_seq,
                    at: crate::domain::time::format(&crate::domain::time::now()),
                    broken: r
                        .broken
                        .as_ref()
                        .map(|b| format!("seq {}: {}", b.seq, b.reason)),
                };
                if !r.ok {
                    tracing::error!(broken = ?check.broken, "the ledger's chain is broken");
                }
                *app.chain.lock().unwrap_or_else(|e| e.into_inner()) = Some(check);
                if !r.ok {
                    return;
                }
                if r.head_seq > 0 {
                    from = Some((r.head_seq, r.head_hash));
                }
            }
            Err(e) => tracing::warn!(error = %e, "chain check: the store could not be read"),
        }
        tokio::select! {
            () = tokio::time::sleep(CHAIN_CHECK_EVERY) => {}
            () = app.stop.cancelled() => return,
        }
    }
}

impl App {
    pub fn new(svc: Arc<Service>, cfg: ServeConfig) -> Arc<Self> {
        let per_key = NonZeroU32::new(cfg.rate_limit_per_s).map(|n| {
            let burst = n.saturating_mul(NonZeroU32::new(2).expect("2 > 0"));
            RateLimiter::keyed(Quota::per_second(n).allow_burst(burst))
        });
        let failures = RateLimiter::keyed(Quota::per_minute(
            NonZeroU32::new(FAILED_SIGN_INS_PER_MINUTE).expect("> 0"),
        ));
        Arc::new(App {
            svc,
            cfg,
            per_key,
            failures,
            blocked: Default::default(),
            http: Metrics::new(),
            stop: CancellationToken::new(),
            chain: Default::default(),
        })
    }
}

/// The OpenAPI document's frame; the paths come from the routes as they are registered.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "EscrowGrid",
        description = "The escrow and tokenization service: institutions, templates, assets, positions and their lifecycle, policies, API keys, the hash-chained ledger and the audit trail. Every /v1 request carries `Authorization: Bearer <API key>`; errors are `{error, code, details}`."
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("the root key or an institution key (ak_…)"))
                        .build(),
                ),
            );
    }
}

/// Every route, registered with its OpenAPI operation: the document lists exactly what the
/// router answers, since both come from these lines.
pub fn routes(app: Arc<App>) -> (Router<Arc<App>>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    let v1 = OpenApiRouter::<Arc<App>>::new()
        .routes(routes!(api::list_institutions, api::create_institution))
        .routes(routes!(api::get_institution))
        .routes(routes!(api::list_templates, api::create_template))
        .routes(routes!(api::get_template))
        .routes(routes!(api::list_assets, api::create_asset))
        .routes(routes!(api::get_asset))
        .routes(routes!(api::list_positions, api::create_position))
        .routes(routes!(api::get_position))
        .routes(routes!(api::transition_position))
        .routes(routes!(api::list_policies, api::set_policy))
        .routes(routes!(api::list_api_keys, api::create_api_key))
        .routes(routes!(api::revoke_api_key))
        .routes(routes!(api::ledger))
        .routes(routes!(stream::ledger_stream))
        .routes(routes!(api::verify_ledger))
        .routes(routes!(api::ledger_event))
        .routes(routes!(api::audit))
        .routes(routes!(api::check))
        .routes(routes!(api::export))
        .routes(routes!(api::import))
        .routes(routes!(api::health))
        .routes(routes!(api::whoami))
        .routes(routes!(api::institution_summary))
        .routes(routes!(api::count_positions))
        .routes(routes!(api::counts))
        .routes(routes!(api::migrations))
        .route_layer(axum::middleware::from_fn_with_state(app, http::gate));
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .nest("/v1", v1)
        .split_for_parts();
    (router, doc)
}

/// The whole server: the routes, the document, the fallbacks and the layers every request
/// passes.
pub fn router(app: Arc<App>) -> Router {
    let (routes, doc) = routes(app.clone());
    let doc = Arc::new(doc);
    routes
        .layer(axum::Extension(doc))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            http::oversized,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            http::timed,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(app.cfg.max_body_bytes))
        .with_state(app)
}

/// This document (no key: it describes, it holds nothing).
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses((status = 200, description = "the OpenAPI 3.1 document of this server", body = Object)))]
async fn openapi(
    axum::Extension(doc): axum::Extension<Arc<utoipa::openapi::OpenApi>>,
) -> impl IntoResponse {
    axum::Json(doc.as_ref().clone())
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "probes", responses((status = 200, description = "the process answers", body = Object)))]
async fn live() -> impl IntoResponse {
    axum::Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Readiness: the store answers, its schema takes this binary's writes, the chain verified at
/// the last check, the replica (if any) is usable. 503 with the reasons otherwise.
#[utoipa::path(get, path = "/ready", tag = "probes", responses((status = 200, description = "ready", body = Object), (status = 503, description = "not ready: `reasons`", body = Object)))]
async fn ready(State(app): State<Arc<App>>) -> Response {
    let h = app.svc.health(&Actor::Root).await;
    let mut reasons = Vec::new();
    if !h.connected {
        reasons.push(format!(
            "store unreachable: {}",
            h.error.as_deref().unwrap_or("no answer")
        ));
    }
    if let Some(w) = &h.writes_refused {
        reasons.push(format!("schema: {w}"));
    }
    let chain = app.chain.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(ChainCheck {
        ok: false,
        broken: Some(b),
        ..
    }) = &chain
    {
        reasons.push(format!("the ledger's chain is broken at {b}"));
    }
    if let Some(r) = &h.replica
        && !r.in_use
    {
        // Reads still work (from the primary): reported, not a reason to take traffic away.
        tracing::debug!(state = %r.state, "replica not in use");
    }
    let body = json!({
        "ready": reasons.is_empty(),
        "reasons": reasons,
        "store": {"backend": h.backend, "connected": h.connected, "pingMs": h.ping_ms},
        "ledgerHead": h.ledger_head,
        // The background check (null until its first pass ends).
        "chain": chain,
        "replica": h.replica.as_ref().map(|r| json!({"state": r.state, "inUse": r.in_use, "lagSeconds": r.lag_seconds})),
    });
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut r = (status, axum::Json(body)).into_response();
    if status != StatusCode::OK {
        r.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, 5.into());
    }
    r
}

/// Prometheus text: the store, the service operations and every request this server answered.
#[utoipa::path(get, path = "/metrics", tag = "probes", responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let h = app.svc.health(&Actor::Root).await;
    let mut text = crate::service::health::prometheus(&h);
    let routes = app.http.figures();
    crate::service::health::histogram(
        &mut text,
        "http_request_duration_seconds",
        "Latency of each HTTP request this server answered, by method and route.",
        "route",
        &routes,
    );
    {
        use std::fmt::Write;
        let _ = writeln!(
            text,
            "# HELP escrowgrid_http_request_errors_total HTTP requests answered with an error status, by route and status."
        );
        let _ = writeln!(text, "# TYPE escrowgrid_http_request_errors_total counter");
        for f in &routes {
            for (status, n) in &f.errors {
                let _ = writeln!(
                    text,
                    "escrowgrid_http_request_errors_total{{route=\"{}\",status=\"{}\"}} {n}",
                    crate::metrics::label(&f.name),
                    crate::metrics::label(status)
                );
            }
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Whether an address is this machine's own (plain HTTP is allowed there without a word).
fn is_loopback(a: &SocketAddr) -> bool {
    a.ip().is_loopback()
}

/// Refuses a configuration that would put keys on the network in the clear.
pub fn check(cfg: &ServeConfig, svc: &Service) -> ServiceResult<()> {
    if !svc.requires_key() {
        return Err(ServiceError::field(
            "root_api_key",
            "serve needs a root API key (root_api_key / ESCROWGRID_ROOT_API_KEY): without one every caller would act as the local operator",
        ));
    }
    if cfg.tls.is_none() && !is_loopback(&cfg.listen) && !cfg.allow_plaintext {
        return Err(ServiceError::field(
            "serve.listen",
            format!(
                "{} is not a loopback address and no TLS is configured: set serve.tls_cert and serve.tls_key, or allow_plaintext = true behind a TLS proxy",
                cfg.listen
            ),
        ));
    }
    Ok(())
}

async fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> ServiceResult<axum_server::tls_rustls::RustlsConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|e| {
            ServiceError::field(
                "serve.tls_cert",
                format!("cannot use {} and {}: {e}", cert.display(), key.display()),
            )
        })
}

/// Serves until `stop` resolves: then no new connections, requests in flight get up to
/// `shutdown_grace`, streams end with a final event. `on_listen` hears the bound address.
pub async fn serve(
    svc: Arc<Service>,
    cfg: ServeConfig,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    on_listen: impl FnOnce(SocketAddr) + Send,
) -> ServiceResult<()> {
    check(&cfg, &svc)?;
    let tls = match &cfg.tls {
        Some((c, k)) => Some(tls_config(c, k).await?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(cfg.listen).map_err(|e| {
        ServiceError::field(
            "serve.listen",
            format!("cannot listen on {}: {e}", cfg.listen),
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let app = App::new(svc, cfg.clone());
    tokio::spawn(check_chain(app.clone()));
    let routes = router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let grace = cfg.shutdown_grace;
    {
        let handle = handle.clone();
        let app = app.clone();
        tokio::spawn(async move {
            stop.await;
            tracing::info!("stopping: no new requests; those in flight may finish");
            app.stop.cancel();
            handle.graceful_shutdown(Some(grace));
        });
    }
    tracing::info!(%addr, tls = tls.is_some(), "serving");
    on_listen(addr);
    let r = match tls {
        Some(tls) => {
            axum_server::from_tcp_rustls(listener, tls)
                .handle(handle)
                .serve(routes)
                .await
        }
        None => {
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(routes)
                .await
        }
    };
    r.map_err(|e| ServiceError::Internal(format!("the server stopped: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceConfig;

    /// A service over a memory store whose root key is `root-key-of-this-test`.
    async fn service() -> Arc<Service> {
        let store = crate::store::open(
            crate::store::Backend::Memory,
            "",
            std::time::Duration::from_millis(50),
        )
        .await
        .unwrap();
        Arc::new(Service::new(
            store,
            ServiceConfig {
                root_api_key: Some("root-key-of-this-test".into()),
                ..Default::default()
            },
        ))
    }

    /// A request still running after `request_timeout` is answered 504 in the error shape, with
    /// its operation id; a quick one passes the gate untouched.
    #[tokio::test]
    async fn a_slow_request_is_answered_504() {
        let svc = service().await;
        let cfg = ServeConfig {
            request_timeout: std::time::Duration::from_millis(100),
            ..Default::default()
        };
        let app = App::new(svc, cfg);
        let router = Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    "late"
                }),
            )
            .route("/quick", axum::routing::get(|| async { "now" }))
            .route_layer(axum::middleware::from_fn_with_state(
                app.clone(),
                http::gate,
            ))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        let client = reqwest::Client::new();
        let get = |path: &str| {
            client
                .get(format!("http://{addr}{path}"))
                .bearer_auth("root-key-of-this-test")
                .send()
        };
        let r = get("/slow").await.unwrap();
        assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(r.headers().contains_key(http::OP_ID_HEADER));
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], "TIMEOUT", "{v}");
        assert!(v["error"].as_str().unwrap().contains("100 ms"), "{v}");
        let r = get("/quick").await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "now");
    }

    /// A stream's client that stops reading is disconnected after `stream_slow`: the events
    /// written meanwhile are not held for it, and its stream ends short of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_does_not_read_its_stream_is_disconnected() {
        use std::io::{Read, Write};
        let svc = service().await;
        let cfg = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            stream_slow: std::time::Duration::from_millis(500),
            ..Default::default()
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(serve(svc.clone(), cfg, std::future::pending(), move |a| {
            let _ = tx.send(a);
        }));
        let addr = rx.await.unwrap();
        // A client with a small receive window that sends its request and then reads nothing.
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        sock.connect(&addr.into()).unwrap();
        let mut conn: std::net::TcpStream = sock.into();
        write!(
            conn,
            "GET /v1/ledger/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer root-key-of-this-test\r\n\r\n"
        )
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // Far more events than the channels between the store and the socket hold.
        let root = Actor::Root;
        // (The server's socket buffer alone grows to 4 MiB: each event carries a long name.)
        const WRITTEN: usize = 9000;
        let long = "x".repeat(200);
        for n in 0..WRITTEN {
            svc.create_institution(
                &root,
                crate::service::NewInstitution {
                    name: format!("Institution {n} {long}"),
                    regions: vec!["US".into()],
                    verticals: vec![],
                },
            )
            .await
            .unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        // Now read what the server kept for it: the stream ends, short of what was written.
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut text = Vec::new();
        let mut buf = [0u8; 65536];
        let ended = loop {
            match conn.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    text.extend_from_slice(&buf[..n]);
                    // The chunked body's last chunk: the server ended the response.
                    if text.ends_with(b"\r\n0\r\n\r\n") {
                        break true;
                    }
                }
                Err(_) => break false,
            }
        };
        let events = String::from_utf8_lossy(&text)
            .matches("event: ledger")
            .count();
        eprintln!("a client that did not read got {events} of {WRITTEN} events, then the end");
        assert!(
            events < WRITTEN,
            "{events} of {WRITTEN} events were held for a client that did not read"
        );
        assert!(
            ended,
            "the stream of a client that did not read was not ended ({events} events read)"
        );
    }
}
