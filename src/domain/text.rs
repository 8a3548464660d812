//! Text rules: input validation for names and labels, and display-safety for text read back from
//! a database (which is untrusted: another writer may have put escape sequences in it).

use super::DomainError;
use std::borrow::Cow;

/// Checks a required text field: 1..=max characters, no control characters.
pub fn required(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    if value.is_empty() {
        return Err(DomainError::field(field, "is required"));
    }
    if value.trim().is_empty() {
        return Err(DomainError::field(field, "must not be blank"));
    }
    optional(field, value, max)
}

/// Checks an optional text field: at most `max` characters, no control characters.
pub fn optional(field: &str, value: &str, max: usize) -> Result<(), DomainError> {
    let n = value.chars().count();
    if n > max {
        return Err(DomainError::field(
            field,
            format!("must be at most {max} characters (got {n})"),
        ));
    }
    if value.chars().any(is_unsafe) {
        return Err(DomainError::field(
            field,
            "must not contain control, invisible or direction characters (U+0000–U+001F, \
             U+007F–U+009F, and Unicode's format characters such as U+200B–U+200F, U+202A–U+202E, \
             U+2066–U+2069, U+FEFF)",
        ));
    }
    Ok(())
}

/// Characters that must never reach a terminal raw, nor be accepted in a name: C0/C1 controls
/// and DEL; Unicode's format characters (category Cf: bidi marks, embeddings, overrides and
/// isolates, zero-width spaces and joiners, the soft hyphen, the byte-order mark, tags…), which
/// make text display differently from what it is — two holders that look the same, a name
/// that reads backwards; and the line and paragraph separators (U+2028, U+2029).
pub fn is_unsafe(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    // ASCII has no format characters: its controls are all there is to find (and most text is
    // ASCII, so the table lookup below is the rare case).
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control()
        || matches!(
            c.general_category(),
            G::Format | G::LineSeparator | G::ParagraphSeparator
        )
}

/// Groups a run of digits in thousands: "1234567" → "1,234,567".
/// A count with its noun: `counted(1, "finding", "findings")` is "1 finding", and 2 is
/// "2 findings" (digits grouped: "1,234 events").
pub fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    let noun = if n == 1 { one } else { many };
    format!("{} {noun}", group_digits(&n.to_string()))
}

pub fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Makes untrusted text safe to draw: every unsafe character is shown escaped (`\x1b`,
/// `\u{202e}`), so an escape sequence becomes harmless visible text and nothing is silently lost.
/// Newlines and tabs are shown escaped too: table cells are single lines.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            let v = c as u32;
            if v < 0x80 {
                out.push_str(&format!("\\x{v:02x}"));
            } else {
                out.push_str(&format!("\\u{{{v:04x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counted_picks_the_noun_by_number() {
        assert_eq!(super::counted(1u64, "finding", "findings"), "1 finding");
        assert_eq!(super::counted(0u64, "finding", "findings"), "0 findings");
        assert_eq!(
            super::counted(1234u64, "entity", "entities"),
            "1,234 entities"
        );
    }

    use super::*;

    #[test]
    fn sanitize_escapes_control_and_escape_sequences() {
        assert_eq!(sanitize("plain text"), "plain text");
        assert!(matches!(sanitize("plain"), Cow::Borrowed(_)));
        assert_eq!(sanitize("a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(sanitize("x\x07\x7f\n"), "x\\x07\\x7f\\x0a");
        assert_eq!(sanitize("\u{9b}2J"), "\\u{009b}2J");
        assert_eq!(sanitize("abc\u{202e}cba"), "abc\\u{202e}cba");
        assert!(!sanitize("\x1b]52;c;AAAA\x07").chars().any(is_unsafe));
    }

    /// Invisible and direction characters are refused like control characters and escaped on
    /// output: two holders that look alike on screen are never two different strings.
    #[test]
    fn invisible_and_direction_characters_are_unsafe() {
        for c in [
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{2028}',
            '\u{2029}',
            '\u{00AD}',
            '\u{FEFF}',
            '\u{200B}',
            '\u{200D}',
            '\u{2066}',
            '\u{2069}',
            '\u{202A}',
            '\u{E0041}',
            '\u{180E}',
        ] {
            assert!(is_unsafe(c), "U+{:04X}", c as u32);
            let name = format!("ACME{c}");
            assert!(required("name", &name, 255).is_err(), "U+{:04X}", c as u32);
            assert_eq!(sanitize(&name), format!("ACME\\u{{{:04x}}}", c as u32));
        }
        for ok in [
            "Zürich Holdings",
            "東京海上",
            "Société Générale",
            "مصرف",
            "O'Brien & Co.",
        ] {
            assert!(required("name", ok, 255).is_ok(), "{ok}");
            assert!(matches!(sanitize(ok), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn digits_group_in_thousands() {
        assert_eq!(group_digits("1"), "1");
        assert_eq!(group_digits("123"), "123");
        assert_eq!(group_digits("1234"), "1,234");
        assert_eq!(group_digits("1000000"), "1,000,000");
    }

    #[test]
    fn text_fields_are_checked() {
        assert!(required("name", "Acme", 255).is_ok());
        assert!(
            required("name", "", 255)
                .unwrap_err()
                .to_string()
                .contains("required")
        );
        assert!(
            required("name", "   ", 255)
                .unwrap_err()
                .to_string()
                .contains("blank")
        );
        assert!(required("name", &"x".repeat(255), 255).is_ok());
        assert!(
            required("name", &"x".repeat(256), 255)
                .unwrap_err()
                .to_string()
                .contains("at most 255")
        );
        // characters, not bytes
        assert!(required("name", &"é".repeat(255), 255).is_ok());
        assert!(
            required("name", "a\x1bb", 255)
                .unwrap_err()
                .to_string()
                .contains("control")
        );
        assert!(optional("ref", "", 255).is_ok());
    }
}
