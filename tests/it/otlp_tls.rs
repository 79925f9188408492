//! OTLP export over TLS and the per-signal OTLP variables, through a real keel process: collectors
//! serving a certificate that a CA made by the test signed (over HTTP/protobuf and gRPC), trusted through
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` or not at all; and metrics reaching a collector over OTLP.

use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::Metric;

use crate::collector::{Collector, TestTls, histogram_points};
use crate::process::{KeelProcess, fresh_client};
use crate::telemetry::{
    CALLER_SPAN_ID, TRACE_ID, check_with, exporter_diagnostics, hex, text, traced_get,
};

const DEADLINE: Duration = Duration::from_secs(10);

/// Whether some export of `http.server.request.duration` has a data point for `route`.
fn has_route(metrics: &[Metric], route: &str) -> bool {
    metrics
        .iter()
        .flat_map(histogram_points)
        .any(|attributes| text(&attributes, "http.route") == Some(route))
}

/// Calls `/ping` with a `traceparent`, stops keel (which flushes spans and metrics), and checks that the
/// span and the request's duration reached `spans` and `metrics`.
async fn ping_reaches(keel: &mut KeelProcess, spans: &Collector, metrics: &Collector) {
    let response = traced_get(keel, "/ping").await;
    assert_eq!(response.status(), 200);
    keel.stop_gracefully().await;
    let received = spans.span_named("GET /ping", DEADLINE).await;
    assert_eq!(hex(&received.span.trace_id), TRACE_ID);
    assert_eq!(hex(&received.span.parent_span_id), CALLER_SPAN_ID);
    let durations = metrics
        .metric_named("http.server.request.duration", DEADLINE)
        .await;
    assert!(has_route(&durations, "/ping"), "{durations:#?}");
}

#[tokio::test]
async fn spans_and_metrics_reach_an_https_collector_signed_by_a_ca_keel_is_told_to_trust() {
    let tls = TestTls::new();
    let collector = Collector::start_https(&tls).await;
    let endpoint = format!("https://{}", collector.address);
    let ca = tls.ca_file.display().to_string();
    let mut keel = KeelProcess::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca),
    ])
    .await;
    ping_reaches(&mut keel, &collector, &collector).await;
}

#[tokio::test]
async fn spans_and_metrics_reach_a_grpc_collector_over_tls_signed_by_a_ca_keel_is_told_to_trust() {
    let tls = TestTls::new();
    let collector = Collector::start_grpc(Some(&tls)).await;
    let endpoint = format!("https://{}", collector.address);
    let ca = tls.ca_file.display().to_string();
    let mut keel = KeelProcess::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca),
    ])
    .await;
    ping_reaches(&mut keel, &collector, &collector).await;
}

#[tokio::test]
async fn each_signal_follows_its_own_protocol_and_endpoint_variables() {
    // Spans over gRPC to one collector, metrics over HTTP/protobuf to the shared endpoint.
    let grpc = Collector::start_grpc(None).await;
    let http = Collector::start().await;
    let traces_endpoint = format!("http://{}", grpc.address);
    let endpoint = format!("http://{}", http.address);
    let mut keel = KeelProcess::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces_endpoint),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "5000"),
    ])
    .await;
    ping_reaches(&mut keel, &grpc, &http).await;
}

/// Starts keel exporting to an https collector whose CA it was not told about, serves a few requests
/// (each answered), stops, and returns the endpoint and every log line.
async fn untrusted_export_logs(protocol: &str) -> (String, Vec<String>) {
    let tls = TestTls::new();
    let collector = match protocol {
        "grpc" => Collector::start_grpc(Some(&tls)).await,
        _ => Collector::start_https(&tls).await,
    };
    let endpoint = format!("https://{}", collector.address);
    let mut keel = KeelProcess::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("APP_TELEMETRY__LOG_LEVEL", "info,sqlx=warn"),
    ])
    .await;
    let client = fresh_client();
    for _ in 0..5 {
        let response = client
            .get(format!("{}/ping", keel.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "keel keeps serving");
    }
    keel.signal("TERM");
    assert_eq!(
        keel.exit_status(Duration::from_secs(30)).await.code(),
        Some(0)
    );
    (endpoint, keel.logs())
}

/// The messages keel logs when it exports over HTTP to a collector it does not trust, one per line (for
/// docs/troubleshooting.md).
pub(crate) async fn untrusted_export_messages() -> String {
    let (_, logs) = untrusted_export_logs("http/protobuf").await;
    logs.iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|parsed| parsed["message"].as_str().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn without_the_ca_an_http_export_fails_with_one_logged_certificate_error_and_keel_keeps_serving()
 {
    let (endpoint, logs) = untrusted_export_logs("http/protobuf").await;
    let exporter_lines = exporter_diagnostics(&logs);
    assert_eq!(exporter_lines.len(), 1, "{exporter_lines:#?}");
    let expected = format!(
        "OTLP export to {endpoint}/v1/traces failed: client error (Connect): invalid peer certificate: UnknownIssuer"
    );
    assert!(exporter_lines[0].contains(&expected), "{exporter_lines:#?}");
}

#[tokio::test]
async fn without_the_ca_a_grpc_export_fails_and_the_shutdown_warning_names_the_certificate() {
    let (_, logs) = untrusted_export_logs("grpc").await;
    assert!(exporter_diagnostics(&logs).len() <= 1, "{logs:#?}");
    // The process stopped before the first timed export; the flush at shutdown failed, and said why.
    assert!(
        logs.iter()
            .any(|line| line.contains("telemetry shutdown did not complete")
                && line.contains("invalid peer certificate: UnknownIssuer")),
        "{logs:#?}"
    );
}

#[tokio::test]
async fn check_trusts_the_ca_file_and_names_an_untrusted_certificate() {
    let tls = TestTls::new();
    let http = Collector::start_https(&tls).await;
    let grpc = Collector::start_grpc(Some(&tls)).await;
    let ca = tls.ca_file.display().to_string();
    for (collector, protocol) in [(&http, "http/protobuf"), (&grpc, "grpc")] {
        let endpoint = format!("https://{}", collector.address);
        let base = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ];
        let mut trusting = base.clone();
        trusting.push(("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.clone()));
        let outcome = check_with(trusting).await;
        let expected =
            format!("ok    traces: the OTLP endpoint {endpoint}/ accepts an empty export");
        assert!(
            outcome.stdout.contains(&expected),
            "{protocol}:\n{}",
            outcome.stdout
        );
        let outcome = check_with(base).await;
        assert!(
            outcome.stdout.contains("FAIL  traces: ") && outcome.stdout.contains("UnknownIssuer"),
            "{protocol}:\n{}",
            outcome.stdout
        );
    }
}
