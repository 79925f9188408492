//! The JSON API under `/api/v1`: liveness, readiness, build information and the visitor's flags.
//!
//! This crate knows nothing about how the app is assembled or which other routes exist: it asks its state
//! for a [`Db`], a [`FlagStore`], a [`BuildInfo`] and the [`Draining`] flag through `FromRef`, and never
//! depends on another blueprint.

mod error;
mod flags;
mod health;
mod readiness;
mod version;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use keel_ext_db::Db;
use keel_ext_flags::FlagStore;

pub use crate::health::Draining;
pub use crate::version::BuildInfo;

/// Where the app factory mounts this router.
pub const MOUNT_PATH: &str = "/api/v1";

/// Routes of the JSON API, mounted under [`MOUNT_PATH`] by the app factory.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
    FlagStore: FromRef<S>,
    BuildInfo: FromRef<S>,
    Draining: FromRef<S>,
{
    Router::new()
        .route("/health", get(health::health_show))
        .route("/ready", get(health::readiness_show))
        .route("/version", get(version::version_show))
        .route("/flags", get(flags::flags_show))
}

#[cfg(test)]
mod tests;
