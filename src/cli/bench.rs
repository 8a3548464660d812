//! `escrowgrid bench …`: runs a benchmark and prints its report (a table, or JSON with `--json`).
//! `bench write` opens only the scratch database it makes; `stream` and `console` open the
//! configured one.

use super::args::BenchCmd;
use super::outln;
use crate::bench::{self, write};
use crate::boot;
use crate::config::Config;
use crate::service::Backend;
use crate::service::{ServiceError, ServiceResult};

pub async fn run(cmd: BenchCmd, cfg: &Config, json: bool) -> ServiceResult<()> {
    let opts = cfg.store_options();
    match cmd {
        BenchCmd::Write {
            ops,
            ops_one,
            callers,
            runs,
            rows,
            no_processes,
            cold,
        } => {
            let mut plan = write::Plan::default_for(cfg.backend);
            plan.ops_many = ops.unwrap_or(plan.ops_many);
            plan.ops_one = ops_one.unwrap_or(plan.ops_one);
            plan.callers = callers;
            plan.runs = runs;
            plan.rows = rows;
            plan.processes = !no_processes;
            plan.warm_up = !cold;
            if plan.ops_many == 0 || plan.ops_one == 0 || !(1..=256).contains(&plan.callers) {
                return Err(ServiceError::field(
                    "ops",
                    "--ops and --ops-one must be at least 1 and --callers 1 to 256",
                ));
            }
            if !(1..=9).contains(&plan.runs) {
                return Err(ServiceError::field("runs", "must be between 1 and 9"));
            }
            if !json {
                outln!(
                    "bench write on {} (a scratch database beside {}), {} run(s) per figure, median shown{}; load average {}",
                    cfg.backend,
                    if cfg.backend == Backend::Memory {
                        "nothing"
                    } else {
                        "the configured one"
                    },
                    plan.runs,
                    if cfg.backend == Backend::Memory && plan.warm_up {
                        ", after one unmeasured warm-up pass (--cold skips it)"
                    } else {
                        ""
                    },
                    load(write::load_average())
                );
                outln!(
                    "{:<18} {:>7} {:>5} {:>8} {:>11} {:>9} {:>9} {:>12} {:>7} {:>10}",
                    "op",
                    "callers",
                    "procs",
                    "ops",
                    "ops/s",
                    "p50 ms",
                    "p99 ms",
                    "baseline/s",
                    "ratio",
                    "of ceiling"
                );
            }
            let mut print_row = |r: &write::BenchRow| {
                if !json {
                    outln!(
                        "{:<18} {:>7} {:>5} {:>8} {:>11.0} {:>9.3} {:>9.3} {:>12} {:>7} {:>10}",
                        r.op,
                        r.callers,
                        r.processes,
                        r.ops,
                        r.ops_per_sec,
                        r.p50_ms,
                        r.p99_ms,
                        r.baseline_ops_per_sec
                            .map(|b| format!("{b:.0}"))
                            .unwrap_or_else(|| "-".into()),
                        r.ratio
                            .map(|x| format!("{x:.2}×"))
                            .unwrap_or_else(|| "-".into()),
                        r.of_ceiling
                            .map(|x| format!("{x:.2}×"))
                            .unwrap_or_else(|| "-".into()),
                    );
                }
            };
            let report =
                write::run(cfg.backend, &cfg.database_url, &opts, &plan, &mut print_row).await?;
            if json {
                super::print_json(&report);
            } else {
                for r in &report.results {
                    if let (Some(c), Some(b)) = (r.ceiling_ops_per_sec, r.baseline_ops_per_sec) {
                        outln!(
                            "ceiling: {c:.0} creates/s ({:.2}× the baseline): this schema's rows of a create written by plain SQL, {} to a statement from {} connections",
                            c / b,
                            crate::bench::ceiling::PER_STATEMENT,
                            crate::bench::ceiling::CONNECTIONS
                        );
                    }
                }
                outln!("durability: {}", report.durability);
                outln!(
                    "baselines: {}",
                    match cfg.backend {
                        Backend::Memory =>
                            "sealing alone: canonical bytes + SHA-256 of the same events on one core",
                        _ =>
                            "one-row autocommit INSERTs into a scratch table at the same concurrency and durability; reads: the same query sent raw",
                    }
                );
                outln!("load average at the end {}", load(report.load_average_end));
            }
            Ok(())
        }
        BenchCmd::Worker {
            op,
            callers,
            ops,
            institution,
            asset,
            acks,
        } => {
            if acks {
                return write::ack_writer(
                    cfg.backend,
                    &cfg.database_url,
                    &opts,
                    callers,
                    institution,
                    asset,
                )
                .await;
            }
            let op = write::Op::parse(&op)
                .ok_or_else(|| ServiceError::field("op", "must be create, transition or mix"))?;
            let w = write::WorkerArgs {
                op,
                callers,
                ops,
                institution,
                asset,
            };
            write::worker(cfg.backend, &cfg.database_url, &opts, w).await
        }
        BenchCmd::Stream { events } => {
            if events == 0 {
                return Err(ServiceError::field("events", "must be at least 1"));
            }
            let store = boot::open_store(cfg, cfg.backend).await?;
            // A second store instance: it hears of writes the way another process would.
            let reader = if cfg.backend == Backend::Memory {
                store.clone()
            } else {
                boot::open_store(cfg, cfg.backend).await?
            };
            let r = bench::stream(store, reader, events).await?;
            if json {
                super::print_json(&r);
            } else {
                outln!(
                    "{}: {} events, commit-to-delivery {}; load average {}",
                    r.backend,
                    r.events,
                    latency(&r.commit_to_delivery),
                    load(write::load_average())
                );
            }
            Ok(())
        }
        BenchCmd::Console { rows } => {
            if cfg.backend != Backend::Sqlite || rows == 0 {
                return Err(ServiceError::field(
                    "store",
                    "bench console needs a fresh SQLite file (--database-url sqlite:///tmp/big.db) and --rows of at least 1",
                ));
            }
            let store = boot::open_store(cfg, cfg.backend).await?;
            let r = bench::console::console(store, &cfg.database_url, rows).await?;
            if json {
                super::print_json(&r);
                return Ok(());
            }
            outln!(
                "{} positions loaded in {:.1} s; load average {}",
                r.rows,
                r.load_seconds,
                load(write::load_average())
            );
            for (name, l) in &r.queries {
                outln!("  {name:<36} {}", latency(l));
            }
            outln!(
                "  first frame (start to data on screen) {:.1} ms",
                r.first_frame_ms
            );
            outln!(
                "  frame (draw, 160×48)                 median {:.3} ms, worst {:.3} ms",
                r.frame.median_ms,
                r.frame.max_ms
            );
            outln!(
                "  scroll step (key, page loads, draw)  median {:.3} ms, worst {:.3} ms",
                r.scroll_step.median_ms,
                r.scroll_step.max_ms
            );
            Ok(())
        }
    }
}

fn latency(l: &bench::Latency) -> String {
    format!(
        "median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        l.median_ms, l.p99_ms, l.max_ms
    )
}

fn load(l: Option<[f64; 3]>) -> String {
    l.map(|[a, b, c]| format!("{a:.2} {b:.2} {c:.2}"))
        .unwrap_or_else(|| "unknown".into())
}
