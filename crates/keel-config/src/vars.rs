//! The loader's inputs from outside the files: a snapshot of environment variables, and explicit overrides.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Problem};

/// A snapshot of environment variables. The loader never reads the process environment itself, so tests
/// can pass their own variables and run in parallel.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
    /// Variables whose value is not valid UTF-8: present, but unreadable. The loader names those meant
    /// for keel instead of silently treating them as unset.
    not_unicode: BTreeSet<String>,
}

impl Vars {
    /// The variables of this process.
    pub fn from_process() -> Self {
        let mut vars = Vars::default();
        for (name, value) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            match value.into_string() {
                Ok(value) => {
                    vars.values.insert(name, value);
                }
                Err(_) => {
                    vars.not_unicode.insert(name);
                }
            }
        }
        vars
    }

    /// `self` with `name` set to a value that is not valid UTF-8, as [`Vars::from_process`] would see it.
    #[cfg(test)]
    pub(crate) fn with_not_unicode(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.values.remove(&name);
        self.not_unicode.insert(name);
        self
    }

    /// The value of `name`; `None` when it is unset or not valid UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether `name` is set, readable or not.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name) || self.not_unicode.contains(name)
    }

    /// Every readable variable, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// The names of the variables whose value is not valid UTF-8, sorted.
    pub fn not_unicode(&self) -> impl Iterator<Item = &str> {
        self.not_unicode.iter().map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Vars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Vars {
            values: iter
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
            not_unicode: BTreeSet::new(),
        }
    }
}

/// One explicit override, `section.key=value`: from `--set` or from code (tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub key: String,
    pub value: String,
}

impl Override {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Override {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Parses the `--set` form `section.key=value`. Errors quote the key, never the value: a mistyped
    /// key must not print the secret that followed it.
    pub fn parse_assignment(text: &str) -> Result<Self, Error> {
        let bad = |shown: &str, reason: &str| {
            Error::single(Problem::at_input(
                format!("--set {shown:?}"),
                format!("{reason}: write --set section.key=value, e.g. --set server.port=9000"),
            ))
        };
        let Some((key, value)) = text.split_once('=') else {
            // Without `=` there is no telling key from value, so only a key-shaped text is shown.
            let shown = if is_dotted_key(text.trim()) {
                text.trim()
            } else {
                "…"
            };
            return Err(bad(shown, "has no `=`"));
        };
        let key = key.trim();
        if !is_dotted_key(key) {
            return Err(bad(
                &format!("{key}=…"),
                "the key is not a dotted setting name",
            ));
        }
        Ok(Override::new(key, value))
    }
}

/// `section.key` (two or more non-empty parts of ASCII letters, digits and `_`).
fn is_dotted_key(key: &str) -> bool {
    key.split('.').count() >= 2
        && key.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}
