//! The closed vocabularies of the domain. Each parses case-insensitively and, when it cannot,
//! says which values are valid.

use super::DomainError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $label:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Every valid value, for error messages and pickers.
            pub fn valid_values() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
            /// Parses with `field` named in the error.
            pub fn parse_field(field: &str, s: &str) -> Result<Self, DomainError> {
                let t = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| {
                        DomainError::field(
                            field,
                            format!("'{}' is not a valid {}; expected one of {}", t, $label, Self::valid_values()),
                        )
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> { Self::parse_field($label, s) }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }

        // In the OpenAPI document: a string, one of the values.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(Self::ALL.iter().map(|v| v.as_str())))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(|e: DomainError| serde::de::Error::custom(e.to_string()))
            }
        }
    };
}

string_enum!(
    /// Regulatory region an institution operates in.
    Region, "region", {
    Us => "US",
    EuUk => "EU_UK",
    Sg => "SG",
    Uae => "UAE",
});

string_enum!(
    /// Line of business.
    Vertical, "vertical", {
    Construction => "CONSTRUCTION",
    TradeFinance => "TRADE_FINANCE",
});

string_enum!(
    /// Asset template code; each belongs to exactly one vertical.
    TemplateCode, "template code", {
    ConstrEscrow => "CONSTR_ESCROW",
    ConstrRetainage => "CONSTR_RETAINAGE",
    TfInvoice => "TF_INVOICE",
    TfLc => "TF_LC",
});

string_enum!(
    /// Where an escrow position is in its lifecycle.
    PositionState, "position state", {
    Created => "CREATED",
    Funded => "FUNDED",
    PartiallyReleased => "PARTIALLY_RELEASED",
    Released => "RELEASED",
    Cancelled => "CANCELLED",
    Expired => "EXPIRED",
});

string_enum!(
    /// Role of an institution API key (root is not a key role).
    Role, "role", {
    Admin => "admin",
    ReadOnly => "read_only",
});

string_enum!(
    /// ISO 4217 currencies the platform accepts.
    Currency, "currency", {
    Usd => "USD", Eur => "EUR", Gbp => "GBP", Jpy => "JPY", Chf => "CHF", Cad => "CAD",
    Aud => "AUD", Nzd => "NZD", Cny => "CNY", Hkd => "HKD", Sgd => "SGD", Inr => "INR",
    Mxn => "MXN", Brl => "BRL", Zar => "ZAR", Aed => "AED", Sar => "SAR", Krw => "KRW",
    Twd => "TWD", Thb => "THB", Myr => "MYR", Idr => "IDR", Php => "PHP", Vnd => "VND",
    Pln => "PLN", Sek => "SEK", Nok => "NOK", Dkk => "DKK", Czk => "CZK", Huf => "HUF",
    Ils => "ILS", Try => "TRY",
});

impl TemplateCode {
    pub fn vertical(&self) -> Vertical {
        match self {
            TemplateCode::ConstrEscrow | TemplateCode::ConstrRetainage => Vertical::Construction,
            TemplateCode::TfInvoice | TemplateCode::TfLc => Vertical::TradeFinance,
        }
    }
    pub fn for_vertical(v: Vertical) -> Vec<TemplateCode> {
        Self::ALL
            .iter()
            .copied()
            .filter(|c| c.vertical() == v)
            .collect()
    }
}

impl PositionState {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            PositionState::Released | PositionState::Cancelled | PositionState::Expired
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_insensitive_and_errors_list_values() {
        assert_eq!("eu_uk".parse::<Region>().unwrap(), Region::EuUk);
        assert_eq!(
            " funded ".parse::<PositionState>().unwrap(),
            PositionState::Funded
        );
        assert_eq!("usd".parse::<Currency>().unwrap(), Currency::Usd);
        let e = "MARS".parse::<Region>().unwrap_err().to_string();
        assert!(e.contains("'MARS' is not a valid region"), "{e}");
        assert!(e.contains("US, EU_UK, SG, UAE"), "{e}");
        assert!("XXX".parse::<Currency>().is_err());
        assert_eq!(Currency::ALL.len(), 32);
    }

    #[test]
    fn codes_belong_to_their_vertical() {
        assert_eq!(
            TemplateCode::for_vertical(Vertical::Construction),
            vec![TemplateCode::ConstrEscrow, TemplateCode::ConstrRetainage]
        );
        assert_eq!(
            TemplateCode::for_vertical(Vertical::TradeFinance),
            vec![TemplateCode::TfInvoice, TemplateCode::TfLc]
        );
    }

    #[test]
    fn serde_uses_wire_names() {
        assert_eq!(
            serde_json::to_string(&PositionState::PartiallyReleased).unwrap(),
            "\"PARTIALLY_RELEASED\""
        );
        assert_eq!(
            serde_json::to_string(&Role::ReadOnly).unwrap(),
            "\"read_only\""
        );
        assert!(serde_json::from_str::<Vertical>("\"FARMING\"").is_err());
    }
}

string_enum!(
    /// What a ledger event records.
    LedgerKind, "ledger kind", {
    InstitutionCreated => "INSTITUTION_CREATED",
    TemplateCreated => "TEMPLATE_CREATED",
    AssetCreated => "ASSET_CREATED",
    PositionCreated => "POSITION_CREATED",
    PositionStateChanged => "POSITION_STATE_CHANGED",
    PolicyUpserted => "POLICY_UPSERTED",
    ApiKeyCreated => "API_KEY_CREATED",
    ApiKeyRevoked => "API_KEY_REVOKED",
});

impl LedgerKind {
    /// The audit trail's name for the action that records this kind of event (two differ from
    /// the ledger's own names, as in EscrowGrid's API).
    pub fn audit_action(&self) -> &'static str {
        match self {
            LedgerKind::TemplateCreated => "ASSET_TEMPLATE_CREATED",
            LedgerKind::PositionStateChanged => "POSITION_TRANSITIONED",
            other => other.as_str(),
        }
    }
}

string_enum!(
    /// The kind of entity a ledger or audit record names.
    EntityType, "entity type", {
    Institution => "institution",
    AssetTemplate => "asset_template",
    Asset => "asset",
    Position => "position",
    Policy => "policy",
    ApiKey => "api_key",
});

string_enum!(
    /// Whether an audited action succeeded.
    Outcome, "outcome", {
    Success => "success",
    Failure => "failure",
});
