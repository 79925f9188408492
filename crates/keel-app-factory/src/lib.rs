//! The app factory: builds [`AppState`] from [`Settings`] and composes the blueprints and the middleware
//! stack into one router.
//!
//! This crate is the only place that knows every blueprint and every extension. It knows nothing about
//! sockets, signals or the command line: `keel-server` binds and serves what [`create_app`] returns, and the
//! black-box tests do the same.

mod metrics;
mod middleware;
mod request_timeout;
mod state;
mod static_files;

use std::path::Path;

use axum::Router;
use axum::http::HeaderValue;
use keel_blueprint_main::StaticAssets;
use keel_config::Loaded;
use keel_ext_db::Db;
use keel_ext_flags::FlagStore;
use keel_http::ErrorReport;

pub use crate::metrics::metrics_router;
pub use crate::state::{AppState, SharedState};

/// A built application: the router to serve and the state behind it (for shutdown and for tests).
#[derive(Debug, Clone)]
pub struct App {
    pub router: Router,
    pub state: AppState,
}

/// Everything that can stop the app from being built. Messages name the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Database(#[from] keel_ext_db::Error),
    #[error(transparent)]
    Flags(#[from] keel_ext_flags::Error),
    #[error(transparent)]
    StaticFiles(#[from] keel_blueprint_main::MainError),
    #[error(
        "{} migration(s) are pending ({}): run `keel migrate up`, then start again ({} applies migrations only with database.auto_migrate)",
        .pending.len(), .pending.join(", "), .environment
    )]
    PendingMigrations {
        pending: Vec<String>,
        environment: keel_config::Environment,
    },
    #[error("app.name {0:?} cannot be sent in the X-App header; use printable ASCII characters")]
    AppNameNotAHeader(String),
    #[error("{0} cannot be sent as an HTTP header; use printable ASCII characters")]
    NotAHeader(&'static str),
}

/// Connects the database (see [`open_database`]), loads the feature flags and starts their background
/// sync, scans the static folder and assembles the router with its middleware.
pub async fn create_app(loaded: &Loaded) -> Result<App, Error> {
    create_app_with(loaded, Router::new()).await
}

/// [`create_app`] with `extra_routes` merged next to the blueprints' routes, inside the whole middleware
/// stack. The black-box tests add routes that panic or take long; a fork can add a route that belongs to
/// no blueprint.
pub async fn create_app_with(
    loaded: &Loaded,
    extra_routes: Router<AppState>,
) -> Result<App, Error> {
    let settings = &loaded.settings;
    let app_header = HeaderValue::from_str(&settings.app.name)
        .map_err(|_| Error::AppNameNotAHeader(settings.app.name.clone()))?;
    let static_dir = Path::new(&settings.static_files.dir);
    // One read of each file: its fingerprint, and its bytes when they fit the memory budget.
    let mut held = static_files::Candidates::new(settings.static_files.memory_budget_bytes);
    let assets = StaticAssets::scan_with(static_dir, |file| held.offer(file))?;
    let memory = held.finish(settings.server.compression);
    tracing::debug!(
        held = memory.len(),
        of = assets.len(),
        "static files held in memory"
    );
    let site = state::site_info(settings);
    let options = middleware::Options::new(settings, app_header, site, assets.clone())?;

    let db = open_database(settings).await?;
    let flags = FlagStore::open(settings, db.clone()).await?;
    flags.spawn_sync(settings);
    warn_about_expired_flags(&flags);
    metrics::observe_state(&db, &flags);

    let visitors = keel_ext_flags::visitor::VisitorContext {
        store: flags.clone(),
        cookies: keel_ext_flags::VisitorCookies::new(settings),
    };
    let state = AppState::new(loaded, db, flags, assets.clone());
    let pages = Router::new()
        .merge(keel_blueprint_main::router())
        .merge(keel_blueprint_main::notes_router())
        .merge(extra_routes)
        // Merged, not nested: these two register their routes at their full paths, since axum gives each
        // route of a nested router a layer that strips the prefix from every request's URI.
        .merge(keel_blueprint_api_v1::router())
        .merge(keel_blueprint_ops::router())
        .fallback(|| async { ErrorReport::not_found() })
        .with_state(state.clone());
    let files = static_files::router(
        static_dir,
        assets.clone(),
        settings.static_files.max_age_secs,
        memory,
    );
    // Every handler, flag guard and the fallback see the visitor's flags (so a hidden page and a missing
    // one answer alike, cookie included), but static files never carry a visitor cookie: caches must not
    // store one. So the two get the stack apart, the pages with the visitor innermost.
    let router = middleware::apply(pages, &options, Some(visitors))
        .merge(middleware::apply(files, &options, None));
    Ok(App { router, state })
}

/// Connects the database (retrying for `database.startup_timeout_secs`) and brings its schema up to
/// date when `database.auto_migrate` is on. Otherwise pending migrations are refused in every environment:
/// serving a schema older than the code expects fails later in confusing ways ("no such table" from the
/// first query that touches a new table). `serve` and the `keel flags` commands share this.
pub async fn open_database(settings: &keel_config::Settings) -> Result<Db, Error> {
    let db = Db::connect_with_retry(&settings.database).await?;
    if settings.database.auto_migrate {
        db.migrate_up().await?;
        return Ok(db);
    }
    let pending = db.pending_migrations().await?;
    if !pending.is_empty() {
        return Err(Error::PendingMigrations {
            pending,
            environment: settings.app.env,
        });
    }
    Ok(db)
}

/// Flags past their expiry date still work; the warning (and `keel flags check` in CI) is the nudge to
/// remove them.
fn warn_about_expired_flags(flags: &FlagStore) {
    let today = chrono::Utc::now().date_naive();
    for flag in flags.snapshot().flags() {
        if flag.is_expired(today) {
            tracing::warn!(
                flag = flag.name(),
                owner = flag.definition.owner,
                expires = %flag.definition.expires.unwrap_or_default(),
                "this flag is past its expiry date: remove it from the code (`keel flags check` lists expired flags)"
            );
        }
    }
}
