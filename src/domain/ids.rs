//! Prefixed, time-ordered identifiers: `<prefix>_<uuid v7>`. Their text sorts by creation time,
//! which is what keyset pagination orders by.

use uuid::Uuid;

pub const INSTITUTION: &str = "inst";
pub const TEMPLATE: &str = "tmpl";
pub const ASSET: &str = "ast";
pub const POSITION: &str = "pos";
pub const LIFECYCLE_EVENT: &str = "ple";
pub const LEDGER_EVENT: &str = "led";
pub const API_KEY: &str = "ak";
pub const POLICY: &str = "pol";
pub const AUDIT: &str = "aud";

/// A fresh id with the given prefix. UUID v7 carries the millisecond time in its leading bits and
/// the `uuid` crate keeps it monotonic within the process, so ids created later sort later.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7())
}

/// True when `id` has the shape `<prefix>_<uuid>`.
pub fn is_valid(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|u| Uuid::parse_str(u).is_ok())
}

/// The entity kind an id names, from its prefix (used by the console's command line).
pub fn kind_of(id: &str) -> Option<&'static str> {
    let prefix = id.split('_').next()?;
    [
        INSTITUTION,
        TEMPLATE,
        ASSET,
        POSITION,
        LIFECYCLE_EVENT,
        LEDGER_EVENT,
        API_KEY,
        POLICY,
        AUDIT,
    ]
    .into_iter()
    .find(|p| *p == prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_sort_by_creation() {
        let ids: Vec<String> = (0..1000).map(|_| new_id(POSITION)).collect();
        assert!(ids.iter().all(|i| is_valid(POSITION, i)));
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "ids must be time-ordered");
    }

    #[test]
    fn validity_checks_prefix_and_uuid() {
        let id = new_id(ASSET);
        assert!(is_valid(ASSET, &id));
        assert!(!is_valid(POSITION, &id));
        assert!(!is_valid(ASSET, "ast_not-a-uuid"));
        assert!(!is_valid(ASSET, "ast"));
        assert_eq!(kind_of(&id), Some(ASSET));
        assert_eq!(kind_of("zzz_1"), None);
    }
}
