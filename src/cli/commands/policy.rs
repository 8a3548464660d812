//! `policy set | list`: per-region limits on new positions.

use super::institution::policy_line;
use crate::cli::*;

pub(crate) async fn policy(
    svc: &Service,
    actor: &Actor,
    c: PolicyCmd,
    json: bool,
) -> ServiceResult<i32> {
    match c {
        PolicyCmd::Set {
            institution,
            region,
            min_amount,
            max_amount,
            currencies,
            block_all_currencies,
        } => {
            let allowed = if block_all_currencies {
                Some(vec![])
            } else {
                currencies
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
        PolicyCmd::List { institution } => {
            let rows = svc.list_policies(actor, institution).await?;
            if json {
                print_json(&json!({"data": rows}));
            } else {
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
                                    .map(|m| m.to_string())
                                    .unwrap_or_else(|| "-".into()),
                                pp.max_amount
                                    .map(|m| m.to_string())
                                    .unwrap_or_else(|| "-".into()),
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
            }
        }
    }
    Ok(0)
}
