//! The keys a struct's derived `Deserialize` accepts, asked of the type itself, so no list repeats them.
//!
//! serde hands a struct's field names (after `rename`) to the deserializer in `deserialize_struct`; a
//! deserializer that records them and stops there learns them without any input.

use std::fmt;

use serde::de::{self, Deserialize, Visitor};

/// The field names of `T`, a struct deriving `Deserialize`; empty for any other type.
pub(crate) fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    let _stopped: Result<T, Stop> = T::deserialize(FieldNames(&mut names));
    names
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

/// Ends deserialization once the names are known.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("only the field names were asked for")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_message: T) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::field_names;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Example {
        first: u8,
        #[serde(rename = "second_secs")]
        second: u64,
    }

    #[test]
    fn the_names_are_the_keys_serde_reads_after_renaming() {
        assert_eq!(field_names::<Example>(), ["first", "second_secs"]);
        assert!(field_names::<u8>().is_empty());
    }
}
