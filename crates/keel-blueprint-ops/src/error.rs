//! Everything an ops handler can fail with, and how a client sees it.
//!
//! Handlers return `Result<_, OpsError>`; the `Json` body of a change is extracted with [`OpsError`] as
//! its rejection (`change.rs` converts axum's), so a bad body gets the same error format as every other
//! failure.
//! A database cause is logged here, once, and never shown.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keel_http::ErrorReport;

/// A failed ops request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpsError {
    /// The flag store refused the change or could not reach its database.
    #[error(transparent)]
    Flags(#[from] keel_ext_flags::Error),
    /// The body is not declared as JSON (415).
    #[error("send the change as JSON with Content-Type: application/json")]
    NotJson,
    /// The body is not valid JSON; the parser's description (a position, never the content) (400).
    #[error(
        "the body is not valid JSON ({0}): send {{\"enabled\": true, \"rollout_percent\": 25}}"
    )]
    Malformed(String),
    /// Valid JSON that is not a change: what is wrong with it (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The body could not be read (too large, cut off): answered as axum words it, which the app
    /// factory re-renders in the error format.
    #[error("{0}")]
    Rejected(JsonRejection),
    /// A method the route does not serve, told only to an authenticated caller (405).
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl IntoResponse for OpsError {
    fn into_response(self) -> Response {
        let report = |status: StatusCode, code: &'static str, error: &OpsError| {
            ErrorReport::new(status, code, error.to_string()).into_response()
        };
        match self {
            OpsError::Rejected(rejection) => rejection.into_response(),
            OpsError::Flags(keel_ext_flags::Error::UnknownFlag { .. }) => {
                report(StatusCode::NOT_FOUND, "not-found", &self)
            }
            OpsError::Flags(
                keel_ext_flags::Error::RolloutOutOfRange(_) | keel_ext_flags::Error::InvalidActor,
            )
            | OpsError::Unprocessable(_) => report(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable-entity",
                &self,
            ),
            OpsError::Flags(cause) => {
                tracing::error!(error = %cause, "a flag operation failed");
                ErrorReport::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service-unavailable",
                    "the flag store's database is unavailable; nothing was changed, try again",
                )
                .into_response()
            }
            OpsError::NotJson => report(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                &self,
            ),
            OpsError::Malformed(_) => report(StatusCode::BAD_REQUEST, "bad-request", &self),
            OpsError::MethodNotAllowed => {
                ErrorReport::from_status(StatusCode::METHOD_NOT_ALLOWED).into_response()
            }
        }
    }
}
