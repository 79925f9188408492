//! The ops blueprint: operator endpoints under `/ops`, each behind the bearer admin token.
//!
//! This crate knows nothing about how the app is assembled: it asks its state for the [`AdminToken`],
//! the [`ConfigView`] and the [`FlagStore`] through `FromRef`, and never depends on another blueprint. With no token
//! configured, every `/ops` route answers 404, exactly like an unknown route.

mod auth;
mod change;
mod config;
mod error;
mod flags;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use keel_ext_flags::FlagStore;

pub use crate::auth::{Admin, AdminToken};
pub use crate::config::ConfigView;

/// The prefix of every route of this router.
pub const MOUNT_PATH: &str = "/ops";

/// Routes of the ops blueprint, each at its full path under [`MOUNT_PATH`], for the app factory to merge.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AdminToken: FromRef<S>,
    ConfigView: FromRef<S>,
    FlagStore: FromRef<S>,
{
    let at = |path: &str| format!("{MOUNT_PATH}{path}");
    // Other methods are answered only after the token check, so without a token (or with a wrong one)
    // a POST learns no more about /ops than a GET does.
    Router::new()
        .route(
            &at("/config"),
            get(config::config_show).fallback(auth::method_not_allowed),
        )
        .route(
            &at("/flags"),
            get(flags::flags_list).fallback(auth::method_not_allowed),
        )
        .route(
            &at("/flags/{name}"),
            post(flags::flag_update).fallback(auth::method_not_allowed),
        )
        .route(
            &at("/flags/{name}/audit"),
            get(flags::flag_audit).fallback(auth::method_not_allowed),
        )
}

#[cfg(test)]
mod tests;
