//! `anchor` (builds with `--features onchain`): deploy the contract, publish and follow the
//! outbox, verify the ledger (or an export, with no database) against the chain.

use crate::anchor::chain::Chain;
use crate::anchor::{AnchorVerification, ChainAnchor, Recomputer};
use crate::cli::*;
use crate::config::Config;
use crate::domain::anchor::{self as outbox, AnchorRecord};
use crate::domain::ledger::LedgerEvent;
use std::time::Duration;

fn unavailable(e: String) -> ServiceError {
    ServiceError::Chain(e)
}

fn settings(e: String) -> ServiceError {
    ServiceError::field("onchain", e)
}

async fn signer(cfg: &Config) -> ServiceResult<Chain> {
    crate::service::anchoring::signer(&cfg.onchain).await
}

async fn reader(cfg: &Config) -> ServiceResult<Chain> {
    Chain::connect(&cfg.onchain, None).await.map_err(settings)
}

/// The commands that need no store: `deploy`, and `verify --export`. None for the others.
pub(crate) async fn without_store(
    cmd: &AnchorCmd,
    cfg: &Config,
    json: bool,
) -> Option<ServiceResult<i32>> {
    match cmd {
        AnchorCmd::Deploy => Some(deploy(cfg, json).await),
        AnchorCmd::Verify { export: Some(file) } => Some(verify_export(cfg, file, json).await),
        _ => None,
    }
}

async fn deploy(cfg: &Config, json: bool) -> ServiceResult<i32> {
    let chain = signer(cfg).await?;
    let (address, tx, block) = chain.deploy().await.map_err(unavailable)?;
    let owner = chain.signer.map(|a| format!("{a:#x}")).unwrap_or_default();
    if json {
        print_json(&json!({
            "contract": format!("{address:#x}"),
            "txHash": tx,
            "block": block,
            "owner": owner,
        }));
    } else {
        outln!("contract {address:#x}");
        outln!("owner    {owner}");
        outln!("deployed in {tx}, block {block}");
        outln!("set [onchain] contract = \"{address:#x}\" (or ESCROWGRID_ONCHAIN_CONTRACT)");
    }
    Ok(0)
}

fn report(v: &AnchorVerification, source: &str, json: bool) -> i32 {
    if json {
        print_json(v);
    } else if v.ok {
        outln!(
            "OK: {} anchors match {source} ({} events recomputed{})",
            v.anchors,
            v.events,
            v.verified_to
                .map(|s| format!(", anchored to seq {s}"))
                .unwrap_or_default()
        );
    } else {
        outln!(
            "MISMATCH at seq {}: {}",
            v.mismatch_seq.unwrap_or(0),
            s(v.reason.as_deref().unwrap_or(""))
        );
    }
    if v.ok { 0 } else { 1 }
}

async fn verify_export(cfg: &Config, file: &std::path::Path, json: bool) -> ServiceResult<i32> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ServiceError::field("export", format!("{}: {e}", file.display())))?;
    let anchors = reader(cfg).await?.anchors().await.map_err(unavailable)?;
    let mut r = Recomputer::new(&anchors);
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let ev: LedgerEvent = serde_json::from_str(line).map_err(|e| {
            ServiceError::field(
                "export",
                format!(
                    "{} line {}: not a ledger event ({e})",
                    file.display(),
                    n + 1
                ),
            )
        })?;
        r.push(&ev);
    }
    Ok(report(
        &r.finish(&anchors),
        &format!("{}", file.display()),
        json,
    ))
}

fn print_anchor(a: &AnchorRecord) {
    outln!(
        "seq {:>8}  {:<10} attempts {:<3} {}{}{}",
        a.seq,
        a.status,
        a.attempts,
        a.tx_hash.as_deref().unwrap_or("-"),
        a.block_number
            .map(|b| format!(" block {b}"))
            .unwrap_or_default(),
        a.last_error
            .as_deref()
            .map(|e| format!("  ({})", s(e)))
            .unwrap_or_default()
    );
}

pub(crate) async fn anchor(
    svc: &Service,
    actor: &Actor,
    cmd: AnchorCmd,
    cfg: &Config,
    json: bool,
) -> ServiceResult<i32> {
    match cmd {
        AnchorCmd::Status { limit } => {
            let summary = svc.anchor_summary(actor).await?;
            let recent = svc.list_anchors(actor, limit).await?;
            if json {
                print_json(&json!({"summary": summary, "anchors": recent}));
            } else {
                match &summary.last_confirmed {
                    Some(a) => outln!(
                        "last confirmed: seq {} (block {}, tx {}) at {}",
                        a.seq,
                        a.block_number.map(|b| b.to_string()).unwrap_or("-".into()),
                        a.tx_hash.as_deref().unwrap_or("-"),
                        a.updated_at
                    ),
                    None => outln!("last confirmed: none yet"),
                }
                outln!("waiting:        {}", summary.pending);
                if let Some(e) = &summary.last_error {
                    outln!("last error:     {}", s(e));
                }
                for a in &recent {
                    print_anchor(a);
                }
            }
            Ok(0)
        }
        AnchorCmd::Publish => {
            let settled = svc
                .publish_anchor(actor, &cfg.onchain, signer(cfg), Duration::from_secs(90))
                .await?;
            if json {
                print_json(&settled);
            } else {
                print_anchor(&settled);
            }
            Ok(if settled.status == outbox::CONFIRMED {
                0
            } else {
                1
            })
        }
        AnchorCmd::Verify { export: None } => {
            svc.require_root(actor, "verify the ledger against its anchors")?;
            let anchors: Vec<ChainAnchor> =
                reader(cfg).await?.anchors().await.map_err(unavailable)?;
            let v = svc.verify_against_anchors(actor, &anchors).await?;
            Ok(report(&v, "the ledger", json))
        }
        AnchorCmd::Run => {
            // Signals are watched before the worker starts and before it says it runs.
            let stop_signal = crate::cli::stop_requested()?;
            let mut worker = svc
                .start_anchoring(actor, &cfg.onchain, signer(cfg))
                .await?;
            if !json {
                eprintln!(
                    "anchoring every {} events or {} s to {} (Ctrl-C or SIGTERM stops)",
                    cfg.onchain.every_events,
                    cfg.onchain.every_seconds,
                    cfg.onchain.contract.as_deref().unwrap_or("?")
                );
            }
            // Stop on either signal, or when the worker ends by itself.
            tokio::select! {
                () = stop_signal => {}
                () = worker.ended() => return Ok(0),
            }
            worker.stop().await;
            Ok(0)
        }
        AnchorCmd::Deploy | AnchorCmd::Verify { export: Some(_) } => {
            match without_store(&cmd, cfg, json).await {
                Some(r) => r,
                None => Ok(0),
            }
        }
    }
}

/// The anchoring worker started beside a server (`serve` with `[onchain]` enabled), which
/// anchors as the root it holds the key of: `stop` it to end it.
pub(crate) async fn spawn_worker(
    svc: &Service,
    cfg: &Config,
) -> ServiceResult<crate::service::anchoring::Anchoring> {
    svc.start_anchoring(&crate::service::Actor::Root, &cfg.onchain, signer(cfg))
        .await
}
