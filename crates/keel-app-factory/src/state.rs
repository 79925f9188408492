//! `AppState`: the complete list of what requests share. Blueprints see only the parts they ask for.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use keel_blueprint_api_v1::{BuildInfo, Draining};
use keel_blueprint_main::{Calculator, SessionCookies, SiteInfo, StaticAssets};
use keel_blueprint_ops::{AdminToken, ConfigView};
use keel_config::{Loaded, Settings};
use keel_ext_db::Db;
use keel_ext_flags::FlagStore;
use keel_http::CookieAttributes;
use keel_services::Notes;

/// Shared by every request: one reference-counted [`SharedState`]. axum clones the router's state for
/// every request it hands a handler, so cloning this costs one reference count, not a copy of every
/// part (the site's and the build's strings included). `FromRef` hands each blueprint the part it names
/// in its router's bounds, and the parts read as fields (`state.db`) through `Deref`.
#[derive(Debug, Clone)]
pub struct AppState(Arc<SharedState>);

/// The complete list of what requests share.
#[derive(Debug)]
pub struct SharedState {
    pub db: Db,
    /// The feature flags, synced with the other instances in the background.
    pub flags: FlagStore,
    pub site: SiteInfo,
    pub assets: StaticAssets,
    pub calculator: Calculator,
    pub build: BuildInfo,
    /// Set by the server when shutdown begins; readiness reads it.
    pub draining: Draining,
    pub admin_token: AdminToken,
    /// The masked configuration with provenance, for `/ops/config`.
    pub config: ConfigView,
    /// The notes example's queries, shared by its pages and its API.
    pub notes: Notes,
    /// Signs the session cookie of the HTML pages (flash messages, CSRF tokens).
    pub sessions: SessionCookies,
}

impl Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// `FromRef<AppState>` for each part: what `#[derive(FromRef)]` would write for a struct with these fields.
macro_rules! parts {
    ($($field:ident: $part:ty),* $(,)?) => {
        $(
            impl FromRef<AppState> for $part {
                fn from_ref(state: &AppState) -> $part {
                    state.0.$field.clone()
                }
            }
        )*
    };
}

parts! {
    db: Db,
    flags: FlagStore,
    site: SiteInfo,
    assets: StaticAssets,
    calculator: Calculator,
    build: BuildInfo,
    draining: Draining,
    admin_token: AdminToken,
    config: ConfigView,
    notes: Notes,
    sessions: SessionCookies,
}

/// What pages show about the site: its name and environment.
pub(crate) fn site_info(settings: &Settings) -> SiteInfo {
    SiteInfo {
        app_name: settings.app.name.clone(),
        environment: settings.app.env.to_string(),
    }
}

impl AppState {
    pub(crate) fn new(loaded: &Loaded, db: Db, flags: FlagStore, assets: StaticAssets) -> AppState {
        let settings = &loaded.settings;
        AppState(Arc::new(SharedState {
            notes: Notes::new(db.clone(), settings.notes.page_size),
            sessions: SessionCookies::new(
                settings.security.secret_key.expose().as_bytes(),
                &settings.app.token(),
                CookieAttributes {
                    http_only: settings.security.cookie_http_only,
                    secure: settings.security.cookie_secure,
                    same_site: settings.security.cookie_same_site.as_attribute(),
                },
            ),
            db,
            flags,
            site: site_info(settings),
            assets,
            // The "app context" example: a service configured once and shared, like Flask's `current_app`.
            calculator: Calculator::new(6, 7),
            build: BuildInfo {
                name: settings.app.name.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                git_revision: env!("KEEL_GIT_REVISION").to_owned(),
                build_profile: env!("KEEL_BUILD_PROFILE").to_owned(),
            },
            draining: Draining::default(),
            admin_token: AdminToken::new(settings.security.admin_token.clone()),
            config: ConfigView::new(loaded),
        }))
    }
}
