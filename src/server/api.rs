//! `/v1`: one route per service operation. Bodies are the CLI's `--json` shapes (the same
//! service types); lists are keyset pages, `{data, pagination}`.

use super::App;
use super::http::{ApiError, ApiResult, Body, Caller, Query};
use crate::domain::ids;
use crate::service::paging::{Paged, check_limit, cursor, page_after};
use crate::service::{
    AuditQuery, LedgerQuery, NewAsset, NewInstitution, NewPosition, NewTemplate, Page, PolicyInput,
    PositionCursor, PositionFilter, PositionQuery, PositionSortKey, ServiceError,
    TransitionRequest,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type S = State<Arc<App>>;

/// The default page size, as the CLI's.
const DEFAULT_LIMIT: u32 = 100;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQ {
    limit: Option<u32>,
    after: Option<String>,
    institution_id: Option<String>,
    template_id: Option<String>,
}

impl PageQ {
    fn limit(&self) -> Result<u32, ServiceError> {
        check_limit(self.limit.unwrap_or(DEFAULT_LIMIT))
    }
}

/// An RFC 3339 time from a query string.
fn parse_time(s: &str) -> Result<crate::domain::time::Timestamp, ServiceError> {
    crate::domain::time::parse(s).map_err(|e| {
        ServiceError::field(
            "since",
            format!(
                "'{}' is not an RFC 3339 time: {e}",
                crate::domain::text::sanitize(s)
            ),
        )
    })
}

fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn json_of(v: impl serde::Serialize) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|e| ServiceError::Internal(e.to_string()).into())
}

// ---- institutions, templates, assets ------------------------------------------------------------

#[utoipa::path(get, path = "/institutions", tag = "institutions", security(("bearer" = [])), params(PageQ), responses((status = 200, body = Paged<crate::domain::Institution>), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn list_institutions(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<PageQ>,
) -> ApiResult<Json<Paged<crate::domain::Institution>>> {
    let limit = q.limit()?;
    let after = cursor("after", q.after, ids::INSTITUTION, "an institution")?;
    let rows = app
        .svc
        .list_institutions(
            &a,
            Page {
                after,
                limit: limit + 1,
            },
        )
        .await?;
    Ok(Json(Paged::split(rows, limit, |i| i.id.clone())))
}

#[utoipa::path(post, path = "/institutions", tag = "institutions", security(("bearer" = [])), request_body = NewInstitution, responses((status = 201, body = crate::domain::Institution), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn create_institution(
    State(app): S,
    Caller(a): Caller,
    Body(input): Body<NewInstitution>,
) -> ApiResult<Response> {
    Ok(created(app.svc.create_institution(&a, input).await?))
}

/// An institution whole, as `institution show --json`, with its API keys where the caller may
/// see them.
#[utoipa::path(get, path = "/institutions/{id}", tag = "institutions", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, description = "the institution with its policies, templates, assets and positionCount", body = crate::domain::Institution), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn get_institution(
    State(app): S,
    Caller(a): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let d = app.svc.institution_detail(&a, &id).await?;
    let mut v = json_of(&d.institution)?;
    v["policies"] = json!(d.policies);
    v["templates"] = json!(d.templates);
    v["assets"] = json!(d.assets);
    v["positionCount"] = json!(d.summary.positions);
    // Its API keys, for a caller who may see them (not a read-only key).
    if let Some(keys) = d.keys {
        v["keys"] = json!(keys);
    }
    Ok(Json(v))
}

#[utoipa::path(get, path = "/templates", tag = "templates", security(("bearer" = [])), params(PageQ), responses((status = 200, body = Paged<crate::domain::AssetTemplate>), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn list_templates(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<PageQ>,
) -> ApiResult<Json<Paged<crate::domain::AssetTemplate>>> {
    let limit = q.limit()?;
    let after = cursor("after", q.after, ids::TEMPLATE, "a template")?;
    let rows = app
        .svc
        .list_templates(
            &a,
            q.institution_id,
            Page {
                after,
                limit: limit + 1,
            },
        )
        .await?;
    Ok(Json(Paged::split(rows, limit, |t| t.id.clone())))
}

#[utoipa::path(post, path = "/templates", tag = "templates", security(("bearer" = [])), request_body = NewTemplate, responses((status = 201, body = crate::domain::AssetTemplate), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn create_template(
    State(app): S,
    Caller(a): Caller,
    Body(input): Body<NewTemplate>,
) -> ApiResult<Response> {
    Ok(created(app.svc.create_template(&a, input).await?))
}

#[utoipa::path(get, path = "/templates/{id}", tag = "templates", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = crate::domain::AssetTemplate), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn get_template(
    State(app): S,
    Caller(a): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::domain::AssetTemplate>> {
    Ok(Json(app.svc.get_template(&a, &id).await?))
}

#[utoipa::path(get, path = "/assets", tag = "assets", security(("bearer" = [])), params(PageQ), responses((status = 200, body = Paged<crate::domain::Asset>), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn list_assets(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<PageQ>,
) -> ApiResult<Json<Paged<crate::domain::Asset>>> {
    let limit = q.limit()?;
    let after = cursor("after", q.after, ids::ASSET, "an asset")?;
    let rows = app
        .svc
        .list_assets(
            &a,
            q.institution_id,
            q.template_id,
            Page {
                after,
                limit: limit + 1,
            },
        )
        .await?;
    Ok(Json(Paged::split(rows, limit, |x| x.id.clone())))
}

#[utoipa::path(post, path = "/assets", tag = "assets", security(("bearer" = [])), request_body = NewAsset, responses((status = 201, body = crate::domain::Asset), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn create_asset(
    State(app): S,
    Caller(a): Caller,
    Body(input): Body<NewAsset>,
) -> ApiResult<Response> {
    Ok(created(app.svc.create_asset(&a, input).await?))
}

#[utoipa::path(get, path = "/assets/{id}", tag = "assets", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = crate::domain::Asset), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn get_asset(
    State(app): S,
    Caller(a): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::domain::Asset>> {
    Ok(Json(app.svc.get_asset(&a, &id).await?))
}

// ---- positions ----------------------------------------------------------------------------------

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PositionsQ {
    limit: Option<u32>,
    after: Option<String>,
    institution_id: Option<String>,
    asset_id: Option<String>,
    template_id: Option<String>,
    state: Option<String>,
    holder_reference: Option<String>,
    /// A substring of the id, holder or external reference.
    search: Option<String>,
    /// created (the default), updated, institution, asset, holder, amount, currency, state.
    sort: Option<String>,
    descending: Option<bool>,
    /// The `limit` rows before the cursor (the last page without one), still in display order;
    /// `pagination.nextAfter` is then the cursor of the page before.
    backwards: Option<bool>,
    /// With `after` under a sort other than created: the sort key's value of that row.
    after_value: Option<String>,
}

impl PositionsQ {
    /// The list's filter (the same for a page and for a count); takes its fields out.
    fn filter(&mut self) -> Result<PositionFilter, ServiceError> {
        Ok(PositionFilter {
            institution_id: self.institution_id.take(),
            asset_id: self.asset_id.take(),
            template_id: self.template_id.take(),
            state: self
                .state
                .take()
                .map(|s| crate::domain::PositionState::parse_field("state", &s))
                .transpose()?,
            holder_reference: self.holder_reference.take(),
            text: self.search.take(),
        })
    }
}

#[utoipa::path(get, path = "/positions", tag = "positions", security(("bearer" = [])), params(PositionsQ), responses((status = 200, body = Paged<crate::domain::Position>), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn list_positions(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<PositionsQ>,
) -> ApiResult<Json<Paged<crate::domain::Position>>> {
    let limit = check_limit(q.limit.unwrap_or(DEFAULT_LIMIT))?;
    let sort = match q.sort.as_deref() {
        None => PositionSortKey::Created,
        Some(s) => PositionSortKey::parse(s).ok_or_else(|| {
            ServiceError::field(
                "sort",
                format!(
                    "'{}' is not a sort key; expected one of {}",
                    crate::domain::text::sanitize(s),
                    PositionSortKey::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?,
    };
    let mut q = q;
    let filter = q.filter()?;
    let query = PositionQuery {
        filter,
        cursor: cursor("after", q.after, ids::POSITION, "a position")?.map(|id| PositionCursor {
            value: q.after_value.unwrap_or_default(),
            id,
        }),
        sort,
        descending: q.descending.unwrap_or(false),
        backwards: q.backwards.unwrap_or(false),
        limit: limit + 1,
    };
    let backwards = query.backwards;
    let mut rows = app.svc.list_positions(&a, query).await?;
    if !backwards {
        return Ok(Json(Paged::split(rows, limit, |p| p.id.clone())));
    }
    // Backwards, the probe row is the first: more come before this page, and the cursor that
    // goes on backwards is the page's first row.
    let more = rows.len() > limit as usize;
    if more {
        rows.remove(0);
    }
    let next = more.then(|| rows.first().map(|p| p.id.clone())).flatten();
    Ok(Json(Paged::new(rows, limit, next)))
}

#[utoipa::path(post, path = "/positions", tag = "positions", security(("bearer" = [])), request_body = NewPosition, responses((status = 201, body = crate::domain::Position), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn create_position(
    State(app): S,
    Caller(a): Caller,
    Body(input): Body<NewPosition>,
) -> ApiResult<Response> {
    Ok(created(app.svc.create_position(&a, input).await?))
}

/// A position with its lifecycle, as `position show --json`.
#[utoipa::path(get, path = "/positions/{id}", tag = "positions", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = crate::service::PositionDetail), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn get_position(
    State(app): S,
    Caller(a): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::service::PositionDetail>> {
    Ok(Json(app.svc.position_detail(&a, &id).await?))
}

/// A move through the lifecycle; a stale `expectState` / `expectVersion` is 409 with the
/// position as it is now (`details.position`).
#[utoipa::path(post, path = "/positions/{id}/transition", tag = "positions", security(("bearer" = [])), params(("id" = String, Path)), request_body = TransitionRequest, responses((status = 200, body = crate::service::TransitionOutcome), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn transition_position(
    State(app): S,
    Caller(a): Caller,
    Path(id): Path<String>,
    Body(input): Body<TransitionRequest>,
) -> ApiResult<Json<crate::service::TransitionOutcome>> {
    Ok(Json(app.svc.transition_position(&a, &id, input).await?))
}

// ---- policies and API keys ----------------------------------------------------------------------

#[utoipa::path(get, path = "/policies", tag = "policies", security(("bearer" = [])), params(PageQ), responses((status = 200, body = Paged<crate::domain::InstitutionPolicy>), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn list_policies(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<PageQ>,
) -> ApiResult<Json<Paged<crate::domain::InstitutionPolicy>>> {
    let limit = q.limit()?;
    let rows = app.svc.list_policies(&a, q.institution_id).await?;
    let (rows, next) = page_after(rows, q.after.as_deref(), limit, |p| &p.id)?;
    Ok(Json(Paged::new(rows, limit, next)))
}

#[utoipa::path(put, path = "/policies", tag = "policies", security(("bearer" = [])), request_body = PolicyInput, responses((status = 200, body = crate::domain::InstitutionPolicy), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn set_policy(
    State(app): S,
    Caller(a): Caller,
    Body(input): Body<PolicyInput>,
) -> ApiResult<Json<crate::domain::InstitutionPolicy>> {
    Ok(Json(app.svc.set_policy(&a, input).await?))
}

#[utoipa::path(get, path = "/api-keys", tag = "api keys", security(("bearer" = [])), params(PageQ), responses((status = 200, body = Paged<crate::domain::apikey::ApiKey>), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn list_api_keys(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<PageQ>,
) -> ApiResult<Json<Paged<crate::domain::apikey::ApiKey>>> {
    let limit = q.limit()?;
    let rows = app.svc.list_api_keys(&a, q.institution_id).await?;
    let (rows, next) = page_after(rows, q.after.as_deref(), limit, |k| &k.id)?;
    Ok(Json(Paged::new(rows, limit, next)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewKey {
    institution_id: Option<String>,
    label: String,
    role: String,
}

/// A new key; its token is in this answer only.
#[utoipa::path(post, path = "/api-keys", tag = "api keys", security(("bearer" = [])), request_body = NewKey, responses((status = 201, body = crate::service::CreatedKey), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn create_api_key(
    State(app): S,
    Caller(a): Caller,
    Body(k): Body<NewKey>,
) -> ApiResult<Response> {
    Ok(created(
        app.svc
            .create_api_key(&a, k.institution_id, k.label, k.role)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api-keys/{id}/revoke", tag = "api keys", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = crate::service::RevokeOutcome), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn revoke_api_key(
    State(app): S,
    Caller(a): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::service::RevokeOutcome>> {
    Ok(Json(app.svc.revoke_api_key(&a, &id).await?))
}

/// Who the key is: its role and institution (a client's sign-in).
#[utoipa::path(get, path = "/whoami", tag = "meta", security(("bearer" = [])), responses((status = 200, description = "`{actor: {kind, keyId, institutionId, role, label}}`", body = Object), (status = "4XX", body = super::http::ErrorBody)))]
pub async fn whoami(Caller(a): Caller) -> Json<Value> {
    Json(json!({"actor": a, "describe": a.describe()}))
}

// ---- ledger, audit, check, health ---------------------------------------------------------------

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerQ {
    limit: Option<u32>,
    /// Events after this seq.
    after: Option<i64>,
    position_id: Option<String>,
    kind: Option<String>,
    /// Events before this seq.
    before: Option<i64>,
    /// The newest first (for "the last N events").
    newest_first: Option<bool>,
    /// Events written at or after this time (RFC 3339).
    since: Option<String>,
    /// Events whose kind, ids or payload contain this text (ASCII case ignored).
    text: Option<String>,
    institution_id: Option<String>,
}

/// A page of the ledger by seq; `pagination.nextAfter` is the last seq.
#[utoipa::path(get, path = "/ledger", tag = "ledger", security(("bearer" = [])), params(LedgerQ), responses((status = 200, description = "a page of events; pagination.nextAfter is the last seq", body = Paged<crate::domain::ledger::LedgerEvent>), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn ledger(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<LedgerQ>,
) -> ApiResult<Json<Value>> {
    let limit = check_limit(q.limit.unwrap_or(DEFAULT_LIMIT))?;
    let kind = q
        .kind
        .map(|k| crate::domain::LedgerKind::parse_field("kind", &k))
        .transpose()
        .map_err(ServiceError::from)?;
    let since = q.since.as_deref().map(parse_time).transpose()?;
    let rows = app
        .svc
        .ledger(
            &a,
            LedgerQuery {
                after_seq: q.after.unwrap_or(0),
                before_seq: q.before,
                position_id: q.position_id,
                kind,
                newest_first: q.newest_first.unwrap_or(false),
                since,
                text: q.text,
                institution_id: q.institution_id,
                limit: limit + 1,
            },
        )
        .await?;
    let (rows, next) = crate::service::paging::split_page(rows, limit, |e| e.seq);
    Ok(Json(json!({
        "data": rows,
        "pagination": {"limit": limit, "hasMore": next.is_some(), "nextAfter": next},
    })))
}

/// One event whole, with the audit record of the action that wrote it.
#[utoipa::path(get, path = "/ledger/{seq}", tag = "ledger", security(("bearer" = [])), params(("seq" = i64, Path)), responses((status = 200, body = crate::service::EventDetail), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn ledger_event(
    State(app): S,
    Caller(a): Caller,
    Path(seq): Path<String>,
) -> ApiResult<Json<crate::service::EventDetail>> {
    let seq: i64 = seq
        .parse()
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| ServiceError::field("seq", "must be a whole number of at least 1"))?;
    Ok(Json(app.svc.ledger_event(&a, seq).await?))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyQ {
    /// Verify on from this seq, whose hash is `fromHash` (a head verified before).
    from_seq: Option<i64>,
    from_hash: Option<String>,
    /// Stop after this many events (`partial` says so).
    max: Option<u64>,
}

/// The whole chain verified from seq 1 (and the audit chain); with `fromSeq`/`fromHash` or
/// `max`, a slice of the ledger's chain only.
#[utoipa::path(get, path = "/ledger/verify", tag = "ledger", security(("bearer" = [])), params(VerifyQ), responses((status = 200, description = "the verification report (ok, headSeq, headHash, broken, audit)", body = Object), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn verify_ledger(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<VerifyQ>,
) -> ApiResult<Json<crate::service::VerifyReport>> {
    let from = match (q.from_seq, q.from_hash) {
        (Some(s), Some(h)) => Some((s, h)),
        (None, None) => None,
        _ => {
            return Err(ServiceError::field("fromSeq", "fromSeq and fromHash go together").into());
        }
    };
    if from.is_none() && q.max.is_none() {
        return Ok(Json(app.svc.verify_ledger(&a).await?));
    }
    Ok(Json(app.svc.verify_slice(&a, from, q.max).await?))
}

/// The schema beside the server's migrations (`migrate status --json`'s figures).
#[utoipa::path(get, path = "/migrations", tag = "health", security(("bearer" = [])), responses((status = 200, description = "`{backend, schemaVersion, status}`", body = Object), (status = "4XX", body = super::http::ErrorBody)))]
pub async fn migrations(State(app): S, _caller: Caller) -> ApiResult<Json<Value>> {
    let (backend, status) = app.svc.migrations().await?;
    let (_, version) = app.svc.schema().await?;
    Ok(Json(
        json!({"backend": backend, "schemaVersion": version, "status": status}),
    ))
}

/// Entities by kind, scoped to the caller's institution.
#[utoipa::path(get, path = "/counts", tag = "health", security(("bearer" = [])), responses((status = 200, body = Object), (status = "4XX", body = super::http::ErrorBody)))]
pub async fn counts(State(app): S, Caller(a): Caller) -> ApiResult<Json<crate::store::Counts>> {
    Ok(Json(app.svc.counts(&a).await?))
}

/// An institution's counts (templates, assets, positions), for the institutions table.
#[utoipa::path(get, path = "/institutions/{id}/summary", tag = "institutions", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = Object), (status = "4XX", body = super::http::ErrorBody)))]
pub async fn institution_summary(
    State(app): S,
    Caller(a): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::service::InstitutionSummary>> {
    Ok(Json(app.svc.institution_summary(&a, &id).await?))
}

/// How many positions match a filter (the list's own filters).
#[utoipa::path(get, path = "/positions/count", tag = "positions", security(("bearer" = [])), params(PositionsQ), responses((status = 200, description = "`{count}`", body = Object), (status = "4XX", body = super::http::ErrorBody)))]
pub async fn count_positions(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<PositionsQ>,
) -> ApiResult<Json<Value>> {
    let mut q = q;
    let f = q.filter()?;
    Ok(Json(
        json!({"count": app.svc.count_positions(&a, f).await?}),
    ))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQ {
    limit: Option<u32>,
    /// Records older than this id (newest first).
    before: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    institution_id: Option<String>,
    /// Records newer than this id, oldest first.
    after: Option<String>,
    oldest_first: Option<bool>,
    /// Only the record with this id.
    id: Option<String>,
    /// Only records about this resource.
    resource_id: Option<String>,
    /// Only records after this audit-chain seq.
    after_seq: Option<i64>,
    /// Records whose fields contain this text.
    text: Option<String>,
}

/// A page of the audit trail, newest first; `pagination.nextBefore` pages on.
#[utoipa::path(get, path = "/audit", tag = "audit", security(("bearer" = [])), params(AuditQ), responses((status = 200, description = "a page of records, newest first; pagination.nextBefore pages on", body = Paged<crate::domain::audit::AuditEvent>), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn audit(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<AuditQ>,
) -> ApiResult<Json<Value>> {
    let limit = check_limit(q.limit.unwrap_or(DEFAULT_LIMIT))?;
    let outcome = q
        .outcome
        .map(|o| crate::domain::Outcome::parse_field("outcome", &o))
        .transpose()
        .map_err(ServiceError::from)?;
    let rows = app
        .svc
        .audit(
            &a,
            AuditQuery {
                action: q.action.map(|x| x.trim().to_ascii_uppercase()),
                outcome,
                before: cursor("before", q.before, ids::AUDIT, "an audit record")?,
                after: cursor("after", q.after, ids::AUDIT, "an audit record")?,
                oldest_first: q.oldest_first.unwrap_or(false),
                id: q.id,
                resource_id: q.resource_id,
                after_seq: q.after_seq,
                text: q.text,
                institution_id: q.institution_id,
                limit: limit + 1,
                ..Default::default()
            },
        )
        .await?;
    let (rows, next) = crate::service::paging::split_page(rows, limit, |r| r.id.clone());
    Ok(Json(json!({
        "data": rows,
        "pagination": {"limit": limit, "hasMore": next.is_some(), "nextBefore": next},
    })))
}

#[utoipa::path(get, path = "/check", tag = "check", security(("bearer" = [])), responses((status = 200, description = "the consistency check's report (as `check --json`)", body = Object), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn check(
    State(app): S,
    Caller(a): Caller,
) -> ApiResult<Json<crate::service::CheckReport>> {
    Ok(Json(app.svc.check(&a).await?))
}

/// The store's health as the caller may see it (`health --json`).
#[utoipa::path(get, path = "/health", tag = "health", security(("bearer" = [])), responses((status = 200, description = "as `health --json`", body = Object), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn health(
    State(app): S,
    Caller(a): Caller,
) -> Json<crate::service::health::HealthReport> {
    Json(app.svc.health(&a).await)
}

/// The whole store as the export's JSON lines, streamed as it is read (root only).
#[utoipa::path(get, path = "/export", tag = "export", security(("bearer" = [])), responses((status = 200, description = "the export's JSON lines, ending with the trailer", content_type = "application/x-ndjson", body = String), (status = "4XX", body = super::http::ErrorBody), (status = "5XX", body = super::http::ErrorBody)))]
pub async fn export(State(app): S, Caller(a): Caller) -> ApiResult<Response> {
    app.svc.authorize_export(&a).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(16);
    let svc = app.svc.clone();
    tokio::spawn(async move {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        if let Err(e) = svc.export_to(&a, &mut out, "the HTTP response").await {
            // The body ends with an error: the client sees a truncated stream without the
            // trailer, which its import refuses.
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream(rx));
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQ {
    /// Accept an export of version 1 (no trailer).
    legacy: Option<bool>,
}

/// The largest export an import takes (the request body is spooled to a file first).
const MAX_IMPORT_BYTES: u64 = 64 << 30;

/// An export's JSON lines, as the request body, loaded into the empty store whole or not at all
/// (root only). The body is spooled to an owner-only file first: nothing is imported from a
/// body that did not arrive whole.
#[utoipa::path(post, path = "/import", tag = "export", security(("bearer" = [])), params(ImportQ), request_body(content = String, content_type = "application/x-ndjson", description = "an export"), responses((status = 200, description = "what was imported (as `import --json`)", body = Object), (status = "4XX", body = super::http::ErrorBody)))]
pub async fn import(
    State(app): S,
    Caller(a): Caller,
    Query(q): Query<ImportQ>,
    body: axum::body::Body,
) -> ApiResult<Json<crate::service::backup::BackupSummary>> {
    use futures::StreamExt;
    use std::io::Write;
    if !a.is_root() {
        // The service refuses it too (and records the refusal); the body is not read.
        let opts = crate::service::backup::ImportOptions::default();
        app.svc.import(&a, std::io::empty(), opts).await?;
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".escrowgrid-import-")
        .tempfile()
        .map_err(|e| ServiceError::Internal(format!("cannot spool the import: {e}")))?;
    let mut stream = body.into_data_stream();
    let mut n: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ServiceError::field("body", format!("the import did not arrive whole: {e}"))
        })?;
        n += chunk.len() as u64;
        if n > MAX_IMPORT_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("an import is at most {MAX_IMPORT_BYTES} bytes"),
            ));
        }
        tmp.write_all(&chunk)
            .map_err(|e| ServiceError::Internal(format!("cannot spool the import: {e}")))?;
    }
    tmp.flush()
        .map_err(|e| ServiceError::Internal(format!("cannot spool the import: {e}")))?;
    let opts = crate::service::backup::ImportOptions {
        legacy: q.legacy.unwrap_or(false),
    };
    Ok(Json(app.svc.import_file(&a, tmp.path(), opts).await?))
}

fn tokio_stream<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A `Write` into a bounded channel: a reader that does not read holds the export back rather
/// than letting it pile up in memory.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        let tx = self.tx.clone();
        tokio::task::block_in_place(|| tx.blocking_send(Ok(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Anything `/v1` does not answer.
pub async fn not_found(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!(
            "no such route: {} (GET /v1/openapi.json lists them)",
            crate::domain::text::sanitize(uri.path())
        ),
    )
}
