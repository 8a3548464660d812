//! `escrowgrid bench console`: the Positions tab over a large synthetic SQLite data set — page
//! queries, frame times, scrolling and the time to the first frame.

use super::{Latency, ensure_empty, fixture};
use crate::service::{Actor, Service, ServiceConfig, ServiceError, ServiceResult};
use crate::store::SharedStore;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO positions ({}) \
         SELECT printf('pos_01900000-0000-7000-8000-%012d', i), $2, $3, \
                printf('HOLDER-%05d', (i * 7919) % 50000), 'USD', \
                printf('%016d.%08d', 100 + (i * 104729) % 5000000, (i * 31) % 100), \
                CASE i % 6 WHEN 0 THEN 'CREATED' WHEN 1 THEN 'FUNDED' WHEN 2 THEN 'PARTIALLY_RELEASED' \
                           WHEN 3 THEN 'RELEASED' WHEN 4 THEN 'CANCELLED' ELSE 'EXPIRED' END, \
                CASE WHEN i % 3 = 0 THEN printf('INV-%07d', i) END, 0, \
                strftime('%Y-%m-%dT%H:%M:%fZ', 1780000000 + i / 100.0, 'unixepoch'), \
                strftime('%Y-%m-%dT%H:%M:%fZ', 1780000000 + i / 100.0 + (i % 997), 'unixepoch'), \
                '0000000000000000.00000000', \
                printf('%016d.%08d', 100 + (i * 104729) % 5000000, (i * 31) % 100) \
         FROM n",
        crate::store::tables::POSITIONS.names()
    )))
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
    // Leave no gigabyte of WAL behind the load.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
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
        ..Session::of(&actor, false)
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
    term.draw(|f| crate::tui::chrome::draw(f, &app))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let first_frame_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut frames = Vec::new();
    for _ in 0..200 {
        let s = Instant::now();
        term.draw(|f| crate::tui::chrome::draw(f, &app))
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
        term.draw(|f| crate::tui::chrome::draw(f, &app))
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
