//! Everything that can go wrong while loading settings. Messages name the key or variable, the layer, the
//! problem and the fix, and never contain a secret's value.

use std::fmt;
use std::path::PathBuf;

use crate::environment::UnknownEnvironment;
use crate::settings::Problem;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{source} (set by {origin})")]
    UnknownEnvironment {
        origin: String,
        #[source]
        source: UnknownEnvironment,
    },
    /// A variable or `--set` value that cannot be read at all (bad JSON, not UTF-8, malformed assignment).
    #[error("{origin} {message}")]
    BadInput { origin: String, message: String },
    /// A configuration file that cannot be read or parsed.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// The merged layers do not fit the settings' types (the message names the key and its layer).
    #[error("{0}")]
    Merge(String),
    /// The settings are well-typed but wrong; every problem is listed.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<SourcedProblem>),
}

/// A [`Problem`] together with the layer that set the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedProblem {
    pub problem: Problem,
    pub origin: String,
}

struct ProblemList<'a>(&'a [SourcedProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, sourced) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(
                f,
                "{} (set by {}) {}",
                sourced.problem.key, sourced.origin, sourced.problem.message
            )?;
        }
        Ok(())
    }
}
