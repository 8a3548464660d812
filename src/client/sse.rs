//! The server's live ledger (`GET /v1/ledger/stream`, Server-Sent Events) as a `Subscription`:
//! each `ledger` event in order; on a broken connection, `Reconnecting` and a new request with
//! `Last-Event-ID` (no gap, no duplicate); the server's `end` event as `Ended`.

use crate::service::ServiceError;
use crate::service::stream::{StreamFilter, StreamItem, StreamStatus, Subscription};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub fn subscribe(
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    after: i64,
    filter: StreamFilter,
) -> Subscription {
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = run(http, url, token, after, filter, tx) => {}
            () = stop.cancelled() => {}
        }
    });
    Subscription::from_channel(rx, cancel)
}

async fn run(
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    mut last: i64,
    filter: StreamFilter,
    tx: mpsc::Sender<StreamItem>,
) {
    let mut wait = Duration::from_millis(200);
    loop {
        let mut r = http
            .get(&url)
            .timeout(Duration::from_secs(365 * 24 * 3600))
            .header("Last-Event-ID", last.to_string());
        if let Some(t) = &token {
            r = r.bearer_auth(t);
        }
        let mut q = Vec::new();
        q.extend(filter.position_id.clone().map(|p| ("positionId", p)));
        q.extend(filter.kind.map(|k| ("kind", k.to_string())));
        let why = match r.query(&q).send().await {
            Ok(resp) if resp.status().is_success() => {
                match read(resp, &mut last, &tx, &mut wait).await {
                    Read::Ended | Read::Gone => return,
                    Read::Broken(why) => why,
                }
            }
            Ok(resp) => {
                // Refused (a revoked key, a bad filter): the stream ends with the reason.
                let status = resp.status();
                let body = resp.json().await.unwrap_or(serde_json::Value::Null);
                let _ = tx
                    .send(StreamItem::Ended(super::error_of(status, body)))
                    .await;
                return;
            }
            Err(e) => format!("cannot reach the server: {e}"),
        };
        if tx
            .send(StreamItem::Status(StreamStatus::Reconnecting(why)))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

enum Read {
    /// The server ended the stream (`end`).
    Ended,
    /// The subscriber went away.
    Gone,
    Broken(String),
}

async fn read(
    mut resp: reqwest::Response,
    last: &mut i64,
    tx: &mpsc::Sender<StreamItem>,
    wait: &mut Duration,
) -> Read {
    let mut buf = String::new();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return Read::Broken("the server closed the stream".into()),
            Err(e) => return Read::Broken(format!("the stream broke: {e}")),
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut event, mut data) = (String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            let item = match event.as_str() {
                "ledger" => match serde_json::from_str::<crate::domain::ledger::LedgerEvent>(&data)
                {
                    Ok(e) if e.seq > *last => {
                        *last = e.seq;
                        *wait = Duration::from_millis(200);
                        StreamItem::Event(Box::new(e))
                    }
                    Ok(_) => continue,
                    Err(e) => return Read::Broken(format!("an unreadable event: {e}")),
                },
                "status" => {
                    let v: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                    match v["state"].as_str() {
                        Some("live") => StreamItem::Status(StreamStatus::Live),
                        _ => StreamItem::Status(StreamStatus::Reconnecting(
                            v["reason"]
                                .as_str()
                                .unwrap_or("the server's store")
                                .to_string(),
                        )),
                    }
                }
                "end" => {
                    let v: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                    let e = match v["code"].as_str() {
                        Some("SHUTTING_DOWN") => {
                            ServiceError::Unavailable("the server is shutting down".into())
                        }
                        _ => super::error_of(
                            reqwest::StatusCode::OK,
                            serde_json::json!({"error": v["reason"], "code": v["code"], "details": v["details"]}),
                        ),
                    };
                    let _ = tx.send(StreamItem::Ended(e)).await;
                    return Read::Ended;
                }
                _ => continue, // heartbeats and what a newer server adds
            };
            if tx.send(item).await.is_err() {
                return Read::Gone;
            }
        }
    }
}
