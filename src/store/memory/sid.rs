//! Ids as the in-memory store keeps them in its records. An id this service makes is
//! `<prefix>_<uuid>` (40-odd bytes of text, an allocation of its own each); kept as the prefix's
//! number and the UUID's 128 bits it sits inline in its record, and a transition keeps six of
//! them (its lifecycle event's, its ledger event's and the position's there, its audit record's,
//! the resource's and the operation's). Any other id (an imported one) is kept as its text.
//! Here too: a UUID's text read as its bits (`uuid_of`), which a position's key is made of as
//! well.

use std::cmp::Ordering;
use std::fmt;

/// Each byte's value as a lower-case hex digit; `NOT_HEX` for any other byte.
const HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const NOT_HEX: u8 = 0x10;

/// The text of `prefix` + a lower-case hyphenated UUID, as its 128 bits; None for any other id.
/// Read on every write (a position's key), so by table, not by `match`.
pub(super) fn uuid_of(prefix: &str, id: &str) -> Option<u128> {
    uuid_bits(id.strip_prefix(prefix)?)
}

/// A lower-case hyphenated UUID's 128 bits; None for any other text. Read up to six times a
/// write, so by table, in two 64-bit halves, without a branch per digit.
pub(super) fn uuid_bits(text: &str) -> Option<u128> {
    let u: &[u8; 36] = text.as_bytes().try_into().ok()?;
    if [u[8], u[13], u[18], u[23]] != [b'-'; 4] {
        return None;
    }
    let mut seen = 0u8;
    let mut half = |groups: &[(usize, usize)]| {
        let mut v = 0u64;
        for &(from, to) in groups {
            for &b in &u[from..to] {
                let n = HEX[b as usize];
                seen |= n;
                v = (v << 4) | u64::from(n & 0xf);
            }
        }
        v
    };
    let hi = half(&[(0, 8), (9, 13), (14, 18)]);
    let lo = half(&[(19, 23), (24, 36)]);
    (seen & NOT_HEX == 0).then_some((u128::from(hi) << 64) | u128::from(lo))
}

/// The prefixes of the ids this service makes, each with its separator (`domain::ids`).
const PREFIXES: [&str; 10] = [
    "inst_", "tmpl_", "ast_", "pos_", "ple_", "led_", "ak_", "pol_", "aud_", "op_",
];

/// The longest text a `Sid::Uuid` stands for: the longest prefix and a hyphenated UUID.
const MAX_TEXT: usize = 5 + uuid::fmt::Hyphenated::LENGTH;

/// A stored id: the text `PREFIXES[prefix]` + the lower-case hyphenated UUID `hi:lo`, or any
/// other text. `of` reads every id of the first shape as `Uuid`, so two ids are equal exactly
/// when their `Sid`s are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Sid {
    Uuid { prefix: u8, hi: u64, lo: u64 },
    Text(Box<str>),
}

impl Sid {
    pub(super) fn of(id: &str) -> Sid {
        Self::bits(id).unwrap_or_else(|| Sid::Text(id.into()))
    }

    /// As `of`, keeping `id`'s own allocation when it is kept as text.
    pub(super) fn of_string(id: String) -> Sid {
        Self::bits(&id).unwrap_or_else(|| Sid::Text(id.into_boxed_str()))
    }

    fn bits(id: &str) -> Option<Sid> {
        // By the prefix's bytes (the shape of `PREFIXES`), not by a search for the separator.
        let (prefix, len) = match id.as_bytes() {
            [b'i', b'n', b's', b't', b'_', ..] => (0, 5),
            [b't', b'm', b'p', b'l', b'_', ..] => (1, 5),
            [b'a', b's', b't', b'_', ..] => (2, 4),
            [b'p', b'o', b's', b'_', ..] => (3, 4),
            [b'p', b'l', b'e', b'_', ..] => (4, 4),
            [b'l', b'e', b'd', b'_', ..] => (5, 4),
            [b'a', b'k', b'_', ..] => (6, 3),
            [b'p', b'o', b'l', b'_', ..] => (7, 4),
            [b'a', b'u', b'd', b'_', ..] => (8, 4),
            [b'o', b'p', b'_', ..] => (9, 3),
            _ => return None,
        };
        debug_assert_eq!(PREFIXES[prefix].len(), len);
        let v = uuid_bits(&id[len..])?;
        Some(Sid::Uuid {
            prefix: prefix as u8,
            hi: (v >> 64) as u64,
            lo: v as u64,
        })
    }

    /// The id's text, written on the stack.
    pub(super) fn text(&self) -> SidText<'_> {
        match self {
            Sid::Uuid { prefix, hi, lo } => id_text(
                PREFIXES[*prefix as usize],
                (u128::from(*hi) << 64) | u128::from(*lo),
            ),
            Sid::Text(t) => SidText::Str(t),
        }
    }

    /// The UUID's bits when this is `prefix` (with its separator) + a UUID.
    pub(super) fn bits_with(&self, prefix: &str) -> Option<u128> {
        match self {
            Sid::Uuid { prefix: p, hi, lo } if PREFIXES[*p as usize] == prefix => {
                Some((u128::from(*hi) << 64) | u128::from(*lo))
            }
            _ => None,
        }
    }
}

/// The text `prefix` (one of `PREFIXES`) + the lower-case hyphenated UUID `v`, written on the
/// stack.
pub(super) fn id_text(prefix: &str, v: u128) -> SidText<'static> {
    let p = prefix.as_bytes();
    let mut buf = [0u8; MAX_TEXT];
    buf[..p.len()].copy_from_slice(p);
    uuid::Uuid::from_u128(v)
        .hyphenated()
        .encode_lower(&mut buf[p.len()..]);
    SidText::Buf(buf, (p.len() + uuid::fmt::Hyphenated::LENGTH) as u8)
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Ordered as the ids' text is: for one prefix, a lower-case UUID of fixed length orders as
/// its number.
impl Ord for Sid {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (
                Sid::Uuid { prefix, hi, lo },
                Sid::Uuid {
                    prefix: p2,
                    hi: h2,
                    lo: l2,
                },
            ) if prefix == p2 => (hi, lo).cmp(&(h2, l2)),
            (Sid::Text(a), Sid::Text(b)) => a.cmp(b),
            _ => (*self.text()).cmp(&*other.text()),
        }
    }
}

impl PartialOrd for Sid {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A stored id's text: written into a buffer, or borrowed from the record.
pub(super) enum SidText<'a> {
    Buf([u8; MAX_TEXT], u8),
    Str(&'a str),
}

impl std::ops::Deref for SidText<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            // Only ASCII is ever written into the buffer (a prefix and hex digits).
            SidText::Buf(b, n) => std::str::from_utf8(&b[..*n as usize]).unwrap_or_default(),
            SidText::Str(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids;

    #[test]
    fn a_uuid_id_is_read_as_its_bits_and_anything_else_is_not() {
        for _ in 0..200 {
            let u = uuid::Uuid::now_v7();
            let id = format!("pos_{}", u.hyphenated());
            assert_eq!(uuid_of("pos_", &id), Some(u.as_u128()), "{id}");
        }
        let max = "pos_ffffffff-ffff-ffff-ffff-ffffffffffff";
        assert_eq!(uuid_of("pos_", max), Some(u128::MAX));
        let good = "pos_01900000-0000-7000-8000-00000000000a";
        assert_eq!(
            uuid_of("pos_", good),
            Some(0x0190_0000_0000_7000_8000_0000_0000_000a)
        );
        for bad in [
            "pos_01900000-0000-7000-8000-00000000000A",
            "pos_01900000-0000-7000-8000-00000000000g",
            "pos_01900000-0000-7000-8000-00000000000/",
            "pos_01900000-0000-7000-8000-0000000000:0",
            "pos_019000000-000-7000-8000-00000000000a",
            "pos_01900000_0000-7000-8000-00000000000a",
            "pos_01900000-0000-7000-8000-00000000000",
            "pos_01900000-0000-7000-8000-00000000000ab",
            "ast_01900000-0000-7000-8000-00000000000a",
            "pos_",
        ] {
            assert_eq!(uuid_of("pos_", bad), None, "{bad}");
        }
    }

    #[test]
    fn every_id_this_service_makes_is_kept_as_bits_and_reads_back_as_made() {
        for prefix in [
            ids::INSTITUTION,
            ids::TEMPLATE,
            ids::ASSET,
            ids::POSITION,
            ids::LIFECYCLE_EVENT,
            ids::LEDGER_EVENT,
            ids::API_KEY,
            ids::POLICY,
            ids::AUDIT,
            ids::OPERATION,
        ] {
            let id = ids::new_id(prefix);
            let kept = Sid::of(&id);
            assert!(matches!(kept, Sid::Uuid { .. }), "{id}");
            assert_eq!(&*kept.text(), id);
            assert_eq!(kept.to_string(), id);
            assert_eq!(Sid::of_string(id.clone()), kept);
        }
    }

    #[test]
    fn other_ids_are_kept_as_their_text() {
        for id in [
            "imported-1",
            "pos_01900000-0000-7000-8000-00000000000A",
            "xyz_01900000-0000-7000-8000-00000000000a",
            "pos_",
            "_",
            "",
            "pos_01900000-0000-7000-8000-00000000000a_",
        ] {
            let kept = Sid::of(id);
            assert_eq!(kept, Sid::Text(id.into()), "{id}");
            assert_eq!(&*kept.text(), id);
            assert_eq!(Sid::of_string(id.to_string()), kept);
        }
    }

    #[test]
    fn stored_ids_order_as_their_text() {
        let mut texts: Vec<String> = (0..50)
            .flat_map(|_| {
                [
                    ids::new_id(ids::AUDIT),
                    ids::new_id(ids::POSITION),
                    ids::new_id(ids::OPERATION),
                ]
            })
            .chain(["aud_x".into(), "b".into(), "aud_".into(), "zz".into()])
            .collect();
        texts.push("pos_ffffffff-ffff-ffff-ffff-ffffffffffff".into());
        texts.push("pos_00000000-0000-0000-0000-000000000000".into());
        let mut kept: Vec<Sid> = texts.iter().map(|t| Sid::of(t)).collect();
        texts.sort();
        kept.sort();
        let back: Vec<String> = kept.iter().map(Sid::to_string).collect();
        assert_eq!(back, texts);
    }
}
