//! `check`: the full consistency audit; exit 0 when the store agrees with its ledger, else 1
//! with each finding (the ledger seq and the entity it concerns, and what differs).

use crate::cli::*;

pub(crate) async fn check(
    svc: &dyn Api,
    actor: &Actor,
    json: bool,
    witness: &std::path::Path,
) -> ServiceResult<i32> {
    let mut r = svc.check(actor).await?;
    // The heads verified before, from the operator's witness file.
    let heads = witnessed_heads(svc, witness, &[]).await?;
    let tampering = svc.compare_witnessed(actor, &heads).await?;
    if !tampering.is_empty() {
        r.ok = false;
        r.findings.splice(0..0, tampering);
    }
    if r.ok {
        let audit = (r.audit_head_seq, r.audit_head_hash.as_str());
        witness_head(svc, witness, (r.head_seq, &r.head_hash), Some(audit)).await;
    }
    if json {
        print_json(&r);
    } else {
        for f in &r.findings {
            let seq = f.seq.map(|s| format!("seq {s}")).unwrap_or_default();
            let entity = f.entity.as_deref().unwrap_or("");
            outln!("{seq:<12} {:<42} {}", s(entity), s(&f.what));
        }
        if r.more > 0 {
            outln!(
                "… and {} more (--json lists the first 1000)",
                crate::domain::text::counted(r.more, "finding", "findings")
            );
        }
        for n in &r.notes {
            outln!("note: {}", s(n));
        }
        outln!(
            "{}: {}, {}, {} checked{}",
            if r.ok {
                "Store consistent"
            } else {
                "Store INCONSISTENT"
            },
            crate::domain::text::counted(r.events, "ledger event", "ledger events"),
            crate::domain::text::counted(r.entities, "entity", "entities"),
            crate::domain::text::counted(r.audit_records, "audit record", "audit records"),
            if r.ok {
                String::new()
            } else {
                format!(
                    "; {}",
                    crate::domain::text::counted(
                        r.findings.len() as u64 + r.more,
                        "finding",
                        "findings"
                    )
                )
            }
        );
    }
    Ok(if r.ok { 0 } else { 1 })
}
