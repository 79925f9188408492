//! The loader's inputs from outside the files: a snapshot of environment variables, and explicit overrides.

use std::collections::BTreeMap;

use crate::error::{Error, Problem};

/// A snapshot of environment variables. The loader never reads the process environment itself, so tests
/// can pass their own variables and run in parallel.
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// The variables of this process. A value that is not valid UTF-8 is replaced by a marker, so the
    /// loader can name the variable when it is meant for keel.
    pub fn from_process() -> Self {
        Vars(
            std::env::vars_os()
                .map(|(name, value)| {
                    let value = value
                        .into_string()
                        .unwrap_or_else(|_| NOT_UNICODE.to_owned());
                    (name.to_string_lossy().into_owned(), value)
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Every variable, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Vars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Vars(
            iter.into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        )
    }
}

/// Stands in for a variable value that is not valid UTF-8, so the loader can name the variable.
pub(crate) const NOT_UNICODE: &str = "\u{0}keel: not unicode\u{0}";

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
