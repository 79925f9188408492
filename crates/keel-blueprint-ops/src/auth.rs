//! The admin token and the extractor that checks it: 404 when ops is disabled, 401 without a bearer
//! token, 403 with a wrong one. The comparison takes the same time whatever the guess.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_config::Secret;
use keel_http::ErrorReport;
use sha2::{Digest, Sha256};

use crate::error::OpsError;

/// The configured admin token (`security.admin_token`), or none when ops is disabled.
#[derive(Debug, Clone, Default)]
pub struct AdminToken(Option<Arc<Secret>>);

impl AdminToken {
    pub fn new(token: Option<Secret>) -> AdminToken {
        AdminToken(token.map(Arc::new))
    }

    /// Whether `offered` is the token, in time that does not depend on where they differ: both sides are
    /// hashed first, so even their lengths are not compared directly.
    fn accepts(token: &Secret, offered: &str) -> bool {
        let expected = Sha256::digest(token.expose().as_bytes());
        let offered = Sha256::digest(offered.as_bytes());
        expected
            .iter()
            .zip(offered.iter())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
    }
}

/// Proof that the request carried the admin token. Take it as a handler argument to protect the route.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// Why a request was refused.
#[derive(Debug)]
pub enum Refusal {
    /// No token is configured: ops does not exist.
    Disabled,
    MissingToken,
    WrongToken,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Disabled => ErrorReport::not_found().into_response(),
            Refusal::MissingToken => {
                let mut response = ErrorReport::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "send the admin token as `Authorization: Bearer <token>`",
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Refusal::WrongToken => ErrorReport::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the admin token is not valid",
            )
            .into_response(),
        }
    }
}

impl<S> FromRequestParts<S> for Admin
where
    S: Send + Sync,
    AdminToken: FromRef<S>,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AdminToken(Some(token)) = AdminToken::from_ref(state) else {
            return Err(Refusal::Disabled);
        };
        let offered = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            // The scheme is case-insensitive (RFC 9110 §11.1).
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|offered| !offered.is_empty())
            .ok_or(Refusal::MissingToken)?;
        // A wrong token is not logged here: the access log records the 403 with its request id, and the
        // offered value could be a near-miss of the secret.
        if AdminToken::accepts(&token, offered) {
            Ok(Admin)
        } else {
            Err(Refusal::WrongToken)
        }
    }
}

/// The answer to an unsupported method on an ops route, given only to an authenticated caller.
pub(crate) async fn method_not_allowed(_admin: Admin) -> OpsError {
    OpsError::MethodNotAllowed
}
