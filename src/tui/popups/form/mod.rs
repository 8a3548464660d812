//! Forms: their state and keys (what each form asks is in `build.rs`, its drawing in `draw.rs`).
//! Text fields (ratatui-textarea), pickers, multi-selects and a JSON editor, validated field
//! by field as the operator types with the same rules the service applies. The service stays the
//! authority: its errors are mapped back onto the fields, and input is never lost on a failed submit.

use super::{Confirm, Confirmed, Outcome, Popup};
use crate::domain::Asset;
use crate::domain::template::{ConfigKind, config_fields};
use crate::domain::{
    AssetTemplate, Currency, Institution, Money, Region, TemplateCode, Vertical, model, text,
};
use crate::service::{NewAsset, NewInstitution, NewPosition, NewTemplate, PolicyInput};
use crate::tui::keymap::Action;
use crossterm::event::{KeyCode, KeyEvent};
use ratatui_textarea::TextArea;
use serde_json::Value;

pub mod build;
pub mod draw;

pub use build::*;
use build::{asset_choices, template_choices};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

impl Choice {
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Choice {
            value: value.into(),
            label: label.into(),
        }
    }
    pub(super) fn same(v: &str) -> Self {
        Choice::new(v, v)
    }
}

pub enum Input {
    Text(TextArea<'static>),
    Select {
        options: Vec<Choice>,
        index: usize,
    },
    Multi {
        options: Vec<Choice>,
        chosen: Vec<bool>,
        cursor: usize,
    },
    Json(TextArea<'static>),
}

pub struct Field {
    /// The service's name for it ("holderReference", "config.currency"), so service errors land
    /// beside the right input.
    pub key: String,
    pub label: String,
    pub input: Input,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKind {
    Institution,
    Template,
    Asset,
    Position,
    ApiKey {
        institution_id: String,
    },
    Policy {
        institution_id: String,
        region: Region,
    },
}

pub struct Form {
    pub kind: FormKind,
    pub title: String,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// A form-level error (not tied to one field).
    pub error: Option<String>,
    pub submitting: bool,
    /// The operator typed or chose something.
    pub touched: bool,
}

/// What a submitted form asks the service to do.
#[derive(Debug, Clone)]
pub enum Submission {
    Institution(NewInstitution),
    Template(NewTemplate),
    Asset(NewAsset),
    Position(NewPosition),
    ApiKey {
        institution_id: String,
        label: String,
        role: String,
    },
    Policy(PolicyInput),
}

/// What a form needs to know about existing data for its pickers.
pub struct Lookup<'a> {
    pub institutions: &'a [Institution],
    pub templates: &'a [AssetTemplate],
    pub assets: &'a [Asset],
}

enum FormEvent {
    None,
    Submit,
    Cancel,
}

pub(super) fn text_input(initial: &str) -> Input {
    let mut t = TextArea::new(vec![initial.to_string()]);
    t.set_cursor_line_style(ratatui::style::Style::default());
    t.move_cursor(ratatui_textarea::CursorMove::End);
    Input::Text(t)
}

pub(super) fn field(key: &str, label: &str, input: Input) -> Field {
    Field {
        key: key.into(),
        label: label.into(),
        input,
        error: None,
    }
}

pub(super) fn select(options: Vec<Choice>) -> Input {
    Input::Select { options, index: 0 }
}

impl Field {
    pub fn value(&self) -> String {
        match &self.input {
            Input::Text(t) | Input::Json(t) => t.lines().join("\n"),
            Input::Select { options, index } => options
                .get(*index)
                .map(|c| c.value.clone())
                .unwrap_or_default(),
            Input::Multi {
                options, chosen, ..
            } => options
                .iter()
                .zip(chosen)
                .filter(|(_, c)| **c)
                .map(|(o, _)| o.value.clone())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    pub fn values(&self) -> Vec<String> {
        match &self.input {
            Input::Multi {
                options, chosen, ..
            } => options
                .iter()
                .zip(chosen)
                .filter(|(_, c)| **c)
                .map(|(o, _)| o.value.clone())
                .collect(),
            _ => {
                let v = self.value();
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
        }
    }

    pub fn height(&self) -> u16 {
        match self.input {
            Input::Json(_) => 6,
            _ => 1,
        }
    }

    pub(super) fn set_select(&mut self, value: &str) {
        if let Input::Select { options, index } = &mut self.input
            && let Some(i) = options.iter().position(|o| o.value == value)
        {
            *index = i;
        }
    }
}

impl Form {
    pub(super) fn new(kind: FormKind, title: &str, fields: Vec<Field>) -> Form {
        let mut f = Form {
            kind,
            title: title.into(),
            fields,
            focus: 0,
            error: None,
            submitting: false,
            touched: false,
        };
        f.sync_cursors();
        f
    }

    pub fn get(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    fn value(&self, key: &str) -> String {
        self.get(key).map(|f| f.value()).unwrap_or_default()
    }

    fn opt(&self, key: &str) -> Option<String> {
        Some(self.value(key)).filter(|v| !v.trim().is_empty())
    }

    /// Shows the text cursor only in the focused field.
    pub fn sync_cursors(&mut self) {
        for (i, f) in self.fields.iter_mut().enumerate() {
            if let Input::Text(t) | Input::Json(t) = &mut f.input {
                let style = if i == self.focus {
                    ratatui::style::Style::default()
                        .add_modifier(ratatui::style::Modifier::REVERSED)
                } else {
                    ratatui::style::Style::default()
                };
                t.set_cursor_style(style);
            }
        }
    }

    /// A key and the form context's actions bound to it: moves between fields, turns pickers,
    /// edits text, and asks to be saved or closed (a form with input asks first).
    pub fn on_key(&mut self, key: KeyEvent, actions: Vec<Action>, lookup: &Lookup) -> Outcome {
        if self.submitting {
            return Outcome::Keep;
        }
        let e = self.on_key_inner(key, &actions, lookup);
        self.sync_cursors();
        match e {
            FormEvent::None => Outcome::Keep,
            FormEvent::Cancel if self.touched => Outcome::Push(Popup::Confirm(Confirm::new(
                "Discard this form?",
                vec!["It has unsaved input.".into()],
                Confirmed::DiscardForm,
            ))),
            FormEvent::Cancel => Outcome::Close,
            FormEvent::Submit => {
                if self.validate_all() {
                    self.submitting = true;
                    self.error = None;
                    Outcome::Submit(self.submission())
                } else {
                    self.error = Some("fix the fields marked in red".into());
                    if let Some(i) = self.fields.iter().position(|x| x.error.is_some()) {
                        self.focus = i;
                    }
                    Outcome::Keep
                }
            }
        }
    }

    fn on_key_inner(&mut self, key: KeyEvent, actions: &[Action], lookup: &Lookup) -> FormEvent {
        let has = |a: Action| actions.contains(&a);
        let n = self.fields.len();
        if has(Action::Close) {
            return FormEvent::Cancel;
        }
        if has(Action::SaveForm) {
            return FormEvent::Submit;
        }
        if has(Action::NextField) {
            self.focus = (self.focus + 1) % n;
            return FormEvent::None;
        }
        if has(Action::PrevField) {
            self.focus = (self.focus + n - 1) % n;
            return FormEvent::None;
        }
        // The JSON editor keeps Enter and the arrows for editing.
        let is_json = matches!(self.fields[self.focus].input, Input::Json(_));
        if !is_json {
            if has(Action::Submit) {
                return FormEvent::Submit;
            }
            if has(Action::Down) {
                self.focus = (self.focus + 1) % n;
                return FormEvent::None;
            }
            if has(Action::Up) {
                self.focus = (self.focus + n - 1) % n;
                return FormEvent::None;
            }
        }
        let changed = {
            let f = &mut self.fields[self.focus];
            match &mut f.input {
                Input::Text(t) | Input::Json(t) => super::line::edit(t, key),
                Input::Select { options, index } if !options.is_empty() => {
                    let len = options.len();
                    if has(Action::NextChoice) || has(Action::ToggleChoice) {
                        *index = (*index + 1) % len;
                        true
                    } else if has(Action::PrevChoice) {
                        *index = (*index + len - 1) % len;
                        true
                    } else if let KeyCode::Char(c) = key.code
                        && c.is_alphanumeric()
                    {
                        // Typing jumps to the next option starting with the character.
                        let found = (1..=len).map(|d| (*index + d) % len).find(|&i| {
                            options[i]
                                .label
                                .to_lowercase()
                                .starts_with(c.to_ascii_lowercase())
                        });
                        match found {
                            Some(i) => {
                                *index = i;
                                true
                            }
                            None => false,
                        }
                    } else {
                        false
                    }
                }
                Input::Multi {
                    options,
                    chosen,
                    cursor,
                } if !options.is_empty() => {
                    let len = options.len();
                    if has(Action::ToggleChoice) {
                        chosen[*cursor] = !chosen[*cursor];
                        true
                    } else if has(Action::NextChoice) {
                        *cursor = (*cursor + 1) % len;
                        false
                    } else if has(Action::PrevChoice) {
                        *cursor = (*cursor + len - 1) % len;
                        false
                    } else {
                        false
                    }
                }
                Input::Select { .. } | Input::Multi { .. } => false,
            }
        };
        if changed {
            self.touched = true;
            self.error = None;
            let key = self.fields[self.focus].key.clone();
            self.on_change(&key, lookup);
            self.validate_field(&key);
        }
        FormEvent::None
    }

    /// Keeps dependent pickers consistent (institution → templates/assets, vertical → codes,
    /// code → config fields).
    pub fn on_change(&mut self, key: &str, lookup: &Lookup) {
        match (&self.kind, key) {
            (FormKind::Template, "institutionId") | (FormKind::Template, "vertical") => {
                self.refresh_template_choices(lookup)
            }
            (FormKind::Template, "code") | (FormKind::Template, "region") => {
                self.rebuild_config_fields()
            }
            (FormKind::Asset, "institutionId") => {
                let inst = self.value("institutionId");
                let opts = template_choices(lookup, &inst);
                if let Some(f) = self.fields.iter_mut().find(|f| f.key == "templateId") {
                    f.input = select(opts);
                }
            }
            (FormKind::Position, "institutionId") => {
                let inst = self.value("institutionId");
                let opts = asset_choices(lookup, &inst);
                if let Some(f) = self.fields.iter_mut().find(|f| f.key == "assetId") {
                    f.input = select(opts);
                }
                self.default_currency(lookup);
            }
            (FormKind::Position, "assetId") => self.default_currency(lookup),
            _ => {}
        }
    }

    fn default_currency(&mut self, lookup: &Lookup) {
        let asset = self.value("assetId");
        let currency = lookup
            .assets
            .iter()
            .find(|a| a.id == asset)
            .and_then(|a| lookup.templates.iter().find(|t| t.id == a.template_id))
            .and_then(|t| {
                t.config
                    .get("currency")
                    .and_then(|c| c.as_str())
                    .map(String::from)
            });
        if let Some(c) = currency
            && let Some(f) = self.fields.iter_mut().find(|f| f.key == "currency")
        {
            f.set_select(&c);
        }
    }

    fn refresh_template_choices(&mut self, lookup: &Lookup) {
        let inst_id = self.value("institutionId");
        let inst = lookup.institutions.iter().find(|i| i.id == inst_id);
        let verticals: Vec<Choice> = inst
            .map(|i| {
                i.verticals
                    .iter()
                    .map(|v| Choice::same(v.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let regions: Vec<Choice> = inst
            .map(|i| i.regions.iter().map(|r| Choice::same(r.as_str())).collect())
            .unwrap_or_default();
        let keep_vertical = self.value("vertical");
        if let Some(f) = self.fields.iter_mut().find(|f| f.key == "vertical") {
            f.input = select(verticals);
            f.set_select(&keep_vertical);
        }
        let keep_region = self.value("region");
        if let Some(f) = self.fields.iter_mut().find(|f| f.key == "region") {
            f.input = select(regions);
            f.set_select(&keep_region);
        }
        let vertical = self.value("vertical").parse::<Vertical>().ok();
        let codes: Vec<Choice> = vertical
            .map(|v| {
                TemplateCode::for_vertical(v)
                    .into_iter()
                    .map(|c| Choice::same(c.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let keep_code = self.value("code");
        if let Some(f) = self.fields.iter_mut().find(|f| f.key == "code") {
            f.input = select(codes);
            f.set_select(&keep_code);
        }
        self.rebuild_config_fields();
    }

    /// Replaces the config fields with those the chosen code requires, keeping typed values.
    fn rebuild_config_fields(&mut self) {
        let old: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|f| f.key.starts_with("config."))
            .map(|f| (f.key.clone(), f.value()))
            .collect();
        self.fields.retain(|f| !f.key.starts_with("config."));
        let Ok(code) = self.value("code").parse::<TemplateCode>() else {
            return;
        };
        let region = self.value("region");
        for cf in config_fields(code) {
            let key = format!("config.{}", cf.key);
            let previous = old.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
            let input = match cf.kind {
                ConfigKind::Currency => {
                    let mut s = select(
                        Currency::ALL
                            .iter()
                            .map(|c| Choice::same(c.as_str()))
                            .collect(),
                    );
                    if let Input::Select { options, index } = &mut s
                        && let Some(i) = options
                            .iter()
                            .position(|o| Some(&o.value) == previous.as_ref())
                    {
                        *index = i;
                    }
                    s
                }
                // Fixed by the template's region.
                ConfigKind::Region => select(vec![Choice::same(&region)]),
                _ => text_input(previous.as_deref().unwrap_or("")),
            };
            let label = match (cf.kind, cf.required) {
                // The config's own region, fixed to the template's: not a second "Region".
                (ConfigKind::Region, _) => format!("{} in config", cf.label),
                (_, true) => cf.label.to_string(),
                (_, false) => format!("{} (optional)", cf.label),
            };
            self.fields.push(field(&key, &label, input));
        }
        self.focus = self.focus.min(self.fields.len().saturating_sub(1));
    }

    /// Checks one field with the service's rules; sets or clears its error.
    pub fn validate_field(&mut self, key: &str) {
        let err = self.check(key);
        if let Some(f) = self.fields.iter_mut().find(|f| f.key == key) {
            f.error = err;
        }
    }

    /// Checks every field; true when none has an error.
    pub fn validate_all(&mut self) -> bool {
        let keys: Vec<String> = self.fields.iter().map(|f| f.key.clone()).collect();
        for k in keys {
            self.validate_field(&k);
        }
        self.fields.iter().all(|f| f.error.is_none())
    }

    fn check(&self, key: &str) -> Option<String> {
        let v = self.value(key);
        let msg = |r: Result<(), crate::domain::DomainError>| {
            r.err().map(|e| match e {
                crate::domain::DomainError::Validation(f) => f[0].message.clone(),
                other => other.to_string(),
            })
        };
        match key {
            "name" | "label" | "holderReference" => msg(text::required(key, &v, model::NAME_MAX)),
            "externalReference" => msg(text::optional(key, &v, model::NAME_MAX)),
            "amount" => Money::parse(&v).err(),
            "minAmount" | "maxAmount" if v.trim().is_empty() => None,
            "minAmount" | "maxAmount" => Money::parse(&v).err().or_else(|| {
                let (min, max) = (
                    Money::parse(&self.value("minAmount")),
                    Money::parse(&self.value("maxAmount")),
                );
                match (min, max) {
                    (Ok(a), Ok(b)) if a > b => {
                        Some("the minimum must not exceed the maximum".into())
                    }
                    _ => None,
                }
            }),
            "regions" if self.get(key).is_some_and(|f| f.values().is_empty()) => {
                Some("choose at least one region (Space toggles)".into())
            }
            "institutionId" | "templateId" | "assetId" | "code" | "vertical" | "region"
                if v.is_empty() =>
            {
                Some("nothing to choose from".into())
            }
            "metadata" => {
                match serde_json::from_str::<Value>(if v.trim().is_empty() { "{}" } else { &v }) {
                    Err(e) => Some(format!("not valid JSON: {e}")),
                    Ok(j) => msg(model::validate_metadata("metadata", &j)),
                }
            }
            k if k.starts_with("config.") => {
                let Ok(code) = self.value("code").parse::<TemplateCode>() else {
                    return None;
                };
                let Ok(region) = self.value("region").parse::<Region>() else {
                    return None;
                };
                let cf = config_fields(code)
                    .iter()
                    .find(|c| format!("config.{}", c.key) == k)?;
                let config = self.template_config();
                match config.get(cf.key) {
                    None if cf.required => Some("is required".into()),
                    None => None,
                    Some(val) => crate::domain::template::check_config_value(cf, val, region).err(),
                }
            }
            _ => None,
        }
    }

    fn template_config(&self) -> Value {
        let Ok(code) = self.value("code").parse::<TemplateCode>() else {
            return Value::Object(Default::default());
        };
        let pairs: Vec<(String, String)> = self
            .fields
            .iter()
            .filter_map(|f| {
                f.key
                    .strip_prefix("config.")
                    .map(|k| (k.to_string(), f.value()))
            })
            .collect();
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Value::Object(crate::domain::template::config_from_fields(code, &refs))
    }

    /// Builds the service request from the fields.
    pub fn submission(&self) -> Submission {
        match &self.kind {
            FormKind::Institution => Submission::Institution(NewInstitution {
                name: self.value("name"),
                regions: self.get("regions").map(|f| f.values()).unwrap_or_default(),
                verticals: self
                    .get("verticals")
                    .map(|f| f.values())
                    .unwrap_or_default(),
            }),
            FormKind::Template => Submission::Template(NewTemplate {
                institution_id: self.opt("institutionId"),
                code: self.value("code"),
                name: self.value("name"),
                vertical: self.value("vertical"),
                region: self.value("region"),
                config: self.template_config(),
            }),
            FormKind::Asset => Submission::Asset(NewAsset {
                institution_id: self.opt("institutionId"),
                template_id: self.value("templateId"),
                label: self.value("label"),
                metadata: Some(
                    serde_json::from_str(&self.opt("metadata").unwrap_or_else(|| "{}".into()))
                        .unwrap_or(Value::Null),
                ),
            }),
            FormKind::Position => Submission::Position(NewPosition {
                institution_id: self.opt("institutionId"),
                asset_id: self.value("assetId"),
                holder_reference: self.value("holderReference"),
                currency: self.value("currency"),
                amount: self.value("amount"),
                external_reference: self.opt("externalReference"),
            }),
            FormKind::ApiKey { institution_id } => Submission::ApiKey {
                institution_id: institution_id.clone(),
                label: self.value("label"),
                role: self.value("role"),
            },
            FormKind::Policy {
                institution_id,
                region,
            } => Submission::Policy(PolicyInput {
                institution_id: Some(institution_id.clone()),
                region: region.as_str().into(),
                min_amount: self.opt("minAmount"),
                max_amount: self.opt("maxAmount"),
                max_release_amount: self.opt("maxReleaseAmount"),
                allowed_currencies: match self.value("currencyMode").as_str() {
                    "any" => None,
                    "none" => Some(vec![]),
                    _ => Some(
                        self.get("allowedCurrencies")
                            .map(|f| f.values())
                            .unwrap_or_default(),
                    ),
                },
            }),
        }
    }

    /// Puts the service's field errors beside their fields; what matches no field becomes the
    /// form-level error. Input stays as typed.
    pub fn apply_errors(&mut self, errors: &[crate::domain::FieldError], fallback: &str) {
        let mut unplaced = Vec::new();
        for e in errors {
            match self.fields.iter_mut().find(|f| f.key == e.field) {
                Some(f) => f.error = Some(e.message.clone()),
                None => unplaced.push(e.to_string()),
            }
        }
        self.error = if errors.is_empty() {
            Some(fallback.to_string())
        } else if unplaced.is_empty() {
            None
        } else {
            Some(unplaced.join("; "))
        };
        if let Some(i) = self.fields.iter().position(|f| f.error.is_some()) {
            self.focus = i;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;
    use crate::domain::time;
    use crate::tui::keymap::{Context, Key, KeyMap};
    use crossterm::event::KeyModifiers;
    use serde_json::json;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn press(f: &mut Form, k: KeyEvent, lookup: &Lookup) {
        let actions = KeyMap::default()
            .actions(Context::Form, Key::from_event(&k))
            .collect();
        f.on_key(k, actions, lookup);
    }

    fn typed(f: &mut Form, s: &str, lookup: &Lookup) {
        for c in s.chars() {
            press(f, key(KeyCode::Char(c)), lookup);
        }
    }

    fn inst() -> Institution {
        Institution {
            id: "inst_a".into(),
            name: "A".into(),
            regions: vec![Region::Us, Region::Sg],
            verticals: vec![Vertical::TradeFinance],
            created_at: time::now(),
            updated_at: time::now(),
        }
    }

    #[test]
    fn template_form_limits_codes_to_the_vertical_and_builds_config_fields() {
        let insts = [inst()];
        let lookup = Lookup {
            institutions: &insts,
            templates: &[],
            assets: &[],
        };
        let f = template_form(&lookup, None);
        let Input::Select { options, .. } = &f.get("vertical").unwrap().input else {
            panic!()
        };
        assert_eq!(options.len(), 1, "only the institution's verticals");
        let Input::Select { options, .. } = &f.get("code").unwrap().input else {
            panic!()
        };
        let codes: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
        assert_eq!(codes, ["TF_INVOICE", "TF_LC"]);
        let keys: Vec<&str> = f.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "institutionId",
                "vertical",
                "code",
                "region",
                "name",
                "config.currency",
                "config.maxTenorDays",
                "config.country"
            ]
        );
    }

    #[test]
    fn fields_validate_as_you_type_and_service_errors_land_beside_fields() {
        let lookup = Lookup {
            institutions: &[],
            templates: &[],
            assets: &[],
        };
        let mut f = position_form(&lookup, None);
        f.focus = 4; // amount
        typed(&mut f, "12.5e3", &lookup);
        assert!(
            f.get("amount")
                .unwrap()
                .error
                .as_ref()
                .unwrap()
                .contains("exponent")
        );
        for _ in 0..2 {
            press(&mut f, key(KeyCode::Backspace), &lookup);
        }
        assert_eq!(f.get("amount").unwrap().value(), "12.5");
        assert_eq!(f.get("amount").unwrap().error, None);
        f.apply_errors(
            &[crate::domain::FieldError::new(
                "currency",
                "EUR does not match the template's currency USD",
            )],
            "x",
        );
        assert_eq!(
            f.get("currency").unwrap().error.as_deref(),
            Some("EUR does not match the template's currency USD")
        );
        assert_eq!(f.focus, 3, "focus jumps to the first field in error");
        assert_eq!(f.get("amount").unwrap().value(), "12.5", "input kept");
    }

    #[test]
    fn json_metadata_is_validated() {
        let lookup = Lookup {
            institutions: &[],
            templates: &[],
            assets: &[],
        };
        let mut f = asset_form(&lookup, None);
        f.focus = 3;
        press(&mut f, key(KeyCode::Char('x')), &lookup);
        assert!(
            f.get("metadata")
                .unwrap()
                .error
                .as_ref()
                .unwrap()
                .contains("not valid JSON")
        );
        let Input::Json(t) = &mut f.fields[3].input else {
            panic!()
        };
        *t = TextArea::new(vec![json!({"a": 1}).to_string()]);
        f.validate_field("metadata");
        assert_eq!(f.get("metadata").unwrap().error, None);
    }
}
