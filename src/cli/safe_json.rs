//! JSON for a terminal: what `--json` prints escapes, as `\uXXXX`, every character the console
//! escapes before drawing (controls, C1 controls, bidirectional overrides such as U+202E, other
//! format characters and line separators). serde_json escapes only `"`, `\` and C0 controls,
//! so a holder reference holding U+202E would reach the terminal raw and reorder what follows.
//! The escapes are JSON's own: a parser reads back exactly the stored text.

use crate::domain::text::is_unsafe;
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};
use std::io::{self, Write};

/// `v` as indented JSON, with unsafe characters escaped.
pub fn pretty<T: Serialize + ?Sized>(v: &T) -> String {
    write(v, Safe(PrettyFormatter::new()))
}

/// `v` as one line of JSON, with unsafe characters escaped.
pub fn compact<T: Serialize + ?Sized>(v: &T) -> String {
    write(v, Safe(CompactFormatter))
}

fn write<T: Serialize + ?Sized, F: Formatter>(v: &T, f: F) -> String {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, f);
    v.serialize(&mut ser).expect("serialisable output");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// A formatter that escapes unsafe characters inside strings and leaves the rest to `F`.
struct Safe<F>(F);

impl<F: Formatter> Formatter for Safe<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn unsafe_characters_are_escaped_and_read_back_unchanged() {
        let text = "ACME\u{202e}gnp.exe \u{1b}[31mred\u{9b} \u{2028} \u{e0001} café 日本";
        let v = json!({"holderReference": text, "n": [1, 2]});
        for out in [super::pretty(&v), super::compact(&v)] {
            assert!(
                !out.chars()
                    .any(|c| c != '\n' && crate::domain::text::is_unsafe(c)),
                "{out:?}"
            );
            assert!(out.contains("\\u202e") && out.contains("\\u001b") && out.contains("\\u009b"));
            assert!(
                out.contains("\\udb40\\udc01"),
                "astral: a surrogate pair: {out}"
            );
            assert!(out.contains("café 日本"), "the rest as it is: {out}");
            let back: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(back, v);
        }
        assert_eq!(super::compact(&json!({"a": [1]})), r#"{"a":[1]}"#);
        assert_eq!(super::pretty(&json!({"a": 1})), "{\n  \"a\": 1\n}");
    }
}
