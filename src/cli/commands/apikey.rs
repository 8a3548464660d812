//! `apikey create | list | revoke`: institution API keys (a token is shown once).

use crate::cli::*;

pub(crate) async fn apikey(
    svc: &dyn Api,
    actor: &Actor,
    c: ApiKeyCmd,
    json: bool,
) -> ServiceResult<i32> {
    match c {
        ApiKeyCmd::Create {
            institution,
            label,
            role,
        } => {
            let k = svc.create_api_key(actor, institution, label, role).await?;
            if json {
                print_json(&k);
            } else {
                outln!(
                    "Created API key {} ({}, {}) for {}",
                    k.api_key.id,
                    s(&k.api_key.label),
                    k.api_key.role,
                    k.api_key.institution_id
                );
                outln!("\n  {}\n", k.token);
                outln!(
                    "This token is shown only now; store it safely. Use it with --api-key or ESCROWGRID_API_KEY."
                );
            }
        }
        ApiKeyCmd::List { institution, page } => {
            let limit = check_limit(page.limit)?;
            let rows = svc.list_api_keys(actor, institution).await?;
            let (rows, next) = page_after(rows, page.after.as_deref(), limit, |k| &k.id)?;
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &["ID", "INSTITUTION", "LABEL", "ROLE", "CREATED", "REVOKED"],
                    rows.iter()
                        .map(|k| {
                            vec![
                                k.id.clone(),
                                k.institution_id.clone(),
                                k.label.clone(),
                                k.role.to_string(),
                                ts(&k.created_at),
                                k.revoked_at.as_ref().map(ts).unwrap_or_else(none_cell),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
        ApiKeyCmd::Revoke { id } => {
            let r = svc.revoke_api_key(actor, &id).await?;
            if json {
                print_json(&r);
            } else if r.already_revoked {
                outln!(
                    "API key {} was already revoked at {}: nothing changed",
                    r.api_key.id,
                    r.api_key.revoked_at.as_ref().map(ts).unwrap_or_default()
                );
            } else {
                outln!("Revoked API key {} ({})", r.api_key.id, s(&r.api_key.label));
            }
        }
    }
    Ok(0)
}
