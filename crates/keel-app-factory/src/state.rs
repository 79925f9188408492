//! `AppState`: the complete list of what requests share. Blueprints see only the parts they ask for.

use axum::extract::FromRef;
use keel_blueprint_api_v1::{BuildInfo, Draining};
use keel_blueprint_main::{Calculator, SessionCookies, SiteInfo, StaticAssets};
use keel_blueprint_ops::{AdminToken, ConfigView};
use keel_config::{Loaded, Settings};
use keel_ext_db::Db;
use keel_ext_flags::FlagStore;
use keel_http::CookieAttributes;
use keel_services::Notes;

/// Shared by every request. Each field is cheap to clone (handles and `Arc`s), and `FromRef` hands each
/// blueprint the field it names in its router's bounds.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
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
        AppState {
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
        }
    }
}
