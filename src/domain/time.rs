//! UTC timestamps at millisecond precision, written as RFC 3339 with a `Z` (`2026-11-28T20:46:40.123Z`).
//! Millisecond precision is what every backend stores unchanged, so hashes over them stay stable.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

pub type Timestamp = DateTime<Utc>;

/// Now, truncated to whole milliseconds.
pub fn now() -> Timestamp {
    truncate(Utc::now())
}

pub fn truncate(t: Timestamp) -> Timestamp {
    Utc.timestamp_millis_opt(t.timestamp_millis())
        .single()
        .unwrap_or(t)
}

pub fn format(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse(s: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| truncate(t.with_timezone(&Utc)))
}

/// A moment an operator types: RFC 3339 (`2026-12-01T10:00:00Z`), or a UTC date and time
/// without a zone (`2026-12-01T10:00`, `2026-12-01 10:00:30`), or a date (its midnight, UTC).
pub fn parse_moment(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(format!(
        "'{s}' is not a time: give 2026-12-01T10:00 (UTC), 2026-12-01, or RFC 3339"
    ))
}

/// serde adapter: `#[serde(with = "crate::domain::time::rfc3339")]`.
pub mod rfc3339 {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

/// serde adapter for `Option<Timestamp>`.
pub mod rfc3339_opt {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(t)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_millisecond_utc_with_z() {
        let t = parse("2026-11-28T21:46:40.123456+01:00").unwrap();
        assert_eq!(format(&t), "2026-11-28T20:46:40.123Z");
        assert_eq!(parse(&format(&t)).unwrap(), t);
    }

    #[test]
    fn now_has_no_sub_millisecond_part() {
        let t = now();
        assert_eq!(t.timestamp_subsec_nanos() % 1_000_000, 0);
    }
}
