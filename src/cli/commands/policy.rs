//! `policy set | list`: per-region limits on new positions.

use super::institution::policy_line;
use crate::cli::*;

pub(crate) async fn policy(
    svc: &dyn Api,
    actor: &Actor,
    c: PolicyCmd,
    json: bool,
) -> ServiceResult<i32> {
    match c {
        PolicyCmd::Set {
            institution,
            region,
            min_amount,
            no_min_amount,
            max_amount,
            no_max_amount,
            currencies,
            any_currency,
            block_all_currencies,
            max_release_amount,
            no_max_release_amount,
        } => {
            // What is not given keeps the current policy's value (an upsert replaces the whole
            // policy, so the current one is read first).
            // (Only where the set itself may be allowed: a refused command leaves one record.)
            let inst = institution.as_deref().or(actor.scope());
            let own = actor.scope().is_none_or(|s| Some(s) == inst);
            let current = match (inst, crate::domain::Region::parse_field("region", &region)) {
                (Some(inst), Ok(r)) if own && actor.can_write() => {
                    svc.get_policy(actor, inst, r).await.ok().flatten()
                }
                _ => None,
            };
            let now = current.as_ref().map(|p| &p.config.position);
            let keep = |given: Option<String>, clear: bool, old: Option<&crate::domain::Money>| {
                if clear {
                    None
                } else {
                    given.or_else(|| old.map(|m| m.to_string()))
                }
            };
            let min_amount = keep(
                min_amount,
                no_min_amount,
                now.and_then(|p| p.min_amount.as_ref()),
            );
            let max_amount = keep(
                max_amount,
                no_max_amount,
                now.and_then(|p| p.max_amount.as_ref()),
            );
            let max_release_amount = keep(
                max_release_amount,
                no_max_release_amount,
                now.and_then(|p| p.max_release_amount.as_ref()),
            );
            let allowed = if block_all_currencies {
                Some(vec![])
            } else if any_currency {
                None
            } else {
                currencies.or_else(|| {
                    now.and_then(|p| p.allowed_currencies.as_ref())
                        .map(|v| v.iter().map(|c| c.to_string()).collect())
                })
            };
            let p = svc
                .set_policy(
                    actor,
                    PolicyInput {
                        institution_id: institution,
                        region,
                        min_amount,
                        max_amount,
                        allowed_currencies: allowed,
                        max_release_amount,
                    },
                )
                .await?;
            if json {
                print_json(&p);
            } else {
                outln!(
                    "Policy {} of {} set: {}",
                    p.id,
                    p.institution_id,
                    policy_line(&p)
                );
            }
        }
        PolicyCmd::List { institution, page } => {
            let limit = check_limit(page.limit)?;
            let rows = svc.list_policies(actor, institution).await?;
            let (rows, next) = page_after(rows, page.after.as_deref(), limit, |p| &p.id)?;
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &[
                        "ID",
                        "INSTITUTION",
                        "REGION",
                        "MIN",
                        "MAX",
                        "CURRENCIES",
                        "UPDATED",
                    ],
                    rows.iter()
                        .map(|p| {
                            let pp = &p.config.position;
                            vec![
                                p.id.clone(),
                                p.institution_id.clone(),
                                p.region.to_string(),
                                pp.min_amount
                                    .as_ref()
                                    .map(amount_cell)
                                    .unwrap_or_else(none_cell),
                                pp.max_amount
                                    .as_ref()
                                    .map(amount_cell)
                                    .unwrap_or_else(none_cell),
                                match &pp.allowed_currencies {
                                    None => "any".into(),
                                    Some(v) if v.is_empty() => "none".into(),
                                    Some(v) => join(v),
                                },
                                ts(&p.updated_at),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
    }
    Ok(0)
}
