//! The main blueprint: HTML pages rendered by askama, and the small JSON examples `/ping` and `/compute`.
//!
//! This crate knows nothing about how the app is assembled: it asks its state for [`SiteInfo`],
//! [`StaticAssets`] and [`Calculator`] through `FromRef`, and never depends on another blueprint.
//! `/signup-v2` is the example of a page behind a feature flag: it answers the app's ordinary 404 while
//! `signup_v2` is off for the visitor. `/notes` is the worked example resource: pages over the shared
//! [`Notes`] service, with a signed session cookie for flash messages and CSRF tokens
//! ([`SessionCookies`]).

mod assets;
mod compute;
mod error;
mod notes;
mod pages;
mod session;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{any, get};
use keel_ext_flags::catalog::SIGNUP_V2;
use keel_ext_flags::require_flag;
use keel_services::Notes;

pub use crate::assets::{STATIC_URL_PREFIX, ScannedFile, StaticAssets};
pub use crate::compute::Calculator;
pub use crate::error::MainError;
pub use crate::pages::{SiteInfo, error_page};
pub use crate::session::{CSRF_FIELD, SessionCookies};

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
        // `any` rather than `get`: axum answers other methods on a `get` route with 405 and an `Allow`
        // header, before any route layer runs, which would reveal the hidden page. The guard sees every
        // method; the handler turns away the ones it does not serve.
        .route(
            "/signup-v2",
            any(pages::signup_v2_show).layer(require_flag(SIGNUP_V2)),
        )
}

/// The pages of the notes example, merged at the root next to [`router`] by the app factory. A router
/// of its own so that the other pages (and their tests) need neither a database nor a session.
pub fn notes_router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SiteInfo: FromRef<S>,
    StaticAssets: FromRef<S>,
    Notes: FromRef<S>,
    SessionCookies: FromRef<S>,
{
    Router::new()
        .route("/notes", get(notes::notes_index).post(notes::notes_create))
        .route("/notes/new", get(notes::notes_new))
        .route(
            "/notes/{id}",
            get(notes::notes_show).post(notes::notes_update),
        )
        .route("/notes/{id}/edit", get(notes::notes_edit))
        .route(
            "/notes/{id}/delete",
            get(notes::notes_delete_confirm).post(notes::notes_delete),
        )
}

#[cfg(test)]
mod tests;
