//! What `bench write` compares with, measured in the same run: plain one-row autocommit INSERTs
//! at the same concurrency and durability (SQL), sealing alone on one core (memory), and the read
//! queries sent raw on connections of their own.

use super::op::Op;
use super::scratch::{Scratch, pg_connect};
use crate::domain::ledger::{CanonicalJson, GENESIS_HASH, LedgerDraft};
use crate::domain::{EntityType, LedgerKind, time};
use crate::service::{ServiceError, ServiceResult};
use crate::store::{self, Backend, Options};
use serde_json::json;
use sqlx::ConnectOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// Plain one-row autocommit INSERTs into a scratch table, `callers` at a time.
pub(super) async fn baseline_inserts(
    backend: Backend,
    url: &str,
    opts: &Options,
    callers: usize,
    ops: usize,
) -> ServiceResult<f64> {
    const ROW: &str = "a one-row commit of about the size of a position row, for the baseline";
    let per_caller = ops.div_ceil(callers);
    match backend {
        Backend::Postgres => {
            let mut c = pg_connect(url).await?;
            sqlx::query("CREATE TABLE IF NOT EXISTS bench_scratch (id BIGSERIAL PRIMARY KEY, v TEXT NOT NULL)")
                .execute(&mut c)
                .await
                .map_err(internal)?;
            let mut conns = Vec::new();
            for _ in 0..callers {
                conns.push(pg_connect(url).await?);
            }
            let start = Instant::now();
            let mut tasks = Vec::new();
            for mut conn in conns {
                tasks.push(tokio::spawn(async move {
                    for _ in 0..per_caller {
                        sqlx::query("INSERT INTO bench_scratch (v) VALUES ($1)")
                            .bind(ROW)
                            .execute(&mut conn)
                            .await?;
                    }
                    Ok::<_, sqlx::Error>(())
                }));
            }
            for t in tasks {
                t.await.map_err(internal)?.map_err(internal)?;
            }
            Ok((per_caller * callers) as f64 / start.elapsed().as_secs_f64())
        }
        Backend::Sqlite => {
            let path = store::sqlite::file_path(url).unwrap_or_default();
            let sync = match opts.sqlite_synchronous {
                store::SqliteSync::Off => sqlx::sqlite::SqliteSynchronous::Off,
                store::SqliteSync::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
                store::SqliteSync::Full => sqlx::sqlite::SqliteSynchronous::Full,
                store::SqliteSync::Extra => sqlx::sqlite::SqliteSynchronous::Extra,
            };
            let mut c = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sync)
                .busy_timeout(Duration::from_secs(30))
                .connect()
                .await
                .map_err(internal)?;
            sqlx::query("CREATE TABLE IF NOT EXISTS bench_scratch (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
                .execute(&mut c)
                .await
                .map_err(internal)?;
            let conn = Arc::new(tokio::sync::Mutex::new(c));
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..callers {
                let conn = conn.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..per_caller {
                        let mut c = conn.lock().await;
                        sqlx::query("INSERT INTO bench_scratch (v) VALUES ($1)")
                            .bind(ROW)
                            .execute(&mut *c)
                            .await?;
                    }
                    Ok::<_, sqlx::Error>(())
                }));
            }
            for t in tasks {
                t.await.map_err(internal)?.map_err(internal)?;
            }
            Ok((per_caller * callers) as f64 / start.elapsed().as_secs_f64())
        }
        Backend::Memory => Err(internal("memory has no insert baseline")),
    }
}

/// Sealing alone on one core: canonical bytes and SHA-256 of events like the ones `op` writes,
/// chained one after the other. The payloads are made canonical inside the timed loop (from JSON
/// values built before it), as they were before writes carried them as canonical text: the
/// baseline does the same work in every version.
pub(super) fn baseline_sealing(op: Op, events: usize) -> f64 {
    let now = time::now();
    let placeholder = CanonicalJson::of(&serde_json::Value::Null);
    let drafts: Vec<(LedgerDraft, serde_json::Value)> = (0..events)
        .map(|i| {
            let create = op == Op::Create || (op == Op::Mix && i % 4 == 0);
            let id = crate::domain::ids::new_id(crate::domain::ids::POSITION);
            let draft = LedgerDraft {
                id: None,
                kind: if create {
                    LedgerKind::PositionCreated
                } else {
                    LedgerKind::PositionStateChanged
                },
                entity_type: EntityType::Position,
                entity_id: id.clone(),
                institution_id: "inst_01900000-0000-7000-8000-000000000001".into(),
                position_id: Some(id),
                at: now,
                payload: placeholder.clone(),
            };
            let payload = if create {
                json!({"institutionId": "inst_01900000-0000-7000-8000-000000000001",
                           "assetId": "ast_01900000-0000-7000-8000-000000000001",
                           "holderReference": format!("C-{i}"), "currency": "USD",
                           "amount": "1250.5", "externalReference": null, "state": "CREATED",
                           "actor": "local:bench"})
            } else {
                json!({"fromState": "FUNDED", "toState": "PARTIALLY_RELEASED", "reason": null,
                           "lifecycleEventId": "ple_01900000-0000-7000-8000-000000000001",
                           "version": 2, "actor": "local:bench"})
            };
            (draft, payload)
        })
        .collect();
    let ids: Vec<String> = (0..events)
        .map(|_| crate::domain::ids::new_id(crate::domain::ids::LEDGER_EVENT))
        .collect();
    let start = Instant::now();
    let (mut seq, mut prev) = (0i64, GENESIS_HASH.to_string());
    for ((mut d, payload), id) in drafts.into_iter().zip(ids) {
        d.payload = CanonicalJson::of(&payload);
        let p = d.prepare(id);
        let hash = p.chain_hash(seq, &prev);
        seq += 1;
        prev = hash;
    }
    std::hint::black_box(&prev);
    events as f64 / start.elapsed().as_secs_f64()
}

/// A connection of the read baseline's own.
pub(super) enum RawConn {
    Pg(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl RawConn {
    pub(super) async fn open(scratch: &Scratch) -> ServiceResult<RawConn> {
        match scratch {
            Scratch::Postgres { url, .. } => Ok(RawConn::Pg(pg_connect(url).await?)),
            Scratch::Sqlite { url, .. } => Ok(RawConn::Sqlite(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(store::sqlite::file_path(url).unwrap_or_default())
                    .connect()
                    .await
                    .map_err(internal)?,
            )),
            Scratch::Memory => Err(internal("memory has no raw read baseline")),
        }
    }

    pub(super) async fn read(&mut self, op: Op, id: &str, deep: &str) -> ServiceResult<()> {
        const ONE: &str = "SELECT * FROM positions WHERE id = $1";
        const EVENTS: &str = "SELECT * FROM position_events WHERE position_id = $1 ORDER BY id";
        const PAGE: &str = "SELECT * FROM positions WHERE id > $1 ORDER BY id LIMIT 50";
        // The same three queries on either driver's connection.
        macro_rules! read_on {
            ($c:expr) => {
                match op {
                    Op::Get => sqlx::query(ONE)
                        .bind(id)
                        .fetch_all(&mut *$c)
                        .await
                        .map(|_| ()),
                    Op::GetWithHistory => {
                        sqlx::query(ONE).bind(id).fetch_all(&mut *$c).await?;
                        sqlx::query(EVENTS)
                            .bind(id)
                            .fetch_all(&mut *$c)
                            .await
                            .map(|_| ())
                    }
                    _ => sqlx::query(PAGE)
                        .bind(deep)
                        .fetch_all(&mut *$c)
                        .await
                        .map(|_| ()),
                }
            };
        }
        let r: Result<(), sqlx::Error> = async {
            match self {
                RawConn::Pg(c) => read_on!(c),
                RawConn::Sqlite(c) => read_on!(c),
            }
        }
        .await;
        r.map_err(internal)
    }
}
