//! What the whole app costs per request without a network: the real router and middleware stack (built
//! by `create_app` from production-like settings: JSON logs at `warn` into a sink, no OTLP, SQLite),
//! driven with `oneshot`, so a regression in the stack shows here before `just bench-http` runs.
//!
//! Run with `cargo bench -p keel-app-factory` (or `just bench`). It prints one line per route: the median,
//! p99 and worst time of one request, body read to the end.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use keel_config::{LoadOptions, Override};
use tower::ServiceExt as _;

/// Requests measured per route, after as many to warm up.
const REQUESTS: usize = 20_000;

fn main() {
    let instance = tempfile::tempdir().unwrap_or_else(|error| panic!("temporary folder: {error}"));
    let static_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/static");
    let database = format!(
        "sqlite://{}?mode=rwc",
        instance.path().join("bench.sqlite3").display()
    );
    let options = LoadOptions {
        environment: Some("testing".to_owned()),
        instance_dir: Some(instance.path().to_path_buf()),
        overrides: vec![
            Override::new("database.url", database),
            Override::new("static_files.dir", static_dir.display().to_string()),
            Override::new("telemetry.log_format", "json"),
            Override::new("telemetry.log_level", "warn"),
            Override::new("features.signup_v2", "true"),
        ],
        ..LoadOptions::default()
    };
    let loaded = keel_config::load(&options).unwrap_or_else(|error| panic!("settings: {error}"));
    let (subscriber, telemetry) =
        keel_ext_telemetry::init_with_writer(&loaded.settings, std::io::sink)
            .unwrap_or_else(|error| panic!("telemetry: {error}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("runtime: {error}"));
    let _subscriber = tracing::subscriber::set_default(subscriber);
    let app = runtime
        .block_on(keel_app_factory::create_app(&loaded))
        .unwrap_or_else(|error| panic!("app: {error}"));
    let stylesheet = app.state.assets.static_url("css/app.css");
    let routes = [
        "/api/v1/health",
        "/",
        stylesheet.as_str(),
        "/signup-v2",
        "/nowhere",
    ];
    println!(
        "{:<32} {:>12} {:>12} {:>12}",
        "route", "median", "p99", "worst"
    );
    for route in routes {
        let mut timings: Vec<Duration> = runtime.block_on(async {
            let mut timings = Vec::with_capacity(REQUESTS);
            for round in 0..2 * REQUESTS {
                let request = Request::get(route)
                    .body(Body::empty())
                    .unwrap_or_else(|error| panic!("request: {error}"));
                let started = Instant::now();
                let response = app
                    .router
                    .clone()
                    .oneshot(request)
                    .await
                    .unwrap_or_else(|error| match error {});
                let body = response.into_body().collect().await;
                let elapsed = started.elapsed();
                assert!(body.is_ok(), "{route}: the body failed");
                if round >= REQUESTS {
                    timings.push(elapsed);
                }
            }
            timings
        });
        timings.sort_unstable();
        let at = |share: f64| timings[((timings.len() - 1) as f64 * share) as usize];
        println!(
            "{route:<32} {:>12?} {:>12?} {:>12?}",
            at(0.5),
            at(0.99),
            timings[timings.len() - 1]
        );
    }
    runtime
        .block_on(app.state.db.clone().close())
        .unwrap_or_else(|error| panic!("close: {error}"));
    telemetry.shutdown(Duration::from_secs(1));
}
