//! Canonical JSON (RFC 8785, "JCS"): the one text a JSON value hashes as. The ledger's hashes,
//! the audit digests and the database's own linking all cover this text, so it is written here
//! once, directly (a property test checks it against `serde_json_canonicalizer`), and a write
//! carries its payload as this text (`CanonicalJson`), shared by its ledger event and its audit
//! record, instead of as a tree of values written out again by each.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// A JSON value as its canonical text. Cloning shares the text (a reference count): a write's
/// ledger event and audit record hold one copy. Equal texts are equal values.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CanonicalJson(Arc<str>);

impl CanonicalJson {
    /// The canonical text of `v`.
    pub fn of(v: &Value) -> CanonicalJson {
        CanonicalJson(Arc::from(canonical_value(v)))
    }

    /// Text a canonical writer produced (a typed payload's `canonical`), taken as it is.
    pub(crate) fn from_canonical(text: String) -> CanonicalJson {
        debug_assert_eq!(
            serde_json::from_str::<Value>(&text)
                .map(|v| canonical_value(&v))
                .ok()
                .as_deref(),
            Some(text.as_str()),
            "not canonical JSON"
        );
        CanonicalJson(Arc::from(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared text itself.
    pub fn shared(&self) -> &Arc<str> {
        &self.0
    }

    /// The value the text reads as.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).expect("canonical JSON reads back")
    }
}

impl From<Value> for CanonicalJson {
    fn from(v: Value) -> CanonicalJson {
        CanonicalJson::of(&v)
    }
}

impl From<&Value> for CanonicalJson {
    fn from(v: &Value) -> CanonicalJson {
        CanonicalJson::of(v)
    }
}

impl std::fmt::Debug for CanonicalJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for CanonicalJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Written as the JSON value it is (not as a string), in any format.
impl Serialize for CanonicalJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// Read as any JSON value, then made canonical.
impl<'de> Deserialize<'de> for CanonicalJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CanonicalJson, D::Error> {
        Value::deserialize(d).map(|v| CanonicalJson::of(&v))
    }
}

/// RFC 8785 text of a JSON value. Strings, integers of at most 2^53 in magnitude, booleans,
/// null, arrays and objects (names sorted by UTF-16 code units) are written directly; a value
/// holding any other number (a fraction, or an integer a double cannot hold exactly) is handed
/// to `serde_json_canonicalizer`, whose ECMAScript number formatting it then gets.
pub fn canonical_value(v: &Value) -> String {
    let mut out = String::with_capacity(128);
    if write_canonical(&mut out, v) {
        out
    } else {
        serde_json_canonicalizer::to_string(v).expect("canonical JSON of a JSON value")
    }
}

const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// An integer as RFC 8785 writes it: as itself up to 2^53, beyond that as the nearest double in
/// ECMAScript form (a chain never gets there; the verifier must still agree with the library).
pub(crate) fn write_integer(out: &mut String, i: i64) {
    if i.unsigned_abs() <= MAX_SAFE_INTEGER {
        out.push_str(itoa::Buffer::new().format(i));
    } else {
        out.push_str(&serde_json_canonicalizer::to_string(&Value::from(i)).expect("a number"));
    }
}

/// False when `v` holds a number this writer leaves to the library.
fn write_canonical(out: &mut String, v: &Value) -> bool {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                write_integer(out, i);
            } else if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE_INTEGER) {
                out.push_str(itoa::Buffer::new().format(u));
            } else {
                return false;
            }
        }
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !write_canonical(out, item) {
                    return false;
                }
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| utf16_order(a.0, b.0));
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                if !write_canonical(out, item) {
                    return false;
                }
            }
            out.push('}');
        }
    }
    true
}

/// Property names sort by their UTF-16 code units (RFC 8785 §3.2.3). That is byte order except
/// where a character above U+FFFF (a surrogate pair, 0xD800…) meets one in U+E000…U+FFFF.
fn utf16_order(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// A JSON string as RFC 8785 writes it: `"` and `\\` escaped, the control characters as
/// `\b \t \n \f \r` or `\u00xx` (lower-case hex), everything else as itself.
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Most strings a write seals (ids, times, codes, amounts) need no escape: one pass without
    // an early exit, which the compiler turns into a few wide comparisons, finds that out.
    let escapes = s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escapes {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x09 => "\\t",
            0x0a => "\\n",
            0x0c => "\\f",
            0x0d => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        } else {
            out.push_str(esc);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// A string as `write_json_string` writes it, or `null`.
pub(crate) fn write_opt_json_string(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_json_string(out, s),
        None => out.push_str("null"),
    }
}

/// `v` as the ledger records it: the value its canonical text reads back as (`1.0` is recorded
/// as `1`), so the row that stores it says exactly what its event says. A number the canonical
/// form cannot carry exactly (an integer beyond ±2^53, which a double rounds) is refused with
/// the path of the field that holds it: the ledger would record another number than the one
/// given, and the two would disagree for ever.
pub fn as_recorded(field: &str, v: &Value) -> Result<Value, super::error::DomainError> {
    let recorded: Value =
        serde_json::from_str(&canonical_value(v)).expect("canonical JSON reads back");
    match first_inexact(v, &recorded, field) {
        None => Ok(recorded),
        Some((path, n)) => Err(super::error::DomainError::field(
            &path,
            format!(
                "{n} cannot be recorded exactly in the ledger (integers beyond \
                 ±{MAX_SAFE_INTEGER} lose digits as JSON numbers): give it as a string"
            ),
        )),
    }
}

/// The first number of `given` that `recorded` (its canonical reading) does not hold exactly:
/// its path and its text.
fn first_inexact(given: &Value, recorded: &Value, path: &str) -> Option<(String, String)> {
    match (given, recorded) {
        (Value::Number(a), Value::Number(b)) => {
            let exact = match (a.as_i64(), a.as_u64(), a.as_f64()) {
                (Some(i), _, _) => b.as_i64() == Some(i),
                (None, Some(u), _) => b.as_u64() == Some(u),
                // A double writes and reads back as itself (shortest round-trip form).
                (None, None, Some(f)) => b.as_f64() == Some(f),
                _ => false,
            };
            (!exact).then(|| (path.to_string(), a.to_string()))
        }
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_inexact(x, y, &format!("{path}[{i}]"))),
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, x)| {
            b.get(k)
                .and_then(|y| first_inexact(x, y, &format!("{path}.{k}")))
        }),
        _ => None,
    }
}
