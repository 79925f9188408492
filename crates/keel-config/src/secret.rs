//! Values that must never be printed: secrets and URLs that may carry a password.
//!
//! Both types reveal their value only through an explicit `expose…` call. Their `Debug`, `Display` and
//! `Serialize` show the masked form `***` + a fingerprint, so two instances can be compared without
//! anything that would help an attacker.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// How many hex digits of the SHA-256 a fingerprint shows: enough to tell values apart, too few to help
/// a brute-force search of a real secret.
const FINGERPRINT_HEX_DIGITS: usize = 8;

/// `***` followed by the first hex digits of the value's SHA-256, e.g. `***3f2a9c1e`.
pub fn mask(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(FINGERPRINT_HEX_DIGITS);
    format!("***{hex}")
}

/// A secret setting (`security.secret_key`, tokens, passwords).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The real value. Call it only where the secret is used, never to log or display it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The masked form, safe to print.
    pub fn masked(&self) -> String {
        mask(self.expose())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// A connection URL (`database.url`): shown with its password masked, e.g.
/// `postgres://keel:***3f2a9c1e@db:5432/keel`. URLs without a password are shown as they are.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionUrl(String);

impl ConnectionUrl {
    pub fn new(value: impl Into<String>) -> Self {
        ConnectionUrl(value.into())
    }

    /// The real URL, password included, for the one place that connects with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password (in the user info, or a `password=` query parameter) replaced by its
    /// masked form; safe to print and log.
    pub fn masked(&self) -> String {
        // Not a URL we understand, so we cannot tell where a password would be: hide it all.
        let Ok(mut parsed) = url::Url::parse(&self.0) else {
            return mask(&self.0);
        };
        if let Some(masked_password) = parsed.password().map(mask)
            && parsed.set_password(Some(&masked_password)).is_err()
        {
            // The URL cannot carry a password after all: hide everything rather than guess.
            return mask(&self.0);
        }
        let has_password_parameter = parsed
            .query_pairs()
            .any(|(name, _)| name.eq_ignore_ascii_case("password"));
        if has_password_parameter {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(name, value)| {
                    let value = if name.eq_ignore_ascii_case("password") {
                        mask(&value)
                    } else {
                        value.into_owned()
                    };
                    (name.into_owned(), value)
                })
                .collect();
            parsed.query_pairs_mut().clear().extend_pairs(pairs);
        }
        parsed.to_string()
    }

    /// The password as written in the URL (user info, else a `password=` parameter), for redacting
    /// messages that may quote it.
    pub fn password(&self) -> Option<String> {
        let parsed = url::Url::parse(&self.0).ok()?;
        if let Some(password) = parsed.password().filter(|password| !password.is_empty()) {
            return Some(password.to_owned());
        }
        parsed
            .query_pairs()
            .find(|(name, _)| name.eq_ignore_ascii_case("password"))
            .map(|(_, value)| value.into_owned())
            .filter(|value| !value.is_empty())
    }

    /// This URL with its password replaced by `password` (percent-encoded as the URL needs), or `None`
    /// when the text is not a URL that can carry one.
    pub fn with_password(&self, password: &str) -> Option<ConnectionUrl> {
        let mut parsed = url::Url::parse(&self.0).ok()?;
        parsed.set_password(Some(password)).ok()?;
        Some(ConnectionUrl(parsed.to_string()))
    }

    /// The scheme (`sqlite`, `postgres`, …), or `None` when the text is not a URL.
    pub fn scheme(&self) -> Option<&str> {
        self.0.split_once(':').map(|(scheme, _)| scheme)
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for ConnectionUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for ConnectionUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(ConnectionUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-7f3b2e-never-print-me";

    #[test]
    fn a_secret_never_shows_its_value() {
        let secret = Secret::new(CANARY);
        let shown = [
            format!("{secret:?}"),
            format!("{secret}"),
            serde_json::to_string(&secret).unwrap(),
        ];
        for text in shown {
            assert!(!text.contains(CANARY), "{text}");
            assert!(text.contains("***"), "{text}");
        }
        assert_eq!(secret.expose(), CANARY);
    }

    #[test]
    fn the_mask_is_a_stable_short_fingerprint() {
        assert_eq!(mask("abc"), "***ba7816bf");
        assert_eq!(mask("abc"), mask("abc"));
        assert_ne!(mask("abc"), mask("abd"));
    }

    #[test]
    fn a_separate_password_replaces_the_one_in_the_url_and_is_encoded() {
        let cases = [
            (
                "postgres://keel@db:5432/keel",
                "postgres://keel:p%2Fw%40rd@db:5432/keel",
            ),
            (
                "postgres://keel:old@db/keel",
                "postgres://keel:p%2Fw%40rd@db/keel",
            ),
        ];
        for (url, expected) in cases {
            let replaced = ConnectionUrl::new(url).with_password("p/w@rd").unwrap();
            assert_eq!(replaced.expose(), expected);
        }
        assert_eq!(ConnectionUrl::new("not a url").with_password("x"), None);
    }

    #[test]
    fn url_passwords_are_masked_and_the_rest_is_kept() {
        let cases = [
            (
                format!("postgres://keel:{CANARY}@db:5432/keel"),
                format!("postgres://keel:{}@db:5432/keel", mask(CANARY)),
            ),
            (
                "sqlite://instance/keel.sqlite3?mode=rwc".to_owned(),
                "sqlite://instance/keel.sqlite3?mode=rwc".to_owned(),
            ),
            (
                "redis://127.0.0.1:6379".to_owned(),
                "redis://127.0.0.1:6379".to_owned(),
            ),
            (
                format!("not a url {CANARY}"),
                mask(&format!("not a url {CANARY}")),
            ),
            (
                format!("postgres://keel@db/keel?sslmode=require&password={CANARY}"),
                format!(
                    "postgres://keel@db/keel?sslmode=require&password={}",
                    mask(CANARY)
                ),
            ),
        ];
        for (url, expected) in cases {
            let url = ConnectionUrl::new(url);
            assert_eq!(url.masked(), expected);
            assert_eq!(format!("{url:?}"), expected);
            assert_eq!(format!("{url}"), expected);
        }
    }
}
