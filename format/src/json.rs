//! The check of a JSONB row value's text: valid JSON in canonical form (no whitespace,
//! object keys strictly increasing bytewise, numbers and strings written as `serde_json`
//! writes them, at most [`MAX_JSON_DEPTH`] nested arrays and objects), made as the text is
//! parsed, without building the value: every token the parser meets is written again,
//! canonically, into a writer that compares it with the text at that point. Nothing is
//! allocated unless an object key holds an escape (its predecessor is then kept to compare
//! with the next one). The answer is the one of parsing the text into a `serde_json::Value`
//! and comparing the value's canonical text with it (the row encoder's rule, `json_text`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::row::MAX_JSON_DEPTH;

/// Why a JSONB text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonProblem {
    /// It does not parse (the parser's message).
    Invalid(String),
    /// Arrays and objects nested deeper than [`MAX_JSON_DEPTH`].
    TooDeep,
    /// It parses, but is not written as its canonical text.
    NotCanonical,
}

impl fmt::Display for JsonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonProblem::Invalid(e) => write!(f, "invalid JSON: {e}"),
            JsonProblem::TooDeep => write!(f, "JSON nested deeper than {MAX_JSON_DEPTH} levels"),
            JsonProblem::NotCanonical => f.write_str("JSON text is not in canonical form"),
        }
    }
}

/// Checks that `text` is canonical JSON. In the order of the encoder's rule (parse, build
/// the canonical text, compare): text that does not parse is invalid whatever else is
/// wrong with it; then nesting; then the form.
pub(crate) fn check_canonical(text: &str) -> Result<(), JsonProblem> {
    let mut cmp = Compare {
        rest: text.as_bytes(),
        differs: false,
        too_deep: false,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    Node {
        out: &mut cmp,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| JsonProblem::Invalid(e.to_string()))?;
    if cmp.too_deep {
        return Err(JsonProblem::TooDeep);
    }
    if cmp.differs || !cmp.rest.is_empty() {
        return Err(JsonProblem::NotCanonical);
    }
    Ok(())
}

/// A writer comparing what is written with the text still to match (`rest`), consuming
/// it; once they differ it only remembers that (parsing goes on, to tell invalid JSON).
struct Compare<'t> {
    rest: &'t [u8],
    differs: bool,
    /// A container deeper than [`MAX_JSON_DEPTH`] was met (parsing goes on).
    too_deep: bool,
}

impl std::io::Write for Compare<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.rest.strip_prefix(buf) {
            Some(rest) if !self.differs => self.rest = rest,
            _ => self.differs = true,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Compare<'_> {
    /// Writes `v` as `serde_json` writes it (compact).
    fn value<T: serde::Serialize + ?Sized>(&mut self, v: &T) {
        if serde_json::to_writer(&mut *self, v).is_err() {
            self.differs = true;
        }
    }

    fn punct(&mut self, c: u8) {
        let _ = std::io::Write::write(self, &[c]);
    }

    /// Whether the text goes on with `c` here (a separator the parser will step over).
    fn next_is(&self, c: u8) -> bool {
        !self.differs && self.rest.first() == Some(&c)
    }
}

/// One JSON value at nesting `depth`, written again into `out` as it is parsed.
struct Node<'c, 't> {
    out: &'c mut Compare<'t>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.value(&());
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.value(&v);
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.out.value(&v);
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.out.value(&v);
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // As a `Value` holds it: a non-finite number (which JSON text cannot hold) is null.
        match serde_json::Number::from_f64(v) {
            Some(n) => self.out.value(&n),
            None => self.out.value(&()),
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.out.value(v);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            self.out.too_deep = true;
        }
        self.out.punct(b'[');
        let mut first = true;
        loop {
            // A separator is compared before the element after it is parsed (the text
            // holds it there; without an element after it the text does not parse).
            if !first && self.out.next_is(b',') {
                self.out.punct(b',');
            }
            let node = Node {
                out: &mut *self.out,
                depth: self.depth + 1,
            };
            if seq.next_element_seed(node)?.is_none() {
                break;
            }
            first = false;
        }
        self.out.punct(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            self.out.too_deep = true;
        }
        self.out.punct(b'{');
        let mut prev: Option<Cow<'de, str>> = None;
        loop {
            if prev.is_some() && self.out.next_is(b',') {
                self.out.punct(b',');
            }
            let Some(key) = map.next_key_seed(Key)? else {
                break;
            };
            // Keys strictly increasing: sorted, and none twice.
            if prev.as_deref().is_some_and(|p| p >= key.as_ref()) {
                self.out.differs = true;
            }
            self.out.value(key.as_ref());
            self.out.punct(b':');
            map.next_value_seed(Node {
                out: &mut *self.out,
                depth: self.depth + 1,
            })?;
            prev = Some(key);
        }
        self.out.punct(b'}');
        Ok(())
    }
}

/// An object key: borrowed from the text when it holds no escape.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// The rule as the row encoder states it, the slow way: parse into a `serde_json::Value`,
/// write the value's canonical text, compare. The oracle of [`check_canonical`] in tests
/// and fuzzing.
pub(crate) fn by_value(text: &str) -> Result<(), JsonProblem> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| JsonProblem::Invalid(e.to_string()))?;
    let canonical = crate::row::json_text(&v).map_err(|_| JsonProblem::TooDeep)?;
    if canonical != text {
        return Err(JsonProblem::NotCanonical);
    }
    Ok(())
}

/// Fuzz oracle: [`check_canonical`] answers as [`by_value`] does (for text that does not
/// parse, the same kind of answer). Panics (assertion) otherwise.
pub(crate) fn fuzz_check_canonical(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (got, want) = (check_canonical(text), by_value(text));
    match (&got, &want) {
        (Err(JsonProblem::Invalid(_)), Err(JsonProblem::Invalid(_))) => {}
        _ => assert_eq!(got, want, "{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// The same answer as the oracle (for invalid text, the same kind of answer).
    fn agree(text: &str) {
        let (got, want) = (check_canonical(text), by_value(text));
        match (&got, &want) {
            (Err(JsonProblem::Invalid(_)), Err(JsonProblem::Invalid(_))) => {}
            _ => assert_eq!(got, want, "{text:?}"),
        }
    }

    fn nested(n: usize, open: &str, close: &str) -> String {
        format!("{}{}", open.repeat(n), close.repeat(n))
    }

    #[test]
    fn fixed_cases_agree_with_parsing_and_writing_again() {
        let cases = [
            "",
            " ",
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1",
            "-1",
            "1.0",
            "1.5",
            "1e5",
            "1E5",
            "1e+5",
            "0.1",
            "100000000000000000000",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.7976931348623157e308",
            "1e400",
            "5e-324",
            "\"\"",
            "\"a\"",
            "\"\\u0041\"",
            "\"\\/\"",
            "\"\\n\"",
            "\"\\u0001\"",
            "\"\u{1}\"",
            "\"é\"",
            "\"\\u00e9\"",
            "\"\\ud83d\\ude00\"",
            "\"😀\"",
            "[]",
            "[ ]",
            "[1]",
            "[1,2]",
            "[1, 2]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{}",
            "{ }",
            "{\"a\":1}",
            "{\"a\": 1}",
            "{\"a\":1,\"b\":2}",
            "{\"b\":1,\"a\":2}",
            "{\"a\":1,\"a\":2}",
            "{\"a\":1,\"a\":1}",
            "{\"a\":1,}",
            "{\"\\u0061\":1}",
            "{\"a\\n\":1,\"a\":2}",
            "{\"a\":1,\"a\\n\":2}",
            "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}",
            "1 ",
            " 1",
            "[1]x",
            "tru",
            "nul",
            "\"unterminated",
            "{\"a\"}",
            "[\"a\":1]",
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "NaN",
        ];
        for c in cases {
            agree(c);
        }
        for n in [99, 100, 101, 127, 128, 129, 300] {
            agree(&nested(n, "[", "]"));
            agree(&format!("{}1{}", "[".repeat(n), "]".repeat(n)));
            agree(&format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n)));
            agree(&format!("{} {}", "[".repeat(n), "]".repeat(n)));
        }
        assert_eq!(check_canonical("{\"a\":1}"), Ok(()));
        assert_eq!(
            check_canonical("{\"b\":1,\"a\":2}"),
            Err(JsonProblem::NotCanonical)
        );
        assert_eq!(
            check_canonical(&nested(101, "[", "]")),
            Err(JsonProblem::TooDeep)
        );
        assert!(matches!(
            check_canonical("[1,]"),
            Err(JsonProblem::Invalid(_))
        ));
    }

    fn json() -> impl Strategy<Value = Value> {
        let text = || {
            prop::collection::vec(
                prop::sample::select(vec![
                    'a', 'b', 'c', '"', '\\', '/', '\n', '\u{1}', 'é', '😀',
                ]),
                0..4,
            )
            .prop_map(|cs| cs.into_iter().collect::<String>())
        };
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            (-1000i32..1000, 0u32..4)
                .prop_map(|(m, e)| Value::from(f64::from(m) / 10f64.powi(e as i32))),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec((text(), inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn canonical_text_is_accepted_and_any_other_writing_answered_as_the_rule_says(
            v in json(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, prop::sample::select(vec![b' ', b',', b'"', b'0', b'1', b'-', b'.', b'e', b']', b'}', b'[', b'{', b':', b'\\', b'n'])), 0..3),
        ) {
            let canonical = crate::row::json_text(&v).expect("canonical");
            prop_assert_eq!(check_canonical(&canonical), Ok(()));
            // Written otherwise: in insertion order, pretty.
            agree(&serde_json::to_string(&v).expect("text"));
            agree(&serde_json::to_string_pretty(&v).expect("text"));
            // Edited: bytes inserted, removed, replaced, swapped.
            let mut b = canonical.into_bytes();
            for (at, op, c) in edits {
                if b.is_empty() {
                    b.push(c);
                    continue;
                }
                let i = at.index(b.len());
                match op {
                    0 => b.insert(i, c),
                    1 => { b.remove(i); }
                    2 => b[i] = c,
                    _ => { let j = (i + 1) % b.len(); b.swap(i, j); }
                }
            }
            if let Ok(t) = std::str::from_utf8(&b) {
                agree(t);
            }
        }
    }
}
