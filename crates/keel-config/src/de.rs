//! Typed settings out of the merged tree: a strict serde deserializer over `config::Value`.
//!
//! `config`'s own deserializer converts freely (a float is rounded into a port, `"yes"` counts as 1 and as
//! true) and reports failures as text. This one converts only what an operator means — text to a number
//! or a boolean (variables are always text), a whole number to a fractional one, text that is JSON to a
//! list or a map where the setting holds one — and reports each failure as data (what was expected, what
//! was found), so the loader words it and keeps a secret's value out of it.

use std::borrow::Cow;
use std::fmt;

use config::{Value, ValueKind};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};

/// What is wrong with one value, as data. [`fmt::Display`] gives the loader's wording.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DeError {
    /// The value has the wrong type or is out of its type's range.
    Mismatch {
        expected: Cow<'static, str>,
        found: Found,
    },
    /// A key that the table's type does not have; `known` lists the ones it has.
    UnknownField {
        field: String,
        known: &'static [&'static str],
    },
    /// A key the table's type requires is absent.
    MissingField(&'static str),
    /// A message already in keel's words: a type's own parser (an unknown log format) or malformed JSON.
    Invalid(String),
}

/// The offending value, described for a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found {
    Text(String),
    Number(String),
    Boolean(bool),
    List,
    Map,
    Empty,
    /// Anything else, as serde describes it.
    Other(String),
}

impl DeError {
    fn mismatch(expected: impl Into<Cow<'static, str>>, value: &Value) -> DeError {
        DeError::Mismatch {
            expected: expected.into(),
            found: Found::of(&value.kind),
        }
    }
}

impl Found {
    fn of(kind: &ValueKind) -> Found {
        match kind {
            ValueKind::Nil => Found::Empty,
            ValueKind::Boolean(flag) => Found::Boolean(*flag),
            ValueKind::I64(number) => Found::Number(number.to_string()),
            ValueKind::I128(number) => Found::Number(number.to_string()),
            ValueKind::U64(number) => Found::Number(number.to_string()),
            ValueKind::U128(number) => Found::Number(number.to_string()),
            ValueKind::Float(number) => Found::Number(number.to_string()),
            ValueKind::String(text) => Found::Text(text.clone()),
            ValueKind::Table(_) => Found::Map,
            ValueKind::Array(_) => Found::List,
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Text(text) => write!(f, "{text:?}"),
            Found::Number(number) => f.write_str(number),
            Found::Boolean(flag) => write!(f, "{flag}"),
            Found::List => f.write_str("a list"),
            Found::Map => f.write_str("a map"),
            Found::Empty => f.write_str("an empty value"),
            Found::Other(description) => f.write_str(description),
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeError::Mismatch { expected, found } => write!(f, "must be {expected}, not {found}"),
            DeError::UnknownField { field, known } => {
                write!(f, "{field} is not one of {}", known.join(", "))
            }
            DeError::MissingField(field) => write!(f, "{field} is missing"),
            DeError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        DeError::Invalid(message.to_string())
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        DeError::Mismatch {
            expected: expected.to_string().into(),
            found: Found::from(unexpected),
        }
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        DeError::invalid_type(unexpected, expected)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::Invalid(format!(
            "unknown value {variant:?}: use one of {}",
            expected.join(", ")
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::UnknownField {
            field: field.to_owned(),
            known: expected,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::MissingField(field)
    }
}

impl From<Unexpected<'_>> for Found {
    fn from(unexpected: Unexpected<'_>) -> Found {
        match unexpected {
            Unexpected::Bool(flag) => Found::Boolean(flag),
            Unexpected::Unsigned(number) => Found::Number(number.to_string()),
            Unexpected::Signed(number) => Found::Number(number.to_string()),
            Unexpected::Float(number) => Found::Number(number.to_string()),
            Unexpected::Str(text) => Found::Text(text.to_owned()),
            Unexpected::Seq => Found::List,
            Unexpected::Map => Found::Map,
            Unexpected::Unit => Found::Empty,
            other => Found::Other(other.to_string()),
        }
    }
}

/// Deserializes one value of the merged tree. Tables are visited in key order, so the first problem
/// found is always the same one.
pub(crate) struct ValueDeserializer(pub(crate) Value);

/// A whole number from any value that holds one exactly: an integer, or text that spells one. Fractions
/// are refused rather than rounded, whichever layer wrote them.
fn whole_number<T: TryFrom<i128>>(value: &Value, range: &'static str) -> Result<T, DeError> {
    let number: i128 = match &value.kind {
        ValueKind::I64(number) => i128::from(*number),
        ValueKind::U64(number) => i128::from(*number),
        ValueKind::I128(number) => *number,
        ValueKind::U128(number) => {
            i128::try_from(*number).map_err(|_| DeError::mismatch(range, value))?
        }
        ValueKind::String(text) => text
            .parse::<i128>()
            .map_err(|_| DeError::mismatch(range, value))?,
        _ => return Err(DeError::mismatch(range, value)),
    };
    T::try_from(number).map_err(|_| DeError::Mismatch {
        expected: range.into(),
        found: Found::Number(number.to_string()),
    })
}

fn fractional_number(value: &Value) -> Result<f64, DeError> {
    match &value.kind {
        ValueKind::Float(number) => Ok(*number),
        // Whole numbers are exact in a float up to 2^53, far beyond any setting keel has.
        ValueKind::I64(number) => Ok(*number as f64),
        ValueKind::U64(number) => Ok(*number as f64),
        ValueKind::String(text) => text
            .parse::<f64>()
            .map_err(|_| DeError::mismatch("a number", value)),
        _ => Err(DeError::mismatch("a number", value)),
    }
}

/// Text that starts like JSON (`[` or `{`) where a list or a map belongs: a variable or `--set` can only
/// write a list or a map that way.
fn json_in_text(value: &Value, opening: char) -> Option<Result<Value, DeError>> {
    let ValueKind::String(text) = &value.kind else {
        return None;
    };
    if !text.trim_start().starts_with(opening) {
        return None;
    }
    let origin = value.origin().unwrap_or("unknown").to_owned();
    Some(
        serde_json::from_str(text)
            .map(|json| crate::layers::from_json(json, &origin))
            .map_err(|error| {
                // serde_json's message names the position, never the content.
                DeError::Invalid(format!(
                    "starts like a JSON list or map but is not valid JSON ({error}): write e.g. [\"https://a.example\"] or {{\"key\": 1}}"
                ))
            }),
    )
}

macro_rules! deserialize_whole_number {
    ($($method:ident $visit:ident $type:ty, $range:literal;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
                visitor.$visit(whole_number::<$type>(&self.0, $range)?)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.kind {
            ValueKind::Nil => visitor.visit_unit(),
            ValueKind::Boolean(flag) => visitor.visit_bool(flag),
            ValueKind::I64(number) => visitor.visit_i64(number),
            ValueKind::I128(number) => visitor.visit_i128(number),
            ValueKind::U64(number) => visitor.visit_u64(number),
            ValueKind::U128(number) => visitor.visit_u128(number),
            ValueKind::Float(number) => visitor.visit_f64(number),
            ValueKind::String(text) => visitor.visit_string(text),
            ValueKind::Array(items) => visitor.visit_seq(ListAccess(items.into_iter())),
            ValueKind::Table(table) => visitor.visit_map(TableAccess::new(table)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            ValueKind::Boolean(flag) => visitor.visit_bool(*flag),
            ValueKind::String(text) if text.eq_ignore_ascii_case("true") => {
                visitor.visit_bool(true)
            }
            ValueKind::String(text) if text.eq_ignore_ascii_case("false") => {
                visitor.visit_bool(false)
            }
            _ => Err(DeError::mismatch("true or false", &self.0)),
        }
    }

    deserialize_whole_number! {
        deserialize_u8 visit_u8 u8, "a whole number from 0 to 255";
        deserialize_u16 visit_u16 u16, "a whole number from 0 to 65535";
        deserialize_u32 visit_u32 u32, "a whole number from 0 to 4294967295";
        deserialize_u64 visit_u64 u64, "a whole number from 0 to 18446744073709551615";
        deserialize_i8 visit_i8 i8, "a whole number from -128 to 127";
        deserialize_i16 visit_i16 i16, "a whole number from -32768 to 32767";
        deserialize_i32 visit_i32 i32, "a whole number from -2147483648 to 2147483647";
        deserialize_i64 visit_i64 i64, "a whole number from -9223372036854775808 to 9223372036854775807";
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_f64(fractional_number(&self.0)?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Scalars become their text, as they would have been had a variable set them.
        match self.0.kind {
            ValueKind::String(text) => visitor.visit_string(text),
            ValueKind::Boolean(flag) => visitor.visit_string(flag.to_string()),
            ValueKind::I64(number) => visitor.visit_string(number.to_string()),
            ValueKind::I128(number) => visitor.visit_string(number.to_string()),
            ValueKind::U64(number) => visitor.visit_string(number.to_string()),
            ValueKind::U128(number) => visitor.visit_string(number.to_string()),
            ValueKind::Float(number) => visitor.visit_string(number.to_string()),
            _ => Err(DeError::mismatch("a string", &self.0)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.kind {
            ValueKind::Nil => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if let Some(parsed) = json_in_text(&self.0, '[') {
            return ValueDeserializer(parsed?).deserialize_seq(visitor);
        }
        match self.0.kind {
            ValueKind::Array(items) => visitor.visit_seq(ListAccess(items.into_iter())),
            _ => Err(DeError::mismatch("a list such as [\"a\", \"b\"]", &self.0)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if let Some(parsed) = json_in_text(&self.0, '{') {
            return ValueDeserializer(parsed?).deserialize_map(visitor);
        }
        match self.0.kind {
            ValueKind::Table(table) => visitor.visit_map(TableAccess::new(table)),
            _ => Err(DeError::mismatch(
                "a table of keys (in a variable, a JSON map such as {\"key\": 1})",
                &self.0,
            )),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0.kind {
            ValueKind::String(text) => visitor.visit_enum(text.into_deserializer()),
            _ => Err(DeError::mismatch("a string", &self.0)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
    }
}

struct ListAccess(std::vec::IntoIter<Value>);

impl<'de> de::SeqAccess<'de> for ListAccess {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        self.0
            .next()
            .map(|item| seed.deserialize(ValueDeserializer(item)))
            .transpose()
    }
}

struct TableAccess {
    entries: std::vec::IntoIter<(String, Value)>,
    value: Option<Value>,
}

impl TableAccess {
    fn new(table: config::Map<String, Value>) -> TableAccess {
        let mut entries: Vec<(String, Value)> = table.into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        TableAccess {
            entries: entries.into_iter(),
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for TableAccess {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self.value.take().unwrap_or_default();
        seed.deserialize(ValueDeserializer(value))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    fn value(kind: ValueKind) -> Value {
        Value::new(Some(&"test".to_owned()), kind)
    }

    fn text(text: &str) -> Value {
        value(ValueKind::String(text.to_owned()))
    }

    fn read<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, String> {
        T::deserialize(ValueDeserializer(value)).map_err(|error| error.to_string())
    }

    #[test]
    fn whole_numbers_come_from_integers_and_text_and_never_from_fractions_or_booleans() {
        assert_eq!(read::<u16>(value(ValueKind::I64(8080))), Ok(8080));
        assert_eq!(read::<u16>(text("8080")), Ok(8080));
        // (value, expected message)
        let cases = [
            (
                value(ValueKind::Float(80.5)),
                "must be a whole number from 0 to 65535, not 80.5",
            ),
            (
                value(ValueKind::Float(80.0)),
                "must be a whole number from 0 to 65535, not 80",
            ),
            (
                text("80.5"),
                "must be a whole number from 0 to 65535, not \"80.5\"",
            ),
            (
                value(ValueKind::Boolean(true)),
                "must be a whole number from 0 to 65535, not true",
            ),
            (
                text("true"),
                "must be a whole number from 0 to 65535, not \"true\"",
            ),
            (
                text("yes"),
                "must be a whole number from 0 to 65535, not \"yes\"",
            ),
            (
                value(ValueKind::I64(70000)),
                "must be a whole number from 0 to 65535, not 70000",
            ),
            (text("-1"), "must be a whole number from 0 to 65535, not -1"),
            (
                text(" 1"),
                "must be a whole number from 0 to 65535, not \" 1\"",
            ),
            (
                value(ValueKind::Array(vec![])),
                "must be a whole number from 0 to 65535, not a list",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                read::<u16>(input.clone()),
                Err(expected.to_owned()),
                "{input:?}"
            );
        }
        assert_eq!(
            read::<u64>(text("18446744073709551616")),
            Err(
                "must be a whole number from 0 to 18446744073709551615, not 18446744073709551616"
                    .to_owned()
            )
        );
    }

    #[test]
    fn booleans_are_true_or_false_only() {
        assert_eq!(read::<bool>(text("TRUE")), Ok(true));
        assert_eq!(read::<bool>(text("false")), Ok(false));
        for (input, shown) in [
            (text("yes"), "\"yes\""),
            (text("1"), "\"1\""),
            (value(ValueKind::I64(1)), "1"),
            (value(ValueKind::Float(0.0)), "0"),
        ] {
            assert_eq!(
                read::<bool>(input),
                Err(format!("must be true or false, not {shown}"))
            );
        }
    }

    #[test]
    fn lists_and_maps_may_be_written_as_json_text_and_other_text_stays_text() {
        assert_eq!(
            read::<Vec<String>>(text(r#"["a", "b"]"#)),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(
            read::<BTreeMap<String, bool>>(text(r#"{"x": true}"#)),
            Ok(BTreeMap::from([("x".to_owned(), true)]))
        );
        assert_eq!(
            read::<String>(text("[request]=debug")),
            Ok("[request]=debug".to_owned())
        );
        assert_eq!(
            read::<Vec<String>>(text("[1,")),
            Err("starts like a JSON list or map but is not valid JSON (EOF while parsing a value at line 1 column 3): write e.g. [\"https://a.example\"] or {\"key\": 1}".to_owned())
        );
        assert_eq!(
            read::<Vec<String>>(text("https://a.example")),
            Err("must be a list such as [\"a\", \"b\"], not \"https://a.example\"".to_owned())
        );
    }
}
