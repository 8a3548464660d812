//! The production backend: PostgreSQL through a sqlx pool (the schema given to an empty database,
//! later migrations by `migrate apply`: see `schema.rs`). The ledger
//! stream listens on a channel that every append notifies inside its transaction (so listeners
//! hear of an event only once it is committed).

use super::replica::{Replica, ReplicaSettings};
use super::schema::MIGRATOR;
use super::sql::Dialect;
use super::sqlconn::{Bounds, Pools, map_err, pool_options, ssl_mode_name, transport};
use super::sqldb::SqlStore;
use super::{PgSettings, StoreError, StoreResult};
use sqlx::postgres::PgConnectOptions;
use std::str::FromStr;
use std::time::Duration;

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparseable database URL>".to_string(),
    }
}

pub fn connect_options(url: &str) -> StoreResult<PgConnectOptions> {
    let mut opts = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL {}: {e}", redact(url))))?;
    // sqlx logs in as "anonymous" when the URL names no user; use PGUSER or the OS user.
    if url::Url::parse(url).is_ok_and(|u| u.username().is_empty()) {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "postgres".into());
        opts = opts.username(&user);
    }
    // Name our connections (visible in pg_stat_activity) unless the URL names them itself.
    if !url.contains("application_name=") {
        opts = opts.application_name("escrowgrid");
    }
    Ok(opts)
}

/// The replica's pool, opened lazily: a replica that is down when the store opens is only a
/// reason to read from the primary (the Health tab says so), never a reason not to start.
/// The replica's pool (connected on first use) and the `sslmode` it connects with.
fn replica_pool(
    r: &ReplicaSettings,
    s: &PgSettings,
) -> StoreResult<(sqlx::PgPool, sqlx::postgres::PgSslMode)> {
    let mut opts = with_timeouts(connect_options(&r.url)?, s);
    if !r.url.contains("application_name=") {
        opts = opts.application_name("escrowgrid-replica");
    }
    let mode = opts.get_ssl_mode();
    Ok((
        pool_options::<sqlx::Postgres>()
            .max_connections(s.max_connections)
            .min_connections(0)
            .idle_timeout(s.idle_timeout)
            .acquire_timeout(s.acquire_timeout.min(s.connect_timeout))
            .connect_lazy_with(opts),
        mode,
    ))
}

/// Why a connection failed, in the driver's own words ("Connection refused", "password
/// authentication failed"), without our "store unavailable:" prefix.
fn reason(e: sqlx::Error) -> String {
    match map_err(e) {
        StoreError::Unavailable(m)
        | StoreError::Other(m)
        | StoreError::Constraint(m)
        | StoreError::Timeout { message: m, .. } => m,
        other => other.to_string(),
    }
}

/// What a TLS failure means for the operator, after the driver's own words: the certificate
/// is not from a trusted CA, does not name the host, or the server offers no TLS at all.
fn tls_hint(why: &str, opts: &PgConnectOptions) -> Option<String> {
    let mode = ssl_mode_name(opts.get_ssl_mode());
    let host = opts.get_host();
    let from = if std::env::var("PGSSLMODE").is_ok() {
        " (from PGSSLMODE or the URL)"
    } else {
        ""
    };
    if why.contains("server does not support TLS") {
        return Some(format!(
            "sslmode={mode}{from} requires TLS and the server at {host} offers none (ssl = off on the server)"
        ));
    }
    if why.contains("UnknownIssuer") || why.contains("BadSignature") {
        return Some(format!(
            "sslmode={mode}: the server's certificate is not signed by a CA this client trusts (sslrootcert or PGSSLROOTCERT names the CA file; without one, the public web CAs)"
        ));
    }
    if why.contains("NotValidForName") || why.contains("not valid for name") {
        return Some(format!(
            "sslmode=verify-full: the server's certificate does not name the host {host}; connect by a name it carries, or use sslmode=verify-ca (which checks the CA, not the name)"
        ));
    }
    if why.contains("Expired") || why.contains("NotValidYet") {
        return Some("the server's certificate is outside its validity period".into());
    }
    None
}

/// Opens one connection within `pg_connect_timeout_ms`, for the reason a pool would hide.
async fn first_connection(
    url: &str,
    opts: &PgConnectOptions,
    s: &PgSettings,
) -> StoreResult<sqlx::PgConnection> {
    let cannot =
        |why: String| StoreError::Unavailable(format!("cannot connect to {}: {why}", redact(url)));
    match tokio::time::timeout(s.connect_timeout, sqlx::ConnectOptions::connect(opts)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => {
            let why = reason(e);
            Err(cannot(match tls_hint(&why, opts) {
                Some(hint) => format!("{why} — {hint}"),
                None => why,
            }))
        }
        Err(_) => Err(StoreError::Timeout {
            kind: super::TimeoutKind::Connect,
            message: format!(
                "cannot connect to {}: timed out after {} ms (pg_connect_timeout_ms)",
                redact(url),
                s.connect_timeout.as_millis()
            ),
        }),
    }
}

/// The options of every connection, set at connection start: `statement_timeout`, and a plan
/// made for each execution's own arguments (`plan_cache_mode`). A cached generic plan cannot
/// tell a selective search term from a broad one: after five searches it settled on walking the
/// primary key with a filter, 0.55 s at 1,000,000 positions where the trigram index takes 20 ms.
/// The writer sets its own mode (generic plans) after connecting.
fn with_timeouts(opts: PgConnectOptions, s: &PgSettings) -> PgConnectOptions {
    opts.options([
        (
            "statement_timeout",
            format!("{}", s.statement_timeout.as_millis()),
        ),
        ("plan_cache_mode", "force_custom_plan".to_string()),
    ])
}

pub async fn open(url: &str, s: &PgSettings) -> StoreResult<SqlStore> {
    let opts = with_timeouts(connect_options(url)?, s);
    let cannot = |e: sqlx::Error| {
        StoreError::Unavailable(format!("cannot connect to {}: {}", redact(url), reason(e)))
    };
    // One connection first: a pool that cannot connect only says it timed out, and the reason
    // (refused, unknown host, authentication) is what an operator needs.
    first_connection(url, &opts, s).await?;
    let bounds = Bounds {
        statement: s.statement_timeout,
        acquire: s.acquire_timeout,
    };
    let pool = pool_options::<sqlx::Postgres>()
        .max_connections(s.max_connections)
        .min_connections(s.min_connections)
        .idle_timeout(s.idle_timeout)
        .acquire_timeout(s.acquire_timeout)
        .connect_with(opts.clone())
        .await
        .map_err(cannot)?;
    let transport = transport(&pool, opts.get_ssl_mode()).await?;
    // The batching writer's own connection (opened when it first writes).
    let write = pool_options::<sqlx::Postgres>()
        .max_connections(1)
        .acquire_timeout(s.acquire_timeout)
        // The writer's statements have one shape per table and many parameters: plan them once
        // (a custom plan per execution cost more than running them). Every one of them finds
        // its rows by key, so no plan of theirs may scan a table: a generic plan made while a
        // new database's tables were small scanned `positions` for every transition, and the
        // writer keeps its connection (and its plans) while the table grows.
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(
                    conn,
                    "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off",
                )
                .await
                .map(|_| ())
            })
        })
        .connect_lazy_with(opts);
    let (schema,): (Option<String>,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(&pool)
        .await
        .map_err(map_err)?;
    if schema.is_none() {
        return Err(StoreError::Unavailable(
            "no schema of the search_path exists in this database; create it first".into(),
        ));
    }
    // The schema: given whole to an empty database; applied to one in use only when
    // auto_migrate says so (else `escrowgrid migrate apply`); see `schema.rs`.
    let mut status = super::schema::status(&pool, &MIGRATOR).await?;
    if let Some(why) = status.reads_refused() {
        return Err(StoreError::Unavailable(why));
    }
    let empty = status.database_version.is_none();
    if empty || (s.auto_migrate && !status.pending.is_empty() && status.unknown.is_empty()) {
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        status = super::schema::status(&pool, &MIGRATOR).await?;
    }
    let writes_refused = status.writes_refused();
    if let Some(why) = &writes_refused {
        tracing::warn!(reason = %why, "writes refused until the schema matches this escrowgrid");
    }
    let (head,): (i64,) = sqlx::query_as("SELECT seq FROM ledger_head WHERE id")
        .fetch_one(&pool)
        .await
        .map_err(map_err)?;
    let trigram_index = || async {
        sqlx::query_as::<_, (i64,)>(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname = 'positions_text_trgm'",
        )
        .fetch_one(&pool)
        .await
        .map(|(n,)| n)
        .map_err(map_err)
    };
    let mut trigrams = trigram_index().await?;
    if trigrams == 0 && writes_refused.is_none() {
        // The extension may have been created since the migration ran: try again.
        let again = include_str!("../../migrations/postgres/0006_position_trigrams.sql");
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(again))
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "cannot create the positions trigram index");
        }
        trigrams = trigram_index().await?;
    }
    let mut notes = Vec::new();
    if trigrams == 0 {
        notes.push(
            "no trigram index (the pg_trgm extension could not be created): the Positions text filter scans the table; CREATE EXTENSION pg_trgm WITH SCHEMA public as the database owner and restart"
                .to_string(),
        );
    }
    let (sync, fsync): (String, String) =
        sqlx::query_as("SELECT current_setting('synchronous_commit'), current_setting('fsync')")
            .fetch_one(&pool)
            .await
            .map_err(map_err)?;
    let durability = match (sync.as_str(), fsync.as_str()) {
        (_, "off") => {
            "fsync=off on the server: a crash of the server machine can lose or corrupt data"
                .to_string()
        }
        ("off", _) => {
            "synchronous_commit=off: the last commits can be lost if the server crashes".to_string()
        }
        ("local", _) => {
            "synchronous_commit=local: flushed on the primary before it is acknowledged".to_string()
        }
        (s, _) => format!(
            "synchronous_commit={s}: flushed to the server's WAL (and to synchronous standbys, if any) before it is acknowledged"
        ),
    };
    let replica = match &s.replica {
        Some(r) => Some(Replica::new(
            replica_pool(r, s)?,
            bounds,
            r.clone(),
            redact(&r.url),
        )),
        None => None,
    };
    let store = SqlStore::new(
        Dialect::Postgres,
        Pools::Postgres {
            read: pool,
            write,
            bounds,
            waits: Default::default(),
        },
        redact(url),
        head,
        Duration::ZERO,
    )
    .with_durability(durability)
    .with_transport(transport)
    .with_writes_refused(writes_refused.clone())
    .with_notes(notes);
    if writes_refused.is_none() {
        store.chain_unchained_audit().await?;
    }
    Ok(match replica {
        Some(r) => store.with_replica(r),
        None => store,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:5432/prod"),
            "postgres://app:***@db.example:5432/prod"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
    }
}
