//! What the main blueprint can fail with, and how clients see it.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keel_http::ErrorReport;

/// Everything the main blueprint can fail with. Clients see a code and a safe message; the cause is
/// logged once, here.
#[derive(Debug, thiserror::Error)]
pub enum MainError {
    #[error("rendering template {template} failed")]
    Render {
        template: &'static str,
        #[source]
        source: askama::Error,
    },
    /// A method the page does not serve. Answered by the handler rather than by the router, so that a
    /// page hidden behind a flag looks the same for every method (see `lib.rs`).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// An address naming no note: the app's ordinary 404.
    #[error("not found")]
    NotFound,
    /// A notes operation failed in a way no form can correct: a missing note (404) or the database
    /// (503, the cause logged here and never shown). Invalid fields and stale versions re-render their
    /// form instead.
    #[error(transparent)]
    Notes(#[from] keel_services::notes::Error),
    /// Only at start-up, when the app factory scans the static folder. A relative `static_files.dir` is
    /// resolved against the working directory, so the message shows both forms.
    #[error(
        "cannot read the static folder {} (static_files.dir = {:?}); set static_files.dir (APP_STATIC_FILES__DIR) to the folder holding the assets, e.g. an absolute path",
        .resolved.display(), .dir.display().to_string()
    )]
    StaticDir {
        dir: PathBuf,
        resolved: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl IntoResponse for MainError {
    fn into_response(self) -> Response {
        match self {
            MainError::MethodNotAllowed => {
                return ErrorReport::from_status(StatusCode::METHOD_NOT_ALLOWED).into_response();
            }
            MainError::NotFound | MainError::Notes(keel_services::notes::Error::NotFound(_)) => {
                return ErrorReport::not_found().into_response();
            }
            MainError::Notes(keel_services::notes::Error::Database(cause)) => {
                tracing::error!(error = %cause, "a notes query failed");
                return ErrorReport::unavailable(
                    "the notes database is unavailable; nothing was changed, try again",
                )
                .into_response();
            }
            _ => {}
        }
        // The source is logged with the error because `Display` deliberately leaves it out.
        let source = std::error::Error::source(&self).map(ToString::to_string);
        tracing::error!(error = %self, cause = source.as_deref(), "main blueprint request failed");
        ErrorReport::internal().into_response()
    }
}
