//! `asset create | list | show`: assets.

use crate::cli::*;

pub(crate) async fn asset(
    svc: &dyn Api,
    actor: &Actor,
    c: AssetCmd,
    json: bool,
) -> ServiceResult<i32> {
    match c {
        AssetCmd::Create {
            institution,
            template,
            label,
            metadata,
        } => {
            let metadata = metadata.map(|m| json_arg("metadata", &m)).transpose()?;
            let a = svc
                .create_asset(
                    actor,
                    NewAsset {
                        institution_id: institution,
                        template_id: template,
                        label,
                        metadata,
                    },
                )
                .await?;
            if json {
                print_json(&a);
            } else {
                outln!("Created asset {} ({})", a.id, s(&a.label));
            }
        }
        AssetCmd::List {
            institution,
            template,
            page,
        } => {
            let limit = check_limit(page.limit)?;
            let rows = svc
                .list_assets(
                    actor,
                    institution,
                    template,
                    Page {
                        after: cursor("after", page.after, crate::domain::ids::ASSET, "an asset")?,
                        limit: limit + 1,
                    },
                )
                .await?;
            let (rows, next) = split_page(rows, limit, |a| a.id.clone());
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &["ID", "INSTITUTION", "TEMPLATE", "LABEL", "CREATED"],
                    rows.iter()
                        .map(|a| {
                            vec![
                                a.id.clone(),
                                a.institution_id.clone(),
                                a.template_id.clone(),
                                a.label.clone(),
                                ts(&a.created_at),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
        AssetCmd::Show { id } => {
            let a = svc.get_asset(actor, &id).await?;
            if json {
                print_json(&a);
            } else {
                outln!("{}  {}", a.id, s(&a.label));
                outln!("  institution: {}", a.institution_id);
                outln!("  template:    {}", a.template_id);
                outln!("  created:     {}", ts(&a.created_at));
                outln!("  metadata:    {}", s(&a.metadata.to_string()));
            }
        }
    }
    Ok(0)
}
