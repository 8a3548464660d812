//! `escrowgrid bench`: throughput of the service over the configured store, and the ledger
//! stream's commit-to-delivery latency. Writes benchmark data, so it refuses a non-empty database.

use crate::domain::LedgerKind;
use crate::service::stream::{StreamFilter, StreamItem};
use crate::service::{
    Actor, NewAsset, NewInstitution, NewPosition, NewTemplate, Service, ServiceConfig,
    ServiceError, ServiceResult, TransitionRequest,
};
use crate::store::SharedStore;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceBench {
    pub backend: String,
    pub tasks: usize,
    pub operations: usize,
    pub seconds: f64,
    pub ops_per_second: f64,
    pub latency: Latency,
}

async fn ensure_empty(store: &SharedStore) -> ServiceResult<()> {
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
async fn fixture(svc: &Service, actor: &Actor) -> ServiceResult<(String, String)> {
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

/// `operations` service writes from `tasks` concurrent tasks: each creates a position and then
/// moves it CREATED → FUNDED → PARTIALLY_RELEASED → RELEASED (4 writes per position).
pub async fn service(
    store: SharedStore,
    operations: usize,
    tasks: usize,
) -> ServiceResult<ServiceBench> {
    ensure_empty(&store).await?;
    let svc = Arc::new(Service::new(store.clone(), ServiceConfig::default()));
    let actor = Actor::local();
    let (inst, asset) = fixture(&svc, &actor).await?;
    let per_task = operations.div_ceil(tasks).div_ceil(4);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (svc, actor, inst, asset) = (svc.clone(), actor.clone(), inst.clone(), asset.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_task * 4);
            for i in 0..per_task {
                let s = Instant::now();
                let p = svc
                    .create_position(
                        &actor,
                        NewPosition {
                            institution_id: Some(inst.clone()),
                            asset_id: asset.clone(),
                            holder_reference: format!("BENCH-{t}-{i}"),
                            currency: "USD".into(),
                            amount: "1250.50".into(),
                            external_reference: None,
                        },
                    )
                    .await?;
                lat.push(s.elapsed());
                for to in ["FUNDED", "PARTIALLY_RELEASED", "RELEASED"] {
                    let s = Instant::now();
                    svc.transition_position(
                        &actor,
                        &p.id,
                        TransitionRequest {
                            to: to.into(),
                            ..Default::default()
                        },
                    )
                    .await?;
                    lat.push(s.elapsed());
                }
            }
            Ok::<_, ServiceError>(lat)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(
            h.await
                .map_err(|e| ServiceError::Internal(e.to_string()))??,
        );
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(ServiceBench {
        backend: store.backend().to_string(),
        tasks,
        operations: all.len(),
        seconds: secs,
        ops_per_second: all.len() as f64 / secs,
        latency: Latency::of(all),
    })
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleBench {
    pub backend: String,
    pub rows: u64,
    pub load_seconds: f64,
    /// Store reads behind the Positions tab (each timed 20 times).
    pub queries: Vec<(String, Latency)>,
    /// Drawing the Positions tab at 160×48.
    pub frame: Latency,
    /// One key press (j) of scrolling: update, any page load it triggers, and a redraw.
    pub scroll_step: Latency,
    /// From an empty console to its first frame with data (start, first page, count, draw).
    pub first_frame_ms: f64,
}

/// Loads `rows` synthetic positions straight into an empty SQLite database (bypassing the
/// service: this data set exists to measure paging and drawing, and has no ledger events), then
/// times the Positions tab's queries and frames.
pub async fn console(store: SharedStore, url: &str, rows: u64) -> ServiceResult<ConsoleBench> {
    use crate::store::{PositionCursor, PositionFilter, PositionQuery, PositionSortKey};
    use crate::tui::app::{App, Msg, Session};
    use sqlx::ConnectOptions;
    ensure_empty(&store).await?;
    let path = crate::store::sqlite::file_path(url).ok_or_else(|| {
        ServiceError::field(
            "database",
            "bench console needs a SQLite file (--database-url sqlite:///path.db)",
        )
    })?;
    let svc = Arc::new(Service::new(store.clone(), ServiceConfig::default()));
    let actor = Actor::local();
    let (inst, asset) = fixture(&svc, &actor).await?;
    let start = Instant::now();
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO positions (id, institution_id, asset_id, holder_reference, currency, amount, state, \
                                external_reference, version, created_at, updated_at) \
         SELECT printf('pos_01900000-0000-7000-8000-%012d', i), $2, $3, \
                printf('HOLDER-%05d', (i * 7919) % 50000), 'USD', \
                printf('%016d.%08d', 100 + (i * 104729) % 5000000, (i * 31) % 100), \
                CASE i % 6 WHEN 0 THEN 'CREATED' WHEN 1 THEN 'FUNDED' WHEN 2 THEN 'PARTIALLY_RELEASED' \
                           WHEN 3 THEN 'RELEASED' WHEN 4 THEN 'CANCELLED' ELSE 'EXPIRED' END, \
                CASE WHEN i % 3 = 0 THEN printf('INV-%07d', i) END, 0, \
                strftime('%Y-%m-%dT%H:%M:%fZ', 1780000000 + i / 100.0, 'unixepoch'), \
                strftime('%Y-%m-%dT%H:%M:%fZ', 1780000000 + i / 100.0 + (i % 997), 'unixepoch') \
         FROM n",
    )
    .bind(rows as i64)
    .bind(&inst)
    .bind(&asset)
    .execute(&mut conn)
    .await
    .map_err(|e| ServiceError::Internal(format!("bulk load: {e}")))?;
    for recount in crate::store::counters::RECOUNT_POSITIONS {
        sqlx::query(recount)
            .execute(&mut conn)
            .await
            .map_err(|e| ServiceError::Internal(format!("recount: {e}")))?;
    }
    sqlx::query("ANALYZE")
        .execute(&mut conn)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let load_seconds = start.elapsed().as_secs_f64();

    let timed = |name: &str, q: PositionQuery| {
        let (svc, actor, name) = (svc.clone(), actor.clone(), name.to_string());
        async move {
            let mut lat = Vec::new();
            for _ in 0..20 {
                let s = Instant::now();
                svc.list_positions(&actor, q.clone()).await?;
                lat.push(s.elapsed());
            }
            Ok::<_, ServiceError>((name, Latency::of(lat)))
        }
    };
    let page = |sort, descending| PositionQuery {
        sort,
        descending,
        limit: 200,
        ..Default::default()
    };
    let middle = svc
        .list_positions(
            &actor,
            PositionQuery {
                cursor: Some(PositionCursor {
                    value: String::new(),
                    id: format!("pos_01900000-0000-7000-8000-{:012}", rows / 2),
                }),
                limit: 1,
                ..Default::default()
            },
        )
        .await?;
    let mut queries = vec![
        timed(
            "first page, newest first",
            page(PositionSortKey::Created, true),
        )
        .await?,
        timed(
            "page from the middle (keyset)",
            PositionQuery {
                cursor: middle
                    .first()
                    .map(|p| PositionCursor::of(PositionSortKey::Created, p)),
                ..page(PositionSortKey::Created, false)
            },
        )
        .await?,
        timed(
            "last page (G)",
            PositionQuery {
                backwards: true,
                ..page(PositionSortKey::Created, false)
            },
        )
        .await?,
        timed("first page by amount", page(PositionSortKey::Amount, false)).await?,
        timed(
            "first page by updated, descending",
            page(PositionSortKey::Updated, true),
        )
        .await?,
        timed(
            "state = FUNDED",
            PositionQuery {
                filter: PositionFilter {
                    state: Some(crate::domain::PositionState::Funded),
                    ..Default::default()
                },
                ..page(PositionSortKey::Created, true)
            },
        )
        .await?,
        timed(
            "text filter /HOLDER-04242",
            PositionQuery {
                filter: PositionFilter {
                    text: Some("HOLDER-04242".into()),
                    ..Default::default()
                },
                ..page(PositionSortKey::Created, true)
            },
        )
        .await?,
    ];
    let mut counts = Vec::new();
    for _ in 0..5 {
        let s = Instant::now();
        svc.count_positions(&actor, PositionFilter::default())
            .await?;
        counts.push(s.elapsed());
    }
    queries.push(("count all".into(), Latency::of(counts)));

    // The console itself, without a terminal: the same update and draw code.
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let exec = crate::tui::exec::Executor::new(svc.clone(), actor.clone(), tx);
    let session = Session {
        backend: "sqlite".into(),
        target: url.into(),
        operator: actor.describe(),
        role: "root".into(),
        scope: None,
        read_only: false,
        can_manage_keys: true,
        demo: false,
        mouse: false,
        log_file: None,
    };
    let t0 = Instant::now();
    let mut app = App::new(
        session,
        crate::tui::keymap::KeyMap::default(),
        crate::tui::theme::Theme::default(),
    );
    app.update(Msg::Resize(160, 48));
    app.start();
    crate::tui::exec::settle(&mut app, &exec).await;
    let backend = ratatui::backend::TestBackend::new(160, 48);
    let mut term =
        ratatui::Terminal::new(backend).map_err(|e| ServiceError::Internal(e.to_string()))?;
    term.draw(|f| crate::tui::ui::draw(f, &app))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let first_frame_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut frames = Vec::new();
    for _ in 0..200 {
        let s = Instant::now();
        term.draw(|f| crate::tui::ui::draw(f, &app))
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        frames.push(s.elapsed());
    }
    let mut steps = Vec::new();
    let j = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('j'),
        crossterm::event::KeyModifiers::NONE,
    );
    for _ in 0..2000 {
        let s = Instant::now();
        app.update(Msg::Key(j));
        crate::tui::exec::settle(&mut app, &exec).await;
        term.draw(|f| crate::tui::ui::draw(f, &app))
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        steps.push(s.elapsed());
    }
    Ok(ConsoleBench {
        backend: store.backend().to_string(),
        rows,
        load_seconds,
        queries,
        frame: Latency::of(frames),
        scroll_step: Latency::of(steps),
        first_frame_ms,
    })
}
