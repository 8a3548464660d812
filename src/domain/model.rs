//! The core entities as stored and as exported (camelCase JSON, the reference API's names).

use super::error::Errors;
use super::time::{Timestamp, rfc3339};
use super::{
    Balance, Currency, DomainError, Money, PositionState, Region, TemplateCode, Vertical, text,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Institution {
    pub id: String,
    pub name: String,
    pub regions: Vec<Region>,
    pub verticals: Vec<Vertical>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetTemplate {
    pub id: String,
    pub institution_id: String,
    pub code: TemplateCode,
    pub name: String,
    pub vertical: Vertical,
    pub region: Region,
    pub config: Value,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub id: String,
    pub institution_id: String,
    pub template_id: String,
    pub label: String,
    pub metadata: Value,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub id: String,
    pub institution_id: String,
    pub asset_id: String,
    pub holder_reference: String,
    pub currency: Currency,
    pub amount: Money,
    pub state: PositionState,
    pub external_reference: Option<String>,
    /// Bumped on every recorded transition; the optimistic-concurrency check compares it together
    /// with the state, so two further partial releases can never both win.
    pub version: i64,
    /// Everything released to the beneficiary so far; null when not known (partial releases
    /// recorded before releases carried amounts).
    #[serde(default)]
    pub released: Option<Balance>,
    /// What the position still holds: its amount less everything released (for a CANCELLED or
    /// EXPIRED position, what was returned); null when not known.
    #[serde(default)]
    pub held: Option<Balance>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl Position {
    /// What the position holds, for sorting by it: its balance, or its whole amount where the
    /// balance is not known (the SQL stores keep this in their `held` column for the index).
    pub fn held_for_sorting(&self) -> Balance {
        held_for_sorting(self.released, self.held, self.amount)
    }
}

/// `Position::held_for_sorting` from the fields it reads.
pub fn held_for_sorting(
    released: Option<Balance>,
    held: Option<Balance>,
    amount: Money,
) -> Balance {
    match (released, held) {
        (Some(_), Some(h)) => h,
        _ => amount.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PositionLifecycleEvent {
    pub id: String,
    pub position_id: String,
    pub from_state: PositionState,
    pub to_state: PositionState,
    pub reason: Option<String>,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub metadata: Option<Value>,
    /// Who made the step (`root`, `local:<user>` or the key id), as its ledger event records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The money the step moved (released, or returned); null when not recorded.
    #[serde(default)]
    pub amount: Option<Balance>,
    /// What the position held after the step; null when not recorded.
    #[serde(default)]
    pub held: Option<Balance>,
}

/// Limits from DOMAIN.md §3.
pub const NAME_MAX: usize = 255;
pub const REASON_MAX: usize = 1000;
pub const REGIONS_MAX: usize = 10;
pub const METADATA_MAX_BYTES: usize = 64 * 1024;
pub const METADATA_MAX_DEPTH: usize = 10;

/// Validates a new institution's fields; returns the regions and verticals it will carry
/// (verticals default to all when none are given).
pub fn validate_institution(
    name: &str,
    regions: &[Region],
    verticals: &[Vertical],
) -> Result<(Vec<Region>, Vec<Vertical>), DomainError> {
    let mut errs = Errors::new();
    errs.take(text::required("name", name, NAME_MAX));
    if regions.is_empty() {
        errs.add("regions", "at least one region is required");
    } else if regions.len() > REGIONS_MAX {
        errs.add("regions", format!("at most {REGIONS_MAX} regions"));
    }
    errs.finish()?;
    let mut regions = regions.to_vec();
    dedup_keep_order(&mut regions);
    let mut verticals = if verticals.is_empty() {
        Vertical::ALL.to_vec()
    } else {
        verticals.to_vec()
    };
    dedup_keep_order(&mut verticals);
    Ok((regions, verticals))
}

fn dedup_keep_order<T: PartialEq + Copy>(v: &mut Vec<T>) {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v.iter() {
        if !out.contains(x) {
            out.push(*x);
        }
    }
    *v = out;
}

/// JSON metadata: an object, at most 64 KiB serialised, nested at most 10 deep.
pub fn validate_metadata(field: &str, v: &Value) -> Result<(), DomainError> {
    if !v.is_object() {
        return Err(DomainError::field(field, "must be a JSON object"));
    }
    let size = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
    if size > METADATA_MAX_BYTES {
        return Err(DomainError::field(
            field,
            format!("must be at most 64 KiB of JSON (got {size} bytes)"),
        ));
    }
    let d = depth(v);
    if d > METADATA_MAX_DEPTH {
        return Err(DomainError::field(
            field,
            format!("must be nested at most {METADATA_MAX_DEPTH} levels deep (got {d})"),
        ));
    }
    Ok(())
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Validates the operator-supplied fields of a new position (ownership and policy are checked by
/// the service, which can see the asset, template and policy).
pub fn validate_position_fields(
    holder_reference: &str,
    currency: &str,
    amount: &str,
    external_reference: Option<&str>,
) -> Result<(Currency, Money), DomainError> {
    let mut errs = Errors::new();
    errs.take(text::required(
        "holderReference",
        holder_reference,
        NAME_MAX,
    ));
    let cur = errs.take(Currency::parse_field("currency", currency));
    let amt = match Money::parse(amount) {
        Ok(m) => Some(m),
        Err(msg) => {
            errs.add("amount", msg);
            None
        }
    };
    if let Some(x) = external_reference {
        errs.take(text::optional("externalReference", x, NAME_MAX));
    }
    errs.finish()?;
    Ok((cur.expect("checked"), amt.expect("checked")))
}

pub fn validate_reason(reason: Option<&str>) -> Result<(), DomainError> {
    match reason {
        Some(r) => text::optional("reason", r, REASON_MAX),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn institution_rules() {
        let (r, v) = validate_institution("Acme", &[Region::Us, Region::Us], &[]).unwrap();
        assert_eq!(r, vec![Region::Us], "duplicate regions collapse");
        assert_eq!(v, Vertical::ALL.to_vec(), "verticals default to all");
        let e = validate_institution("", &[], &[]).unwrap_err();
        let DomainError::Validation(fields) = e else {
            panic!()
        };
        assert_eq!(fields.len(), 2, "both problems reported at once");
        assert!(validate_institution("x", &[Region::Us; 11], &[]).is_err());
        assert!(validate_institution("x", &[Region::Us; 10], &[]).is_ok());
    }

    #[test]
    fn metadata_rules() {
        assert!(validate_metadata("metadata", &json!({})).is_ok());
        assert!(
            validate_metadata("metadata", &json!([1]))
                .unwrap_err()
                .to_string()
                .contains("object")
        );
        let mut deep = json!(1);
        for _ in 0..10 {
            deep = json!({ "a": deep });
        }
        assert!(validate_metadata("metadata", &deep).is_ok());
        let deeper = json!({ "a": deep });
        assert!(
            validate_metadata("metadata", &deeper)
                .unwrap_err()
                .to_string()
                .contains("10 levels")
        );
        let big = json!({ "blob": "x".repeat(65 * 1024) });
        assert!(
            validate_metadata("metadata", &big)
                .unwrap_err()
                .to_string()
                .contains("64 KiB")
        );
    }

    #[test]
    fn position_field_rules() {
        let (c, m) = validate_position_fields("H-1", "usd", "10.50", Some("EXT")).unwrap();
        assert_eq!(c, Currency::Usd);
        assert_eq!(m.to_string(), "10.5");
        let e = validate_position_fields("", "XXX", "-1", Some(&"r".repeat(256))).unwrap_err();
        let DomainError::Validation(fields) = e else {
            panic!()
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            ["holderReference", "currency", "amount", "externalReference"]
        );
        assert!(validate_reason(Some(&"r".repeat(1000))).is_ok());
        assert!(validate_reason(Some(&"r".repeat(1001))).is_err());
    }
}
