//! `escrowgrid bench`: the write path beside same-run baselines (`write.rs`, on a database it
//! creates and drops), the ledger stream's commit-to-delivery latency, and the Positions tab over
//! a large data set (`console.rs`). `stream` and `console` write benchmark data into the
//! configured database, so they refuse a non-empty one.

mod baseline;
pub mod ceiling;
pub mod console;
mod op;
mod scratch;
pub mod write;

use crate::domain::LedgerKind;
use crate::service::stream::{StreamFilter, StreamItem};
use crate::service::{
    Actor, NewAsset, NewInstitution, NewPosition, NewTemplate, Service, ServiceConfig,
    ServiceError, ServiceResult,
};
use crate::store::SharedStore;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub count: usize,
    pub median_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(mut v: Vec<Duration>) -> Latency {
        v.sort();
        let at = |q: f64| {
            v.get(((v.len() as f64 - 1.0) * q).round() as usize)
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        };
        Latency {
            count: v.len(),
            median_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

pub(crate) async fn ensure_empty(store: &SharedStore) -> ServiceResult<()> {
    let c = store.counts(None).await?;
    if c.institutions > 0 || c.ledger_events > 0 {
        return Err(ServiceError::field(
            "database",
            "bench writes benchmark data and needs an empty database: use --store memory or a fresh --database-url",
        ));
    }
    Ok(())
}

/// One institution, template and asset to write positions against.
pub async fn fixture(svc: &Service, actor: &Actor) -> ServiceResult<(String, String)> {
    let inst = svc
        .create_institution(
            actor,
            NewInstitution {
                name: "Bench Bank".into(),
                regions: vec!["US".into()],
                verticals: vec!["CONSTRUCTION".into()],
            },
        )
        .await?;
    let t = svc
        .create_template(
            actor,
            NewTemplate {
                institution_id: Some(inst.id.clone()),
                code: "CONSTR_ESCROW".into(),
                name: "Bench".into(),
                vertical: "CONSTRUCTION".into(),
                region: "US".into(),
                config: json!({"currency": "USD", "region": "US"}),
            },
        )
        .await?;
    let a = svc
        .create_asset(
            actor,
            NewAsset {
                institution_id: Some(inst.id.clone()),
                template_id: t.id,
                label: "Bench asset".into(),
                metadata: None,
            },
        )
        .await?;
    Ok((inst.id, a.id))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamBench {
    pub backend: String,
    pub events: usize,
    /// From the writer's commit returning to the subscriber (on a separate store instance, as a
    /// second process would be) receiving the event.
    pub commit_to_delivery: Latency,
}

/// Commit-to-delivery latency of the ledger stream. The subscriber reads through `reader`, a
/// second store instance on the same database, so it learns of writes exactly as another process
/// would (NOTIFY on PostgreSQL, polling on SQLite).
pub async fn stream(
    writer: SharedStore,
    reader: SharedStore,
    events: usize,
) -> ServiceResult<StreamBench> {
    ensure_empty(&writer).await?;
    let wsvc = Service::new(writer.clone(), ServiceConfig::default());
    let rsvc = Service::new(reader, ServiceConfig::default());
    let actor = Actor::local();
    let (inst, asset) = fixture(&wsvc, &actor).await?;
    let head = writer.ledger_head().await?.map(|(s, _)| s).unwrap_or(0);
    let mut sub = rsvc.subscribe(
        &actor,
        head,
        StreamFilter {
            kind: Some(LedgerKind::PositionCreated),
            ..Default::default()
        },
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, Instant)>();
    let receiver = tokio::spawn(async move {
        let mut got = HashMap::new();
        while got.len() < events {
            match tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
                Ok(Some(StreamItem::Event(e))) => {
                    got.insert(e.seq, Instant::now());
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        got
    });
    for i in 0..events {
        let p = wsvc
            .create_position(
                &actor,
                NewPosition {
                    institution_id: Some(inst.clone()),
                    asset_id: asset.clone(),
                    holder_reference: format!("STREAM-{i}"),
                    currency: "USD".into(),
                    amount: "10".into(),
                    external_reference: None,
                },
            )
            .await?;
        let committed = Instant::now();
        let seq = writer
            .read_ledger(&crate::store::LedgerQuery {
                position_id: Some(p.id),
                limit: 1,
                ..Default::default()
            })
            .await?
            .first()
            .map(|e| e.seq)
            .unwrap_or(0);
        let _ = tx.send((seq, committed));
        // Spread the writes out a little, as operators would, so the figure is per event rather
        // than per batch.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drop(tx);
    let delivered = receiver
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut lat = Vec::new();
    while let Some((seq, committed)) = rx.recv().await {
        if let Some(at) = delivered.get(&seq) {
            lat.push(at.saturating_duration_since(committed));
        }
    }
    if lat.len() != events {
        return Err(ServiceError::Internal(format!(
            "only {} of {events} events were delivered",
            lat.len()
        )));
    }
    Ok(StreamBench {
        backend: writer.backend().to_string(),
        events,
        commit_to_delivery: Latency::of(lat),
    })
}
