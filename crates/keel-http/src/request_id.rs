//! Request ids: kept from the client when they are a sane token, otherwise a fresh UUIDv7.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::HeaderValue;
use http::header::HeaderName;
use http::request::Parts;

/// The header that carries the request id, in both directions.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id that is kept.
const MAX_INCOMING_LENGTH: usize = 128;

/// The id of one request, safe to log and echo: 1–128 characters of `[A-Za-z0-9._:-]`.
///
/// The app factory's middleware puts one in every request's extensions; handlers extract it. Shared, so
/// the copies that error rendering and handlers take cost a reference count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// Keeps the incoming header value when it is a sane token; otherwise makes a new UUIDv7, so nothing
    /// a client sends reaches the logs raw.
    pub fn from_incoming(header: Option<&HeaderValue>) -> RequestId {
        header
            .and_then(|value| value.to_str().ok())
            .filter(|text| is_sane(text))
            .map_or_else(RequestId::generate, |text| RequestId(Arc::from(text)))
    }

    /// A new, time-ordered id.
    pub fn generate() -> RequestId {
        let mut text = [0_u8; uuid::fmt::Hyphenated::LENGTH];
        RequestId(Arc::from(
            &*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a header value; always valid because the id is a sane token.
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_sane(text: &str) -> bool {
    (1..=MAX_INCOMING_LENGTH).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-'))
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    /// The id the middleware assigned; a fresh one when the router runs without the middleware (tests).
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_incoming_ids_are_kept_and_others_replaced() {
        let long_but_allowed = "a".repeat(128);
        let too_long = "a".repeat(129);
        // (incoming bytes, kept?)
        let cases: [(&[u8], bool); 9] = [
            (b"abc-123", true),
            (b"trace:01J.x_y", true),
            (long_but_allowed.as_bytes(), true),
            (too_long.as_bytes(), false),
            (b"", false),
            (b"has space", false),
            (b"semi;colon", false),
            (b"new\tline", false),
            (b"caf\xc3\xa9", false),
        ];
        for (incoming, kept) in cases {
            let header = HeaderValue::from_bytes(incoming).unwrap();
            let id = RequestId::from_incoming(Some(&header));
            assert_eq!(
                id.as_str().as_bytes() == incoming,
                kept,
                "{incoming:?} -> {id}"
            );
            assert!(is_sane(id.as_str()));
        }
    }

    #[test]
    fn a_missing_id_becomes_a_uuid_v7() {
        let id = RequestId::from_incoming(None);
        let parsed = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
    }
}
