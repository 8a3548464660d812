//! `health`: what the store is, whether it answers, and what it holds.

use crate::cli::*;

pub(crate) async fn health(svc: &dyn Api, actor: &Actor, json: bool) -> ServiceResult<i32> {
    let h = svc.health(actor).await;
    if json {
        print_json(&h);
    } else {
        if let Some(r) = &h.server {
            outln!(
                "server:         {} {}{}",
                s(&r.url),
                if r.ready { "ready" } else { "NOT READY" },
                if r.reasons.is_empty() {
                    r.chain_verified_seq
                        .map(|q| format!(" (chain verified to seq {q})"))
                        .unwrap_or_default()
                } else {
                    format!(": {}", s(&r.reasons.join("; ")))
                }
            );
        }
        outln!("backend:        {}", h.backend);
        outln!("target:         {}", h.target);
        outln!("durability:     {}", h.durability);
        if let Some(t) = &h.transport {
            outln!("connection:     {}", t.describe());
        }
        if let Some(w) = &h.writes_refused {
            outln!("writes:         REFUSED: {}", s(w));
        }
        outln!(
            "connected:      {}{}",
            if h.connected { "yes" } else { "NO" },
            h.ping_ms
                .map(|p| format!(" (ping {p:.2} ms)"))
                .unwrap_or_default()
        );
        if let Some(e) = &h.error {
            outln!("error:          {}", s(e));
        }
        if let Some(p) = &h.pool {
            outln!(
                "pool:           {} open, {} idle, max {}",
                p.size,
                p.idle,
                p.max
            );
        }
        if let Some(r) = &h.replica {
            outln!(
                "replica:        {} {}{}{}; {} reads there, {} on the primary ({} to read this process's writes)",
                s(&r.target),
                r.state,
                r.lag_bytes
                    .map(|b| format!(", lag {b} bytes"))
                    .unwrap_or_default(),
                r.lag_seconds
                    .map(|t| format!(" / {t:.1} s"))
                    .unwrap_or_default(),
                r.replica_reads,
                r.fallback_reads,
                r.read_your_writes_fallbacks
            );
            if let Some(t) = &r.transport {
                outln!("replica conn.:  {}", t.describe());
            }
            if let Some(e) = &r.error {
                outln!("replica error:  {}", s(e));
            }
        }
        if let Some(v) = h.schema_version {
            outln!("schema version: {v}");
        }
        if let Some(c) = &h.counts {
            outln!(
                "counts:         {} institutions, {} templates, {} assets, {} positions, {} ledger events, {} audit records{}",
                c.institutions,
                c.templates,
                c.assets,
                c.positions,
                c.ledger_events,
                c.audit_events,
                if h.scoped { " (your institution)" } else { "" }
            );
            let by_state: Vec<String> = c
                .positions_by_state
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            outln!("by state:       {}", by_state.join(", "));
            outln!(
                "held:           {}",
                crate::tui::views::health::held_text(&c.held)
            );
        }
        match &h.ledger_head {
            Some(head) => outln!("ledger head:    seq {} {}", head.seq, head.hash),
            None if h.connected => outln!("ledger head:    (empty ledger)"),
            None => {}
        }
        if let Some(d) = &h.db {
            outln!(
                "database:       {:.1} MB, {} commits, {} rollbacks, {} deadlocks, {} conflicts",
                d.size_bytes as f64 / 1e6,
                d.commits,
                d.rollbacks,
                d.deadlocks,
                d.conflicts
            );
            for t in &d.tables {
                outln!(
                    "  {:<18} {:>10} live {:>8} dead  vacuum {}  analyze {}",
                    t.name,
                    t.live_rows,
                    t.dead_rows,
                    t.last_vacuum.as_deref().unwrap_or("never"),
                    t.last_analyze.as_deref().unwrap_or("never")
                );
            }
            for n in &d.notes {
                outln!("note:           {}", s(n));
            }
        }
        if let Some(m) = &h.mirror {
            outln!("mirror of:      {} — {}", s(&m.source), lag(&m.last));
            outln!(
                "                writes refused but the mirror's, until `escrowgrid mirror promote`"
            );
        }
        for m in &h.mirrored_to {
            outln!("mirrored to:    {} — {}", s(&m.target), lag(&m.last));
        }
        if let Some(a) = &h.anchors {
            outln!(
                "anchors:        {}; {} queued{}",
                a.last_confirmed
                    .as_ref()
                    .map(|c| format!(
                        "confirmed to seq {} (block {}, tx {})",
                        c.seq,
                        c.block_number.map(|b| b.to_string()).unwrap_or("-".into()),
                        c.tx_hash.as_deref().unwrap_or("-")
                    ))
                    .unwrap_or_else(|| "none confirmed yet".into()),
                a.pending,
                a.last_error
                    .as_deref()
                    .map(|e| format!("; last error: {}", s(e)))
                    .unwrap_or_default()
            );
        }
        outln!("operator:       {}", h.operator);
        outln!(
            "log file:       {}",
            h.log_file.as_deref().unwrap_or("(logging disabled)")
        );
    }
    Ok(if h.connected { 0 } else { 1 })
}

/// A mirror's last step, in words.
fn lag(l: &crate::store::MirrorLast) -> String {
    format!(
        "at seq {} of {}, behind {} events ({:.1} s); last step {} s ago{}",
        l.head_seq,
        l.source_head_seq,
        l.behind_events,
        l.behind_ms as f64 / 1000.0,
        l.step_age().as_secs(),
        if l.stopped() {
            " — the mirror has stopped"
        } else {
            ""
        }
    )
}
