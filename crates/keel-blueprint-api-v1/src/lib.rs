//! The JSON API under `/api/v1`: liveness, readiness, build information, the visitor's flags, the notes
//! example, and the OpenAPI 3.1 description of all of it at `/api/v1/openapi.json`.
//!
//! This crate knows nothing about how the app is assembled or which other routes exist: it asks its state
//! for a [`Db`], a [`FlagStore`], a [`BuildInfo`], the [`Draining`] flag and the [`Notes`] service through
//! `FromRef`, and never depends on another blueprint.
//!
//! Every route is registered through `utoipa_axum`'s `routes!` together with its `#[utoipa::path]`
//! description, so the OpenAPI document is generated from the same list the router serves; a router test
//! checks that each documented operation answers and that the set is the expected one.

mod error;
mod flags;
mod health;
mod notes;
mod openapi;
mod readiness;
mod version;

use axum::Router;
use axum::extract::FromRef;
use keel_ext_db::Db;
use keel_ext_flags::FlagStore;
use keel_services::Notes;
use utoipa_axum::routes;

pub use crate::health::Draining;
pub use crate::version::BuildInfo;

/// The prefix of every route of this router, and the server entry of its OpenAPI document (whose paths
/// are relative to it).
pub const MOUNT_PATH: &str = "/api/v1";

/// Routes of the JSON API, each at its full path under [`MOUNT_PATH`], for the app factory to merge.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
    FlagStore: FromRef<S>,
    BuildInfo: FromRef<S>,
    Draining: FromRef<S>,
    Notes: FromRef<S>,
{
    let (router, description) = openapi::Routes::new()
        .routes(routes!(health::health_show))
        .routes(routes!(health::readiness_show))
        .routes(routes!(version::version_show))
        .routes(routes!(flags::flags_show))
        .routes(routes!(notes::notes_index, notes::notes_create))
        .routes(routes!(
            notes::notes_show,
            notes::notes_update,
            notes::notes_delete
        ))
        .routes(routes!(openapi::openapi_show))
        .split_for_parts();
    openapi::keep(&description);
    router
}

#[cfg(test)]
mod tests;
