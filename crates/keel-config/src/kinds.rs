//! How two kinds of setting are written, for serde: one name out of a few (or none), and a duration in
//! seconds.
//!
//! Each is a `#[serde(with = …)]` module, so a field says how it is written where it is declared and the
//! rule lives here once, instead of in one `TryFrom<String>` impl and one getter per setting.

/// A setting that is one of a few names (`pretty`, `json`), read whatever its case and surrounding spaces.
pub(crate) trait Choice: Sized + Copy + PartialEq + 'static {
    /// What the setting names, for the message about an unknown name: `log format`.
    const WHAT: &'static str;
    /// Every name and the value it stands for, in the order the message offers them.
    const NAMES: &'static [(&'static str, Self)];

    /// The name of `self`, as `show-config` prints it.
    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, value)| *value == self)
            .map_or("", |(name, _)| name)
    }
}

/// `#[serde(with = "crate::kinds::choice")]` for a field whose type is a [`Choice`].
pub(crate) mod choice {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Choice;

    pub(crate) fn serialize<S: Serializer, T: Choice>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.name())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: Choice>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let text = String::deserialize(deserializer)?;
        let wanted = text.trim().to_ascii_lowercase();
        T::NAMES
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "unknown {} {text:?}: use {}",
                    T::WHAT,
                    alternatives(T::NAMES.iter().map(|(name, _)| *name))
                ))
            })
    }

    /// `a, b or c`.
    fn alternatives<'a>(names: impl Iterator<Item = &'a str>) -> String {
        let mut names: Vec<&str> = names.collect();
        let Some(last) = names.pop() else {
            return String::new();
        };
        if names.is_empty() {
            return last.to_owned();
        }
        format!("{} or {last}", names.join(", "))
    }
}

/// `#[serde(default, with = "crate::kinds::optional_choice")]` for an `Option` of a [`Choice`]: unset
/// is `None` (the field needs `default`, as serde treats a missing field specially only without `with`).
pub(crate) mod optional_choice {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Choice;

    pub(crate) fn serialize<S: Serializer, T: Choice>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::choice::serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: Choice>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        #[derive(Deserialize)]
        struct Chosen<T: Choice>(#[serde(with = "super::choice")] T);
        Ok(Option::<Chosen<T>>::deserialize(deserializer)?.map(|Chosen(value)| value))
    }
}

/// `#[serde(with = "crate::kinds::seconds")]` for a `Duration` written as whole seconds. The key keeps its
/// `_secs` name (`#[serde(rename = …)]`), so the unit stays visible where operators write it.
pub(crate) mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_secs())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}
