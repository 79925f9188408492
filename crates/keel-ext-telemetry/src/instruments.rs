//! The instruments keel records, named by the OpenTelemetry semantic conventions: the HTTP server's
//! request duration, active requests and response body size (recorded by the app factory's layer), and
//! gauges read only when metrics are collected (a scrape or an OTLP export): the database pool, the flag
//! store and the process.
//!
//! Recording on the request path is two histogram updates (each an atomic update of an existing series,
//! after one lookup of the series by its attributes) and two atomic additions for the active count;
//! nothing is exported there. The gauges cost nothing between collections.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};

/// The instrumentation scope of keel's own instruments.
pub(crate) const SCOPE: &str = "keel";

/// The route label of a request that matched no route: scanners asking for random paths then add no
/// series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Bucket bounds of `http.server.request.duration`, in seconds, as the semantic conventions advise.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Bucket bounds of `http.server.response.body.size`, in bytes.
const BODY_SIZE_BUCKETS: [f64; 7] = [
    100.0,
    1_000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
    100_000_000.0,
];

/// The HTTP server's instruments. Cheap to clone; build one per app with [`HttpMetrics::new`].
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    duration: Histogram<f64>,
    body_size: Histogram<u64>,
    /// `http.server.active_requests`, kept here and read when metrics are collected: a request then
    /// costs two atomic additions instead of two updates of the SDK's series (each an attribute-set
    /// lookup under a lock).
    active: Arc<ActiveCounts>,
}

/// Requests being handled, by method label (the index in [`METHOD_LABELS`]).
#[derive(Debug, Default)]
struct ActiveCounts {
    counts: [AtomicI64; METHOD_LABELS.len()],
    /// Whether a request with this method was ever counted: its series is reported from then on (at 0
    /// when none is active), as a synchronous up-down counter's would be.
    seen: [AtomicBool; METHOD_LABELS.len()],
}

impl HttpMetrics {
    /// The instruments, on the process's global meter provider (the binary installs keel's; without one
    /// they record nothing, at almost no cost).
    pub fn new() -> HttpMetrics {
        HttpMetrics::on(&opentelemetry::global::meter(SCOPE))
    }

    /// The instruments on `meter` (tests pass their own).
    pub fn on(meter: &Meter) -> HttpMetrics {
        let active = Arc::new(ActiveCounts::default());
        let observed = Arc::clone(&active);
        meter
            .i64_observable_up_down_counter("http.server.active_requests")
            .with_unit("{request}")
            .with_description("Number of HTTP server requests being handled")
            .with_callback(move |observer| {
                for (index, label) in METHOD_LABELS.iter().enumerate() {
                    if observed.seen[index].load(Ordering::Relaxed) {
                        observer.observe(
                            observed.counts[index].load(Ordering::Relaxed),
                            &[
                                KeyValue::new("http.request.method", *label),
                                KeyValue::new("url.scheme", "http"),
                            ],
                        );
                    }
                }
            })
            .build();
        HttpMetrics {
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP server requests, until the response head is ready")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            body_size: meter
                .u64_histogram("http.server.response.body.size")
                .with_unit("By")
                .with_description("Size of HTTP response bodies whose size is known up front (before compression)")
                .with_boundaries(BODY_SIZE_BUCKETS.to_vec())
                .build(),
            active,
        }
    }

    /// Counts a request as active until the returned guard is finished or dropped. `route` is the route
    /// template (`/notes/{id}`) or [`UNMATCHED_ROUTE`], never the raw path.
    pub fn start(&self, method: &Method, route: &str) -> ActiveRequest {
        let method = method_index(method);
        self.active.seen[method].store(true, Ordering::Relaxed);
        self.active.counts[method].fetch_add(1, Ordering::Relaxed);
        ActiveRequest {
            metrics: self.clone(),
            started: Instant::now(),
            method,
            route: KeyValue::new("http.route", route.to_owned()),
            finished: false,
        }
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics::new()
    }
}

/// The method labels: the standard methods by name, anything else `_OTHER`, so made-up methods add no
/// series (the semantic conventions' rule).
const METHOD_LABELS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

/// The index of `method`'s label in [`METHOD_LABELS`].
fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

/// A request being handled (see [`HttpMetrics::start`]).
#[derive(Debug)]
pub struct ActiveRequest {
    metrics: HttpMetrics,
    started: Instant,
    /// The index of the method's label.
    method: usize,
    route: KeyValue,
    finished: bool,
}

impl ActiveRequest {
    /// Records the request's duration (until now) with its status, and the body size when it is known.
    pub fn finish(mut self, status: StatusCode, body_bytes: Option<u64>) {
        let duration = self.started.elapsed();
        let attributes = [
            KeyValue::new("http.request.method", METHOD_LABELS[self.method]),
            // Taken rather than cloned (the guard implements `Drop`, so it cannot be moved out).
            std::mem::replace(&mut self.route, KeyValue::new("http.route", "")),
            KeyValue::new("http.response.status_code", i64::from(status.as_u16())),
        ];
        self.metrics
            .duration
            .record(duration.as_secs_f64(), &attributes);
        if let Some(bytes) = body_bytes {
            self.metrics.body_size.record(bytes, &attributes);
        }
        self.no_longer_active();
    }

    fn no_longer_active(&mut self) {
        self.metrics.active.counts[self.method].fetch_sub(1, Ordering::Relaxed);
        self.finished = true;
    }
}

impl Drop for ActiveRequest {
    /// A request whose client went away before the response: no longer active, and no duration (there
    /// is no status to file it under).
    fn drop(&mut self) {
        if !self.finished {
            self.no_longer_active();
        }
    }
}

/// The database pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections checked out by a query.
    pub used: u64,
    /// Open connections waiting for a query.
    pub idle: u64,
    /// The most the pool opens (`database.max_connections`).
    pub max: u64,
}

/// Reports the database pool as `db.client.connection.count` (by `db.client.connection.state`:
/// `used`, `idle`) and `db.client.connection.max`, read from `usage` at each collection.
pub fn observe_pool(usage: impl Fn() -> PoolUsage + Send + Sync + 'static) {
    let meter = opentelemetry::global::meter(SCOPE);
    let usage = Arc::new(usage);
    let counted = Arc::clone(&usage);
    let pool = KeyValue::new("db.client.connection.pool.name", SCOPE);
    let states = [
        [
            pool.clone(),
            KeyValue::new("db.client.connection.state", "used"),
        ],
        [
            pool.clone(),
            KeyValue::new("db.client.connection.state", "idle"),
        ],
    ];
    meter
        .i64_observable_up_down_counter("db.client.connection.count")
        .with_unit("{connection}")
        .with_description("Connections of the database pool, by state")
        .with_callback(move |observer| {
            let usage = counted();
            observer.observe(as_i64(usage.used), &states[0]);
            observer.observe(as_i64(usage.idle), &states[1]);
        })
        .build();
    meter
        .i64_observable_up_down_counter("db.client.connection.max")
        .with_unit("{connection}")
        .with_description("The most connections the database pool opens")
        .with_callback(move |observer| {
            observer.observe(as_i64(usage().max), std::slice::from_ref(&pool));
        })
        .build();
}

/// The flag store's view of its background sync.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlagSyncState {
    /// How long ago the snapshot being served was loaded from the database.
    pub snapshot_age: Duration,
    /// Background resyncs that failed since start-up.
    pub resync_failures: u64,
}

/// Reports the flag store as `keel.flags.snapshot.age` (seconds) and `keel.flags.resync.failures`, read
/// from `state` at each collection: a growing age or failure count means instances may disagree.
pub fn observe_flags(state: impl Fn() -> FlagSyncState + Send + Sync + 'static) {
    let meter = opentelemetry::global::meter(SCOPE);
    let state = Arc::new(state);
    let aged = Arc::clone(&state);
    meter
        .f64_observable_gauge("keel.flags.snapshot.age")
        .with_unit("s")
        .with_description(
            "Time since the served feature-flag snapshot was loaded from the database",
        )
        .with_callback(move |observer| observer.observe(aged().snapshot_age.as_secs_f64(), &[]))
        .build();
    meter
        .u64_observable_counter("keel.flags.resync.failures")
        .with_unit("{failure}")
        .with_description("Background feature-flag resyncs that failed")
        .with_callback(move |observer| observer.observe(state().resync_failures, &[]))
        .build();
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Registers the process gauges (`process.memory.usage`, `process.cpu.time`,
/// `process.unix.file_descriptor.count`) on `meter`. They are read from `/proc/self`, so only Linux
/// reports them; elsewhere they are absent rather than wrong.
pub(crate) fn observe_process(meter: &Meter) {
    if !crate::process::is_supported() {
        return;
    }
    meter
        .i64_observable_up_down_counter("process.memory.usage")
        .with_unit("By")
        .with_description("Resident memory of the process")
        .with_callback(|observer| {
            if let Some(bytes) = crate::process::resident_bytes() {
                observer.observe(as_i64(bytes), &[]);
            }
        })
        .build();
    meter
        .f64_observable_counter("process.cpu.time")
        .with_unit("s")
        .with_description("CPU time used by the process, by mode")
        .with_callback(|observer| {
            if let Some(times) = crate::process::cpu_times() {
                observer.observe(times.user, &[KeyValue::new("cpu.mode", "user")]);
                observer.observe(times.system, &[KeyValue::new("cpu.mode", "system")]);
            }
        })
        .build();
    meter
        .i64_observable_up_down_counter("process.unix.file_descriptor.count")
        .with_unit("{file_descriptor}")
        .with_description("File descriptors the process has open")
        .with_callback(|observer| {
            if let Some(count) = crate::process::open_file_descriptors() {
                observer.observe(as_i64(count), &[]);
            }
        })
        .build();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_standard_method_has_its_label_and_unknown_methods_share_one() {
        for label in &METHOD_LABELS[..9] {
            let method = Method::from_bytes(label.as_bytes()).unwrap();
            assert_eq!(METHOD_LABELS[method_index(&method)], *label);
        }
        assert_eq!(
            METHOD_LABELS[method_index(&Method::from_bytes(b"BREW").unwrap())],
            "_OTHER"
        );
    }
}
