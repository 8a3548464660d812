//! What every request goes through: the error shape and its statuses, request bodies and query
//! strings read into the service's types (refusals in the same shape), and the gate —
//! authentication against the store, the failed-sign-in limit per client address, the request
//! limit per key, the timeout, the operation id.

use super::App;
use crate::service::{Actor, ServiceError};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The response header naming the request's operation (also in its audit records and logs).
pub const OP_ID_HEADER: &str = "x-operation-id";

/// The error shape, as the OpenAPI document names it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// One line an operator can act on.
    pub error: String,
    /// A stable code: VALIDATION_FAILED, NOT_FOUND, INVALID_TRANSITION, CONCURRENCY_CONFLICT,
    /// FORBIDDEN, UNAUTHENTICATED, RATE_LIMITED, PAYLOAD_TOO_LARGE, STORE_UNAVAILABLE, TIMEOUT, …
    pub code: String,
    /// What the error is about (always an object; `fields` for invalid input).
    pub details: Value,
}

/// An error answered in the CLI's JSON shape, `{error, code, details}`, with its status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    /// Seconds to wait before trying again (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({"error": message.into(), "code": code, "details": {}}),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
}

/// The status a service error is answered with.
pub fn status_of(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::Validation(_) => StatusCode::BAD_REQUEST,
        ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
        ServiceError::InvalidTransition { .. } | ServiceError::Conflict { .. } => {
            StatusCode::CONFLICT
        }
        ServiceError::Forbidden { .. } => StatusCode::FORBIDDEN,
        ServiceError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Chain(_) => StatusCode::BAD_GATEWAY,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = status_of(&e);
        ApiError {
            status,
            body: json!({"error": e.to_string(), "code": e.code(), "details": e.details()}),
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(1),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body)).into_response();
        // The rest of an oversized body is never read: the connection cannot carry another
        // request, and the client must not reuse it.
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A refusal of the request's own form (its body or query string), as invalid input — or 413
/// when the body is over the limit.
fn malformed(status: StatusCode, field: &str, message: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "PAYLOAD_TOO_LARGE", message);
    }
    ApiError::from(ServiceError::field(field, message))
}

/// A JSON request body, read into `T`; refused in the API's error shape.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(malformed(e.status(), "body", e.body_text())),
        }
    }
}

/// A query string, read into `T`; refused in the API's error shape.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(malformed(e.status(), "query", e.body_text())),
        }
    }
}

/// The caller, as the gate authenticated it (a request extension every `/v1` handler reads).
#[derive(Clone)]
pub struct Caller(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "request reached a handler without passing the gate",
            )
        })
    }
}

/// The bearer token of a request, if it has one.
fn bearer(h: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = h.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or_default().trim();
    match v.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(ServiceError::Unauthenticated(
            "the Authorization header must be `Bearer <API key>`".into(),
        )
        .into()),
    }
}

/// Client addresses held back after too many failed sign-ins, until when.
#[derive(Default)]
pub struct Blocked(std::sync::Mutex<std::collections::HashMap<IpAddr, Instant>>);

impl Blocked {
    /// How long `ip` must still wait, if it must.
    fn wait(&self, ip: IpAddr) -> Option<Duration> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let until = *m.get(&ip)?;
        let now = Instant::now();
        if until > now {
            Some(until - now)
        } else {
            m.remove(&ip);
            None
        }
    }

    fn hold(&self, ip: IpAddr, wait: Duration) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 100_000 {
            let now = Instant::now();
            m.retain(|_, t| *t > now);
        }
        m.insert(ip, Instant::now() + wait);
    }
}

fn too_many(what: &str, wait: Duration) -> ApiError {
    let secs = wait.as_secs_f64().ceil() as u64;
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        format!("{what}: try again in {} s", secs.max(1)),
    )
    .retry_after(secs)
}

/// The gate of every `/v1` request: the operation id, the client's failed sign-ins, the key
/// checked against the store now, the key's request rate, the timeout.
pub async fn gate(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let op_id = crate::service::new_op_id();
    let client = peer.ip();
    let work = async {
        if let Some(wait) = app.blocked.wait(client) {
            return Err(too_many("too many failed sign-ins from this address", wait));
        }
        let token = bearer(req.headers())?;
        let actor = match app.svc.authenticate(token.as_deref()).await {
            Ok(a) => a,
            Err(e) => {
                // The service's words name the CLI's flags; a caller here sends a header.
                let e = match (e, &token) {
                    (ServiceError::Unauthenticated(_), None) => ServiceError::Unauthenticated(
                        "an API key is required: send `Authorization: Bearer <key>`".into(),
                    ),
                    (e, _) => e,
                };
                if matches!(e, ServiceError::Unauthenticated(_))
                    && let Err(not_until) = app.failures.check_key(&client)
                {
                    let wait = not_until.wait_time_from(governor::clock::Clock::now(
                        &governor::clock::DefaultClock::default(),
                    ));
                    app.blocked.hold(client, wait);
                }
                return Err(e.into());
            }
        };
        if let Some(limiter) = &app.per_key {
            let key = actor.key_id().unwrap_or("root").to_string();
            if let Err(not_until) = limiter.check_key(&key) {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                return Err(too_many("this key's request rate is over its limit", wait));
            }
        }
        req.extensions_mut().insert(Caller(actor));
        // An import reads and loads a whole store: it is bounded by its size, not the timeout.
        let bound = if req.uri().path().ends_with("/import") {
            std::time::Duration::from_secs(24 * 3600)
        } else {
            app.cfg.request_timeout
        };
        match tokio::time::timeout(bound, next.run(req)).await {
            Ok(r) => Ok(r),
            Err(_) => Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                format!(
                    "the request took longer than {} ms",
                    app.cfg.request_timeout.as_millis()
                ),
            )),
        }
    };
    let mut r = crate::service::in_request(op_id.clone(), Some(client.to_string()), work)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if let Ok(v) = HeaderValue::from_str(&op_id) {
        r.headers_mut().insert(OP_ID_HEADER, v);
    }
    r
}

/// Times every request under its route (`GET /v1/positions/:id`), its errors by status.
pub async fn timed(
    State(app): State<Arc<App>>,
    matched: Option<axum::extract::MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    // Path parameters as `:id`, not `{id}`: braces inside a label value trip some scrapers'
    // parsers.
    let route = format!(
        "{} {}",
        req.method(),
        matched
            .as_ref()
            .map_or("unmatched", |m| m.as_str())
            .replace('{', ":")
            .replace('}', "")
    );
    let t0 = Instant::now();
    let r = next.run(req).await;
    let status = r.status();
    let code = (status.is_client_error() || status.is_server_error()).then(|| status.as_str());
    app.http.record(&route, t0.elapsed(), code);
    tracing::debug!(
        route,
        status = status.as_u16(),
        ms = t0.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    r
}

/// The most of an oversized body the server reads, and throws away, before it answers 413: a
/// client still writing its body would otherwise see its connection broken (a broken pipe, no
/// status) instead of the answer. Bodies larger than this are answered at once.
const DRAIN_AT_MOST: u64 = 16 << 20;
/// How long the server goes on reading an oversized body before it answers anyway.
const DRAIN_FOR: Duration = Duration::from_secs(10);

/// A body declared larger than `serve.max_body_bytes` is refused before any handler runs, with
/// 413 in the error shape — after reading it (up to `DRAIN_AT_MOST`) so that the client
/// receives the answer. The import streams its own, larger body and is left to its handler.
pub async fn oversized(
    State(app): State<Arc<App>>,
    matched: Option<axum::extract::MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    use futures::StreamExt;
    let limit = app.cfg.max_body_bytes as u64;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(len) = declared.filter(|&n| n > limit) else {
        return next.run(req).await;
    };
    if matched.is_some_and(|m| m.as_str() == "/v1/import") {
        return next.run(req).await;
    }
    let refusal = ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!(
            "the request body is {len} bytes; this server takes at most {limit} \
             (serve.max_body_bytes)"
        ),
    );
    if len <= DRAIN_AT_MOST {
        let mut body = req.into_body().into_data_stream();
        let drained = async { while let Some(Ok(_)) = body.next().await {} };
        let _ = tokio::time::timeout(DRAIN_FOR, drained).await;
    }
    refusal.into_response()
}
