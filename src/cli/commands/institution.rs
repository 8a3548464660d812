//! `institution create | list | show`: institutions, and one whole with its policies, templates and assets.

use crate::cli::*;

pub(crate) async fn institution(
    svc: &dyn Api,
    actor: &Actor,
    c: InstitutionCmd,
    json: bool,
) -> ServiceResult<i32> {
    match c {
        InstitutionCmd::Create {
            name,
            regions,
            verticals,
        } => {
            let i = svc
                .create_institution(
                    actor,
                    NewInstitution {
                        name,
                        regions,
                        verticals,
                    },
                )
                .await?;
            if json {
                print_json(&i);
            } else {
                outln!("Created institution {} ({})", i.id, s(&i.name));
            }
        }
        InstitutionCmd::List { page } => {
            let limit = check_limit(page.limit)?;
            let rows = svc
                .list_institutions(
                    actor,
                    Page {
                        after: cursor(
                            "after",
                            page.after,
                            crate::domain::ids::INSTITUTION,
                            "an institution",
                        )?,
                        limit: limit + 1,
                    },
                )
                .await?;
            let (rows, next) = split_page(rows, limit, |i| i.id.clone());
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &["ID", "NAME", "REGIONS", "VERTICALS", "CREATED"],
                    rows.iter()
                        .map(|i| {
                            vec![
                                i.id.clone(),
                                i.name.clone(),
                                join(&i.regions),
                                join(&i.verticals),
                                ts(&i.created_at),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
        InstitutionCmd::Show { id } => {
            let crate::service::InstitutionDetail {
                institution: i,
                summary,
                policies,
                templates,
                assets,
                ..
            } = svc.institution_detail(actor, &id).await?;
            if json {
                let mut v = serde_json::to_value(&i).expect("json");
                v["policies"] = json!(policies);
                v["templates"] = json!(templates);
                v["assets"] = json!(assets);
                v["positionCount"] = json!(summary.positions);
                print_json(&v);
            } else {
                outln!("{}  {}", i.id, s(&i.name));
                outln!("  regions:   {}", join(&i.regions));
                outln!("  verticals: {}", join(&i.verticals));
                outln!("  created:   {}", ts(&i.created_at));
                outln!("  positions: {}", summary.positions);
                outln!("\nPolicies");
                for p in &policies {
                    outln!("  {}", policy_line(p));
                }
                if policies.is_empty() {
                    outln!("  (none: no limits beyond the templates')");
                }
                outln!("\nTemplates");
                for t in &templates {
                    outln!("  {}  {}  {}  {}", t.id, t.code, t.region, s(&t.name));
                }
                outln!("\nAssets");
                for a in &assets {
                    outln!("  {}  {}  {}", a.id, a.template_id, s(&a.label));
                }
            }
        }
    }
    Ok(0)
}

pub(crate) fn policy_line(p: &crate::domain::InstitutionPolicy) -> String {
    let pp = &p.config.position;
    format!(
        "{:<6} min {:<14} max {:<18} currencies {}",
        p.region,
        pp.min_amount
            .map(|m| m.to_string())
            .unwrap_or_else(|| "-".into()),
        pp.max_amount
            .map(|m| m.to_string())
            .unwrap_or_else(|| "-".into()),
        match &pp.allowed_currencies {
            None => "any".to_string(),
            Some(v) if v.is_empty() => "none (blocked)".to_string(),
            Some(v) => join(v),
        }
    )
}
