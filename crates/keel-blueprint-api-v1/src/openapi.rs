//! The OpenAPI 3.1 description of the API, generated from the handlers' `#[utoipa::path]` attributes
//! and the types' `ToSchema` derives as the router is built, and served at `/api/v1/openapi.json`.
//!
//! Paths are relative to the server `/api/v1`, where the app factory mounts the router, so the document
//! stays right if the mount point moves with [`crate::MOUNT_PATH`].

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, ServerBuilder};

/// The document as JSON text, rendered when the first router is built. It is made from the code alone,
/// so every router would render the same text: one copy serves them all, which spares every API request
/// the layer that would otherwise hand the handler its copy.
static DESCRIPTION: OnceLock<Box<str>> = OnceLock::new();

/// Keeps the document for [`openapi_show`] (the first one given: they are all the same).
pub(crate) fn keep(openapi: &OpenApi) {
    DESCRIPTION.get_or_init(|| {
        // Serializing plain data into a string cannot fail; an empty object would still be valid JSON.
        serde_json::to_string(openapi)
            .unwrap_or_else(|_| "{}".to_owned())
            .into_boxed_str()
    });
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
pub(crate) async fn openapi_show() -> impl IntoResponse {
    // Kept by `router()`, the only way to this handler.
    let description: &'static str = DESCRIPTION.get().map_or("{}", |text| text);
    ([(header::CONTENT_TYPE, "application/json")], description)
}
