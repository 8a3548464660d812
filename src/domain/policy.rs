//! Per-institution, per-region limits on new positions (DOMAIN.md §3 "Policy").

use super::error::Errors;
use super::time::{Timestamp, rfc3339};
use super::{Currency, DomainError, Money, Region};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstitutionPolicy {
    pub id: String,
    pub institution_id: String,
    pub region: Region,
    pub config: PolicyConfig,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyConfig {
    pub region: Region,
    pub position: PositionPolicy,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PositionPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount: Option<Money>,
    /// `None`: any currency; `Some([])`: blocks every currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_currencies: Option<Vec<Currency>>,
    /// The most one release (partial, or the final RELEASED) may move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_release_amount: Option<Money>,
}

impl PositionPolicy {
    /// Parses and validates operator input for a policy.
    pub fn parse(
        min_amount: Option<&str>,
        max_amount: Option<&str>,
        allowed_currencies: Option<&[String]>,
    ) -> Result<Self, DomainError> {
        let mut errs = Errors::new();
        let mut amount = |field: &str, v: Option<&str>| -> Option<Money> {
            let v = v.map(str::trim).filter(|s| !s.is_empty())?;
            match Money::parse(v) {
                Ok(m) => Some(m),
                Err(msg) => {
                    errs.add(field, msg);
                    None
                }
            }
        };
        let min = amount("minAmount", min_amount);
        let max = amount("maxAmount", max_amount);
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            errs.add("minAmount", format!("{a} must not exceed maxAmount {b}"));
        }
        let currencies = allowed_currencies.map(|list| {
            let mut out: Vec<Currency> = Vec::new();
            for c in list {
                if let Some(c) = errs.take(Currency::parse_field("allowedCurrencies", c))
                    && !out.contains(&c)
                {
                    out.push(c);
                }
            }
            out
        });
        errs.finish()?;
        Ok(Self {
            min_amount: min,
            max_amount: max,
            allowed_currencies: currencies,
            max_release_amount: None,
        })
    }

    /// Sets the cap on one release from operator input (blank: none).
    pub fn with_release_cap(mut self, cap: Option<&str>) -> Result<Self, DomainError> {
        self.max_release_amount = match cap.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(v) => {
                Some(Money::parse(v).map_err(|m| DomainError::field("maxReleaseAmount", m))?)
            }
        };
        Ok(self)
    }

    /// Checks a new position against the policy, in the reference's order: below minimum, above
    /// maximum, currency not allowed.
    pub fn check(
        &self,
        amount: Money,
        currency: Currency,
        region: Region,
    ) -> Result<(), DomainError> {
        if let Some(min) = self.min_amount
            && amount < min
        {
            return Err(DomainError::field(
                "amount",
                format!("{amount} is below the {region} policy minimum of {min}"),
            ));
        }
        if let Some(max) = self.max_amount
            && amount > max
        {
            return Err(DomainError::field(
                "amount",
                format!("{amount} is above the {region} policy maximum of {max}"),
            ));
        }
        if let Some(allowed) = &self.allowed_currencies
            && !allowed.contains(&currency)
        {
            let list = if allowed.is_empty() {
                "none: the policy blocks every currency".to_string()
            } else {
                allowed
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(DomainError::field(
                "currency",
                format!("{currency} is not allowed by the {region} policy (allowed: {list})"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn parse_validates() {
        let p = PositionPolicy::parse(
            Some("10"),
            Some("100"),
            Some(&["usd".into(), "EUR".into(), "USD".into()]),
        )
        .unwrap();
        assert_eq!(
            p.allowed_currencies,
            Some(vec![Currency::Usd, Currency::Eur])
        );
        assert!(
            PositionPolicy::parse(Some("100"), Some("10"), None)
                .unwrap_err()
                .to_string()
                .contains("must not exceed")
        );
        assert!(
            PositionPolicy::parse(Some("-1"), None, None)
                .unwrap_err()
                .to_string()
                .contains("minAmount")
        );
        assert!(
            PositionPolicy::parse(None, None, Some(&["XXX".into()]))
                .unwrap_err()
                .to_string()
                .contains("allowedCurrencies")
        );
        assert_eq!(
            PositionPolicy::parse(Some(" "), None, None).unwrap(),
            PositionPolicy::default()
        );
    }

    #[test]
    fn check_order_min_then_max_then_currency() {
        let p = PositionPolicy {
            min_amount: Some(m("10")),
            max_amount: Some(m("100")),
            allowed_currencies: Some(vec![Currency::Usd]),
            max_release_amount: None,
        };
        assert!(p.check(m("50"), Currency::Usd, Region::Us).is_ok());
        assert!(p.check(m("10"), Currency::Usd, Region::Us).is_ok());
        assert!(p.check(m("100"), Currency::Usd, Region::Us).is_ok());
        // below min and wrong currency: min is reported first
        let e = p
            .check(m("5"), Currency::Eur, Region::Us)
            .unwrap_err()
            .to_string();
        assert!(e.contains("below the US policy minimum of 10"), "{e}");
        let e = p
            .check(m("500"), Currency::Eur, Region::Us)
            .unwrap_err()
            .to_string();
        assert!(e.contains("above the US policy maximum of 100"), "{e}");
        let e = p
            .check(m("50"), Currency::Eur, Region::Us)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("EUR is not allowed by the US policy (allowed: USD)"),
            "{e}"
        );
        let blocked = PositionPolicy {
            allowed_currencies: Some(vec![]),
            ..Default::default()
        };
        assert!(
            blocked
                .check(m("1"), Currency::Usd, Region::Sg)
                .unwrap_err()
                .to_string()
                .contains("blocks every currency")
        );
        assert!(
            PositionPolicy::default()
                .check(m("1"), Currency::Jpy, Region::Sg)
                .is_ok()
        );
    }
}
