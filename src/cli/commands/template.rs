//! `template create | list | show`: asset templates.

use crate::cli::*;

pub(crate) async fn template(
    svc: &dyn Api,
    actor: &Actor,
    c: TemplateCmd,
    json: bool,
) -> ServiceResult<i32> {
    match c {
        TemplateCmd::Create {
            institution,
            code,
            name,
            vertical,
            region,
            template_config,
        } => {
            let config = json_arg("template-config", &template_config)?;
            let t = svc
                .create_template(
                    actor,
                    NewTemplate {
                        institution_id: institution,
                        code,
                        name,
                        vertical,
                        region,
                        config,
                    },
                )
                .await?;
            if json {
                print_json(&t);
            } else {
                outln!(
                    "Created template {} ({} {}, {})",
                    t.id,
                    t.code,
                    t.region,
                    s(&t.name)
                );
            }
        }
        TemplateCmd::List { institution, page } => {
            let limit = check_limit(page.limit)?;
            let rows = svc
                .list_templates(
                    actor,
                    institution,
                    Page {
                        after: cursor(
                            "after",
                            page.after,
                            crate::domain::ids::TEMPLATE,
                            "a template",
                        )?,
                        limit: limit + 1,
                    },
                )
                .await?;
            let (rows, next) = split_page(rows, limit, |t| t.id.clone());
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &[
                        "ID",
                        "INSTITUTION",
                        "CODE",
                        "VERTICAL",
                        "REGION",
                        "NAME",
                        "CONFIG",
                    ],
                    rows.iter()
                        .map(|t| {
                            vec![
                                t.id.clone(),
                                t.institution_id.clone(),
                                t.code.to_string(),
                                t.vertical.to_string(),
                                t.region.to_string(),
                                t.name.clone(),
                                one_line(&t.config),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
        TemplateCmd::Show { id } => {
            let t = svc.get_template(actor, &id).await?;
            if json {
                print_json(&t);
            } else {
                outln!("{}  {}", t.id, s(&t.name));
                outln!("  institution: {}", t.institution_id);
                outln!("  code:        {} ({})", t.code, t.vertical);
                outln!("  region:      {}", t.region);
                outln!("  created:     {}", ts(&t.created_at));
                outln!("  config:");
                if let Some(m) = t.config.as_object() {
                    for (k, v) in m {
                        outln!("    {:<20} {}", s(k), s(&one_line(v)));
                    }
                }
            }
        }
    }
    Ok(0)
}
