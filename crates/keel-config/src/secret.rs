//! Values that must never be printed: secrets and URLs that may carry a password.
//!
//! Both types reveal their value only through an explicit `expose…` call. Their `Debug`, `Display` and
//! `Serialize` show `***` in its place (`postgres://keel:***@db/keel`), so logs and error messages hold
//! nothing of it. The masked view of the settings (`show-config`, `/ops/config`) adds a fingerprint made
//! by [`Fingerprints`], so two instances can be compared without revealing anything.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;

/// What a masked value shows instead of itself.
const MASK: &str = "***";

/// How many hex digits of the keyed hash a fingerprint shows: enough to tell values apart, too few to
/// help a brute-force search even with the key.
const FINGERPRINT_HEX_DIGITS: usize = 8;

/// Separates the fingerprint key from every other use of the secret key (cookie signatures).
const FINGERPRINT_CONTEXT: &[u8] = b"keel: fingerprints of the masked settings view";

/// Makes fingerprints: `***` followed by the first hex digits of an HMAC-SHA256 of the value, keyed with
/// a key derived from `security.secret_key`.
///
/// An unkeyed hash would let anyone holding a log or a screenshot confirm a guessed password offline
/// (`printf hunter2 | sha256sum`); keyed, a guess can be checked only by someone who also holds the
/// secret key. Instances that share a secret key show the same fingerprint for the same value.
#[derive(Clone)]
pub struct Fingerprints {
    key: [u8; 32],
}

impl Fingerprints {
    pub fn new(secret_key: &Secret) -> Fingerprints {
        let mut mac = hmac(secret_key.expose().as_bytes());
        mac.update(FINGERPRINT_CONTEXT);
        Fingerprints {
            key: mac.finalize().into_bytes().into(),
        }
    }

    /// `***` and the fingerprint of `value`, e.g. `***3f2a9c1e`.
    pub fn mask(&self, value: &str) -> String {
        let mut mac = hmac(&self.key);
        mac.update(value.as_bytes());
        let mut digits = hex::encode(mac.finalize().into_bytes());
        digits.truncate(FINGERPRINT_HEX_DIGITS);
        format!("{MASK}{digits}")
    }

    /// `url` with its password replaced by its fingerprint.
    pub fn mask_url(&self, url: &ConnectionUrl) -> String {
        url.masked_with(|password| self.mask(password))
    }
}

/// The key is never shown.
impl fmt::Debug for Fingerprints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprints")
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so this never fails.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()))
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

    /// The masked form, safe to print: `***`.
    pub fn masked(&self) -> String {
        MASK.to_owned()
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

/// Query parameters whose values are masked like a password: anything named like a password, token,
/// key, secret, signature or credential (`password`, `api_key`, `access_token`, `sig`, …). Others
/// (`sslmode`, `mode`) stay readable.
fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "auth",
        "sig",
        "credential",
    ]
    .iter()
    .any(|fragment| name.contains(fragment))
}

/// A connection URL (`database.url`, `redis.url`, `telemetry.otlp_endpoint`): shown with its password
/// masked, e.g. `postgres://keel:***@db:5432/keel`. URLs without a password are shown as they are.
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

    /// The URL with its password (in the user info, or a `password=` query parameter) replaced by `***`;
    /// safe to print and log.
    pub fn masked(&self) -> String {
        self.masked_with(|_| MASK.to_owned())
    }

    /// The URL with its password replaced by `mask(password)`.
    fn masked_with(&self, mask: impl Fn(&str) -> String) -> String {
        // Not a URL we understand, so we cannot tell where a password would be: hide it all.
        let Ok(mut parsed) = url::Url::parse(&self.0) else {
            return mask(&self.0);
        };
        if let Some(masked_password) = parsed.password().map(&mask)
            && parsed.set_password(Some(&masked_password)).is_err()
        {
            // The URL cannot carry a password after all: hide everything rather than guess.
            return mask(&self.0);
        }
        let has_secret_parameter = parsed
            .query_pairs()
            .any(|(name, _)| is_secret_parameter(&name));
        if has_secret_parameter {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(name, value)| {
                    let value = if is_secret_parameter(&name) {
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

    /// `message` with this URL and its password replaced by their masked forms. Drivers and clients
    /// quote the URL or the connection string they failed on, so their messages pass through this first.
    pub fn redact(&self, message: &str) -> String {
        let mut redacted = message.replace(&self.0, &self.masked());
        if let Some(password) = self.password() {
            redacted = redacted.replace(&password, MASK);
        }
        redacted
    }

    /// This URL with its password replaced by `password` (percent-encoded as the URL needs), or `None`
    /// when the text is not a URL that can carry one.
    pub fn with_password(&self, password: &str) -> Option<ConnectionUrl> {
        let mut parsed = url::Url::parse(&self.0).ok()?;
        // Every byte but letters and digits is encoded, `%` included: `set_password` leaves a `%` as it
        // is, so `a%20b` would reach the server decoded as `a b`.
        let encoded =
            percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        parsed.set_password(Some(&encoded)).ok()?;
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
    use sha2::Digest as _;

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
    fn fingerprints_are_keyed_by_the_secret_key_and_stable_for_it() {
        let one = Fingerprints::new(&Secret::new("one-secret-key"));
        let other = Fingerprints::new(&Secret::new("another-secret-key"));
        let fingerprint = one.mask("hunter2");
        assert_eq!(fingerprint.len(), 3 + FINGERPRINT_HEX_DIGITS);
        assert!(fingerprint.starts_with("***"), "{fingerprint}");
        assert_eq!(fingerprint, one.mask("hunter2"));
        assert_ne!(fingerprint, one.mask("hunter3"));
        assert_ne!(fingerprint, other.mask("hunter2"));
        // Not the unkeyed hash, which anyone could compute from a guess.
        let unkeyed = hex::encode(Sha256::digest(b"hunter2"));
        assert!(!unkeyed.starts_with(&fingerprint[3..]), "{fingerprint}");
        assert_eq!(format!("{one:?}"), "Fingerprints");
    }

    #[test]
    fn a_separate_password_replaces_the_one_in_the_url_and_is_encoded() {
        let cases = [
            (
                "postgres://keel@db:5432/keel",
                "p/w@rd",
                "postgres://keel:p%2Fw%40rd@db:5432/keel",
            ),
            (
                "postgres://keel:old@db/keel",
                "p/w@rd",
                "postgres://keel:p%2Fw%40rd@db/keel",
            ),
            (
                "postgres://keel@db/keel",
                "a%20b",
                "postgres://keel:a%2520b@db/keel",
            ),
            (
                "postgres://keel@db/keel",
                "100%",
                "postgres://keel:100%25@db/keel",
            ),
            (
                "postgres://keel@db/keel",
                "é :?#",
                "postgres://keel:%C3%A9%20%3A%3F%23@db/keel",
            ),
        ];
        for (url, password, expected) in cases {
            let replaced = ConnectionUrl::new(url).with_password(password).unwrap();
            assert_eq!(replaced.expose(), expected);
            // What a driver decodes is exactly the password.
            let parsed = url::Url::parse(replaced.expose()).unwrap();
            let decoded = percent_encoding::percent_decode_str(parsed.password().unwrap());
            assert_eq!(decoded.decode_utf8_lossy(), password);
        }
        assert_eq!(ConnectionUrl::new("not a url").with_password("x"), None);
    }

    #[test]
    fn url_passwords_are_masked_and_the_rest_is_kept() {
        let fingerprints = Fingerprints::new(&Secret::new("a-secret-key"));
        let keyed = fingerprints.mask(CANARY);
        // (url, masked for messages, masked with a fingerprint for the settings view)
        let cases = [
            (
                format!("postgres://keel:{CANARY}@db:5432/keel"),
                "postgres://keel:***@db:5432/keel".to_owned(),
                format!("postgres://keel:{keyed}@db:5432/keel"),
            ),
            (
                "sqlite://instance/keel.sqlite3?mode=rwc".to_owned(),
                "sqlite://instance/keel.sqlite3?mode=rwc".to_owned(),
                "sqlite://instance/keel.sqlite3?mode=rwc".to_owned(),
            ),
            (
                "redis://127.0.0.1:6379".to_owned(),
                "redis://127.0.0.1:6379".to_owned(),
                "redis://127.0.0.1:6379".to_owned(),
            ),
            (
                format!("not a url {CANARY}"),
                "***".to_owned(),
                fingerprints.mask(&format!("not a url {CANARY}")),
            ),
            (
                format!("postgres://keel@db/keel?sslmode=require&password={CANARY}"),
                "postgres://keel@db/keel?sslmode=require&password=***".to_owned(),
                format!("postgres://keel@db/keel?sslmode=require&password={keyed}"),
            ),
            (
                format!("https://collector:{CANARY}@otlp.example:4318"),
                "https://collector:***@otlp.example:4318/".to_owned(),
                format!("https://collector:{keyed}@otlp.example:4318/"),
            ),
            (
                format!("https://otlp.example/?api_key={CANARY}&region=eu&X-Auth-Token={CANARY}"),
                "https://otlp.example/?api_key=***&region=eu&X-Auth-Token=***".to_owned(),
                format!("https://otlp.example/?api_key={keyed}&region=eu&X-Auth-Token={keyed}"),
            ),
        ];
        for (url, masked, fingerprinted) in cases {
            let url = ConnectionUrl::new(url);
            assert_eq!(url.masked(), masked);
            assert_eq!(format!("{url:?}"), masked);
            assert_eq!(format!("{url}"), masked);
            assert_eq!(fingerprints.mask_url(&url), fingerprinted);
        }
    }
}
