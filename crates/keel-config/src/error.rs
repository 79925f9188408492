//! Everything that can go wrong while loading settings. Each problem names the key (when there is one),
//! the layer that set it, what is wrong and how to fix it, and never contains a secret's value.
//!
//! The crate's one error type is a struct, not the usual enum of ways to fail: loading fails in one way
//! only — the configuration has problems — and its point is to list all of them at once. The kinds of
//! problem (a bad value, an unknown key, an unreadable file) matter to the operator who reads the message,
//! not to any caller, which prints it and exits 78; an enum would add a variant no caller could tell apart.

use std::fmt;

/// The settings cannot be loaded. Holds every problem found, in the order the loader met them, so an
/// operator fixes them all in one round instead of one per start. Displayed one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", one_per_line(problems))]
pub struct Error {
    problems: Vec<Problem>,
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key (`server.port`) when the problem is about one setting.
    pub key: Option<String>,
    /// The layer or input responsible: `environment variable APP_SERVER__PORT`,
    /// `instance file instance/config.toml line 3`, `--set "server.port"`.
    pub origin: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Error {
    pub(crate) fn new(problems: Vec<Problem>) -> Error {
        debug_assert!(!problems.is_empty(), "an error has at least one problem");
        Error { problems }
    }

    pub(crate) fn single(problem: Problem) -> Error {
        Error::new(vec![problem])
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl Problem {
    /// A problem with one setting.
    pub(crate) fn at_key(
        key: impl Into<String>,
        origin: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            key: Some(key.into()),
            origin: origin.into(),
            message: message.into(),
        }
    }

    /// A problem with an input as a whole (a file, a variable, an argument).
    pub(crate) fn at_input(origin: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: None,
            origin: origin.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{key} (set by {}): {}", self.origin, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

fn one_per_line(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
