//! Everything an API handler can fail with, and how a client sees it.
//!
//! One enum for the blueprint, in the shape of axum's error-handling example: handlers return
//! `Result<_, ApiError>` and the enum renders itself. A route that can fail in a new way adds a variant
//! here, so the status, the body and what is logged are decided in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keel_http::PublicErrorBody;

use crate::readiness::Readiness;

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Not ready to serve, or draining: a 503 whose body is the per-check report.
    #[error("not ready: {}", .0.status())]
    NotReady(Readiness),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotReady(report) => {
                let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(report)).into_response();
                // The per-check report is the point of a 503 here, and it was written to hold nothing
                // internal, so the app factory passes it through instead of re-rendering it.
                response.extensions_mut().insert(PublicErrorBody);
                response
            }
        }
    }
}
