//! Where the app meets the metrics: the layer that records every request (`http.server.*`), the gauges
//! read from the app's database pool and flag store, and the router of the separate metrics listener.
//!
//! The recording sits in the middleware stack just inside compression, around error rendering (one
//! middleware function with it, see `middleware.rs`), so it sees the final status of every response — the 413, 504 and panic 500
//! made by the layers below included — and the body size before compression. It labels a request with
//! its route template, or `unmatched` when no route matched, never with the raw path: a scanner asking
//! for a thousand random paths adds one series, not a thousand.

use axum::Router;
use axum::body::HttpBody as _;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keel_ext_db::Db;
use keel_ext_flags::FlagStore;
use keel_ext_telemetry::{
    ActiveRequest, FlagSyncState, HttpMetrics, MetricsScrape, PROMETHEUS_CONTENT_TYPE, PoolUsage,
    UNMATCHED_ROUTE,
};

/// The router of the metrics listener (`server.metrics_port`): `GET /metrics` in the Prometheus text
/// format, and 404 for everything else. It carries none of the app's routes or middleware.
pub fn metrics_router(scrape: MetricsScrape) -> Router {
    Router::new()
        .route("/metrics", get(metrics_show))
        .with_state(scrape)
}

async fn metrics_show(State(scrape): State<MetricsScrape>) -> Response {
    match scrape.render() {
        Ok(text) => ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::warn!(%error, "a metrics scrape failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot collect the metrics\n",
            )
                .into_response()
        }
    }
}

/// Counts the request as active, until [`finish`] records its duration, status and body size (the
/// middleware stack calls both around error rendering, in `middleware.rs`).
pub(crate) fn start(metrics: &HttpMetrics, request: &Request) -> ActiveRequest {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    metrics.start(request.method(), route)
}

/// Records what [`start`] began with the final response's status and body size.
pub(crate) fn finish(active: ActiveRequest, response: &Response) {
    active.finish(response.status(), response.body().size_hint().exact());
}

/// Registers the gauges of the pool and the flag store on the global meter provider (when the binary
/// installed one; otherwise nothing is registered).
pub(crate) fn observe_state(db: &Db, flags: &FlagStore) {
    let db = db.clone();
    keel_ext_telemetry::observe_pool(move || {
        let status = db.pool_status();
        PoolUsage {
            used: u64::from(status.in_use),
            idle: u64::from(status.idle),
            max: u64::from(status.max),
        }
    });
    let flags = flags.clone();
    keel_ext_telemetry::observe_flags(move || FlagSyncState {
        snapshot_age: flags.snapshot().age(),
        resync_failures: flags.resync_failures(),
    });
}
