//! Exact decimal money: positive, at most 8 decimal places, at most 1e15. Never a float.
//! Written in JSON as a decimal string in canonical form (no trailing zeros: "1250.5").

use super::DomainError;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

pub const MAX_SCALE: u32 = 8;
const MAX_INTEGER_DIGITS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

impl Money {
    pub fn max() -> Decimal {
        Decimal::from(1_000_000_000_000_000i64)
    }

    /// Validates an already-typed decimal against the money rules.
    pub fn from_decimal(d: Decimal) -> Result<Self, String> {
        if d <= Decimal::ZERO {
            return Err("must be greater than zero".into());
        }
        if d.normalize().scale() > MAX_SCALE {
            return Err(format!("has more than {MAX_SCALE} decimal places"));
        }
        if d > Self::max() {
            return Err("must not exceed 1000000000000000 (1e15)".into());
        }
        Ok(Money(d.normalize()))
    }

    /// Parses operator or API input. Only plain decimal notation is accepted ("1250.50"): no sign,
    /// no exponent, no grouping separators, so what the operator typed is exactly what is stored.
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.starts_with('-') {
            return Err("must be greater than zero".into());
        }
        if s.contains(',') {
            return Err(format!(
                "'{s}' is not a plain decimal: use '.' for decimals and no thousands separators"
            ));
        }
        if s.contains(['e', 'E']) {
            return Err(format!(
                "'{s}' uses exponent notation; write the amount as a plain decimal"
            ));
        }
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        let digits_ok = |p: &str| p.chars().all(|c| c.is_ascii_digit());
        if !digits_ok(int) || !digits_ok(frac) || (int.is_empty() && frac.is_empty()) {
            return Err(format!("'{s}' is not a decimal number"));
        }
        let frac_trimmed = frac.trim_end_matches('0');
        if frac_trimmed.len() > MAX_SCALE as usize {
            return Err(format!("has more than {MAX_SCALE} decimal places"));
        }
        let int_trimmed = int.trim_start_matches('0');
        if int_trimmed.len() > MAX_INTEGER_DIGITS {
            return Err("must not exceed 1000000000000000 (1e15)".into());
        }
        let canonical = format!(
            "{}.{}",
            if int_trimmed.is_empty() {
                "0"
            } else {
                int_trimmed
            },
            if frac_trimmed.is_empty() {
                "0"
            } else {
                frac_trimmed
            }
        );
        let d =
            Decimal::from_str(&canonical).map_err(|e| format!("'{s}' is not a decimal: {e}"))?;
        Self::from_decimal(d)
    }

    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// Fixed-width text (16 integer digits, 8 decimals) whose byte order is numeric order.
    /// SQLite stores amounts this way so that `ORDER BY amount` sorts correctly.
    pub fn to_sortable(&self) -> String {
        sortable(self.0)
    }

    /// For display: grouped thousands, at least two decimals ("1,250.50").
    pub fn display_grouped(&self) -> String {
        grouped(self.0)
    }
}

/// Fixed-width text (16 integer digits, 8 decimals) whose byte order is numeric order.
fn sortable(d: Decimal) -> String {
    let s = format!("{d:.8}");
    format!("{s:0>25}")
}

/// Grouped thousands, at least two decimals ("1,250.50").
fn grouped(d: Decimal) -> String {
    let s = d.to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let grouped = super::text::group_digits(int);
    let frac = format!("{frac:0<2}");
    format!("{grouped}.{frac}")
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Money {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s).map_err(|m| DomainError::field("amount", m))
    }
}

/// In the OpenAPI document: an exact decimal, as a string.
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^-?[0-9]+(\.[0-9]+)?$"))
            .description(Some(
                "An exact decimal amount, as a string (never a float).",
            ))
            .into()
    }
}
impl utoipa::ToSchema for Money {}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Money::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A balance: like [`Money`] but zero allowed (what a position has released, or still holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Balance(Decimal);

impl Balance {
    pub const ZERO: Balance = Balance(Decimal::ZERO);

    /// Parses a stored or recorded balance: "0" or a [`Money`] amount (SQLite's fixed-width text
    /// reads too).
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        let zeros = |p: &str| p.chars().all(|c| c == '0');
        let zero = match s.split_once('.') {
            Some((int, frac)) => zeros(int) && zeros(frac) && !(int.is_empty() && frac.is_empty()),
            None => !s.is_empty() && zeros(s),
        };
        if zero {
            return Ok(Balance::ZERO);
        }
        Money::parse(s).map(Balance::from)
    }

    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// This balance less `m`; None when `m` is more than it.
    pub fn minus(self, m: Money) -> Option<Balance> {
        let d = self.0 - m.as_decimal();
        (d >= Decimal::ZERO).then(|| Balance(d.normalize()))
    }

    /// This balance plus `m` (at most 1e15 each, so the sum is exact).
    pub fn plus(self, m: Money) -> Balance {
        Balance((self.0 + m.as_decimal()).normalize())
    }

    /// `amount` less this balance; None when this is more than `amount`.
    pub fn left_of(self, amount: Money) -> Option<Balance> {
        let d = amount.as_decimal() - self.0;
        (d >= Decimal::ZERO).then(|| Balance(d.normalize()))
    }

    /// As money, when it is more than zero.
    pub fn as_money(self) -> Option<Money> {
        Money::from_decimal(self.0).ok()
    }

    /// Fixed-width text whose byte order is numeric order (as [`Money::to_sortable`]).
    pub fn to_sortable(&self) -> String {
        sortable(self.0)
    }

    /// For display: grouped thousands, at least two decimals ("1,250.50").
    pub fn display_grouped(&self) -> String {
        grouped(self.0)
    }
}

impl From<Money> for Balance {
    fn from(m: Money) -> Self {
        Balance(m.as_decimal())
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

impl utoipa::PartialSchema for Balance {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[0-9]+(\.[0-9]+)?$"))
            .description(Some(
                "An exact decimal balance (zero or more), as a string (never a float).",
            ))
            .into()
    }
}
impl utoipa::ToSchema for Balance {}

impl Serialize for Balance {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Balance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Balance::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_decimals_and_canonicalises() {
        assert_eq!(Money::parse("1250.50").unwrap().to_string(), "1250.5");
        assert_eq!(Money::parse(" 0001.000 ").unwrap().to_string(), "1");
        assert_eq!(Money::parse(".5").unwrap().to_string(), "0.5");
        assert_eq!(Money::parse("7.").unwrap().to_string(), "7");
        assert_eq!(
            Money::parse("0.00000001").unwrap().to_string(),
            "0.00000001"
        );
        assert_eq!(
            Money::parse("1000000000000000").unwrap().to_string(),
            "1000000000000000"
        );
        assert_eq!(
            Money::parse("999999999999999.99999999")
                .unwrap()
                .to_string(),
            "999999999999999.99999999"
        );
        // trailing zeros beyond 8 places are not extra precision
        assert_eq!(Money::parse("1.1000000000").unwrap().to_string(), "1.1");
    }

    #[test]
    fn rejects_bad_amounts_with_specific_reasons() {
        let err = |s: &str| Money::parse(s).unwrap_err();
        assert!(err("").contains("required"));
        assert!(err("0").contains("greater than zero"));
        assert!(err("0.000000000").contains("greater than zero"));
        assert!(err("-5").contains("greater than zero"));
        assert!(err("0.000000001").contains("8 decimal places"));
        assert!(err("1000000000000000.00000001").contains("1e15"));
        assert!(err("10000000000000000").contains("1e15"));
        assert!(err("1.5e-8").contains("exponent"));
        assert!(err("1E3").contains("exponent"));
        assert!(err("1,250.50").contains("thousands"));
        assert!(err("12a").contains("not a decimal"));
        assert!(err(".").contains("not a decimal"));
        assert!(err("+5").contains("not a decimal"));
        assert!(err("NaN").contains("not a decimal"));
        assert!(err("1.2.3").contains("not a decimal"));
        assert!(err("99999999999999999999999999999999999").contains("1e15"));
    }

    #[test]
    fn balances_take_zero_and_subtract_exactly() {
        let b = |s: &str| Balance::parse(s).unwrap();
        let m = |s: &str| Money::parse(s).unwrap();
        assert_eq!(b("0").to_string(), "0");
        assert_eq!(b("0000000000000000.00000000"), Balance::ZERO);
        assert_eq!(b("0000000000001000.50000000").to_string(), "1000.5");
        assert!(Balance::parse("-1").is_err());
        assert!(Balance::parse("0.0.0").is_err());
        assert!(Balance::parse(".").is_err());
        assert_eq!(b("0."), Balance::ZERO);
        assert_eq!(b(".00"), Balance::ZERO);
        assert!(Balance::parse("").is_err());
        assert_eq!(b("100").minus(m("0.01")).unwrap().to_string(), "99.99");
        assert_eq!(b("100").minus(m("100.00000001")), None);
        assert_eq!(b("0.1").plus(m("0.2")).to_string(), "0.3");
        assert_eq!(b("250").left_of(m("1000")).unwrap().to_string(), "750");
        assert_eq!(b("1000.01").left_of(m("1000")), None);
        assert_eq!(Balance::ZERO.as_money(), None);
        assert_eq!(b("0").to_sortable(), "0000000000000000.00000000");
        assert!(b("9.5").to_sortable() < b("10").to_sortable());
    }

    #[test]
    fn sortable_text_orders_like_numbers() {
        let mut v: Vec<Money> = ["10", "9.5", "0.00000001", "1000000000000000", "100.25"]
            .iter()
            .map(|s| Money::parse(s).unwrap())
            .collect();
        let mut by_text = v.clone();
        by_text.sort_by_key(|m| m.to_sortable());
        v.sort();
        assert_eq!(v, by_text);
        assert_eq!(
            Money::parse("1250.5").unwrap().to_sortable(),
            "0000000000001250.50000000"
        );
        assert_eq!(
            Money::parse(&Money::parse("1250.5").unwrap().to_sortable())
                .unwrap()
                .to_string(),
            "1250.5"
        );
    }

    #[test]
    fn grouped_display() {
        assert_eq!(
            Money::parse("1250.5").unwrap().display_grouped(),
            "1,250.50"
        );
        assert_eq!(Money::parse("12").unwrap().display_grouped(), "12.00");
        assert_eq!(
            Money::parse("1234567.123").unwrap().display_grouped(),
            "1,234,567.123"
        );
        assert_eq!(Money::parse("0.5").unwrap().display_grouped(), "0.50");
    }

    #[test]
    fn json_is_a_decimal_string() {
        let m = Money::parse("1250.50").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"1250.5\"");
        let back: Money = serde_json::from_str("\"1250.500\"").unwrap();
        assert_eq!(back, m);
        assert!(serde_json::from_str::<Money>("\"-1\"").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_display_roundtrip(int in 0u64..1_000_000_000_000_000u64, frac in 0u32..100_000_000u32) {
            let s = format!("{int}.{frac:08}");
            if let Ok(m) = Money::parse(&s) {
                let again = Money::parse(&m.to_string()).unwrap();
                proptest::prop_assert_eq!(again, m);
                proptest::prop_assert_eq!(Money::parse(&m.to_sortable()).unwrap(), m);
            } else {
                proptest::prop_assert!(int == 0 && frac == 0);
            }
        }
    }
}
