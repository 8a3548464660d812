//! `mirror --to URL`: the configured store's ledger and audit trail applied to the store at URL
//! as they grow (see `service::mirror`). Without `--once` it follows until interrupted; a store
//! that goes away is waited for, and the mirror goes on where the target ends.

use crate::cli::*;
use crate::service::mirror::MirrorStep;
use std::time::Duration;

/// Events and audit records read per step.
const STEP: u32 = 1000;
/// How long a caught-up mirror waits before it looks again.
const IDLE: Duration = Duration::from_millis(100);
/// How long it waits for a store that went away.
const RETRY: Duration = Duration::from_secs(1);

fn report(json: bool, target: &str, step: &MirrorStep) {
    if json {
        print_json(step);
    } else {
        outln!(
            "{}: +{} events, +{} audit records; at seq {} of {}; behind {} events ({:.1} s)",
            s(target),
            step.events,
            step.audit_records,
            step.head_seq,
            step.source_head_seq,
            step.behind_events,
            step.behind_seconds
        );
    }
}

pub(crate) async fn mirror(
    svc: &Service,
    actor: &Actor,
    cfg: &crate::config::Config,
    to: &str,
    once: bool,
    json: bool,
) -> ServiceResult<i32> {
    if to == cfg.database_url {
        return Err(ServiceError::field(
            "to",
            "that is this store: a mirror goes to another one",
        ));
    }
    let shown = crate::boot::shown(to);
    let mut m = svc.mirror(actor, &crate::boot::shown(&cfg.database_url), &shown)?;
    let target = crate::boot::open_url(cfg, "to", to, true).await?;
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let pause = match m.step(svc, &target, STEP).await {
            Ok(step) => {
                let idle = step.events == 0 && step.audit_records == 0;
                if !idle || once {
                    report(json, &shown, &step);
                }
                if once && step.behind_events == 0 && idle {
                    m.end(svc).await;
                    return Ok(0);
                }
                if idle { IDLE } else { Duration::ZERO }
            }
            Err(ServiceError::Unavailable(why)) => {
                eprintln!(
                    "mirror: {}; trying again in {} s",
                    crate::domain::text::sanitize(&why),
                    RETRY.as_secs()
                );
                RETRY
            }
            Err(e) => return Err(e),
        };
        tokio::select! {
            _ = &mut stop => {
                m.end(svc).await;
                return Ok(0);
            }
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

pub(crate) async fn promote(svc: &Service, actor: &Actor, json: bool) -> ServiceResult<i32> {
    let mark = svc.mirror_promote(actor).await?;
    if json {
        print_json(&serde_json::json!({"promoted": mark.is_some(), "mirrorOf": mark}));
    } else {
        match &mark {
            Some(m) => outln!(
                "this store was a mirror of {} (at seq {}); it takes writes again",
                s(&m.source),
                m.last.head_seq
            ),
            None => outln!("this store is no mirror's target: nothing to do"),
        }
    }
    Ok(0)
}
