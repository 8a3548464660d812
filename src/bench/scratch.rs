//! The scratch database `bench write` works on — made for it beside the configured one and
//! removed after it — and the bulk load of positions its read figures need.

use crate::domain::time;
use crate::service::{ServiceError, ServiceResult};
use crate::store::{self, Backend};
use sqlx::ConnectOptions;
use std::time::Duration;

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// Where the bench writes: made for it, removed after it.
pub enum Scratch {
    Memory,
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        base: String,
        schema: String,
        url: String,
    },
}

impl Scratch {
    /// A fresh database beside the configured one: a temporary directory next to the SQLite file
    /// (same disk), or a new schema in the PostgreSQL database (same server).
    pub async fn create(backend: Backend, configured_url: &str) -> ServiceResult<Scratch> {
        match backend {
            Backend::Memory => Ok(Scratch::Memory),
            Backend::Sqlite => {
                let near = store::sqlite::file_path(configured_url)
                    .and_then(|p| p.parent().map(|d| d.to_path_buf()))
                    .filter(|d| d.is_dir())
                    .unwrap_or_else(std::env::temp_dir);
                let dir = tempfile::Builder::new()
                    .prefix(".escrowgrid-bench-")
                    .tempdir_in(&near)
                    .map_err(|e| {
                        internal(format!("scratch directory in {}: {e}", near.display()))
                    })?;
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                Ok(Scratch::Sqlite { _dir: dir, url })
            }
            Backend::Postgres => {
                let schema = format!("escrowgrid_bench_{}", uuid::Uuid::now_v7().simple());
                let mut c = pg_connect(configured_url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
                    .execute(&mut c)
                    .await
                    .map_err(internal)?;
                let sep = if configured_url.contains('?') {
                    '&'
                } else {
                    '?'
                };
                let url = format!("{configured_url}{sep}options[search_path]={schema}");
                Ok(Scratch::Postgres {
                    base: configured_url.to_string(),
                    schema,
                    url,
                })
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Scratch::Memory => "",
            Scratch::Sqlite { url, .. } | Scratch::Postgres { url, .. } => url,
        }
    }

    /// Removes the scratch database (the SQLite directory goes when this is dropped).
    pub async fn remove(self) -> ServiceResult<()> {
        if let Scratch::Postgres { base, schema, .. } = &self {
            let mut c = pg_connect(base).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA \"{schema}\" CASCADE"
            )))
            .execute(&mut c)
            .await
            .map_err(internal)?;
        }
        Ok(())
    }
}

pub(super) async fn pg_connect(url: &str) -> ServiceResult<sqlx::PgConnection> {
    store::postgres::connect_options(url)?
        .connect()
        .await
        .map_err(|e| ServiceError::from(store::StoreError::Unavailable(e.to_string())))
}

/// Loads `rows` synthetic positions straight into the scratch database (bypassing the service:
/// they exist to be read) and returns ids spread over the table, plus the id to page after.
pub(super) async fn load_rows(
    institution: &str,
    asset: &str,
    scratch: &Scratch,
    memory: Option<&store::memory::MemoryStore>,
    rows: u64,
) -> ServiceResult<(Vec<String>, String)> {
    let id_of = |i: u64| format!("pos_01900000-0000-7000-8000-{i:012}");
    match scratch {
        Scratch::Memory => {
            let m = memory.ok_or_else(|| internal("no memory store"))?;
            let now = time::now();
            let template = crate::domain::Position {
                id: String::new(),
                institution_id: institution.to_string(),
                asset_id: asset.to_string(),
                holder_reference: String::new(),
                currency: "USD".parse().map_err(internal)?,
                amount: crate::domain::Money::parse("100").map_err(internal)?,
                state: crate::domain::PositionState::Funded,
                external_reference: None,
                version: 1,
                released: Some(crate::domain::Balance::ZERO),
                held: Some(crate::domain::Money::parse("100").map_err(internal)?.into()),
                created_at: now,
                updated_at: now,
            };
            m.load_positions_unchecked((1..=rows).map(|i| {
                let mut p = template.clone();
                p.id = id_of(i);
                p.holder_reference = format!("HOLDER-{:05}", (i * 7919) % 50_000);
                p
            }));
        }
        Scratch::Postgres { url, .. } => {
            let mut c = pg_connect(url).await?;
            // One value per column of the table's declaration, in its order.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO positions ({}) \
                 SELECT 'pos_01900000-0000-7000-8000-' || lpad(i::text, 12, '0'), $2, $3, \
                        'HOLDER-' || lpad(((i * 7919) % 50000)::text, 5, '0'), 'USD', \
                        100 + (i * 104729) % 5000000, 'FUNDED', NULL, 1, now(), now(), 0, \
                        100 + (i * 104729) % 5000000 \
                 FROM generate_series(1, $1::bigint) AS i",
                store::tables::POSITIONS.names()
            )))
            .bind(rows as i64)
            .bind(institution)
            .bind(asset)
            .execute(&mut c)
            .await
            .map_err(|e| internal(format!("bulk load: {e}")))?;
            for recount in store::counters::RECOUNT_POSITIONS {
                sqlx::query(recount)
                    .execute(&mut c)
                    .await
                    .map_err(internal)?;
            }
            sqlx::query("ANALYZE positions")
                .execute(&mut c)
                .await
                .map_err(internal)?;
        }
        Scratch::Sqlite { url, .. } => {
            let path = store::sqlite::file_path(url).unwrap_or_default();
            let mut c = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .busy_timeout(Duration::from_secs(30))
                .connect()
                .await
                .map_err(internal)?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                 INSERT INTO positions ({}) \
                 SELECT printf('pos_01900000-0000-7000-8000-%012d', i), $2, $3, \
                        printf('HOLDER-%05d', (i * 7919) % 50000), 'USD', \
                        printf('%016d.%08d', 100 + (i * 104729) % 5000000, 0), 'FUNDED', NULL, 1, \
                        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), \
                        '0000000000000000.00000000', \
                        printf('%016d.%08d', 100 + (i * 104729) % 5000000, 0) \
                 FROM n",
                store::tables::POSITIONS.names()
            )))
            .bind(rows as i64)
            .bind(institution)
            .bind(asset)
            .execute(&mut c)
            .await
            .map_err(|e| internal(format!("bulk load: {e}")))?;
            for recount in store::counters::RECOUNT_POSITIONS {
                sqlx::query(recount)
                    .execute(&mut c)
                    .await
                    .map_err(internal)?;
            }
            sqlx::query("ANALYZE")
                .execute(&mut c)
                .await
                .map_err(internal)?;
            // Leave no large WAL behind the load.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut c)
                .await
                .map_err(internal)?;
        }
    }
    let spread: Vec<String> = (0..4096u64)
        .map(|k| id_of(1 + (k * 104_729) % rows))
        .collect();
    Ok((spread, id_of(rows.saturating_sub(60).max(1))))
}
