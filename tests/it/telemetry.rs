//! Traces leave keel over OTLP/HTTP: a real receiver, started by the test, decodes what the real process
//! exports. And a collector that is down costs one log line, never a failed or slow request.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::Value;

use crate::collector::Collector;
use crate::process::{KeelProcess, fresh_client};

pub(crate) const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
pub(crate) const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub(crate) const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";

/// The exporter's warnings and errors among JSON log `lines` (targets `opentelemetry…`, and keel's own
/// line saying why an export failed).
pub(crate) fn exporter_diagnostics(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| {
            serde_json::from_str::<Value>(line).is_ok_and(|parsed| {
                let target = parsed["target"].as_str().unwrap_or_default();
                matches!(parsed["level"].as_str(), Some("WARN" | "ERROR"))
                    && (target.starts_with("opentelemetry")
                        || target == "keel_ext_telemetry::export")
            })
        })
        .cloned()
        .collect()
}

/// `GET path` on `keel` as a traced caller would send it: with [`TRACEPARENT`].
pub(crate) async fn traced_get(keel: &KeelProcess, path: &str) -> reqwest::Response {
    fresh_client()
        .get(format!("{}{path}", keel.address))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap()
}

pub(crate) fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

pub(crate) fn text<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attribute(attributes, key)? {
        any_value::Value::StringValue(text) => Some(text),
        _ => None,
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn a_request_span_reaches_the_collector_as_a_child_of_the_incoming_traceparent_even_at_shutdown()
 {
    let collector = Collector::start().await;
    let endpoint = format!("http://{}", collector.address);
    let mut keel = KeelProcess::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]).await;

    let response = traced_get(&keel, "/api/v1/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-trace-id"], TRACE_ID);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let ready = traced_get(&keel, "/api/v1/ready").await;
    assert_eq!(ready.status(), 200);

    // The batch would wait seconds before exporting; shutting down right away must flush it.
    keel.stop_gracefully().await;

    let received = collector
        .span_named("GET /api/v1/health", Duration::from_secs(10))
        .await;
    let span = &received.span;
    assert_eq!(hex(&span.trace_id), TRACE_ID);
    assert_eq!(hex(&span.parent_span_id), CALLER_SPAN_ID);
    assert_eq!(text(&span.attributes, "http.route"), Some("/api/v1/health"));
    assert_eq!(text(&span.attributes, "http.request.method"), Some("GET"));
    assert_eq!(
        text(&span.attributes, "request_id"),
        Some(request_id.as_str())
    );
    assert_eq!(
        attribute(&span.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );
    assert_eq!(text(&received.resource, "service.name"), Some("keel"));
    assert_eq!(
        text(&received.resource, "deployment.environment.name"),
        Some("testing")
    );
    assert!(text(&received.resource, "service.version").is_some());

    // The readiness probe's database ping is a child span of its request.
    let ready = collector
        .span_named("GET /api/v1/ready", Duration::from_secs(10))
        .await;
    let ping = collector
        .span_named("db.ping", Duration::from_secs(10))
        .await;
    assert_eq!(ping.span.parent_span_id, ready.span.span_id);
    assert_eq!(
        text(&ping.span.attributes, "db.system.name"),
        Some("sqlite")
    );
}

#[tokio::test]
async fn with_the_collector_down_requests_succeed_and_the_export_failure_is_logged_once() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoint = format!("http://{closed}");
    let mut keel = KeelProcess::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("APP_TELEMETRY__LOG_LEVEL", "info,sqlx=warn"),
    ])
    .await;
    let client = fresh_client();
    for _ in 0..20 {
        let response = client
            .get(format!("{}/ping", keel.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // Shutting down exports (and fails to export) what is queued.
    keel.signal("TERM");
    assert_eq!(
        keel.exit_status(Duration::from_secs(30)).await.code(),
        Some(0)
    );

    let exporter_lines = exporter_diagnostics(&keel.logs());
    assert_eq!(exporter_lines.len(), 1, "{exporter_lines:#?}");
    assert!(
        exporter_lines[0].contains(&format!(
            "OTLP export to {endpoint}/v1/traces failed: client error (Connect): tcp connect error: Connection refused"
        )),
        "the cause is in the one line: {exporter_lines:#?}"
    );
}

#[tokio::test]
async fn grpc_export_reaches_a_grpc_collector() {
    let collector = Collector::start_grpc(None).await;
    let endpoint = format!("http://{}", collector.address);
    let mut keel = KeelProcess::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .await;
    let response = traced_get(&keel, "/ping").await;
    assert_eq!(response.status(), 200);
    keel.stop_gracefully().await;

    let received = collector
        .span_named("GET /ping", Duration::from_secs(10))
        .await;
    assert_eq!(hex(&received.span.trace_id), TRACE_ID);
    assert_eq!(hex(&received.span.parent_span_id), CALLER_SPAN_ID);
    assert_eq!(text(&received.resource, "service.name"), Some("keel"));
}

#[tokio::test]
async fn a_flag_change_is_a_child_span_of_its_request() {
    const TOKEN: &str = "an-admin-token-for-the-trace-test-0123456789";
    let collector = Collector::start().await;
    let endpoint = format!("http://{}", collector.address);
    let mut keel = KeelProcess::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("APP_SECURITY__ADMIN_TOKEN", TOKEN),
    ])
    .await;
    let changed = fresh_client()
        .post(format!("{}/ops/flags/signup_v2", keel.address))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"enabled": true, "rollout_percent": 25}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    keel.stop_gracefully().await;

    let request = collector
        .span_named("POST /ops/flags/{name}", Duration::from_secs(10))
        .await;
    let change = collector
        .span_named("flags.set", Duration::from_secs(10))
        .await;
    assert_eq!(change.span.parent_span_id, request.span.span_id);
    assert_eq!(
        text(&change.span.attributes, "flag.name"),
        Some("signup_v2")
    );
    assert_eq!(
        text(&change.span.attributes, "flag.actor"),
        Some("ops:admin-token")
    );
    assert_eq!(
        attribute(&change.span.attributes, "flag.rollout_percent"),
        Some(&any_value::Value::IntValue(25))
    );
}

/// `keel check` (in-process; it runs its own runtime, so off the test's) with `vars`.
pub(crate) async fn check_with(vars: Vec<(&'static str, String)>) -> crate::helpers::Outcome {
    tokio::task::spawn_blocking(move || {
        let vars: Vec<(&str, &str)> = vars
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        crate::helpers::run_keel(&["check"], &vars, None)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn check_sends_each_protocol_an_empty_export_and_a_mismatch_fails() {
    let grpc = Collector::start_grpc(None).await;
    let http = Collector::start().await;
    // (endpoint, protocol, expected line)
    let cases = [
        (
            format!("http://{}", grpc.address),
            "grpc",
            format!(
                "ok    traces: the OTLP endpoint http://{}/ accepts an empty export",
                grpc.address
            ),
        ),
        (
            format!("http://{}", http.address),
            "http/protobuf",
            format!(
                "ok    traces: the OTLP endpoint http://{}/ accepts an empty export",
                http.address
            ),
        ),
        // The HTTP collector cannot speak gRPC: `serve` would drop every span.
        (
            format!("http://{}", http.address),
            "grpc",
            format!(
                "FAIL  traces: the OTLP endpoint http://{}/ answers, but an empty gRPC export failed",
                http.address
            ),
        ),
    ];
    for (endpoint, protocol, expected) in cases {
        let outcome = check_with(vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ])
        .await;
        assert!(
            outcome.stdout.contains(&expected),
            "{endpoint} {protocol}:\n{}",
            outcome.stdout
        );
    }
}
