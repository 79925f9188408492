//! The OpenAPI 3.1 description of the API, generated from the handlers' `#[utoipa::path]` attributes
//! and the types' `ToSchema` derives as the router is built, and served at `/api/v1/openapi.json`.
//!
//! Paths are relative to the server `/api/v1`, where the app factory mounts the router, so the document
//! stays right if the mount point moves with [`crate::MOUNT_PATH`].

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, ServerBuilder};

/// The document as JSON text, rendered once when the router is built.
#[derive(Debug, Clone)]
pub(crate) struct Description(Arc<str>);

impl Description {
    pub(crate) fn new(openapi: &OpenApi) -> Description {
        // Serializing plain data into a string cannot fail; an empty object would still be valid JSON.
        let json = serde_json::to_string(openapi).unwrap_or_else(|_| "{}".to_owned());
        Description(Arc::from(json))
    }
}

/// The document's frame (version 3.1, title, server); the routes fill in its paths and schemas.
pub(crate) fn base() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("keel API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "keel's JSON API. Every failure answers {\"error\", \"message\", \"request_id\"}, plus \"fields\" for a 422.",
                ))
                .build(),
        )
        .servers(Some([ServerBuilder::new().url(crate::MOUNT_PATH).build()]))
        .build()
}

#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses(
    (status = 200, description = "This document", content_type = "application/json"),
))]
pub(crate) async fn openapi_show(
    Extension(description): Extension<Description>,
) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        description.0.to_string(),
    )
}
