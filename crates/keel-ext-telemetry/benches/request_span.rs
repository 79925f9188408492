//! How much one request span costs on the request path, with and without an exporter, and with the
//! collector down. Spans are exported by a batch processor on its own thread, so the request path should
//! cost the same whether the collector answers or not: this benchmark shows it.
//!
//! Run with `cargo bench -p keel-ext-telemetry` (or `just bench`). It prints one line per scenario: the
//! median and the worst time to create, enter and close one request span with a log line inside, and in
//! the `metrics` scenarios also to record the request's metrics as the app factory's layer does
//! (active requests, duration, body size).

use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode};
use keel_config::{LoadOptions, Override};

/// Spans measured per scenario.
const SPANS: usize = 20_000;

fn main() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| format!("http://{address}"))
        .unwrap_or_else(|_| "http://127.0.0.1:9".to_owned());
    // (name, OTLP endpoint, whether the request's metrics are recorded too)
    let scenarios = [
        ("no exporter", None, false),
        ("no exporter, metrics", None, true),
        (
            "exporter, collector down",
            Some(closed_port.as_str()),
            false,
        ),
        ("exporter down, metrics", Some(closed_port.as_str()), true),
    ];
    println!(
        "{:<28} {:>12} {:>12} {:>12}",
        "scenario", "median", "p99", "worst"
    );
    for (name, endpoint, record_metrics) in scenarios {
        let mut overrides = vec![
            Override::new("telemetry.log_format", "json"),
            Override::new("telemetry.log_level", "info"),
        ];
        if let Some(endpoint) = endpoint {
            overrides.push(Override::new("telemetry.otlp_endpoint", endpoint));
        }
        let options = LoadOptions {
            environment: Some("testing".to_owned()),
            overrides,
            ..LoadOptions::default()
        };
        let settings = match keel_config::load(&options) {
            Ok(loaded) => loaded.settings,
            Err(error) => panic!("benchmark settings: {error}"),
        };
        let (subscriber, telemetry) =
            match keel_ext_telemetry::init_with_writer(&settings, std::io::sink) {
                Ok(built) => built,
                Err(error) => panic!("benchmark telemetry: {error}"),
            };
        // The app factory's recording layer does exactly this per request: start, then finish with
        // the status and the body size.
        let metrics = record_metrics.then(|| {
            telemetry.install_global_meter_provider();
            keel_ext_telemetry::HttpMetrics::new()
        });
        let headers = HeaderMap::new();
        let mut timings: Vec<Duration> = tracing::subscriber::with_default(subscriber, || {
            (0..SPANS)
                .map(|index| {
                    let started = Instant::now();
                    let active = metrics
                        .as_ref()
                        .map(|metrics| metrics.start(&Method::GET, "/ping"));
                    let span = keel_ext_telemetry::request_span(
                        &Method::GET,
                        "/ping",
                        "bench",
                        None,
                        &headers,
                    )
                    .span;
                    let entered = span.enter();
                    tracing::info!(index, "request finished");
                    drop(entered);
                    drop(span);
                    if let Some(active) = active {
                        active.finish(StatusCode::OK, Some(14));
                    }
                    started.elapsed()
                })
                .collect()
        });
        telemetry.shutdown(Duration::from_secs(1));
        timings.sort_unstable();
        let at = |share: f64| timings[((timings.len() - 1) as f64 * share) as usize];
        println!(
            "{name:<28} {:>12?} {:>12?} {:>12?}",
            at(0.5),
            at(0.99),
            timings[timings.len() - 1]
        );
    }
}
