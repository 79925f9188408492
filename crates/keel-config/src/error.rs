//! Everything that can go wrong while loading settings. Each problem names the key (when there is one),
//! the layer that set it, what is wrong and how to fix it, and never contains a secret's value.

use std::fmt;

/// The settings cannot be loaded. Holds every problem found, in the order the loader met them, so an
/// operator fixes them all in one round instead of one per start.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// One problem per line.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
