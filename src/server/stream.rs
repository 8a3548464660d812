//! `GET /v1/ledger/stream?after=SEQ`: the live ledger as Server-Sent Events. Each event's id is
//! its seq, so a client that reconnects with `Last-Event-ID` resumes with no gap and no
//! duplicate. Scoped to the key's institution; a heartbeat comment every 15 s; the stream ends
//! with an `end` event when the key is revoked (within a second: the service re-checks it) or
//! the server stops. A client that leaves an event unread for `stream_slow` (10 s) is
//! disconnected: what waits for it is bounded by the subscription's channel.

use super::App;
use super::http::{ApiResult, Caller, Query};
use crate::service::ServiceError;
use crate::service::stream::{StreamFilter, StreamItem, StreamStatus};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQ {
    after: Option<i64>,
    position_id: Option<String>,
    kind: Option<String>,
}

#[utoipa::path(get, path = "/ledger/stream", tag = "ledger", security(("bearer" = [])), params(StreamQ, ("Last-Event-ID" = Option<i64>, Header, description = "resume after this seq")), responses((status = 200, description = "Server-Sent Events: `ledger` (id = seq, data = the event), `status`, and a final `end`", content_type = "text/event-stream", body = String), (status = "4XX", body = super::http::ErrorBody)))]
pub async fn ledger_stream(
    State(app): State<Arc<App>>,
    Caller(actor): Caller,
    headers: HeaderMap,
    Query(q): Query<StreamQ>,
) -> ApiResult<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>> {
    // Last-Event-ID (a reconnect) wins over `after`.
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|s| *s >= 0)
                .ok_or_else(|| {
                    ServiceError::field("Last-Event-ID", "must be a ledger seq (a whole number)")
                })?,
        ),
    };
    let after = resume.or(q.after).unwrap_or(0);
    if after < 0 {
        return Err(ServiceError::field("after", "must be 0 or more").into());
    }
    let kind = q
        .kind
        .map(|k| crate::domain::LedgerKind::parse_field("kind", &k))
        .transpose()
        .map_err(ServiceError::from)?;
    // Refused at once (not as a stream that ends) when the caller may not read the ledger.
    app.svc.ledger_head_seq(&actor).await?;
    let mut sub = app.svc.subscribe(
        &actor,
        after,
        StreamFilter {
            position_id: q.position_id,
            kind,
        },
    );
    let stop = app.stop.clone();
    let slow = app.cfg.stream_slow;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                i = sub.next() => i,
                _ = stop.cancelled() => {
                    let end = Event::default().event("end").json_data(json!({
                        "reason": "the server is shutting down", "code": "SHUTTING_DOWN"
                    }));
                    if let Ok(e) = end {
                        let _ = tokio::time::timeout(slow, tx.send(e)).await;
                    }
                    return;
                }
            };
            let (event, last) = match item {
                None => return,
                Some(StreamItem::Event(e)) => (
                    Event::default()
                        .id(e.seq.to_string())
                        .event("ledger")
                        .json_data(&e),
                    false,
                ),
                Some(StreamItem::Status(s)) => {
                    let v = match s {
                        StreamStatus::Live => json!({"state": "live"}),
                        StreamStatus::Reconnecting(why) => {
                            json!({"state": "reconnecting", "reason": why})
                        }
                    };
                    (Event::default().event("status").json_data(v), false)
                }
                Some(StreamItem::Ended(e)) => (
                    Event::default().event("end").json_data(json!({
                        "reason": e.to_string(), "code": e.code(), "details": e.details()
                    })),
                    true,
                ),
            };
            let Ok(event) = event else { return };
            match tokio::time::timeout(slow, tx.send(event)).await {
                Ok(Ok(())) if !last => {}
                Ok(Ok(())) => return,
                Ok(Err(_)) => return, // the client went away
                Err(_) => {
                    tracing::warn!("ledger stream client too slow to read: disconnected");
                    return;
                }
            }
        }
    });
    let stream =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}
