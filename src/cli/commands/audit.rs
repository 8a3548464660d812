//! `audit list`: the audit trail, newest first.

use crate::cli::*;

pub(crate) async fn audit(
    svc: &dyn Api,
    actor: &Actor,
    c: AuditCmd,
    json: bool,
) -> ServiceResult<i32> {
    let AuditCmd::List {
        action,
        outcome,
        limit,
        before,
    } = c;
    let limit = check_limit(limit)?;
    let outcome = outcome
        .map(|o| Outcome::parse_field("outcome", &o))
        .transpose()?;
    let rows = svc
        .audit(
            actor,
            AuditQuery {
                action: action.map(|a| a.trim().to_ascii_uppercase()),
                outcome,
                before: cursor(
                    "before",
                    before,
                    crate::domain::ids::AUDIT,
                    "an audit record",
                )?,
                limit: limit + 1,
                ..Default::default()
            },
        )
        .await?;
    let (rows, next) = split_page(rows, limit, |a| a.id.clone());
    if json {
        print_json(&json!({
            "data": rows,
            "pagination": {"limit": limit, "hasMore": next.is_some(), "nextBefore": next},
        }));
    } else {
        print_table(
            &["AT", "ACTOR", "ACTION", "OUTCOME", "RESOURCE", "ERROR"],
            rows.iter()
                .map(|a| {
                    vec![
                        ts(&a.occurred_at),
                        a.actor.clone(),
                        a.action.clone(),
                        a.outcome.to_string(),
                        a.resource_id.clone().unwrap_or_else(none_cell),
                        a.error
                            .as_ref()
                            .map(|e| format!("{}: {}", e.code, e.message))
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        );
        if let Some(n) = next {
            eprintln!("(more: --before {n})");
        }
    }
    Ok(0)
}
