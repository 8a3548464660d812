//! `escrowgrid bench write`: the write path and the hot reads, each beside a baseline measured in
//! the same run, on a database the bench creates and drops (a schema of its own on PostgreSQL, a
//! temporary file beside the configured one on SQLite): never the operator's data.
//!
//! Writes: create, transition, and a mix (1 create : 3 transitions), with 1 and 16 concurrent
//! callers in one process and 2 processes × 16 callers on one database. Reads: get, get with
//! history, and a page of 50 deep into a large table. Baselines: for SQL, plain one-row
//! autocommit INSERTs into a scratch table at the same concurrency and durability (what pgbench
//! measures; each caller with a connection of its own on PostgreSQL; one connection on SQLite,
//! whose writers are serial anyway), and for reads the same query sent raw; for memory, sealing
//! alone (canonical bytes and SHA-256 of the same events, one core). Each figure is the median of
//! `runs` runs; the ratio is ours ÷ baseline.

use super::baseline::{RawConn, baseline_inserts, baseline_sealing};
use super::fixture;
pub use super::op::Op;
use super::scratch::{Scratch, load_rows};
use crate::service::{
    Actor, NewPosition, Service, ServiceConfig, ServiceError, ServiceResult, TransitionRequest,
};
use crate::store::{
    self, Backend, Options, PositionCursor, PositionQuery, PositionSortKey, SharedStore,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What to measure, and how much.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Operations per run with one caller.
    pub ops_one: usize,
    /// Operations per run with many callers (per process).
    pub ops_many: usize,
    pub callers: usize,
    pub runs: usize,
    /// Rows to load for the read figures (0: no reads).
    pub rows: u64,
    /// Also run 2 processes × `callers` (SQL stores).
    pub processes: bool,
    /// Memory: one unmeasured pass of the writes first, on a store of its own (`warm_up`).
    pub warm_up: bool,
}

impl Plan {
    pub fn default_for(backend: Backend) -> Plan {
        let (ops_one, ops_many) = match backend {
            Backend::Memory => (100_000, 200_000),
            _ => (2_000, 8_000),
        };
        Plan {
            ops_one,
            ops_many,
            callers: 16,
            runs: 3,
            rows: 1_000_000,
            processes: true,
            warm_up: true,
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchRow {
    pub backend: String,
    pub op: String,
    pub callers: usize,
    pub processes: usize,
    pub ops: usize,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub baseline_ops_per_sec: Option<f64>,
    /// ops_per_sec ÷ baseline_ops_per_sec.
    pub ratio: Option<f64>,
    /// What the baseline is.
    pub baseline: String,
    /// PostgreSQL creates with many callers: the schema's ceiling measured in the same run
    /// (`bench::ceiling`), and ops_per_sec as a share of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling_ops_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub of_ceiling: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteReport {
    pub results: Vec<BenchRow>,
    pub backend: String,
    pub durability: String,
    pub runs: usize,
    pub cores: usize,
    /// Memory: whether an unmeasured warm-up pass ran first (see `warm_up`).
    pub warmed_up: bool,
    /// 1, 5 and 15-minute load averages when the bench started and ended (Linux).
    pub load_average_start: Option<[f64; 3]>,
    pub load_average_end: Option<[f64; 3]>,
}

pub fn load_average() -> Option<[f64; 3]> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = s.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// A measured run: operations, wall time, each operation's latency.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    pub ops: usize,
    pub seconds: f64,
    pub latencies_ns: Vec<u64>,
}

impl Sample {
    fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ops as f64 / self.seconds
        } else {
            0.0
        }
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        let mut v = self.latencies_ns.clone();
        v.sort_unstable();
        v.get(((v.len().max(1) - 1) as f64 * q).round() as usize)
            .map(|ns| *ns as f64 / 1_000_000.0)
            .unwrap_or(0.0)
    }

    /// The sample of concurrent callers that started at `start`: each task returns the
    /// latencies of its operations.
    async fn gather(
        tasks: Vec<tokio::task::JoinHandle<ServiceResult<Vec<u64>>>>,
        start: Instant,
    ) -> ServiceResult<Sample> {
        let mut latencies_ns = Vec::new();
        for task in tasks {
            latencies_ns.extend(task.await.map_err(internal)??);
        }
        Ok(Sample {
            ops: latencies_ns.len(),
            seconds: start.elapsed().as_secs_f64(),
            latencies_ns,
        })
    }

    fn merge(samples: Vec<Sample>) -> Sample {
        Sample {
            ops: samples.iter().map(|s| s.ops).sum(),
            seconds: samples.iter().map(|s| s.seconds).fold(0.0, f64::max),
            latencies_ns: samples.into_iter().flat_map(|s| s.latencies_ns).collect(),
        }
    }
}

/// The median of several runs by rate (the run itself, so its latencies come with it).
fn median(mut runs: Vec<Sample>) -> Sample {
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

fn median_rate(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

// ---- the service under load ------------------------------------------------------------------

#[derive(Clone)]
struct Target {
    svc: Arc<Service>,
    actor: Actor,
    institution: String,
    asset: String,
}

impl Target {
    /// A service on `store`, acting as the local operator, with the bench's institution and
    /// asset made in it.
    async fn with_fixture(store: SharedStore) -> ServiceResult<Target> {
        let svc = Arc::new(Service::new(store, ServiceConfig::default()));
        let actor = Actor::local();
        let (institution, asset) = fixture(&svc, &actor).await?;
        Ok(Target {
            svc,
            actor,
            institution,
            asset,
        })
    }

    fn new_position(&self, holder: String) -> NewPosition {
        NewPosition {
            institution_id: Some(self.institution.clone()),
            asset_id: self.asset.clone(),
            holder_reference: holder,
            currency: "USD".into(),
            amount: "1250.50".into(),
            external_reference: None,
        }
    }

    async fn create(&self, holder: String) -> ServiceResult<String> {
        Ok(self
            .svc
            .create_position(&self.actor, self.new_position(holder))
            .await?
            .id)
    }

    async fn transition(&self, id: &str, to: &str) -> ServiceResult<()> {
        self.svc
            .transition_position(
                &self.actor,
                id,
                TransitionRequest {
                    to: to.into(),
                    // The positions hold 1,250.50: a partial release of 250.
                    amount: (to == "PARTIALLY_RELEASED").then(|| "250".into()),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ())
    }
}

const STEPS: [&str; 3] = ["FUNDED", "PARTIALLY_RELEASED", "RELEASED"];

/// Positions in CREATED for the transition runs: `per_caller` for each caller (not timed).
async fn positions_for(
    t: &Target,
    callers: usize,
    per_caller: usize,
    tag: &str,
) -> ServiceResult<Vec<Vec<String>>> {
    let mut tasks = Vec::new();
    for c in 0..callers {
        let (t, tag) = (t.clone(), tag.to_string());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(per_caller);
            for i in 0..per_caller {
                ids.push(t.create(format!("PRE-{tag}-{c}-{i}")).await?);
            }
            Ok::<_, ServiceError>(ids)
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.map_err(internal)??);
    }
    Ok(out)
}

/// Runs `f` and records how long it took.
async fn timed(
    lat: &mut Vec<u64>,
    f: impl Future<Output = ServiceResult<()>>,
) -> ServiceResult<()> {
    let s = Instant::now();
    f.await?;
    lat.push(s.elapsed().as_nanos() as u64);
    Ok(())
}

/// `ops` operations of `op` from `callers` concurrent callers, timed.
async fn run_writes(
    t: &Target,
    op: Op,
    callers: usize,
    ops: usize,
    tag: &str,
) -> ServiceResult<Sample> {
    let per_caller = ops.div_ceil(callers);
    let prepared = match op {
        Op::Transition => Some(positions_for(t, callers, per_caller.div_ceil(3), tag).await?),
        _ => None,
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let t = t.clone();
        let mine = prepared.as_ref().map(|p| p[c].clone());
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_caller);
            match op {
                Op::Create => {
                    for i in 0..per_caller {
                        let holder = format!("C-{tag}-{c}-{i}");
                        timed(&mut lat, async { t.create(holder).await.map(|_| ()) }).await?;
                    }
                }
                Op::Transition => {
                    let ids = mine.unwrap_or_default();
                    'all: for id in &ids {
                        for to in STEPS {
                            if lat.len() >= per_caller {
                                break 'all;
                            }
                            timed(&mut lat, t.transition(id, to)).await?;
                        }
                    }
                }
                _ => {
                    let mut i = 0;
                    while lat.len() < per_caller {
                        let s = Instant::now();
                        let id = t.create(format!("M-{tag}-{c}-{i}")).await?;
                        lat.push(s.elapsed().as_nanos() as u64);
                        for to in STEPS {
                            if lat.len() >= per_caller {
                                break;
                            }
                            timed(&mut lat, t.transition(&id, to)).await?;
                        }
                        i += 1;
                    }
                }
            }
            Ok::<_, ServiceError>(lat)
        }));
    }
    Sample::gather(tasks, start).await
}

// ---- reads ---------------------------------------------------------------------------------------

/// One read figure: `ops` reads of `op` from `callers` concurrent callers over `ids` (`deep`:
/// the id a deep page starts after).
struct Reads<'a> {
    op: Op,
    callers: usize,
    ops: usize,
    ids: &'a Arc<Vec<String>>,
    deep: &'a str,
}

/// Runs `r` through the service (`raw` false) or as the bare query on connections of its own
/// (`raw` true, the baseline).
async fn run_reads(
    t: &Target,
    scratch: &Scratch,
    r: &Reads<'_>,
    raw: bool,
) -> ServiceResult<Sample> {
    let (op, callers, ops, ids, deep) = (r.op, r.callers, r.ops, r.ids, r.deep);
    let per_caller = ops.div_ceil(callers);
    let mut raw_conns: Vec<Option<RawConn>> = Vec::new();
    for _ in 0..callers {
        raw_conns.push(if raw {
            Some(RawConn::open(scratch).await?)
        } else {
            None
        });
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, mut conn) in raw_conns.into_iter().enumerate() {
        let (t, ids, deep) = (t.clone(), ids.clone(), deep.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_caller);
            for i in 0..per_caller {
                let id = &ids[(c * 7919 + i * 31) % ids.len()];
                let s = Instant::now();
                match (&mut conn, op) {
                    (Some(rc), _) => rc.read(op, id, &deep).await?,
                    (None, Op::Get) => {
                        t.svc.get_position(&t.actor, id).await?;
                    }
                    (None, Op::GetWithHistory) => {
                        t.svc.position_detail(&t.actor, id).await?;
                    }
                    (None, _) => {
                        let page = t
                            .svc
                            .list_positions(
                                &t.actor,
                                PositionQuery {
                                    sort: PositionSortKey::Created,
                                    cursor: Some(PositionCursor {
                                        value: String::new(),
                                        id: deep.clone(),
                                    }),
                                    limit: 50,
                                    ..Default::default()
                                },
                            )
                            .await?;
                        std::hint::black_box(page);
                    }
                }
                lat.push(s.elapsed().as_nanos() as u64);
            }
            Ok::<_, ServiceError>(lat)
        }));
    }
    Sample::gather(tasks, start).await
}

// ---- two processes -------------------------------------------------------------------------------

/// What a worker process reports.
#[derive(Debug, Serialize, Deserialize)]
pub struct WorkerReport {
    pub sample: Sample,
}

/// Runs in a worker process (`bench worker`): prepares, says `ready`, waits for `go` on stdin,
/// runs, prints its sample as one JSON line.
/// What `bench write` tells each of its worker processes.
pub struct WorkerArgs {
    pub op: Op,
    pub callers: usize,
    pub ops: usize,
    pub institution: String,
    pub asset: String,
}

pub async fn worker(
    backend: Backend,
    url: &str,
    opts: &Options,
    w: WorkerArgs,
) -> ServiceResult<()> {
    let WorkerArgs {
        op,
        callers,
        ops,
        institution,
        asset,
    } = w;
    let store = store::open_with(backend, url, opts).await?;
    let t = Target {
        svc: Arc::new(Service::new(store, ServiceConfig::default())),
        actor: Actor::local(),
        institution,
        asset,
    };
    let tag = format!("W{}", std::process::id());
    // Prepare before saying ready, so the timed part is the same as in one process.
    let prepared = match op {
        Op::Transition => {
            Some(positions_for(&t, callers, ops.div_ceil(callers).div_ceil(3), &tag).await?)
        }
        _ => None,
    };
    drop(prepared);
    let mut out = tokio::io::stdout();
    out.write_all(b"ready\n").await.map_err(internal)?;
    out.flush().await.map_err(internal)?;
    let mut line = String::new();
    BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .map_err(internal)?;
    let sample = run_writes(&t, op, callers, ops, &tag).await?;
    let text = serde_json::to_string(&WorkerReport { sample }).map_err(internal)?;
    out.write_all(text.as_bytes()).await.map_err(internal)?;
    out.write_all(b"\n").await.map_err(internal)?;
    out.flush().await.map_err(internal)?;
    Ok(())
}

/// Creates positions from `callers` concurrent callers until the process is killed, printing
/// `ack <id>` (flushed) as soon as each create is acknowledged: what a crash test checks
/// survived.
pub async fn ack_writer(
    backend: Backend,
    url: &str,
    opts: &Options,
    callers: usize,
    institution: String,
    asset: String,
) -> ServiceResult<()> {
    let store = store::open_with(backend, url, opts).await?;
    let t = Target {
        svc: Arc::new(Service::new(store, ServiceConfig::default())),
        actor: Actor::local(),
        institution,
        asset,
    };
    let mut tasks = Vec::new();
    for c in 0..callers.max(1) {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0u64.. {
                let id = t
                    .create(format!("ACK-{}-{c}-{i}", std::process::id()))
                    .await?;
                let mut out = std::io::stdout().lock();
                std::io::Write::write_all(&mut out, format!("ack {id}\n").as_bytes())
                    .and_then(|_| std::io::Write::flush(&mut out))
                    .map_err(internal)?;
            }
            Ok::<_, ServiceError>(())
        }));
    }
    for task in tasks {
        task.await.map_err(internal)??;
    }
    Ok(())
}

/// Two worker processes of this binary on one database, started together.
async fn run_two_processes(
    backend: Backend,
    url: &str,
    opts: &Options,
    t: &Target,
    op: Op,
    callers: usize,
    ops: usize,
) -> ServiceResult<Sample> {
    let exe = std::env::current_exe().map_err(internal)?;
    let mut children = Vec::new();
    for _ in 0..2 {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.arg("--store")
            .arg(backend.as_str())
            .arg("--database-url")
            .arg(url)
            .arg("bench")
            .arg("worker")
            .arg("--op")
            .arg(op.name())
            .arg("--callers")
            .arg(callers.to_string())
            .arg("--ops")
            .arg(ops.to_string())
            .arg("--institution")
            .arg(&t.institution)
            .arg("--asset")
            .arg(&t.asset)
            .env(
                "ESCROWGRID_SQLITE_SYNCHRONOUS",
                opts.sqlite_synchronous.as_str(),
            )
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(internal)?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| internal("no stdout"))?);
        children.push((child, stdout.lines()));
    }
    for (_, lines) in children.iter_mut() {
        let line = lines.next_line().await.map_err(internal)?;
        if line.as_deref() != Some("ready") {
            return Err(internal(format!("a bench worker did not start: {line:?}")));
        }
    }
    for (child, _) in children.iter_mut() {
        let stdin = child.stdin.as_mut().ok_or_else(|| internal("no stdin"))?;
        stdin.write_all(b"go\n").await.map_err(internal)?;
        stdin.flush().await.map_err(internal)?;
    }
    let mut samples = Vec::new();
    for (mut child, mut lines) in children {
        let line = lines
            .next_line()
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("a bench worker ended without a result"))?;
        let r: WorkerReport = serde_json::from_str(&line).map_err(internal)?;
        samples.push(r.sample);
        let _ = child.wait().await;
    }
    Ok(Sample::merge(samples))
}

// ---- the whole bench ---------------------------------------------------------------------------

/// Runs the plan on a scratch database beside `configured_url`; `progress` hears of each figure.
pub async fn run(
    backend: Backend,
    configured_url: &str,
    opts: &Options,
    plan: &Plan,
    progress: &mut dyn FnMut(&BenchRow),
) -> ServiceResult<WriteReport> {
    let load_average_start = load_average();
    let scratch = Scratch::create(backend, configured_url).await?;
    let ceiling = match backend {
        Backend::Postgres => match super::ceiling::Ceiling::prepare(configured_url, opts).await {
            Ok(c) => Some(c),
            Err(e) => {
                let _ = scratch.remove().await;
                return Err(e);
            }
        },
        _ => None,
    };
    let result = run_on(backend, &scratch, ceiling.as_ref(), opts, plan, progress).await;
    let removed = scratch.remove().await;
    if let Some(c) = ceiling {
        c.remove().await?;
    }
    let mut report = result?;
    removed?;
    report.load_average_start = load_average_start;
    report.load_average_end = load_average();
    Ok(report)
}

/// Memory: one unmeasured pass of the measured writes (every op, one caller and many) on a
/// store of its own, dropped before the measured runs begin. The memory store grows by every
/// write it keeps, and on a virtual machine whose host backs guest memory only when it is first
/// touched, that first touch costs about as much as the write itself (on the machine
/// BENCHMARKS.md describes, touching fresh memory ran at ≈ 0.4 GB/s: ≈ 4 µs for a write's
/// ≈ 1.7 KB), so a cold figure says more about what earlier processes left touched than about
/// the write path.
/// The pass touches as much memory as one measured run of each op keeps and gives it back; the
/// sealing baseline keeps nothing and needs no pass. `--cold` skips it.
async fn warm_up(plan: &Plan) -> ServiceResult<()> {
    let t = Target::with_fixture(Arc::new(store::memory::MemoryStore::new())).await?;
    let sets = [(1, plan.ops_one), (plan.callers, plan.ops_many)];
    for (n, (callers, ops)) in sets.into_iter().enumerate() {
        for op in [Op::Create, Op::Transition, Op::Mix] {
            run_writes(&t, op, callers, ops, &format!("WARM{n}{}", op.name())).await?;
        }
    }
    Ok(())
}

async fn run_on(
    backend: Backend,
    scratch: &Scratch,
    ceiling: Option<&super::ceiling::Ceiling>,
    opts: &Options,
    plan: &Plan,
    progress: &mut dyn FnMut(&BenchRow),
) -> ServiceResult<WriteReport> {
    let warmed_up = backend == Backend::Memory && plan.warm_up;
    if warmed_up {
        warm_up(plan).await?;
    }
    let memory = (backend == Backend::Memory).then(|| Arc::new(store::memory::MemoryStore::new()));
    let store: SharedStore = match &memory {
        Some(m) => m.clone(),
        None => store::open_with(backend, scratch.url(), opts).await?,
    };
    let durability = store.diagnostics().durability();
    let t = Target::with_fixture(store.clone()).await?;
    let mut results = Vec::new();
    let mut emit = |row: BenchRow, results: &mut Vec<BenchRow>| {
        progress(&row);
        results.push(row);
    };
    let name = backend.as_str().to_string();
    let baseline_name = match backend {
        Backend::Memory => "sealing alone (canonical bytes + SHA-256, one core)",
        _ => "one-row autocommit INSERTs at the same concurrency and durability",
    };
    let mut tag = 0;
    let sets = [(1, plan.ops_one), (plan.callers, plan.ops_many)];
    let n_sets = if plan.callers > 1 { 2 } else { 1 };
    for (callers, ops) in sets.into_iter().take(n_sets) {
        for op in [Op::Create, Op::Transition, Op::Mix] {
            let mut runs = Vec::new();
            let mut base = Vec::new();
            // The schema's ceiling beside the creates of many callers (PostgreSQL).
            let ceiling = ceiling.filter(|_| op == Op::Create && callers > 1);
            let mut ceilings = Vec::new();
            for round in 0..plan.runs {
                tag += 1;
                runs.push(run_writes(&t, op, callers, ops, &format!("R{tag}")).await?);
                base.push(match backend {
                    Backend::Memory => {
                        tokio::task::spawn_blocking(move || baseline_sealing(op, ops))
                            .await
                            .map_err(internal)?
                    }
                    _ => baseline_inserts(backend, scratch.url(), opts, callers, ops).await?,
                });
                if let Some(c) = ceiling {
                    ceilings.push(c.measure(ops, round).await?);
                }
            }
            let base = median_rate(base);
            let s = median(runs);
            let mut r = row(&name, op, callers, 1, &s, Some(base), baseline_name);
            if !ceilings.is_empty() {
                let c = median_rate(ceilings);
                r.ceiling_ops_per_sec = Some(c);
                r.of_ceiling = Some(r.ops_per_sec / c);
            }
            emit(r, &mut results);
        }
    }
    if plan.processes && backend != Backend::Memory {
        for op in [Op::Create, Op::Transition, Op::Mix] {
            let mut runs = Vec::new();
            let mut base = Vec::new();
            for _ in 0..plan.runs {
                runs.push(
                    run_two_processes(
                        backend,
                        scratch.url(),
                        opts,
                        &t,
                        op,
                        plan.callers,
                        plan.ops_many,
                    )
                    .await?,
                );
                base.push(
                    baseline_inserts(backend, scratch.url(), opts, plan.callers, plan.ops_many)
                        .await?,
                );
            }
            let base = median_rate(base);
            let s = median(runs);
            emit(
                row(
                    &name,
                    op,
                    plan.callers,
                    2,
                    &s,
                    Some(base),
                    "one-row autocommit INSERTs, 16 callers in one process (the target's baseline)",
                ),
                &mut results,
            );
        }
    }
    if plan.rows > 0 {
        let (ids, deep) = load_rows(
            &t.institution,
            &t.asset,
            scratch,
            memory.as_deref(),
            plan.rows,
        )
        .await?;
        // Get-with-history reads positions that have a history: the ones the write runs moved.
        let moved: Vec<String> = t
            .svc
            .list_positions(
                &t.actor,
                PositionQuery {
                    filter: store::PositionFilter {
                        state: Some(crate::domain::PositionState::Released),
                        ..Default::default()
                    },
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        let ids = Arc::new(ids);
        let moved = Arc::new(if moved.is_empty() {
            ids.to_vec()
        } else {
            moved
        });
        let read_ops = if backend == Backend::Memory {
            plan.ops_many * 5
        } else {
            plan.ops_many * 2
        };
        // Reads with one caller and with many (one caller's figure is the latency a console
        // sees; many callers', what the store serves at once).
        let read_sets = [(1, read_ops / 2), (plan.callers, read_ops)];
        for (callers, ops) in read_sets.into_iter().take(n_sets) {
            for op in [Op::Get, Op::GetWithHistory, Op::Page] {
                let which = if op == Op::GetWithHistory {
                    &moved
                } else {
                    &ids
                };
                let mut runs = Vec::new();
                let mut base = Vec::new();
                let r = Reads {
                    op,
                    callers,
                    ops,
                    ids: which,
                    deep: &deep,
                };
                for _ in 0..plan.runs {
                    runs.push(run_reads(&t, scratch, &r, false).await?);
                    if backend != Backend::Memory {
                        base.push(run_reads(&t, scratch, &r, true).await?.rate());
                    }
                }
                let s = median(runs);
                let base = (!base.is_empty()).then(|| median_rate(base));
                emit(
                    row(
                        &name,
                        op,
                        callers,
                        1,
                        &s,
                        base,
                        if base.is_some() {
                            "the same query sent raw, on connections of its own"
                        } else {
                            "none"
                        },
                    ),
                    &mut results,
                );
            }
        }
    }
    Ok(WriteReport {
        results,
        backend: name,
        durability,
        runs: plan.runs,
        warmed_up,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load_average_start: None,
        load_average_end: None,
    })
}

fn row(
    backend: &str,
    op: Op,
    callers: usize,
    processes: usize,
    s: &Sample,
    base: Option<f64>,
    baseline: &str,
) -> BenchRow {
    let rate = s.rate();
    BenchRow {
        backend: backend.to_string(),
        op: op.name().to_string(),
        callers,
        processes,
        ops: s.ops,
        ops_per_sec: rate,
        p50_ms: s.quantile_ms(0.5),
        p99_ms: s.quantile_ms(0.99),
        baseline_ops_per_sec: base,
        ratio: base.filter(|b| *b > 0.0).map(|b| rate / b),
        baseline: baseline.to_string(),
        ceiling_ops_per_sec: None,
        of_ceiling: None,
    }
}
