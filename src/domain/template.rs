//! Asset template rules: which codes belong to which vertical, and the config each code requires.
//! The same field list drives validation here and the console's template form.

use super::error::Errors;
use super::{Currency, DomainError, Institution, Money, Region, TemplateCode, Vertical, text};
use serde_json::{Map, Value};

/// The kind of value a config field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    Currency,
    /// Must equal the template's region.
    Region,
    Amount,
    Percent,
    Days,
    Country,
}

#[derive(Debug, Clone, Copy)]
pub struct ConfigField {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: ConfigKind,
    pub required: bool,
}

const fn f(
    key: &'static str,
    label: &'static str,
    kind: ConfigKind,
    required: bool,
) -> ConfigField {
    ConfigField {
        key,
        label,
        kind,
        required,
    }
}

/// The config fields a template code requires (DOMAIN.md §3). Extra keys are allowed.
pub fn config_fields(code: TemplateCode) -> &'static [ConfigField] {
    use ConfigKind::*;
    const ESCROW: &[ConfigField] = &[
        f("currency", "Currency", Currency, true),
        f("region", "Region", Region, true),
        f("minAmount", "Minimum amount", Amount, false),
        f("maxAmount", "Maximum amount", Amount, false),
    ];
    const RETAINAGE: &[ConfigField] = &[
        f("currency", "Currency", Currency, true),
        f("retainagePercentage", "Retainage %", Percent, true),
    ];
    const INVOICE: &[ConfigField] = &[
        f("currency", "Currency", Currency, true),
        f("maxTenorDays", "Max tenor (days)", Days, true),
        f("country", "Country", Country, true),
    ];
    const LC: &[ConfigField] = &[
        f("currency", "Currency", Currency, true),
        f("issuingBankCountry", "Issuing bank country", Country, true),
        f("maxTenorDays", "Max tenor (days)", Days, true),
    ];
    match code {
        TemplateCode::ConstrEscrow => ESCROW,
        TemplateCode::ConstrRetainage => RETAINAGE,
        TemplateCode::TfInvoice => INVOICE,
        TemplateCode::TfLc => LC,
    }
}

/// Checks one config value of the given kind; `region` is the template's region.
pub fn check_config_value(
    field: &ConfigField,
    value: &Value,
    region: Region,
) -> Result<(), String> {
    match field.kind {
        ConfigKind::Currency => match value.as_str() {
            Some(s) if s.parse::<Currency>().is_ok() && s == s.to_ascii_uppercase() => Ok(()),
            Some(s) => Err(format!(
                "'{s}' is not a supported currency (upper-case ISO code such as USD)"
            )),
            None => Err("must be a currency code string".into()),
        },
        ConfigKind::Region => match value.as_str() {
            Some(s) if s == region.as_str() => Ok(()),
            Some(s) => Err(format!("'{s}' must equal the template region {region}")),
            None => Err(format!("must be the template region {region}")),
        },
        ConfigKind::Amount => amount_of(value).map(|_| ()),
        ConfigKind::Percent => match value.as_f64() {
            Some(p) if (0.0..=100.0).contains(&p) => Ok(()),
            Some(_) => Err("must be between 0 and 100".into()),
            None => Err("must be a number between 0 and 100".into()),
        },
        ConfigKind::Days => match value.as_i64() {
            Some(d) if d > 0 => Ok(()),
            Some(_) => Err("must be greater than 0".into()),
            None => Err("must be a whole number of days".into()),
        },
        ConfigKind::Country => match value.as_str() {
            Some(s) => text::required(field.key, s, 64).map_err(|e| match e {
                DomainError::Validation(v) => v[0].message.clone(),
                other => other.to_string(),
            }),
            None => Err("must be a country name or code".into()),
        },
    }
}

/// An amount in config: a JSON number or a decimal string.
fn amount_of(value: &Value) -> Result<Money, String> {
    match value {
        Value::String(s) => Money::parse(s),
        Value::Number(n) => Money::parse(&n.to_string()),
        _ => Err("must be an amount".into()),
    }
}

/// The most a template's config may take, serialised: it is copied into the template, its
/// ledger event and its audit record.
pub const CONFIG_MAX_BYTES: usize = 16 * 1024;

/// The config key every code has: the template's on-chain settings.
const ONCHAIN: &str = "onchain";

/// Validates a new template against its institution and its code's config rules.
pub fn validate_template(
    institution: &Institution,
    code: TemplateCode,
    name: &str,
    vertical: Vertical,
    region: Region,
    config: &Value,
) -> Result<(), DomainError> {
    let mut errs = Errors::new();
    errs.take(text::required("name", name, super::model::NAME_MAX));
    if code.vertical() != vertical {
        errs.add(
            "code",
            format!(
                "{code} belongs to vertical {}, not {vertical}; codes for {vertical}: {}",
                code.vertical(),
                TemplateCode::for_vertical(vertical)
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if !institution.regions.contains(&region) {
        errs.add(
            "region",
            format!(
                "{region} is not one of the institution's regions ({})",
                join(&institution.regions)
            ),
        );
    }
    if !institution.verticals.contains(&vertical) {
        errs.add(
            "vertical",
            format!(
                "{vertical} is not one of the institution's verticals ({})",
                join(&institution.verticals)
            ),
        );
    }
    match config.as_object() {
        None => errs.add("config", "must be a JSON object"),
        Some(map) => {
            let size = serde_json::to_string(config).map_or(usize::MAX, |s| s.len());
            if size > CONFIG_MAX_BYTES {
                errs.add(
                    "config",
                    format!(
                        "is {size} bytes; a template config may take at most {CONFIG_MAX_BYTES}"
                    ),
                );
            }
            let known = config_fields(code);
            // `onchain` is every code's (the per-template on-chain gate, DOMAIN.md §5).
            let unknown: Vec<&str> = map
                .keys()
                .filter(|k| k.as_str() != ONCHAIN && !known.iter().any(|f| f.key == k.as_str()))
                .map(|k| k.as_str())
                .take(5)
                .collect();
            if !unknown.is_empty() {
                errs.add(
                    "config",
                    format!(
                        "{code} has no key {}; its keys are {}",
                        unknown
                            .iter()
                            .map(|k| format!("'{}'", text::sanitize(&ellipsis(k, 40))))
                            .collect::<Vec<_>>()
                            .join(", "),
                        known
                            .iter()
                            .map(|f| f.key)
                            .chain([ONCHAIN])
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            if map.get(ONCHAIN).is_some_and(|v| !v.is_object()) {
                errs.add(
                    "config.onchain",
                    "must be an object such as {\"enabled\": true}",
                );
            }
            for field in known {
                let key = format!("config.{}", field.key);
                match map.get(field.key) {
                    None | Some(Value::Null) if field.required => {
                        errs.add(key, format!("is required for {code}"))
                    }
                    None | Some(Value::Null) => {}
                    Some(v) => {
                        if let Err(m) = check_config_value(field, v, region) {
                            errs.add(key, m);
                        }
                    }
                }
            }
            if let (Some(min), Some(max)) = (map.get("minAmount"), map.get("maxAmount"))
                && code == TemplateCode::ConstrEscrow
                && let (Ok(min), Ok(max)) = (amount_of(min), amount_of(max))
                && min > max
            {
                errs.add("config.minAmount", "must not exceed maxAmount");
            }
        }
    }
    errs.finish()
}

/// At most `max` characters of `s`, ending in `…` when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    s.chars().take(max - 1).chain(['…']).collect()
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The limits a template's config puts on its positions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateLimits {
    pub currency: Option<Currency>,
    pub min_amount: Option<Money>,
    pub max_amount: Option<Money>,
}

impl TemplateLimits {
    pub fn from_config(code: TemplateCode, config: &Value) -> Self {
        let get = |k: &str| config.get(k);
        let currency = get("currency")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok());
        let (min_amount, max_amount) = if code == TemplateCode::ConstrEscrow {
            (
                get("minAmount").and_then(|v| amount_of(v).ok()),
                get("maxAmount").and_then(|v| amount_of(v).ok()),
            )
        } else {
            (None, None)
        };
        Self {
            currency,
            min_amount,
            max_amount,
        }
    }
}

/// Builds a config object from form fields (key → text), typing each value by its kind.
pub fn config_from_fields(code: TemplateCode, values: &[(&str, &str)]) -> Map<String, Value> {
    let mut m = Map::new();
    for field in config_fields(code) {
        let Some((_, raw)) = values.iter().find(|(k, _)| *k == field.key) else {
            continue;
        };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let v = match field.kind {
            ConfigKind::Currency => Value::String(raw.to_ascii_uppercase()),
            ConfigKind::Region | ConfigKind::Country | ConfigKind::Amount => {
                Value::String(raw.to_string())
            }
            ConfigKind::Percent => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(raw.to_string())),
            ConfigKind::Days => raw
                .parse::<i64>()
                .map(|d| Value::Number(d.into()))
                .unwrap_or_else(|_| Value::String(raw.to_string())),
        };
        m.insert(field.key.to_string(), v);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time;
    use serde_json::json;

    fn inst(regions: &[Region], verticals: &[Vertical]) -> Institution {
        Institution {
            id: "inst_x".into(),
            name: "Acme".into(),
            regions: regions.to_vec(),
            verticals: verticals.to_vec(),
            created_at: time::now(),
            updated_at: time::now(),
        }
    }

    fn check(
        code: TemplateCode,
        vertical: Vertical,
        region: Region,
        config: Value,
    ) -> Result<(), String> {
        let i = inst(&[Region::Us, Region::EuUk], Vertical::ALL);
        validate_template(&i, code, "T", vertical, region, &config).map_err(|e| e.to_string())
    }

    use TemplateCode::*;
    use Vertical::*;

    #[test]
    fn unknown_keys_and_oversized_configs_are_refused() {
        let ok = json!({"currency":"USD","region":"US","onchain":{"enabled":true}});
        assert!(check(ConstrEscrow, Construction, Region::Us, ok).is_ok());
        let e = check(
            ConstrEscrow,
            Construction,
            Region::Us,
            json!({"currency":"USD","region":"US","colour":"blue"}),
        )
        .unwrap_err();
        assert!(e.contains("CONSTR_ESCROW has no key 'colour'"), "{e}");
        let e = check(
            ConstrEscrow,
            Construction,
            Region::Us,
            json!({"currency":"USD","region":"US","onchain":true}),
        )
        .unwrap_err();
        assert!(e.contains("config.onchain: must be an object"), "{e}");
        let padded =
            json!({"currency":"USD","region":"US","onchain":{"note":"x".repeat(CONFIG_MAX_BYTES)}});
        let e = check(ConstrEscrow, Construction, Region::Us, padded).unwrap_err();
        assert!(
            e.contains("a template config may take at most 16384"),
            "{e}"
        );
    }

    #[test]
    fn constr_escrow_config() {
        assert!(
            check(
                ConstrEscrow,
                Construction,
                Region::Us,
                json!({"currency":"USD","region":"US"})
            )
            .is_ok()
        );
        assert!(check(ConstrEscrow, Construction, Region::Us, json!({"currency":"USD","region":"US","minAmount":"10","maxAmount":1000,"onchain":{"enabled":false}})).is_ok());
        let e = check(
            ConstrEscrow,
            Construction,
            Region::Us,
            json!({"currency":"USD","region":"EU_UK"}),
        )
        .unwrap_err();
        assert!(
            e.contains("config.region: 'EU_UK' must equal the template region US"),
            "{e}"
        );
        let e = check(
            ConstrEscrow,
            Construction,
            Region::Us,
            json!({"region":"US"}),
        )
        .unwrap_err();
        assert!(
            e.contains("config.currency: is required for CONSTR_ESCROW"),
            "{e}"
        );
        let e = check(
            ConstrEscrow,
            Construction,
            Region::Us,
            json!({"currency":"usd","region":"US"}),
        )
        .unwrap_err();
        assert!(e.contains("config.currency"), "{e}");
        let e = check(
            ConstrEscrow,
            Construction,
            Region::Us,
            json!({"currency":"USD","region":"US","minAmount":"100","maxAmount":"10"}),
        )
        .unwrap_err();
        assert!(e.contains("must not exceed maxAmount"), "{e}");
        let e = check(
            ConstrEscrow,
            Construction,
            Region::Us,
            json!({"currency":"USD","region":"US","minAmount":"abc"}),
        )
        .unwrap_err();
        assert!(e.contains("config.minAmount"), "{e}");
    }

    #[test]
    fn constr_retainage_config() {
        assert!(
            check(
                ConstrRetainage,
                Construction,
                Region::Us,
                json!({"currency":"EUR","retainagePercentage":0})
            )
            .is_ok()
        );
        assert!(
            check(
                ConstrRetainage,
                Construction,
                Region::Us,
                json!({"currency":"EUR","retainagePercentage":100})
            )
            .is_ok()
        );
        assert!(
            check(
                ConstrRetainage,
                Construction,
                Region::Us,
                json!({"currency":"EUR","retainagePercentage":100.5})
            )
            .unwrap_err()
            .contains("between 0 and 100")
        );
        assert!(
            check(
                ConstrRetainage,
                Construction,
                Region::Us,
                json!({"currency":"EUR","retainagePercentage":-1})
            )
            .is_err()
        );
        assert!(
            check(
                ConstrRetainage,
                Construction,
                Region::Us,
                json!({"currency":"EUR","retainagePercentage":"5"})
            )
            .is_err()
        );
        assert!(
            check(
                ConstrRetainage,
                Construction,
                Region::Us,
                json!({"currency":"EUR"})
            )
            .unwrap_err()
            .contains("retainagePercentage: is required")
        );
    }

    #[test]
    fn tf_invoice_config() {
        assert!(
            check(
                TfInvoice,
                TradeFinance,
                Region::EuUk,
                json!({"currency":"GBP","maxTenorDays":90,"country":"GB"})
            )
            .is_ok()
        );
        assert!(
            check(
                TfInvoice,
                TradeFinance,
                Region::EuUk,
                json!({"currency":"GBP","maxTenorDays":0,"country":"GB"})
            )
            .unwrap_err()
            .contains("greater than 0")
        );
        assert!(
            check(
                TfInvoice,
                TradeFinance,
                Region::EuUk,
                json!({"currency":"GBP","maxTenorDays":1.5,"country":"GB"})
            )
            .unwrap_err()
            .contains("whole number")
        );
        assert!(
            check(
                TfInvoice,
                TradeFinance,
                Region::EuUk,
                json!({"currency":"GBP","maxTenorDays":30})
            )
            .unwrap_err()
            .contains("config.country: is required")
        );
        assert!(
            check(
                TfInvoice,
                TradeFinance,
                Region::EuUk,
                json!({"currency":"GBP","maxTenorDays":30,"country":""})
            )
            .is_err()
        );
    }

    #[test]
    fn tf_lc_config() {
        assert!(
            check(
                TfLc,
                TradeFinance,
                Region::Us,
                json!({"currency":"USD","issuingBankCountry":"US","maxTenorDays":180})
            )
            .is_ok()
        );
        assert!(
            check(
                TfLc,
                TradeFinance,
                Region::Us,
                json!({"currency":"USD","maxTenorDays":180})
            )
            .unwrap_err()
            .contains("issuingBankCountry: is required")
        );
        assert!(
            check(
                TfLc,
                TradeFinance,
                Region::Us,
                json!({"currency":"USD","issuingBankCountry":"US","maxTenorDays":-3})
            )
            .is_err()
        );
    }

    #[test]
    fn code_vertical_region_and_institution() {
        let e = check(
            TfLc,
            Construction,
            Region::Us,
            json!({"currency":"USD","issuingBankCountry":"US","maxTenorDays":1}),
        )
        .unwrap_err();
        assert!(e.contains("TF_LC belongs to vertical TRADE_FINANCE"), "{e}");
        let e = check(
            TfLc,
            TradeFinance,
            Region::Sg,
            json!({"currency":"USD","issuingBankCountry":"US","maxTenorDays":1}),
        )
        .unwrap_err();
        assert!(
            e.contains("SG is not one of the institution's regions (US, EU_UK)"),
            "{e}"
        );
        let i = inst(&[Region::Us], &[Construction]);
        let e = validate_template(
            &i,
            TfLc,
            "T",
            TradeFinance,
            Region::Us,
            &json!({"currency":"USD","issuingBankCountry":"US","maxTenorDays":1}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("TRADE_FINANCE is not one of the institution's verticals"),
            "{e}"
        );
        assert!(
            check(TfLc, TradeFinance, Region::Us, json!([1]))
                .unwrap_err()
                .contains("config: must be a JSON object")
        );
    }

    #[test]
    fn limits_and_form_building() {
        let cfg = Value::Object(config_from_fields(
            ConstrEscrow,
            &[
                ("currency", "usd"),
                ("region", "US"),
                ("minAmount", "10.5"),
                ("maxAmount", ""),
            ],
        ));
        assert_eq!(
            cfg,
            json!({"currency":"USD","region":"US","minAmount":"10.5"})
        );
        let l = TemplateLimits::from_config(ConstrEscrow, &cfg);
        assert_eq!(l.currency, Some(Currency::Usd));
        assert_eq!(l.min_amount.unwrap().to_string(), "10.5");
        assert_eq!(l.max_amount, None);
        let cfg = Value::Object(config_from_fields(
            TfInvoice,
            &[
                ("currency", "GBP"),
                ("maxTenorDays", "90"),
                ("country", "GB"),
            ],
        ));
        assert_eq!(
            cfg,
            json!({"currency":"GBP","maxTenorDays":90,"country":"GB"})
        );
        // min/max only limit CONSTR_ESCROW positions
        assert_eq!(
            TemplateLimits::from_config(TfInvoice, &json!({"currency":"GBP","minAmount":"5"}))
                .min_amount,
            None
        );
    }
}
