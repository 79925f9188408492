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
    /// Only at start-up, when the app factory scans the static folder.
    #[error("cannot read the static folder {dir}; set static_files.dir to a readable folder")]
    StaticDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl IntoResponse for MainError {
    fn into_response(self) -> Response {
        // The source is logged with the error because `Display` deliberately leaves it out.
        let source = std::error::Error::source(&self).map(ToString::to_string);
        tracing::error!(error = %self, cause = source.as_deref(), "main blueprint request failed");
        ErrorReport::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "something went wrong on our side",
        )
        .into_response()
    }
}
