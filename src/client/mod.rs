//! A client of `escrowgrid serve` (`--server URL`): the service's operations over HTTPS with an
//! API key, answered with the same types and errors as in process — so the CLI needs no database
//! URL and no database credentials. Each error body (`{error, code, details}`) becomes the
//! `ServiceError` it was made from, with the same message and exit status.

mod sse;

use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::error::FieldError;
use crate::domain::ledger::LedgerEvent;
use crate::domain::{Asset, AssetTemplate, Institution, InstitutionPolicy, Position};
use crate::service::api::Api;
use crate::service::backup::{BackupSummary, ExportFile, ExportTrailer};
use crate::service::health::HealthReport;
use crate::service::paging::Paged;
use crate::service::stream::{StreamFilter, Subscription};
use crate::service::{
    Actor, AuditQuery, CheckReport, CreatedKey, EventDetail, Finding, InstitutionDetail,
    InstitutionSummary, LedgerQuery, NewAsset, NewInstitution, NewPosition, NewTemplate, Page,
    PolicyInput, PositionDetail, PositionFilter, PositionQuery, PositionSortKey, RevokeOutcome,
    Service, ServiceError, ServiceResult, TransitionOutcome, TransitionRequest, VerifyReport,
};
use crate::witness::{StoreKey, Witnessed};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

/// How long one request may take before the client gives up (the server's own bound is 30 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Remote {
    base: String,
    http: reqwest::Client,
    /// The keys requests present, by the actor they sign in as.
    token: std::sync::RwLock<Tokens>,
}

/// The keys a client holds: the configured one, and each that signed in (a console's sign-in, a
/// test's several keys), so a call made as an actor presents that actor's key.
#[derive(Default)]
struct Tokens {
    default: Option<String>,
    root: Option<String>,
    keys: std::collections::HashMap<String, String>,
}

impl Remote {
    /// A client of the server at `url` (`https://…`; `http://` only to a loopback address),
    /// trusting the public web CAs and `ca_cert` (PEM), presenting `token`.
    pub fn new(
        url: &str,
        ca_cert: Option<&std::path::Path>,
        token: Option<String>,
    ) -> ServiceResult<Self> {
        let parsed = url::Url::parse(url.trim())
            .map_err(|e| ServiceError::field("server", format!("'{url}' is not a URL: {e}")))?;
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            None => false,
        };
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(ServiceError::field(
                    "server",
                    format!(
                        "{url}: an API key must not cross the network in the clear; use https://"
                    ),
                ));
            }
            other => {
                return Err(ServiceError::field(
                    "server",
                    format!("{url}: the scheme must be https (not {other})"),
                ));
            }
        }
        let mut b = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("escrowgrid/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_cert {
            let pem = crate::files::read_capped(path, 1 << 20).map_err(|e| {
                ServiceError::field("ca-cert", format!("cannot read {}: {e}", path.display()))
            })?;
            let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                ServiceError::field(
                    "ca-cert",
                    format!("{} is not a PEM certificate: {e}", path.display()),
                )
            })?;
            b = b.add_root_certificate(cert);
        }
        let http = b
            .build()
            .map_err(|e| ServiceError::Internal(format!("cannot make an HTTP client: {e}")))?;
        Ok(Remote {
            base: parsed.as_str().trim_end_matches('/').to_string(),
            http,
            token: std::sync::RwLock::new(Tokens {
                default: token,
                ..Default::default()
            }),
        })
    }

    /// The key `actor` signed in with (root and the local operator: the configured key).
    fn token(&self, actor: &Actor) -> Option<String> {
        let t = self.token.read().unwrap_or_else(|e| e.into_inner());
        match actor {
            Actor::Key { key_id, .. } => t.keys.get(key_id).cloned(),
            _ => t.root.clone(),
        }
        .or_else(|| t.default.clone())
    }

    fn request(&self, actor: &Actor, method: Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match self.token(actor) {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends a request and reads its answer as `T`, or its error body as the service error.
    async fn send<T: DeserializeOwned>(&self, r: reqwest::RequestBuilder) -> ServiceResult<T> {
        let resp = r.send().await.map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(unreadable);
        }
        Err(error_of(
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        a: &Actor,
        path: &str,
        query: &[(&str, String)],
    ) -> ServiceResult<T> {
        self.send(self.request(a, Method::GET, path).query(query))
            .await
    }

    async fn post<B: Serialize + Sync, T: DeserializeOwned>(
        &self,
        a: &Actor,
        method: Method,
        path: &str,
        body: &B,
    ) -> ServiceResult<T> {
        self.send(self.request(a, method, path).json(body)).await
    }

    fn unreachable(&self, e: reqwest::Error) -> ServiceError {
        let mut why = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            why = format!("{why}: {s}");
            src = s.source();
        }
        ServiceError::Unavailable(format!("cannot reach the server {}: {why}", self.base))
    }
}

/// An answer of the server's that is not what its route documents.
fn unreadable(e: serde_json::Error) -> ServiceError {
    ServiceError::Internal(format!("the server's answer could not be read: {e}"))
}

/// The `NotFound` names the service uses (its `what` is static).
const RESOURCES: &[&str] = &[
    "institution",
    "template",
    "asset",
    "position",
    "API key",
    "audit record",
    "ledger event",
    "anchor",
];

/// The service error an error body describes.
pub fn error_of(status: StatusCode, body: Value) -> ServiceError {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let message = text("error");
    let d = &body["details"];
    fn parsed<T: DeserializeOwned>(v: &Value) -> Option<T> {
        serde_json::from_value(v.clone()).ok()
    }
    let message_or_status = || {
        if message.is_empty() {
            format!("the server answered {status}")
        } else {
            message.clone()
        }
    };
    match text("code").as_str() {
        "VALIDATION_FAILED" => match parsed(&d["fields"]) {
            Some(fields) => ServiceError::Validation(fields),
            None => ServiceError::Validation(vec![FieldError::new("request", message_or_status())]),
        },
        "NOT_FOUND" => {
            let what = d["resource"].as_str().unwrap_or_default();
            match (RESOURCES.iter().find(|r| **r == what), d["id"].as_str()) {
                (Some(what), Some(id)) => ServiceError::NotFound {
                    what,
                    id: id.to_string(),
                },
                _ => ServiceError::Validation(vec![FieldError::new("route", message_or_status())]),
            }
        }
        "INVALID_TRANSITION" => match (parsed(&d["fromState"]), parsed(&d["toState"])) {
            (Some(from), Some(to)) => ServiceError::InvalidTransition { from, to },
            _ => ServiceError::Internal(message_or_status()),
        },
        "CONCURRENCY_CONFLICT" => match (d["id"].as_str(), parsed(&d["expectedState"])) {
            (Some(id), Some(expected)) => ServiceError::Conflict {
                id: id.to_string(),
                expected,
                current: parsed(&d["position"]).map(Box::new),
            },
            _ => ServiceError::Internal(message_or_status()),
        },
        "FORBIDDEN" => ServiceError::Forbidden {
            role: d["role"].as_str().unwrap_or_default().to_string(),
            action: d["action"].as_str().unwrap_or_default().to_string(),
        },
        "UNAUTHENTICATED" => ServiceError::Unauthenticated(message_or_status()),
        "STORE_UNAVAILABLE" => ServiceError::Unavailable(
            message
                .strip_prefix("store unavailable: ")
                .unwrap_or(&message)
                .to_string(),
        ),
        "CHAIN_ERROR" => ServiceError::Chain(
            message
                .strip_prefix("chain: ")
                .unwrap_or(&message)
                .to_string(),
        ),
        "PAYLOAD_TOO_LARGE" => ServiceError::field("body", message_or_status()),
        "RATE_LIMITED" | "TIMEOUT" => {
            ServiceError::Unavailable(format!("the server: {}", message_or_status()))
        }
        _ => ServiceError::Internal(message_or_status()),
    }
}

fn opt(k: &'static str, v: Option<String>) -> Option<(&'static str, String)> {
    v.map(|v| (k, v))
}

fn page_query(p: &Page, extra: Vec<Option<(&'static str, String)>>) -> Vec<(&'static str, String)> {
    let mut q = vec![("limit", p.limit.to_string())];
    q.extend(p.after.clone().map(|a| ("after", a)));
    q.extend(extra.into_iter().flatten());
    q
}

/// A position filter as the list's query parameters.
fn filter_query(f: PositionFilter) -> Vec<Option<(&'static str, String)>> {
    vec![
        opt("institutionId", f.institution_id),
        opt("assetId", f.asset_id),
        opt("templateId", f.template_id),
        opt("state", f.state.map(|s| s.to_string())),
        opt("holderReference", f.holder_reference),
        opt("search", f.text),
    ]
}

fn not_through_a_server(what: &str) -> ServiceError {
    ServiceError::field(
        "server",
        format!("{what} is not available through a server yet: run it where the database is"),
    )
}

#[async_trait::async_trait]
impl Api for Remote {
    fn requires_key(&self) -> bool {
        true
    }

    fn subscribe(&self, actor: &Actor, after: i64, filter: StreamFilter) -> Subscription {
        sse::subscribe(
            self.http.clone(),
            format!("{}/v1/ledger/stream", self.base),
            self.token(actor),
            after,
            filter,
        )
    }

    fn local(&self) -> Option<&Service> {
        None
    }

    fn target(&self) -> String {
        self.base.clone()
    }

    /// Who the key is, as the server sees it: a request every key may make, answered with the
    /// caller's role and institution.
    async fn authenticate(&self, token: Option<&str>) -> ServiceResult<Actor> {
        let Some(token) = token
            .map(str::to_string)
            .or_else(|| self.token(&Actor::Root))
        else {
            return Err(ServiceError::Unauthenticated(
                "a server needs an API key: pass --api-key, set ESCROWGRID_API_KEY, or set api_key in the config file".into(),
            ));
        };
        let r = self
            .http
            .get(format!("{}/v1/whoami", self.base))
            .bearer_auth(&token);
        let me: Value = self.send(r).await?;
        let actor: Actor = serde_json::from_value(me["actor"].clone()).map_err(unreadable)?;
        // Later calls as this actor present this key.
        let mut t = self.token.write().unwrap_or_else(|e| e.into_inner());
        match &actor {
            Actor::Key { key_id, .. } => {
                t.keys.insert(key_id.clone(), token.clone());
            }
            _ => t.root = Some(token.clone()),
        }
        t.default.get_or_insert(token);
        Ok(actor)
    }

    async fn create_institution(
        &self,
        a: &Actor,
        input: NewInstitution,
    ) -> ServiceResult<Institution> {
        self.post(a, Method::POST, "/v1/institutions", &input).await
    }

    async fn list_institutions(&self, a: &Actor, page: Page) -> ServiceResult<Vec<Institution>> {
        let p: Paged<Institution> = self
            .get(a, "/v1/institutions", &page_query(&page, vec![]))
            .await?;
        Ok(p.data)
    }

    async fn get_institution(&self, a: &Actor, id: &str) -> ServiceResult<Institution> {
        self.get(a, &format!("/v1/institutions/{}", seg(id)), &[])
            .await
    }

    async fn get_position(&self, a: &Actor, id: &str) -> ServiceResult<Position> {
        self.get(a, &format!("/v1/positions/{}", seg(id)), &[])
            .await
    }

    async fn counts(&self, a: &Actor) -> ServiceResult<crate::store::Counts> {
        self.get(a, "/v1/counts", &[]).await
    }

    async fn institution_detail(&self, a: &Actor, id: &str) -> ServiceResult<InstitutionDetail> {
        let v: Value = self
            .get(a, &format!("/v1/institutions/{}", seg(id)), &[])
            .await?;
        fn read<T: DeserializeOwned + Default>(v: &Value, k: &str) -> T {
            serde_json::from_value(v[k].clone()).unwrap_or_default()
        }
        let institution: Institution = serde_json::from_value(v.clone()).map_err(unreadable)?;
        let templates: Vec<AssetTemplate> = read(&v, "templates");
        let assets: Vec<Asset> = read(&v, "assets");
        Ok(InstitutionDetail {
            summary: InstitutionSummary {
                institution: Some(institution.clone()),
                templates: templates.len() as i64,
                assets: assets.len() as i64,
                positions: v["positionCount"].as_i64().unwrap_or(0),
            },
            institution,
            policies: read(&v, "policies"),
            templates,
            assets,
            keys: v
                .get("keys")
                .and_then(|k| serde_json::from_value(k.clone()).ok()),
        })
    }

    async fn create_template(&self, a: &Actor, input: NewTemplate) -> ServiceResult<AssetTemplate> {
        self.post(a, Method::POST, "/v1/templates", &input).await
    }

    async fn list_templates(
        &self,
        a: &Actor,
        institution_id: Option<String>,
        page: Page,
    ) -> ServiceResult<Vec<AssetTemplate>> {
        let q = page_query(&page, vec![opt("institutionId", institution_id)]);
        let p: Paged<AssetTemplate> = self.get(a, "/v1/templates", &q).await?;
        Ok(p.data)
    }

    async fn get_template(&self, a: &Actor, id: &str) -> ServiceResult<AssetTemplate> {
        self.get(a, &format!("/v1/templates/{}", seg(id)), &[])
            .await
    }

    async fn create_asset(&self, a: &Actor, input: NewAsset) -> ServiceResult<Asset> {
        self.post(a, Method::POST, "/v1/assets", &input).await
    }

    async fn list_assets(
        &self,
        a: &Actor,
        institution_id: Option<String>,
        template_id: Option<String>,
        page: Page,
    ) -> ServiceResult<Vec<Asset>> {
        let q = page_query(
            &page,
            vec![
                opt("institutionId", institution_id),
                opt("templateId", template_id),
            ],
        );
        let p: Paged<Asset> = self.get(a, "/v1/assets", &q).await?;
        Ok(p.data)
    }

    async fn get_asset(&self, a: &Actor, id: &str) -> ServiceResult<Asset> {
        self.get(a, &format!("/v1/assets/{}", seg(id)), &[]).await
    }

    async fn create_position(&self, a: &Actor, input: NewPosition) -> ServiceResult<Position> {
        self.post(a, Method::POST, "/v1/positions", &input).await
    }

    async fn list_positions(&self, a: &Actor, q: PositionQuery) -> ServiceResult<Vec<Position>> {
        let (after, after_value) = match q.cursor {
            Some(c) => (Some(c.id), Some(c.value).filter(|v| !v.is_empty())),
            None => (None, None),
        };
        let page = Page {
            after,
            limit: q.limit,
        };
        let mut extra = filter_query(q.filter);
        extra.push(opt("afterValue", after_value));
        if q.sort != PositionSortKey::Created {
            extra.push(Some(("sort", q.sort.as_str().to_string())));
        }
        extra.push(q.descending.then(|| ("descending", "true".to_string())));
        extra.push(q.backwards.then(|| ("backwards", "true".to_string())));
        let p: Paged<Position> = self
            .get(a, "/v1/positions", &page_query(&page, extra))
            .await?;
        Ok(p.data)
    }

    async fn count_positions(&self, a: &Actor, f: PositionFilter) -> ServiceResult<i64> {
        let q: Vec<(&str, String)> = filter_query(f).into_iter().flatten().collect();
        let v: Value = self.get(a, "/v1/positions/count", &q).await?;
        v["count"].as_i64().ok_or_else(|| {
            ServiceError::Internal("the server's answer could not be read: no count".into())
        })
    }

    async fn institution_summary(&self, a: &Actor, id: &str) -> ServiceResult<InstitutionSummary> {
        self.get(a, &format!("/v1/institutions/{}/summary", seg(id)), &[])
            .await
    }

    async fn verify_slice(
        &self,
        a: &Actor,
        from: Option<(i64, String)>,
        max: Option<u64>,
    ) -> ServiceResult<VerifyReport> {
        let mut q = Vec::new();
        if let Some((seq, hash)) = from {
            q.push(("fromSeq", seq.to_string()));
            q.push(("fromHash", hash));
        }
        // Without a bound the server would verify both chains: ask for the ledger's alone.
        q.push(("max", max.unwrap_or(u64::MAX / 2).to_string()));
        self.get(a, "/v1/ledger/verify", &q).await
    }

    async fn position_detail(&self, a: &Actor, id: &str) -> ServiceResult<PositionDetail> {
        self.get(a, &format!("/v1/positions/{}", seg(id)), &[])
            .await
    }

    async fn transition_position(
        &self,
        a: &Actor,
        id: &str,
        req: TransitionRequest,
    ) -> ServiceResult<TransitionOutcome> {
        self.post(
            a,
            Method::POST,
            &format!("/v1/positions/{}/transition", seg(id)),
            &req,
        )
        .await
    }

    async fn set_policy(&self, a: &Actor, input: PolicyInput) -> ServiceResult<InstitutionPolicy> {
        self.post(a, Method::PUT, "/v1/policies", &input).await
    }

    async fn get_policy(
        &self,
        a: &Actor,
        institution_id: &str,
        region: crate::domain::Region,
    ) -> ServiceResult<Option<InstitutionPolicy>> {
        let all = self
            .list_policies(a, Some(institution_id.to_string()))
            .await?;
        Ok(all.into_iter().find(|p| p.region == region))
    }

    async fn list_policies(
        &self,
        a: &Actor,
        institution_id: Option<String>,
    ) -> ServiceResult<Vec<InstitutionPolicy>> {
        self.all(a, "/v1/policies", institution_id).await
    }

    async fn create_api_key(
        &self,
        a: &Actor,
        institution_id: Option<String>,
        label: String,
        role: String,
    ) -> ServiceResult<CreatedKey> {
        let body = json!({"institutionId": institution_id, "label": label, "role": role});
        self.post(a, Method::POST, "/v1/api-keys", &body).await
    }

    async fn list_api_keys(
        &self,
        a: &Actor,
        institution_id: Option<String>,
    ) -> ServiceResult<Vec<ApiKey>> {
        self.all(a, "/v1/api-keys", institution_id).await
    }

    async fn revoke_api_key(&self, a: &Actor, key_id: &str) -> ServiceResult<RevokeOutcome> {
        self.post(
            a,
            Method::POST,
            &format!("/v1/api-keys/{}/revoke", seg(key_id)),
            &json!({}),
        )
        .await
    }

    async fn ledger(&self, a: &Actor, q: LedgerQuery) -> ServiceResult<Vec<LedgerEvent>> {
        let mut query = vec![
            ("limit", q.limit.to_string()),
            ("after", q.after_seq.to_string()),
        ];
        query.extend(q.before_seq.map(|b| ("before", b.to_string())));
        query.extend(q.position_id.map(|p| ("positionId", p)));
        query.extend(q.kind.map(|k| ("kind", k.to_string())));
        if q.newest_first {
            query.push(("newestFirst", "true".into()));
        }
        query.extend(q.since.map(|t| ("since", crate::domain::time::format(&t))));
        query.extend(q.text.map(|t| ("text", t)));
        query.extend(q.institution_id.map(|i| ("institutionId", i)));
        let p: Data<LedgerEvent> = self.get(a, "/v1/ledger", &query).await?;
        Ok(p.data)
    }

    async fn ledger_event(&self, a: &Actor, seq: i64) -> ServiceResult<EventDetail> {
        self.get(a, &format!("/v1/ledger/{seq}"), &[]).await
    }

    async fn ledger_head_seq(&self, a: &Actor) -> ServiceResult<i64> {
        let q = LedgerQuery {
            newest_first: true,
            limit: 1,
            ..Default::default()
        };
        Ok(self.ledger(a, q).await?.first().map_or(0, |e| e.seq))
    }

    async fn verify_ledger(&self, a: &Actor) -> ServiceResult<VerifyReport> {
        self.get(a, "/v1/ledger/verify", &[]).await
    }

    async fn audit(&self, a: &Actor, q: AuditQuery) -> ServiceResult<Vec<AuditEvent>> {
        if q.unchained {
            return Err(not_through_a_server("the audit records outside the chain"));
        }
        let mut query = vec![("limit", q.limit.to_string())];
        query.extend(q.action.map(|a| ("action", a)));
        query.extend(q.outcome.map(|o| ("outcome", o.to_string())));
        query.extend(q.before.map(|b| ("before", b)));
        query.extend(q.institution_id.map(|i| ("institutionId", i)));
        query.extend(q.after.map(|a| ("after", a)));
        if q.oldest_first {
            query.push(("oldestFirst", "true".into()));
        }
        query.extend(q.id.map(|i| ("id", i)));
        query.extend(q.resource_id.map(|r| ("resourceId", r)));
        query.extend(q.after_seq.map(|s| ("afterSeq", s.to_string())));
        query.extend(q.text.map(|t| ("text", t)));
        let p: Data<AuditEvent> = self.get(a, "/v1/audit", &query).await?;
        Ok(p.data)
    }

    async fn check(&self, a: &Actor) -> ServiceResult<CheckReport> {
        self.get(a, "/v1/check", &[]).await
    }

    /// The server's store as the server reports it, with the server's readiness.
    async fn health(&self, a: &Actor) -> HealthReport {
        let mut h = match self.get::<HealthReport>(a, "/v1/health", &[]).await {
            Ok(h) => h,
            Err(e) => HealthReport::unreachable("server", self.base.clone(), e.to_string()),
        };
        let ready = self
            .http
            .get(format!("{}/ready", self.base))
            .send()
            .await
            .map_err(|e| self.unreachable(e));
        h.server = Some(match ready {
            Ok(r) => {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                crate::service::health::ServerReadiness {
                    url: self.base.clone(),
                    ready: v["ready"] == true,
                    reasons: serde_json::from_value(v["reasons"].clone()).unwrap_or_default(),
                    chain_verified_seq: v["chain"]["headSeq"].as_i64(),
                }
            }
            Err(e) => crate::service::health::ServerReadiness {
                url: self.base.clone(),
                ready: false,
                reasons: vec![e.to_string()],
                chain_verified_seq: None,
            },
        });
        h
    }

    async fn authorize_export(&self, _: &Actor) -> ServiceResult<()> {
        // The server checks the caller's rights before it sends a line.
        Ok(())
    }

    /// The server's export, as it streams, into `out`.
    async fn export_to_writer(
        &self,
        a: &Actor,
        out: &mut (dyn std::io::Write + Send),
        what: &str,
    ) -> ServiceResult<BackupSummary> {
        let mut resp = self.export_response(a).await?;
        let cannot =
            |e: std::io::Error| ServiceError::field("file", format!("cannot write {what}: {e}"));
        let mut tail = LastLine::default();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(e))? {
            out.write_all(&chunk).map_err(cannot)?;
            tail.feed(&chunk);
        }
        out.flush().map_err(cannot)?;
        tail.summary(&self.base, what)
    }

    /// The export in `path` sent to the server, which imports it into its (empty) store.
    async fn import_file(
        &self,
        a: &Actor,
        path: &std::path::Path,
        opts: crate::service::backup::ImportOptions,
    ) -> ServiceResult<BackupSummary> {
        let file = crate::files::open_regular(path).map_err(|e| {
            ServiceError::field("file", format!("cannot read {}: {e}", path.display()))
        })?;
        let file = tokio::fs::File::from_std(file);
        let chunks = futures::stream::unfold(file, |mut f| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 64 * 1024];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(buf), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        });
        let mut q = Vec::new();
        if opts.legacy {
            q.push(("legacy", "true".to_string()));
        }
        let r = self
            .request(a, Method::POST, "/v1/import")
            .query(&q)
            .timeout(Duration::from_secs(24 * 3600))
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(reqwest::Body::wrap_stream(chunks));
        self.send(r).await
    }

    /// The server's export, streamed into `path` as the in-process export writes it (beside the
    /// target, renamed into place only when whole and its trailer read).
    async fn export_file(
        &self,
        a: &Actor,
        path: &std::path::Path,
        force: bool,
    ) -> ServiceResult<BackupSummary> {
        use std::io::Write;
        let mut resp = self.export_response(a).await?;
        let mut file = ExportFile::create(path, force)?;
        let shown = file.shown.clone();
        let cannot =
            |e: std::io::Error| ServiceError::field("file", format!("cannot write {shown}: {e}"));
        let mut tail = LastLine::default();
        {
            let mut out = std::io::BufWriter::new(file.tmp.as_file_mut());
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(e))? {
                out.write_all(&chunk).map_err(cannot)?;
                tail.feed(&chunk);
            }
            out.flush().map_err(cannot)?;
        }
        // Nothing replaces the target unless the export came whole.
        let s = tail.summary(&self.base, &shown)?;
        file.commit()?;
        Ok(s)
    }

    async fn migrations(
        &self,
    ) -> ServiceResult<(
        crate::store::Backend,
        Option<crate::store::schema::SchemaStatus>,
    )> {
        let (backend, v) = self.schema_answer().await?;
        Ok((backend, serde_json::from_value(v["status"].clone()).ok()))
    }

    async fn schema(&self) -> ServiceResult<(crate::store::Backend, Option<i64>)> {
        let (backend, v) = self.schema_answer().await?;
        Ok((backend, v["schemaVersion"].as_i64()))
    }

    /// A server's store is witnessed on the server's host, not by its clients.
    async fn store_key(&self) -> ServiceResult<Option<StoreKey>> {
        Ok(None)
    }

    async fn compare_witnessed(
        &self,
        _: &Actor,
        witnessed: &[Witnessed],
    ) -> ServiceResult<Vec<Finding>> {
        if witnessed.is_empty() {
            Ok(Vec::new())
        } else {
            Err(not_through_a_server("comparing witness files"))
        }
    }
}

impl Remote {
    /// `GET /v1/migrations`: the server's backend, and the whole answer.
    async fn schema_answer(&self) -> ServiceResult<(crate::store::Backend, Value)> {
        let v: Value = self.get(&Actor::Root, "/v1/migrations", &[]).await?;
        Ok((
            serde_json::from_value(v["backend"].clone()).map_err(unreadable)?,
            v,
        ))
    }

    /// The export's response, its status checked.
    async fn export_response(&self, a: &Actor) -> ServiceResult<reqwest::Response> {
        let resp = self
            .request(a, Method::GET, "/v1/export")
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.json().await.unwrap_or(Value::Null);
        Err(error_of(status, body))
    }

    /// Every page of a short list (policies, API keys).
    async fn all<T: DeserializeOwned>(
        &self,
        a: &Actor,
        path: &str,
        institution_id: Option<String>,
    ) -> ServiceResult<Vec<T>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = vec![("limit", crate::service::paging::MAX_LIMIT.to_string())];
            q.extend(institution_id.clone().map(|i| ("institutionId", i)));
            q.extend(after.clone().map(|a| ("after", a)));
            let p: Paged<T> = self.get(a, path, &q).await?;
            out.extend(p.data);
            match p.pagination.next_after {
                Some(n) if p.pagination.has_more => after = Some(n),
                _ => return Ok(out),
            }
        }
    }
}

/// The last line of a streamed export, kept as it streams by: its trailer says what came.
#[derive(Default)]
struct LastLine(Vec<u8>);

impl LastLine {
    fn feed(&mut self, chunk: &[u8]) {
        self.0.extend_from_slice(chunk);
        // Keep what follows the last newline but one (the trailer ends with a newline).
        if let Some(i) = self.0[..self.0.len().saturating_sub(1)]
            .iter()
            .rposition(|b| *b == b'\n')
        {
            self.0.drain(..=i);
        }
    }

    fn summary(&self, server: &str, what: &str) -> ServiceResult<BackupSummary> {
        let t: ExportTrailer = serde_json::from_slice::<Value>(&self.0)
            .ok()
            .filter(|v| v["type"] == "trailer")
            .and_then(|v| serde_json::from_value(v["data"].clone()).ok())
            .ok_or_else(|| {
                ServiceError::Unavailable(format!(
                    "the export from {server} ended before its trailer: {what} is not a whole export"
                ))
            })?;
        Ok(BackupSummary {
            lines: t.lines,
            ledger_events: t.ledger_events,
            audit_records: t.audit_records,
            head_seq: t.head_seq,
            head_hash: t.head_hash,
            audit_head_seq: t.audit_head_seq,
            audit_head_hash: t.audit_head_hash,
            notes: Vec::new(),
        })
    }
}

/// A page's rows, whatever its cursor (the ledger's is a seq, the audit trail's `nextBefore`).
#[derive(serde::Deserialize)]
struct Data<T> {
    data: Vec<T>,
}

/// An id as one path segment (ids never need it, but a mistyped one must not become a path).
fn seg(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
