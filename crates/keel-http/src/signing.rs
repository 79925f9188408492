//! Signed cookies: a value and its HMAC-SHA256 under the app's secret key, so a client can read the value
//! but cannot change it. The visitor cookie of the feature flags and the session cookie of the HTML pages
//! share this signer.
//!
//! A signature covers `<context><value>`, where the context names the cookie's purpose
//! (`keel-visitor:`, `keel-session:`), so a value signed for one purpose never verifies for another
//! although one secret key signs both.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, header};
use sha2::Sha256;

/// Signs and checks one kind of cookie value; holds the secret key, so its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct CookieSigner {
    key: Arc<[u8]>,
    context: Arc<[u8]>,
}

impl std::fmt::Debug for CookieSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CookieSigner")
            .field("context", &String::from_utf8_lossy(&self.context))
            .finish_non_exhaustive()
    }
}

impl CookieSigner {
    /// A signer keyed by `secret_key` for the purpose named by `context` (e.g. `keel-session:`).
    pub fn new(secret_key: &[u8], context: &str) -> CookieSigner {
        CookieSigner {
            key: Arc::from(secret_key),
            context: Arc::from(context.as_bytes()),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length, so this cannot fail; an empty key would still sign.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(&self.context);
        mac
    }

    /// `value`, a dot, and its signature in hex. `value` must not contain a dot after which the
    /// signature could be confused; [`CookieSigner::verify`] splits at the last one.
    pub fn sign(&self, value: &str) -> String {
        let mut mac = self.mac();
        mac.update(value.as_bytes());
        format!("{value}.{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The value inside `signed` when its signature verifies (compared in constant time), else `None`.
    pub fn verify<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (value, signature) = signed.rsplit_once('.')?;
        let signature = hex::decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(value.as_bytes());
        mac.verify_slice(&signature).ok()?;
        Some(value)
    }
}

/// The attributes keel's cookies carry, from the `security.cookie_*` settings (the app passes them in:
/// this crate reads no configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieAttributes {
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`.
    pub same_site: &'static str,
}

impl CookieAttributes {
    /// `; Path=/[; Max-Age=…][; HttpOnly][; Secure]; SameSite=…`, to follow `name=value`. Without a
    /// maximum age the cookie lasts until the browser closes.
    pub fn render(&self, max_age_secs: Option<u64>) -> String {
        let mut attributes = "; Path=/".to_owned();
        if let Some(max_age) = max_age_secs {
            attributes.push_str(&format!("; Max-Age={max_age}"));
        }
        if self.http_only {
            attributes.push_str("; HttpOnly");
        }
        if self.secure {
            attributes.push_str("; Secure");
        }
        attributes.push_str("; SameSite=");
        attributes.push_str(self.same_site);
        attributes
    }
}

/// The value of the cookie `name` among the request's `Cookie` headers.
pub fn presented_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(presented, _)| *presented == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const VALUE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_value_verifies_and_a_tampered_one_does_not() {
        let signer = CookieSigner::new(b"a-secret-key-of-at-least-32-bytes!!", "keel-visitor:");
        let signed = signer.sign(VALUE);
        assert_eq!(signer.verify(&signed), Some(VALUE));

        let (_, signature) = signed.split_once('.').unwrap();
        let cases = [
            format!("f123456789abcdef0123456789abcdef.{signature}"),
            format!("{VALUE}.{}", "0".repeat(64)),
            format!("{VALUE}.{}", &signature[..62]),
            VALUE.to_owned(),
            format!("{VALUE}."),
            String::new(),
        ];
        for forged in cases {
            assert_eq!(signer.verify(&forged), None, "{forged:?} verified");
        }
        let other_key = CookieSigner::new(b"another-secret-key-of-32-bytes!!!!", "keel-visitor:");
        assert_eq!(other_key.verify(&signed), None, "another key verified");
        let other_purpose =
            CookieSigner::new(b"a-secret-key-of-at-least-32-bytes!!", "keel-session:");
        assert_eq!(
            other_purpose.verify(&signed),
            None,
            "another purpose verified"
        );
    }

    #[test]
    fn attributes_are_written_in_one_order_and_only_when_on() {
        let all = CookieAttributes {
            http_only: true,
            secure: true,
            same_site: "Strict",
        };
        assert_eq!(
            all.render(Some(60)),
            "; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Strict"
        );
        let few = CookieAttributes {
            http_only: false,
            secure: false,
            same_site: "Lax",
        };
        assert_eq!(few.render(None), "; Path=/; SameSite=Lax");
    }

    #[test]
    fn a_cookie_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; keel_visitor=abc; b=2"),
        );
        assert_eq!(presented_cookie(&headers, "keel_visitor"), Some("abc"));
        assert_eq!(presented_cookie(&headers, "other_visitor"), None);
        let mut split = HeaderMap::new();
        split.append(header::COOKIE, HeaderValue::from_static("a=1"));
        split.append(header::COOKIE, HeaderValue::from_static("keel_visitor=xyz"));
        assert_eq!(presented_cookie(&split, "keel_visitor"), Some("xyz"));
        assert_eq!(presented_cookie(&HeaderMap::new(), "keel_visitor"), None);
    }
}
