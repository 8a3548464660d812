//! `ledger list | tail | verify`: the hash-chained ledger, as a table or JSON lines.

use crate::cli::*;

pub(crate) fn event_line(e: &crate::domain::ledger::LedgerEvent) -> String {
    let detail = e.summary();
    s(&format!(
        "{:>6}  {}  {:<22}  {}  {}  {}",
        e.seq,
        ts(&e.at),
        e.kind.as_str(),
        e.entity_id,
        detail,
        short_hash(&e.hash)
    ))
}

pub(crate) async fn ledger(
    svc: &dyn Api,
    actor: &Actor,
    c: LedgerCmd,
    json: bool,
    witness: &std::path::Path,
) -> ServiceResult<i32> {
    match c {
        LedgerCmd::List {
            position,
            kind,
            after,
            limit,
        } => {
            let limit = check_limit(limit)?;
            let rows = svc
                .ledger(
                    actor,
                    LedgerQuery {
                        after_seq: after,
                        position_id: position,
                        kind: parse_kind(kind)?,
                        limit: limit + 1,
                        ..Default::default()
                    },
                )
                .await?;
            let (rows, next) = split_page(rows, limit, |e| e.seq);
            if json {
                print_json(&json!({
                    "data": rows,
                    "pagination": {"limit": limit, "hasMore": next.is_some(), "nextAfter": next},
                }));
            } else if delimited() {
                print_table(
                    &["SEQ", "AT", "KIND", "ENTITY", "DETAIL", "HASH"],
                    rows.iter()
                        .map(|e| {
                            vec![
                                e.seq.to_string(),
                                ts(&e.at),
                                e.kind.as_str().to_string(),
                                e.entity_id.clone(),
                                e.summary(),
                                e.hash.clone(),
                            ]
                        })
                        .collect(),
                );
                if let Some(n) = next {
                    eprintln!("(more: --after {n})");
                }
            } else {
                if output().headers {
                    outln!(
                        "{:>6}  {:<24}  {:<22}  {:<41}  DETAIL / HASH",
                        "SEQ",
                        "AT",
                        "KIND",
                        "ENTITY"
                    );
                }
                for e in &rows {
                    outln!("{}", event_line(e));
                }
                if let Some(n) = next {
                    eprintln!("(more: --after {n})");
                }
            }
            Ok(0)
        }
        LedgerCmd::Verify { witness: others } => {
            let r = svc.verify_ledger(actor).await?;
            let heads = witnessed_heads(svc, witness, &others).await?;
            let tampering = svc.compare_witnessed(actor, &heads).await?;
            let ok = r.ok && tampering.is_empty();
            let audit = r.audit.clone().unwrap_or_default();
            if ok {
                let audit_head = (audit.head_seq, audit.head_hash.as_str());
                witness_head(svc, witness, (r.head_seq, &r.head_hash), Some(audit_head)).await;
            }
            if json {
                let mut v =
                    serde_json::to_value(&r).map_err(|e| ServiceError::Internal(e.to_string()))?;
                v["ok"] = json!(ok);
                v["witnessed"] = json!(heads.len());
                v["tampering"] = json!(tampering);
                print_json(&v);
            } else if let Some(b) = &r.broken {
                outln!("Ledger BROKEN at seq {}: {}", b.seq, b.reason);
                outln!(
                    "{} before it verified.",
                    crate::domain::text::counted(r.checked, "event", "events")
                );
            } else {
                for t in &tampering {
                    outln!("{}", t.what);
                }
                if let Some(b) = &audit.broken {
                    outln!(
                        "Audit trail BROKEN at audit seq {}: {}",
                        b.seq,
                        s(&b.reason)
                    );
                }
                if audit.unchained > 0 {
                    outln!(
                        "{} audit record(s) are outside the audit chain",
                        audit.unchained
                    );
                }
                outln!(
                    "Ledger {}: {} events verified, head seq {} hash {}; audit trail: {} records verified, head seq {}; {} witnessed head(s) compared",
                    if ok { "intact" } else { "TAMPERED" },
                    r.checked,
                    r.head_seq,
                    r.head_hash,
                    audit.checked,
                    audit.head_seq,
                    heads.len()
                );
            }
            Ok(if ok { 0 } else { 1 })
        }
        LedgerCmd::Tail {
            after,
            last,
            follow,
            position,
            kind,
        } => {
            let kind = parse_kind(kind)?;
            let after = match after {
                Some(a) => a,
                // Nothing of the past: only what comes next (with --follow).
                None if last == 0 => svc.ledger_head_seq(actor).await?,
                None => {
                    let recent = svc
                        .ledger(
                            actor,
                            LedgerQuery {
                                position_id: position.clone(),
                                kind,
                                newest_first: true,
                                limit: last.clamp(1, 1000),
                                ..Default::default()
                            },
                        )
                        .await?;
                    recent.last().map(|e| e.seq - 1).unwrap_or(0)
                }
            };
            tail(
                svc,
                actor,
                after,
                follow,
                StreamFilter {
                    position_id: position,
                    kind,
                },
                json,
            )
            .await
        }
    }
}

pub(crate) async fn tail(
    svc: &dyn Api,
    actor: &Actor,
    after: i64,
    follow: bool,
    filter: StreamFilter,
    json: bool,
) -> ServiceResult<i32> {
    use std::io::Write;
    if !follow {
        let mut after = after;
        loop {
            let page = svc
                .ledger(
                    actor,
                    LedgerQuery {
                        after_seq: after,
                        position_id: filter.position_id.clone(),
                        kind: filter.kind,
                        limit: 1000,
                        ..Default::default()
                    },
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                print_event(e, json);
            }
        }
        return Ok(0);
    }
    let stop = crate::cli::stop_requested()?;
    let mut sub = svc.subscribe(actor, after, filter);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(0),
            item = sub.next() => match item {
                None => return Ok(0),
                Some(StreamItem::Event(e)) => {
                    print_event(&e, json);
                    if std::io::stdout().flush().is_err() {
                        return Ok(0);
                    }
                }
                Some(StreamItem::Status(StreamStatus::Reconnecting(why))) => {
                    eprintln!("ledger stream: reconnecting ({why})");
                }
                Some(StreamItem::Status(StreamStatus::Live)) => {}
                // The key was revoked (or changed) while streaming: stop, saying so.
                Some(StreamItem::Ended(e)) => return Err(e),
            }
        }
    }
}

pub(crate) fn print_event(e: &crate::domain::ledger::LedgerEvent, json: bool) {
    if json {
        outln!("{}", crate::cli::safe_json::compact(e));
    } else {
        outln!("{}", event_line(e));
    }
}
