//! Institution API keys: `ak_` + 48 hex characters, shown once; only their SHA-256 is stored.

use super::Role;
use super::time::{Timestamp, rfc3339, rfc3339_opt};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub institution_id: String,
    #[serde(skip_serializing, default)]
    pub key_hash: String,
    pub label: String,
    pub role: Role,
    #[serde(with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "rfc3339_opt", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
}

/// A fresh token: `ak_` + 24 random bytes as 48 lower-case hex characters.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("ak_{}", hex::encode(bytes))
}

/// True when the text has the shape of an institution key token.
pub fn looks_like_token(s: &str) -> bool {
    s.strip_prefix("ak_")
        .is_some_and(|h| h.len() == 48 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Lower-case hex SHA-256 of a token: what is stored and looked up.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_documented_shape_and_differ() {
        let a = generate_token();
        let b = generate_token();
        assert!(looks_like_token(&a), "{a}");
        assert_ne!(a, b);
        assert!(!looks_like_token("ak_123"));
        assert!(!looks_like_token(&a.replace("ak_", "sk_")));
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
