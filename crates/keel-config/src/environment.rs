//! The deployment environment keel runs in, and the profile that each one selects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where keel runs. Chosen by `--env`, else `APP_ENV`, else [`Environment::Development`].
///
/// Each environment selects one profile file (`profiles/<name>.toml`) that is merged over the built-in
/// defaults. Unknown names are an error, never a silent fallback to development.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Testing,
    Staging,
    Production,
}

impl Environment {
    /// Every environment, in the order they are usually promoted through.
    pub const ALL: [Environment; 4] = [
        Environment::Development,
        Environment::Testing,
        Environment::Staging,
        Environment::Production,
    ];

    /// The canonical name, as used in profile file names and shown in `show-config`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Testing => "testing",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// The short alias accepted on the command line and in `APP_ENV`, if the environment has one.
    pub fn alias(self) -> Option<&'static str> {
        match self {
            Environment::Development => Some("dev"),
            Environment::Testing => Some("test"),
            Environment::Staging => None,
            Environment::Production => Some("prod"),
        }
    }

    /// Development and testing are the local environments: they read `.env` and migrate on start.
    pub fn is_local(self) -> bool {
        matches!(self, Environment::Development | Environment::Testing)
    }

    /// The list of accepted names, for error messages: `development (dev), testing (test), …`.
    pub fn accepted_names() -> String {
        Environment::ALL
            .iter()
            .map(|env| match env.alias() {
                Some(alias) => format!("{} ({alias})", env.as_str()),
                None => env.as_str().to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given is not one of the four environments nor their aliases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown environment {name:?}: use one of {}",
    Environment::accepted_names()
)]
pub struct UnknownEnvironment {
    pub name: String,
}

impl FromStr for Environment {
    type Err = UnknownEnvironment;

    /// Accepts canonical names and aliases, ignoring ASCII case and surrounding white space.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase();
        Environment::ALL
            .into_iter()
            .find(|env| env.as_str() == wanted || env.alias() == Some(wanted.as_str()))
            .ok_or_else(|| UnknownEnvironment {
                name: text.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_parse_to_their_environment() {
        let cases = [
            ("development", Environment::Development),
            ("dev", Environment::Development),
            ("testing", Environment::Testing),
            ("test", Environment::Testing),
            ("staging", Environment::Staging),
            ("production", Environment::Production),
            ("prod", Environment::Production),
            (" PROD ", Environment::Production),
        ];
        for (text, expected) in cases {
            assert_eq!(
                text.parse::<Environment>(),
                Ok(expected),
                "parsing {text:?}"
            );
        }
    }

    #[test]
    fn unknown_names_are_an_error_listing_the_valid_ones() {
        for text in ["", "stage", "develop", "production2"] {
            let error = text.parse::<Environment>().unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "unknown environment {text:?}: use one of development (dev), testing (test), staging, production (prod)"
                )
            );
        }
    }
}
