//! Prefixed, time-ordered identifiers: `<prefix>_<uuid v7>`. Their text sorts by creation time,
//! which is what keyset pagination orders by.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
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
/// A service operation (its log lines and audit record carry it).
pub const OPERATION: &str = "op";

/// The last (unix milliseconds << 12 | counter) handed out in this process. Ids take the next
/// value after it, so they are strictly increasing across every thread: a 12-bit counter orders
/// ids made within one millisecond, and a full counter moves on to the next millisecond (as the
/// `uuid` crate's v7 context does).
static LAST: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Random bits come from a generator seeded once per thread from the OS, not from a
    /// `getrandom` call per id (which showed in the write path's profile).
    static RNG: RefCell<StdRng> = RefCell::new(StdRng::from_os_rng());
}

fn next_stamp() -> u64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let floor = now_ms << 12;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = floor.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// A UUID v7 (RFC 9562): 48-bit unix milliseconds, version 7, a 12-bit counter in `rand_a`, the
/// RFC variant, and 62 random bits.
pub fn new_uuid() -> Uuid {
    let stamp = next_stamp();
    let ms = stamp >> 12;
    let counter = (stamp & 0xfff) as u16;
    let random: u64 = RNG.with(|r| r.borrow_mut().random());
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70 | (counter >> 8) as u8;
    b[7] = counter as u8;
    b[8..].copy_from_slice(&random.to_be_bytes());
    b[8] = 0x80 | (b[8] & 0x3f);
    Uuid::from_bytes(b)
}

/// A fresh id with the given prefix, time-ordered: ids created later in this process sort later.
pub fn new_id(prefix: &str) -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = new_uuid().hyphenated().encode_lower(&mut buf);
    let mut id = String::with_capacity(prefix.len() + 1 + text.len());
    id.push_str(prefix);
    id.push('_');
    id.push_str(text);
    id
}

/// The smallest id with `prefix` that can be made at `t` or later: ids sort by creation time,
/// so `id > cursor_at(t)` are the ids made from `t` on (a keyset cursor for "since").
pub fn cursor_at(prefix: &str, t: &super::time::Timestamp) -> String {
    let ms = t.timestamp_millis().max(0) as u64;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70;
    b[8] = 0x80;
    format!("{prefix}_{}", Uuid::from_bytes(b).hyphenated())
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
    fn a_cursor_at_a_time_sorts_before_every_id_made_from_then() {
        let t = crate::domain::time::now();
        let cursor = cursor_at(AUDIT, &(t - chrono::Duration::milliseconds(1)));
        let later = new_id(AUDIT);
        assert!(later > cursor, "{later} > {cursor}");
        let future = cursor_at(AUDIT, &(t + chrono::Duration::seconds(60)));
        assert!(later < future);
        assert!(is_valid(AUDIT, &cursor));
    }

    #[test]
    fn ids_are_prefixed_and_sort_by_creation() {
        let ids: Vec<String> = (0..1000).map(|_| new_id(POSITION)).collect();
        assert!(ids.iter().all(|i| is_valid(POSITION, i)));
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "ids must be time-ordered");
    }

    #[test]
    fn ids_are_v7_and_increase_across_threads() {
        let u = new_uuid();
        assert_eq!(u.get_version_num(), 7);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let (secs, nanos) = u.get_timestamp().unwrap().to_unix();
        let ms = secs * 1000 + u64::from(nanos) / 1_000_000;
        assert!(
            ms.abs_diff(now_ms) < 5_000,
            "carries the current time: {ms} vs {now_ms}"
        );
        // Four threads drawing at once: every id is unique, and each thread's ids increase.
        let per_thread: Vec<Vec<String>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..20_000).map(|_| new_id(POSITION)).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all = std::collections::HashSet::new();
        for ids in &per_thread {
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            for id in ids {
                assert!(all.insert(id.clone()), "duplicate id {id}");
            }
        }
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
