//! Everything an API handler can fail with, and how a client sees it.
//!
//! One enum for the blueprint, in the shape of axum's error-handling example: handlers return
//! `Result<_, ApiError>` and the enum renders itself. A route that can fail in a new way adds a variant
//! here, so the status, the body and what is logged are decided in one place.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keel_http::{ErrorReport, JsonBodyError, PublicErrorBody};
use keel_services::notes;
use serde::Serialize;
use utoipa::ToSchema;

use crate::readiness::Readiness;

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Not ready to serve, or draining: a 503 whose body is the per-check report.
    #[error("not ready: {}", .0.status())]
    NotReady(Readiness),
    /// A notes operation failed: a missing note (404), a stale version (409), fields that break the
    /// rules (422), or the database (503, the cause logged here and never shown).
    #[error(transparent)]
    Notes(#[from] notes::Error),
    /// Fields of the body or the query are wrong: one message per field (422).
    #[error("some fields are not valid")]
    InvalidFields(BTreeMap<String, String>),
    /// An address naming no resource: the app's ordinary 404.
    #[error("not found")]
    NotFound,
    /// The body is not declared as JSON (415).
    #[error("send the body as JSON with Content-Type: application/json")]
    NotJson,
    /// The body is not valid JSON: the parser's description, a position and never the content (400).
    #[error("the body is not valid JSON ({0})")]
    Malformed(String),
    /// The body could not be read (too large, cut off): answered as axum words it, which the app
    /// factory re-renders in the error format.
    #[error("{0}")]
    Rejected(JsonRejection),
}

/// The error format every failed request answers with (see the README): a kebab-case code, a message
/// and the request id, plus one message per field when fields were wrong.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// E.g. `not-found`, `conflict`, `unprocessable-entity`, `service-unavailable`.
    error: String,
    message: String,
    request_id: String,
    /// Field name → what it must be; only for 422.
    fields: Option<BTreeMap<String, String>>,
}

impl ApiError {
    /// The error for a JSON body that was refused, naming the key at fault among `fields`, the keys
    /// the body accepts.
    pub(crate) fn body(rejection: JsonBodyError, fields: &[&str]) -> ApiError {
        match rejection {
            JsonBodyError::NotJson => ApiError::NotJson,
            JsonBodyError::Malformed(position) => ApiError::Malformed(position),
            JsonBodyError::Unreadable(rejection) => ApiError::Rejected(rejection),
            JsonBodyError::Unexpected { key: Some(key) } => {
                let message = if fields.contains(&key.as_str()) {
                    "has the wrong type: see /api/v1/openapi.json".to_owned()
                } else {
                    format!("is not a field: send only {}", fields.join(", "))
                };
                ApiError::InvalidFields(BTreeMap::from([(key, message)]))
            }
            // A key given twice: the one thing an object of known keys can still get wrong as a whole.
            JsonBodyError::Unexpected { key: None } => ApiError::InvalidFields(BTreeMap::from([(
                "body".to_owned(),
                format!(
                    "must be a JSON object giving each of {} at most once",
                    fields.join(", ")
                ),
            )])),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let report = match self {
            ApiError::NotReady(report) => {
                let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(report)).into_response();
                // The per-check report is the point of a 503 here, and it was written to hold nothing
                // internal, so the app factory passes it through instead of re-rendering it.
                response.extensions_mut().insert(PublicErrorBody);
                return response;
            }
            ApiError::Rejected(rejection) => return rejection.into_response(),
            ApiError::Notes(notes::Error::NotFound(_)) | ApiError::NotFound => {
                ErrorReport::not_found()
            }
            ApiError::Notes(notes::Error::Invalid(fields)) | ApiError::InvalidFields(fields) => {
                ErrorReport::invalid_fields(fields)
            }
            ApiError::Notes(stale @ notes::Error::Stale { .. }) => ErrorReport::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{stale}; read it again and send your change with its current version"),
            ),
            ApiError::Notes(notes::Error::Database(cause)) => {
                tracing::error!(error = %cause, "a notes query failed");
                ErrorReport::unavailable(
                    "the notes database is unavailable; nothing was changed, try again",
                )
            }
            error @ ApiError::NotJson => ErrorReport::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                error.to_string(),
            ),
            error @ ApiError::Malformed(_) => {
                ErrorReport::new(StatusCode::BAD_REQUEST, "bad-request", error.to_string())
            }
        };
        report.into_response()
    }
}
