//! Routes that exist only in tests, mounted by the black-box tests (in-process through
//! `create_app_with`, and in `bin/keel.rs`, the test copy of the binary). They make slow, panicking and
//! body-reading requests possible without adding such routes to the real app.

use std::time::Duration;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use keel_app_factory::AppState;
use keel_http::ErrorReport;
use serde::Deserialize;
use serde_json::Value;

/// `/test/slow?ms=N` answers after N milliseconds (logging a warning when it starts, so a test watching
/// the logs knows the request is in flight); `/test/panic` panics; `/test/echo` returns the JSON it got;
/// `/test/unavailable` fails with a 503 the way a handler whose dependency is down would.
pub fn test_routes() -> Router<AppState> {
    Router::new()
        .route("/test/slow", get(slow_show))
        .route("/test/panic", get(panic_show))
        .route("/test/echo", post(echo_create))
        .route("/test/unavailable", get(unavailable_show))
}

#[derive(Deserialize)]
struct Slow {
    ms: u64,
}

async fn slow_show(Query(slow): Query<Slow>) -> &'static str {
    tracing::warn!(ms = slow.ms, "test: slow request started");
    // Being slow is what this route is for: shutdown and timeout tests need a request in flight.
    tokio::time::sleep(Duration::from_millis(slow.ms)).await;
    "done"
}

async fn panic_show() -> &'static str {
    panic!("test: this handler always panics")
}

async fn echo_create(Json(body): Json<Value>) -> Json<Value> {
    Json(body)
}

async fn unavailable_show() -> ErrorReport {
    ErrorReport::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "service-unavailable",
        "the service is temporarily unavailable; try again shortly",
    )
}
