//! The forms the console opens: what each asks for, in which order, with which choices
//! (institutions, templates and assets of the institution chosen; codes of the vertical chosen).

use super::{Choice, Field, Form, FormKind, Input, Lookup, field, select, text_input};
use crate::domain::{Currency, InstitutionPolicy, Region, Role, Vertical, text};
use ratatui_textarea::TextArea;

fn institution_choices(lookup: &Lookup) -> Vec<Choice> {
    lookup
        .institutions
        .iter()
        .map(|i| Choice::new(&i.id, text::sanitize(&i.name)))
        .collect()
}

pub(super) fn template_choices(lookup: &Lookup, institution_id: &str) -> Vec<Choice> {
    lookup
        .templates
        .iter()
        .filter(|t| t.institution_id == institution_id)
        .map(|t| {
            Choice::new(
                &t.id,
                format!("{} ({} {})", text::sanitize(&t.name), t.code, t.region),
            )
        })
        .collect()
}

pub(super) fn asset_choices(lookup: &Lookup, institution_id: &str) -> Vec<Choice> {
    lookup
        .assets
        .iter()
        .filter(|a| a.institution_id == institution_id)
        .map(|a| Choice::new(&a.id, text::sanitize(&a.label)))
        .collect()
}

/// The institution picker, preselected; a scoped operator gets only their own.
fn institution_field(lookup: &Lookup, preselect: Option<&str>) -> Field {
    let mut f = field(
        "institutionId",
        "Institution",
        select(institution_choices(lookup)),
    );
    if let Some(p) = preselect {
        f.set_select(p);
    }
    f
}

pub fn institution_form() -> Form {
    Form::new(
        FormKind::Institution,
        "New institution",
        vec![
            field("name", "Name", text_input("")),
            field(
                "regions",
                "Regions",
                Input::Multi {
                    options: Region::ALL
                        .iter()
                        .map(|r| Choice::same(r.as_str()))
                        .collect(),
                    chosen: vec![false; Region::ALL.len()],
                    cursor: 0,
                },
            ),
            field(
                "verticals",
                "Verticals",
                Input::Multi {
                    options: Vertical::ALL
                        .iter()
                        .map(|v| Choice::same(v.as_str()))
                        .collect(),
                    chosen: vec![true; Vertical::ALL.len()],
                    cursor: 0,
                },
            ),
        ],
    )
}

pub fn template_form(lookup: &Lookup, preselect: Option<&str>) -> Form {
    let mut f = Form::new(
        FormKind::Template,
        "New asset template",
        vec![
            institution_field(lookup, preselect),
            field("vertical", "Vertical", select(vec![])),
            field("code", "Code", select(vec![])),
            field("region", "Region", select(vec![])),
            field("name", "Name", text_input("")),
        ],
    );
    f.refresh_template_choices(lookup);
    f.sync_cursors();
    f
}

pub fn asset_form(lookup: &Lookup, preselect: Option<&str>) -> Form {
    let mut f = Form::new(
        FormKind::Asset,
        "New asset",
        vec![
            institution_field(lookup, preselect),
            field("templateId", "Template", select(vec![])),
            field("label", "Label", text_input("")),
            field("metadata", "Metadata (JSON)", {
                let mut t = TextArea::new(vec!["{".into(), "}".into()]);
                t.set_cursor_line_style(ratatui::style::Style::default());
                // Inside the braces, so what is typed stays JSON.
                t.move_cursor(ratatui_textarea::CursorMove::End);
                Input::Json(t)
            }),
        ],
    );
    f.on_change("institutionId", lookup);
    f.sync_cursors();
    f
}

pub fn position_form(lookup: &Lookup, preselect: Option<&str>) -> Form {
    let mut f = Form::new(
        FormKind::Position,
        "New position",
        vec![
            institution_field(lookup, preselect),
            field("assetId", "Asset", select(vec![])),
            field("holderReference", "Holder reference", text_input("")),
            field(
                "currency",
                "Currency",
                select(
                    Currency::ALL
                        .iter()
                        .map(|c| Choice::same(c.as_str()))
                        .collect(),
                ),
            ),
            field("amount", "Amount", text_input("")),
            field(
                "externalReference",
                "External reference (optional)",
                text_input(""),
            ),
        ],
    );
    f.on_change("institutionId", lookup);
    f.sync_cursors();
    f
}

pub fn api_key_form(institution_id: &str, institution_name: &str) -> Form {
    Form::new(
        FormKind::ApiKey {
            institution_id: institution_id.into(),
        },
        &format!("New API key for {}", text::sanitize(institution_name)),
        vec![
            field("label", "Label", text_input("")),
            field(
                "role",
                "Role",
                select(Role::ALL.iter().map(|r| Choice::same(r.as_str())).collect()),
            ),
        ],
    )
}

pub fn policy_form(
    institution_id: &str,
    region: Region,
    existing: Option<&InstitutionPolicy>,
) -> Form {
    let p = existing
        .map(|p| p.config.position.clone())
        .unwrap_or_default();
    let mode = match &p.allowed_currencies {
        None => "any",
        Some(v) if v.is_empty() => "none",
        Some(_) => "list",
    };
    let chosen: Vec<bool> = Currency::ALL
        .iter()
        .map(|c| p.allowed_currencies.as_ref().is_some_and(|l| l.contains(c)))
        .collect();
    let mut mode_field = field(
        "currencyMode",
        "Currencies",
        select(vec![
            Choice::new("any", "any currency"),
            Choice::new("list", "only those chosen below"),
            Choice::new("none", "none (blocks new positions)"),
        ]),
    );
    mode_field.set_select(mode);
    Form::new(
        FormKind::Policy {
            institution_id: institution_id.into(),
            region,
        },
        &format!("Policy for {region}"),
        vec![
            field(
                "minAmount",
                "Minimum amount",
                text_input(&p.min_amount.map(|m| m.to_string()).unwrap_or_default()),
            ),
            field(
                "maxAmount",
                "Maximum amount",
                text_input(&p.max_amount.map(|m| m.to_string()).unwrap_or_default()),
            ),
            mode_field,
            field(
                "allowedCurrencies",
                "Allowed",
                Input::Multi {
                    options: Currency::ALL
                        .iter()
                        .map(|c| Choice::same(c.as_str()))
                        .collect(),
                    chosen,
                    cursor: 0,
                },
            ),
        ],
    )
}
