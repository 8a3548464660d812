//! The health report: backend, reachability, latency, pool, schema, counts, ledger head.
//! It never fails: what cannot be read is reported as missing, with the error.

use super::{Actor, Service};
use crate::metrics::OpFigures;
use crate::store::replica::ReplicaStatus;
use crate::store::{Counts, DbStats, PoolStats};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    pub backend: String,
    pub target: String,
    /// What an acknowledged write survives.
    pub durability: String,
    /// How the connection to the database server is protected (PostgreSQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<crate::store::Transport>,
    /// Why the store refuses writes (its schema is behind or ahead of this binary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_refused: Option<String>,
    pub connected: bool,
    pub ping_ms: Option<f64>,
    pub error: Option<String>,
    pub pool: Option<PoolStats>,
    pub schema_version: Option<i64>,
    pub counts: Option<Counts>,
    pub ledger_head: Option<LedgerHead>,
    pub log_file: Option<String>,
    pub uptime_seconds: u64,
    pub operator: String,
    /// True when the counts are limited to the operator's institution.
    pub scoped: bool,
    /// How long gathering this report took.
    pub elapsed_ms: f64,
    /// This process's service operations and store calls (`store.*`): counts, errors by code,
    /// latency percentiles over the last minute and since start.
    pub operations: Vec<OpFigures>,
    /// The database's own statistics (PostgreSQL; root only).
    pub db: Option<DbStats>,
    /// The read replica, if one is configured: its state, lag and the reads it answered.
    pub replica: Option<ReplicaStatus>,
    /// On-chain anchors, once there are any: the last confirmed, how many wait, the last error.
    pub anchors: Option<crate::domain::anchor::AnchorSummary>,
    /// This store is a mirror's target: whose, and its mirror's last step (its lag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<crate::store::MirrorOf>,
    /// The stores this one is mirrored to, each with its mirror's last step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrored_to: Vec<crate::store::MirroredTo>,
    /// Through a server (`--server`): the server's own readiness (`/ready`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerReadiness>,
}

/// A server's readiness, as its `/ready` says it.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServerReadiness {
    pub url: String,
    pub ready: bool,
    pub reasons: Vec<String>,
    /// The newest seq the server's background check verified.
    pub chain_verified_seq: Option<i64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerHead {
    pub seq: i64,
    pub hash: String,
}

/// How long a sum of what positions hold is shown before it is summed again: it reads every
/// funded position's row (0.3 s at 1,000,000 positions on SQLite), and health is asked for by
/// readiness probes, metric scrapes and the Health tab.
pub const HELD_FOR: std::time::Duration = std::time::Duration::from_secs(15);

/// The last sum of what positions hold, by scope (None: every institution).
pub type HeldCache = std::sync::Mutex<
    std::collections::HashMap<
        Option<String>,
        (
            std::time::Instant,
            Vec<(crate::domain::Currency, crate::domain::Balance)>,
        ),
    >,
>;

impl Service {
    /// What funded positions hold, by currency: summed again when the last sum for this scope
    /// is older than `HELD_FOR`.
    async fn held_totals(
        &self,
        scope: Option<&str>,
    ) -> crate::store::StoreResult<Vec<(crate::domain::Currency, crate::domain::Balance)>> {
        let key = scope.map(str::to_string);
        if let Some((at, v)) = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && at.elapsed() < HELD_FOR
        {
            return Ok(v.clone());
        }
        let v = self.store.held_totals(scope).await?;
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (std::time::Instant::now(), v.clone()));
        Ok(v)
    }

    pub async fn health(&self, actor: &Actor) -> HealthReport {
        let start = std::time::Instant::now();
        let mut report = self.gather_health(actor).await;
        report.elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
        report
    }

    async fn gather_health(&self, actor: &Actor) -> HealthReport {
        let mut report = self.gather_store_health(actor).await;
        report.pool = self.store.diagnostics().pool_stats();
        report.replica = self.store.diagnostics().replica_status().await;
        report.anchors = self
            .store
            .anchor_summary()
            .await
            .ok()
            .filter(|a| a.last_confirmed.is_some() || a.pending > 0 || a.last_error.is_some());
        // Not readable (a schema before the mark, a role without the grant): no mark shown.
        report.mirror = self.store.mirror_of().await.ok().flatten();
        report.mirrored_to = self.store.mirrored_to().await.unwrap_or_default();
        report.operations = self.metrics().figures();
        report.operations.extend(self.store.diagnostics().timings());
        report
    }

    async fn gather_store_health(&self, actor: &Actor) -> HealthReport {
        let about = self.store.diagnostics();
        let mut report =
            HealthReport::unreachable(self.store.backend(), about.target(), String::new());
        report.error = None;
        report.durability = about.durability();
        report.transport = about.transport();
        report.writes_refused = about.writes_refused();
        report.pool = about.pool_stats();
        report.log_file = self.config().log_file.clone();
        report.uptime_seconds = self.uptime().as_secs();
        report.operator = actor.describe();
        report.scoped = actor.scope().is_some();
        self.gather_into(report, actor).await
    }

    async fn gather_into(&self, mut report: HealthReport, actor: &Actor) -> HealthReport {
        let store = &self.store;
        let about = store.diagnostics();
        let mut errors_db: Option<String> = None;
        match about.ping().await {
            Ok(d) => {
                report.connected = true;
                report.ping_ms = Some(d.as_secs_f64() * 1000.0);
            }
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        }
        let (schema, counts, head, db) = tokio::join!(
            about.schema_version(),
            store.counts(actor.scope()),
            store.ledger_head(),
            async {
                match actor.is_root() {
                    true => about.db_stats().await,
                    false => Ok(None),
                }
            }
        );
        match db {
            Ok(d) => report.db = d,
            Err(e) => errors_db = Some(e.to_string()),
        }
        let mut errors: Vec<String> = errors_db.into_iter().collect();
        match schema {
            Ok(v) => report.schema_version = v,
            Err(e) => errors.push(e.to_string()),
        }
        match counts {
            Ok(mut c) => {
                match self.held_totals(actor.scope()).await {
                    Ok(h) => c.held = h,
                    Err(e) => errors.push(e.to_string()),
                }
                report.counts = Some(c)
            }
            Err(e) => errors.push(e.to_string()),
        }
        match head {
            // The head hash names the newest event of the whole chain; institution operators
            // see only its seq.
            Ok(h) => {
                report.ledger_head = h.map(|(seq, hash)| LedgerHead {
                    seq,
                    hash: if actor.scope().is_some() {
                        String::new()
                    } else {
                        hash
                    },
                })
            }
            Err(e) => errors.push(e.to_string()),
        }
        if !errors.is_empty() {
            report.error = Some(errors.join("; "));
        }
        report
    }
}

impl HealthReport {
    /// The report of a store that could not be opened: not connected, with why.
    pub fn unreachable(backend: impl ToString, target: String, error: String) -> Self {
        HealthReport {
            backend: backend.to_string(),
            target,
            durability: String::new(),
            transport: None,
            writes_refused: None,
            connected: false,
            ping_ms: None,
            error: Some(error),
            pool: None,
            schema_version: None,
            counts: None,
            ledger_head: None,
            log_file: None,
            uptime_seconds: 0,
            operator: String::new(),
            scoped: false,
            elapsed_ms: 0.0,
            operations: Vec::new(),
            db: None,
            replica: None,
            anchors: None,
            mirror: None,
            mirrored_to: Vec::new(),
            server: None,
        }
    }
}

/// The report in the Prometheus text exposition format (for node_exporter's textfile collector
/// or any scraper): gauges and counters named `escrowgrid_*`, and per operation a latency
/// histogram since the process started (fixed buckets, so the figures of many hosts add up).
pub fn prometheus(h: &HealthReport) -> String {
    use crate::metrics::label;
    use std::fmt::Write;
    let mut o = String::new();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP escrowgrid_{name} {help}");
        let _ = writeln!(o, "# TYPE escrowgrid_{name} {kind}");
    };
    let backend = label(&h.backend);
    family(
        &mut o,
        "build_info",
        "gauge",
        "The binary: version, commit built from, optional features built in.",
    );
    let _ = writeln!(
        o,
        "escrowgrid_build_info{{version=\"{}\",commit=\"{}\",features=\"{}\"}} 1",
        label(crate::build::VERSION),
        label(crate::build::COMMIT),
        label(crate::build::FEATURES)
    );
    family(&mut o, "up", "gauge", "Whether the store answered.");
    let _ = writeln!(
        o,
        "escrowgrid_up{{backend=\"{backend}\"}} {}",
        h.connected as u8
    );
    if let Some(p) = h.ping_ms {
        family(
            &mut o,
            "ping_seconds",
            "gauge",
            "Round trip of a trivial query.",
        );
        let _ = writeln!(o, "escrowgrid_ping_seconds {}", p / 1000.0);
    }
    family(
        &mut o,
        "operations_total",
        "counter",
        "Calls per service operation and store call.",
    );
    for f in &h.operations {
        let _ = writeln!(
            o,
            "escrowgrid_operations_total{{op=\"{}\"}} {}",
            label(&f.name),
            f.count
        );
    }
    family(
        &mut o,
        "operation_errors_total",
        "counter",
        "Failed calls by error code.",
    );
    for f in &h.operations {
        for (code, n) in &f.errors {
            let _ = writeln!(
                o,
                "escrowgrid_operation_errors_total{{op=\"{}\",code=\"{}\"}} {n}",
                label(&f.name),
                label(code)
            );
        }
    }
    histogram(
        &mut o,
        "operation_duration_seconds",
        "Latency of each service operation and store call since the process started.",
        "op",
        &h.operations,
    );
    if let Some(p) = &h.pool {
        family(
            &mut o,
            "pool_connections",
            "gauge",
            "Open pooled connections by state (in_use + idle = open).",
        );
        let _ = writeln!(
            o,
            "escrowgrid_pool_connections{{state=\"in_use\"}} {}",
            p.size.saturating_sub(p.idle)
        );
        let _ = writeln!(
            o,
            "escrowgrid_pool_connections{{state=\"idle\"}} {}",
            p.idle
        );
        family(
            &mut o,
            "pool_max_connections",
            "gauge",
            "The most connections the pools may open.",
        );
        let _ = writeln!(o, "escrowgrid_pool_max_connections {}", p.max);
        family(
            &mut o,
            "pool_waits_total",
            "counter",
            "Reads that waited for a free connection.",
        );
        let _ = writeln!(o, "escrowgrid_pool_waits_total {}", p.waits);
    }
    if let Some(r) = &h.replica {
        family(
            &mut o,
            "replica_in_use",
            "gauge",
            "Whether reads go to the read replica.",
        );
        let _ = writeln!(
            o,
            "escrowgrid_replica_in_use{{state=\"{}\"}} {}",
            label(&r.state),
            r.in_use as u8
        );
        if let Some(b) = r.lag_bytes {
            family(
                &mut o,
                "replica_lag_bytes",
                "gauge",
                "WAL the replica has still to replay.",
            );
            let _ = writeln!(o, "escrowgrid_replica_lag_bytes {b}");
        }
        if let Some(t) = r.lag_seconds {
            family(
                &mut o,
                "replica_lag_seconds",
                "gauge",
                "Age of the replica's last replayed transaction while it is behind.",
            );
            let _ = writeln!(o, "escrowgrid_replica_lag_seconds {t}");
        }
        family(
            &mut o,
            "reads_total",
            "counter",
            "Replica-eligible reads by where they ran.",
        );
        let _ = writeln!(
            o,
            "escrowgrid_reads_total{{source=\"replica\"}} {}",
            r.replica_reads
        );
        let _ = writeln!(
            o,
            "escrowgrid_reads_total{{source=\"primary\"}} {}",
            r.fallback_reads
        );
    }
    if let Some(a) = &h.anchors {
        family(
            &mut o,
            "anchored_seq",
            "gauge",
            "The newest ledger seq confirmed on the chain.",
        );
        let seq = a.last_confirmed.as_ref().map(|c| c.seq).unwrap_or(0);
        let _ = writeln!(o, "escrowgrid_anchored_seq {seq}");
        family(
            &mut o,
            "anchors_waiting",
            "gauge",
            "Anchors not yet confirmed on the chain.",
        );
        let _ = writeln!(o, "escrowgrid_anchors_waiting {}", a.pending);
    }
    // A mirror's lag, on either side: the target's (no label) and each of the source's mirrors.
    let mirrors: Vec<(String, &crate::store::MirrorLast)> = h
        .mirror
        .iter()
        .map(|m| (String::new(), &m.last))
        .chain(
            h.mirrored_to
                .iter()
                .map(|m| (format!("{{target=\"{}\"}}", label(&m.target)), &m.last)),
        )
        .collect();
    if !mirrors.is_empty() {
        family(
            &mut o,
            "mirror_behind_events",
            "gauge",
            "Ledger events a mirror's target was behind its source at the mirror's last step (labelled with the target on the source's side).",
        );
        for (labels, last) in &mirrors {
            let _ = writeln!(
                o,
                "escrowgrid_mirror_behind_events{labels} {}",
                last.behind_events
            );
        }
        family(
            &mut o,
            "mirror_behind_seconds",
            "gauge",
            "Seconds between the source's newest event and the target's at the mirror's last step.",
        );
        for (labels, last) in &mirrors {
            let seconds = last.behind_ms as f64 / 1000.0;
            let _ = writeln!(o, "escrowgrid_mirror_behind_seconds{labels} {seconds}");
        }
        family(
            &mut o,
            "mirror_step_age_seconds",
            "gauge",
            "Seconds since the mirror's last step (a mirror that stopped grows this).",
        );
        for (labels, last) in &mirrors {
            let age = last.step_age().as_secs_f64();
            let _ = writeln!(o, "escrowgrid_mirror_step_age_seconds{labels} {age}");
        }
    }
    if let Some(c) = &h.counts {
        family(&mut o, "entities", "gauge", "Stored entities by kind.");
        for (kind, n) in [
            ("institutions", c.institutions),
            ("templates", c.templates),
            ("assets", c.assets),
            ("positions", c.positions),
            ("ledger_events", c.ledger_events),
            ("audit_events", c.audit_events),
        ] {
            let _ = writeln!(o, "escrowgrid_entities{{kind=\"{kind}\"}} {n}");
        }
        family(&mut o, "positions", "gauge", "Positions by state.");
        for (state, n) in &c.positions_by_state {
            let _ = writeln!(o, "escrowgrid_positions{{state=\"{state}\"}} {n}");
        }
        family(
            &mut o,
            "held",
            "gauge",
            "What funded positions hold in escrow, by currency (positions of unknown balance left out).",
        );
        for (currency, total) in &c.held {
            let _ = writeln!(o, "escrowgrid_held{{currency=\"{currency}\"}} {total}");
        }
    }
    if let Some(head) = &h.ledger_head {
        family(
            &mut o,
            "ledger_head_seq",
            "gauge",
            "Sequence number of the newest ledger event.",
        );
        let _ = writeln!(o, "escrowgrid_ledger_head_seq {}", head.seq);
    }
    if let Some(d) = &h.db {
        family(
            &mut o,
            "database_size_bytes",
            "gauge",
            "pg_database_size of the database.",
        );
        let _ = writeln!(o, "escrowgrid_database_size_bytes {}", d.size_bytes);
        for (name, help, n) in [
            (
                "deadlocks_total",
                "Deadlocks detected in the database (pg_stat_database).",
                d.deadlocks,
            ),
            (
                "conflicts_total",
                "Queries cancelled for conflicts with recovery (pg_stat_database).",
                d.conflicts,
            ),
            (
                "commits_total",
                "Transactions committed in the database.",
                d.commits,
            ),
            (
                "rollbacks_total",
                "Transactions rolled back in the database.",
                d.rollbacks,
            ),
        ] {
            family(&mut o, name, "counter", help);
            let _ = writeln!(o, "escrowgrid_{name} {n}");
        }
        family(
            &mut o,
            "table_rows",
            "gauge",
            "Live and dead rows per table (pg_stat_user_tables).",
        );
        for t in &d.tables {
            let name = label(&t.name);
            let _ = writeln!(
                o,
                "escrowgrid_table_rows{{table=\"{name}\",state=\"live\"}} {}",
                t.live_rows
            );
            let _ = writeln!(
                o,
                "escrowgrid_table_rows{{table=\"{name}\",state=\"dead\"}} {}",
                t.dead_rows
            );
        }
        family(
            &mut o,
            "table_last_vacuum_timestamp_seconds",
            "gauge",
            "When each table was last vacuumed (by hand or autovacuum), Unix time.",
        );
        for t in &d.tables {
            if let Some(at) = t.last_vacuum.as_deref().and_then(unix) {
                let _ = writeln!(
                    o,
                    "escrowgrid_table_last_vacuum_timestamp_seconds{{table=\"{}\"}} {at}",
                    label(&t.name)
                );
            }
        }
        family(
            &mut o,
            "table_last_analyze_timestamp_seconds",
            "gauge",
            "When each table was last analyzed (by hand or autovacuum), Unix time.",
        );
        for t in &d.tables {
            if let Some(at) = t.last_analyze.as_deref().and_then(unix) {
                let _ = writeln!(
                    o,
                    "escrowgrid_table_last_analyze_timestamp_seconds{{table=\"{}\"}} {at}",
                    label(&t.name)
                );
            }
        }
    }
    o
}

fn unix(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp())
}

/// A Prometheus histogram family `escrowgrid_<name>` with one series per figure, labelled
/// `<label>="<figure's name>"`, over the fixed `EXPORT_LE` buckets.
pub fn histogram(o: &mut String, name: &str, help: &str, label_name: &str, figures: &[OpFigures]) {
    use std::fmt::Write;
    let _ = writeln!(o, "# HELP escrowgrid_{name} {help}");
    let _ = writeln!(o, "# TYPE escrowgrid_{name} histogram");
    for f in figures {
        let v = crate::metrics::label(&f.name);
        for (le, n) in crate::metrics::EXPORT_LE.iter().zip(&f.le_counts) {
            let _ = writeln!(
                o,
                "escrowgrid_{name}_bucket{{{label_name}=\"{v}\",le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            o,
            "escrowgrid_{name}_bucket{{{label_name}=\"{v}\",le=\"+Inf\"}} {}",
            f.count
        );
        let _ = writeln!(
            o,
            "escrowgrid_{name}_sum{{{label_name}=\"{v}\"}} {}",
            f.sum_ms / 1000.0
        );
        let _ = writeln!(
            o,
            "escrowgrid_{name}_count{{{label_name}=\"{v}\"}} {}",
            f.count
        );
    }
}
