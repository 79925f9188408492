//! The main blueprint: HTML pages rendered by askama, and the small JSON examples `/ping` and `/compute`.
//!
//! This crate knows nothing about how the app is assembled: it asks its state for [`SiteInfo`],
//! [`StaticAssets`] and [`Calculator`] through `FromRef`, and never depends on another blueprint.

mod assets;
mod compute;
mod error;
mod pages;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;

pub use crate::assets::{STATIC_URL_PREFIX, StaticAssets};
pub use crate::compute::Calculator;
pub use crate::error::MainError;
pub use crate::pages::{SiteInfo, error_page};

/// Routes of the main blueprint, mounted at the root by the app factory.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SiteInfo: FromRef<S>,
    StaticAssets: FromRef<S>,
    Calculator: FromRef<S>,
{
    Router::new()
        .route("/", get(pages::index_show))
        .route("/ping", get(compute::ping_show))
        .route("/compute", get(compute::compute_show))
}

#[cfg(test)]
mod tests;
