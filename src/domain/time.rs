//! UTC timestamps at millisecond precision, written as RFC 3339 with a `Z` (`2026-11-28T20:46:40.123Z`).
//! Millisecond precision is what every backend stores unchanged, so hashes over them stay stable.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

pub type Timestamp = DateTime<Utc>;

/// Now, truncated to whole milliseconds (in place: `truncate` goes through the date and back,
/// and every write asks for the time).
pub fn now() -> Timestamp {
    use chrono::Timelike;
    let t = Utc::now();
    t.with_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or_else(|| truncate(t))
}

pub fn truncate(t: Timestamp) -> Timestamp {
    Utc.timestamp_millis_opt(t.timestamp_millis())
        .single()
        .unwrap_or(t)
}

pub fn format(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `format(t)` appended to `out` as a JSON string (quoted; its text needs no escaping), written
/// directly: every write's ledger event and audit record write one, and chrono's formatter
/// showed in the write path's profile. A year outside 0–9999 or a leap second is left to chrono.
pub fn write_json(out: &mut String, t: &Timestamp) {
    use chrono::{Datelike, Timelike};
    let nanos = t.nanosecond();
    let year = match u32::try_from(t.year()) {
        Ok(year @ 0..=9999) if nanos < 1_000_000_000 => year,
        _ => {
            out.push('"');
            out.push_str(&format(t));
            out.push('"');
            return;
        }
    };
    let mut b = *b"\"0000-00-00T00:00:00.000Z\"";
    let fields = [
        (1..5, year),
        (6..8, t.month()),
        (9..11, t.day()),
        (12..14, t.hour()),
        (15..17, t.minute()),
        (18..20, t.second()),
        (21..24, nanos / 1_000_000),
    ];
    for (at, mut v) in fields {
        for d in b[at].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    out.push_str(std::str::from_utf8(&b).expect("ASCII digits"));
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
    fn written_directly_is_written_as_chrono_writes_it() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut moments: Vec<Timestamp> = [
            0i64,
            -1,
            -62_167_219_200_000, // 0000-01-01
            -62_167_219_200_001, // the year before: chrono's
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000, // 10000: chrono's
            951_782_400_000,     // 2000-02-29
            1_795_000_000_123,
        ]
        .iter()
        .map(|ms| Utc.timestamp_millis_opt(*ms).unwrap())
        .collect();
        for _ in 0..20_000 {
            let ms = (next() % 400_000_000_000_000) as i64 - 100_000_000_000_000;
            let ns = (next() % 1_000_000_000) as u32;
            moments.push(Utc.timestamp_millis_opt(ms).unwrap());
            moments.push(DateTime::from_timestamp(ms.div_euclid(1000), ns).unwrap());
        }
        // A leap second, as chrono represents it.
        moments.push(
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_milli_opt(23, 59, 59, 1_500)
                .unwrap()
                .and_utc(),
        );
        for t in moments {
            let mut out = String::from("x");
            write_json(&mut out, &t);
            assert_eq!(out, format!("x\"{}\"", format(&t)), "{t:?}");
        }
    }

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
        assert_eq!(truncate(t), t);
        assert!((Utc::now() - t).num_milliseconds() < 1_000);
    }
}
