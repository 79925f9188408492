//! The OpenAPI 3.1 description of the API, generated from the handlers' `#[utoipa::path]` attributes
//! and the types' `ToSchema` derives as the router is built, and served at `/api/v1/openapi.json`.
//!
//! Paths are relative to the server `/api/v1` (so the document stays right if [`crate::MOUNT_PATH`]
//! moves), while the router serves each route at its full path: [`Routes`] registers one list both ways.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::{Components, InfoBuilder, OpenApi, OpenApiBuilder, ServerBuilder};
use utoipa_axum::router::UtoipaMethodRouter;

/// The API's routes as `routes!` gives them, each registered twice: in the router at its full path under
/// [`crate::MOUNT_PATH`], and in the document at its path relative to the server entry.
///
/// utoipa-axum's `OpenApiRouter` cannot do this: its `nest` prefixes the document's paths as well, and
/// nests the router, whose every route axum then wraps in a layer that strips the prefix again on every
/// request.
pub(crate) struct Routes<S> {
    router: Router<S>,
    description: OpenApi,
}

impl<S> Routes<S>
where
    S: Clone + Send + Sync + 'static,
{
    /// No routes yet, and the document's frame ([`base`]).
    pub(crate) fn new() -> Routes<S> {
        Routes {
            router: Router::new(),
            description: base(),
        }
    }

    /// Serves the handlers of one `routes!` at `MOUNT_PATH` + their path, and documents them under their
    /// path as `OpenApiRouter::routes` does: a path given twice gets the new operations merged into its
    /// entry, and the schemas they name are added to the components.
    pub(crate) fn routes(self, (schemas, paths, handlers): UtoipaMethodRouter<S>) -> Routes<S> {
        let router = paths.paths.keys().fold(self.router, |router, path| {
            router.route(&format!("{}{path}", crate::MOUNT_PATH), handlers.clone())
        });
        let mut description = self.description;
        description.paths.merge(paths);
        description
            .components
            .get_or_insert_with(Components::new)
            .schemas
            .extend(schemas);
        Routes {
            router,
            description,
        }
    }

    /// The router to serve and the document that describes it.
    pub(crate) fn split_for_parts(self) -> (Router<S>, OpenApi) {
        (self.router, self.description)
    }
}

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
fn base() -> OpenApi {
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
