//! Metrics on their own listener: a real keel process is scraped after known requests, and (when
//! `TEST_PROMETHEUS` names a Prometheus binary, as `.ci/run` sets it) a real Prometheus scrapes it and
//! answers `histogram_quantile` over the request duration for the routes that were called.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::process::{KeelProcess, fresh_client};

/// Starts keel with a metrics listener on a free loopback port; returns it and the `/metrics` URL.
async fn keel_with_metrics() -> (KeelProcess, String) {
    let keel = KeelProcess::start(&[("APP_SERVER__METRICS_PORT", "0")]).await;
    let line = keel
        .wait_for_log("metrics on http://", Duration::from_secs(10))
        .await;
    let message: Value = serde_json::from_str(&line).unwrap();
    let url = message["message"]
        .as_str()
        .unwrap()
        .trim_start_matches("metrics on ")
        .to_owned();
    (keel, url)
}

async fn get(url: &str) -> reqwest::Response {
    fresh_client().get(url).send().await.unwrap()
}

async fn scrape(url: &str) -> String {
    let response = get(url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// The value of the one sample line that starts with `series ` (name and labels exactly as written).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

#[tokio::test]
async fn a_scrape_counts_requests_by_method_route_template_and_status() {
    let (keel, metrics_url) = keel_with_metrics().await;
    for _ in 0..3 {
        assert_eq!(get(&format!("{}/ping", keel.address)).await.status(), 200);
    }
    // Two unknown paths (a scanner's) and one template route with an id in its path.
    for path in ["/wp-admin/setup.php", "/.env"] {
        assert_eq!(get(&format!("{}{path}", keel.address)).await.status(), 404);
    }
    assert_eq!(
        get(&format!("{}/api/v1/health", keel.address))
            .await
            .status(),
        200
    );

    let text = scrape(&metrics_url).await;
    let count = |route: &str, status: u16| {
        sample(
            &text,
            &format!(
                "http_server_request_duration_seconds_count{{http_request_method=\"GET\",http_response_status_code=\"{status}\",http_route=\"{route}\"}}"
            ),
        )
    };
    assert_eq!(count("/ping", 200), Some(3.0), "{text}");
    assert_eq!(count("unmatched", 404), Some(2.0), "{text}");
    assert_eq!(count("/api/v1/health", 200), Some(1.0), "{text}");
    assert!(
        !text.contains("wp-admin") && !text.contains(".env"),
        "raw paths never become labels: {text}"
    );
    assert!(
        text.contains("# TYPE http_server_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("http_server_request_duration_seconds_bucket{http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/ping\",le=\"0.005\"} "),
        "{text}"
    );
    // No request is in flight while the scrape is answered on the other listener.
    assert_eq!(
        sample(
            &text,
            "http_server_active_requests{http_request_method=\"GET\",url_scheme=\"http\"}"
        ),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "http_server_response_body_size_bytes_count{http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/ping\"}"
        ) == Some(3.0),
        "{text}"
    );
    // The pool, the flag store and the process report themselves.
    assert_eq!(
        sample(
            &text,
            "db_client_connection_max{db_client_connection_pool_name=\"keel\"}"
        ),
        Some(10.0),
        "{text}"
    );
    assert!(
        text.contains("db_client_connection_count{db_client_connection_pool_name=\"keel\",db_client_connection_state=\"idle\"} "),
        "{text}"
    );
    let age = sample(&text, "keel_flags_snapshot_age_seconds").unwrap();
    assert!((0.0..60.0).contains(&age), "{text}");
    assert_eq!(
        sample(&text, "keel_flags_resync_failures_total"),
        Some(0.0),
        "{text}"
    );
    if cfg!(target_os = "linux") {
        assert!(
            sample(&text, "process_memory_usage_bytes").is_some_and(|bytes| bytes > 1e6),
            "{text}"
        );
        assert!(
            sample(&text, "process_unix_file_descriptor_count").is_some_and(|fds| fds >= 3.0),
            "{text}"
        );
        assert!(
            text.contains("process_cpu_time_seconds_total{cpu_mode=\"user\"} "),
            "{text}"
        );
    }
    assert!(text.contains("target_info{"), "{text}");
    assert!(text.contains("service_name=\"keel\""), "{text}");
}

#[tokio::test]
async fn every_query_records_how_long_it_waited_for_a_pool_connection() {
    let (keel, metrics_url) = keel_with_metrics().await;
    let waits = |text: &str| {
        sample(
            text,
            "db_client_connection_wait_time_seconds_count{db_client_connection_pool_name=\"keel\"}",
        )
        .unwrap_or(0.0)
    };
    let before = waits(&scrape(&metrics_url).await);
    // Each readiness check runs one query, so it takes one connection from the pool.
    for _ in 0..3 {
        assert_eq!(
            get(&format!("{}/api/v1/ready", keel.address))
                .await
                .status(),
            200
        );
    }
    let text = scrape(&metrics_url).await;
    assert!(waits(&text) >= before + 3.0, "before: {before}\n{text}");
    assert!(
        text.contains("# TYPE db_client_connection_wait_time_seconds histogram"),
        "{text}"
    );
}

#[tokio::test]
async fn the_public_listener_never_serves_metrics_and_the_metrics_listener_serves_nothing_else() {
    let (keel, metrics_url) = keel_with_metrics().await;
    assert_eq!(
        get(&format!("{}/metrics", keel.address)).await.status(),
        404
    );
    let other = metrics_url.replace("/metrics", "/ping");
    assert_eq!(get(&other).await.status(), 404);
    // The metrics listener is on loopback by default.
    assert!(
        metrics_url.starts_with("http://127.0.0.1:"),
        "{metrics_url}"
    );
}

#[tokio::test]
async fn without_a_metrics_port_there_is_no_metrics_listener() {
    let keel = KeelProcess::start(&[]).await;
    assert_eq!(
        get(&format!("{}/metrics", keel.address)).await.status(),
        404
    );
    assert!(
        !keel
            .logs()
            .iter()
            .any(|line| line.contains("metrics on http://")),
        "{:?}",
        keel.logs()
    );
}

/// The Prometheus binary `.ci/run` installs, or `None` when `TEST_PROMETHEUS` is unset or empty.
fn prometheus_binary() -> Option<std::path::PathBuf> {
    std::env::var_os("TEST_PROMETHEUS")
        .filter(|path| !path.is_empty())
        .map(std::path::PathBuf::from)
}

/// A Prometheus process started by a test, killed when dropped.
struct Prometheus {
    child: std::process::Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts `binary` on a free loopback port, scraping `target` (`host:port`) every second.
    fn start(binary: &std::path::Path, target: &str) -> Prometheus {
        let data = tempfile::tempdir().unwrap();
        let config = data.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: keel\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        // Prometheus cannot be told to pick a free port and report it, so one is found here first.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "TEST_PROMETHEUS={} cannot be started: {error}",
                    binary.display()
                )
            });
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _data: data,
        }
    }

    /// Fails the test when Prometheus has exited (a bad flag, a port taken meanwhile).
    fn assert_running(&mut self, binary: &std::path::Path) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "TEST_PROMETHEUS={} exited with {status}: is it Prometheus 2?",
                binary.display()
            );
        }
    }

    /// The result vector of an instant query, or `None` while Prometheus is not answering yet.
    async fn query(&self, query: &str) -> Option<Vec<Value>> {
        let url =
            url::Url::parse_with_params(&format!("{}/api/v1/query", self.url), [("query", query)])
                .unwrap();
        let response = fresh_client().get(url).send().await.ok()?;
        let body: Value = response.json().await.ok()?;
        assert_eq!(body["status"], "success", "{body}");
        body["data"]["result"].as_array().cloned()
    }
}

#[tokio::test]
async fn prometheus_scrapes_keel_and_answers_the_p99_by_route() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let (keel, metrics_url) = keel_with_metrics().await;
    let target = metrics_url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let mut prometheus = Prometheus::start(&binary, target);
    // The p99 by route over the last minute, as docs/observability.md shows it.
    let query = "histogram_quantile(0.99, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket[1m])))";
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut poll = tokio::time::interval(Duration::from_millis(500));
    loop {
        poll.tick().await;
        // Requests keep arriving, so the rate over the window is never zero.
        assert_eq!(get(&format!("{}/ping", keel.address)).await.status(), 200);
        assert_eq!(
            get(&format!("{}/api/v1/health", keel.address))
                .await
                .status(),
            200
        );
        prometheus.assert_running(&binary);
        let results = prometheus.query(query).await.unwrap_or_default();
        let p99 = |route: &str| {
            results
                .iter()
                .find(|series| series["metric"]["http_route"] == route)
                .and_then(|series| series["value"][1].as_str())
                .and_then(|value| value.parse::<f64>().ok())
                .filter(|value| value.is_finite())
        };
        if let (Some(ping), Some(health)) = (p99("/ping"), p99("/api/v1/health")) {
            assert!(ping > 0.0 && ping <= 10.0, "{results:?}");
            assert!(health > 0.0 && health <= 10.0, "{results:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus ({}) gave no p99 for /ping and /api/v1/health within 90 s; last answer: {results:?}",
            binary.display()
        );
    }
}
