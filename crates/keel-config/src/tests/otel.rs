//! The standard `OTEL_*` variables are settings like any other: every layer, provenance, validation and
//! masking apply to them.

use super::{CANARY, Sandbox};
use crate::{OtlpProtocol, Signal, TracesSampler};

#[test]
fn otel_variables_set_telemetry_keys_from_the_environment_and_dotenv_and_say_so() {
    let (value, source) = Sandbox::new()
        .var("OTEL_SERVICE_NAME", "checkout")
        .value_and_source("telemetry.service_name");
    assert_eq!(
        (value.as_str(), source.as_str()),
        ("checkout", "environment variable OTEL_SERVICE_NAME")
    );
    let (value, source) = Sandbox::new()
        .file(".env", "OTEL_RESOURCE_ATTRIBUTES=team=payments,region=eu\n")
        .value_and_source("telemetry.resource_attributes");
    assert_eq!(value, "team=payments,region=eu");
    assert_eq!(
        source,
        ".env file <sandbox>/.env, variable OTEL_RESOURCE_ATTRIBUTES"
    );
    // A keel variable for the same key wins, as for every conventional name.
    let loaded = Sandbox::new()
        .var("OTEL_TRACES_SAMPLER", "always_off")
        .var("APP_TELEMETRY__TRACES_SAMPLER", "parentbased_always_on")
        .var("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
        .var("OTEL_SDK_DISABLED", "true")
        .var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        .var(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces.example:4318/custom/traces",
        )
        .load()
        .unwrap();
    let telemetry = &loaded.settings.telemetry;
    assert_eq!(telemetry.traces_sampler, TracesSampler::ParentBasedAlwaysOn);
    assert_eq!(telemetry.otlp_timeout_ms, 2500);
    assert!(telemetry.sdk_disabled);
    assert!(
        telemetry.export(Signal::Traces).is_none(),
        "the SDK is disabled"
    );
}

#[test]
fn a_signal_endpoint_wins_over_the_shared_one_for_its_signal_only() {
    let loaded = Sandbox::new()
        .var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        .var(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces.example/custom",
        )
        .load()
        .unwrap();
    let telemetry = &loaded.settings.telemetry;
    let traces = telemetry.export(Signal::Traces).unwrap();
    assert_eq!(
        (traces.endpoint.expose(), traces.own_endpoint),
        ("http://traces.example/custom", true)
    );
    let metrics = telemetry.export(Signal::Metrics).unwrap();
    assert_eq!(
        (metrics.endpoint.expose(), metrics.own_endpoint),
        ("http://collector:4318", false)
    );
}

#[test]
fn otlp_headers_are_a_secret_masked_when_shown_and_named_by_position_when_malformed() {
    let headers = format!("authorization=Bearer%20{CANARY}");
    let sandbox = Sandbox::new()
        .var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        .var("OTEL_EXPORTER_OTLP_HEADERS", &headers);
    let loaded = sandbox.load().unwrap();
    let export = loaded
        .settings
        .telemetry
        .export(Signal::Traces)
        .expect("an endpoint is set");
    assert_eq!(
        export.headers,
        [("authorization".to_owned(), format!("Bearer {CANARY}"))]
    );
    let (value, _) = sandbox.value_and_source("telemetry.otlp_headers");
    assert!(value.starts_with("***"), "{value}");
    assert!(!value.contains(CANARY), "{value}");
    let message = Sandbox::new()
        .var(
            "OTEL_EXPORTER_OTLP_HEADERS",
            &format!("x-team=shop,{CANARY}"),
        )
        .error();
    assert!(!message.contains(CANARY), "{message}");
    assert!(
        message.contains("telemetry.otlp_headers (set by environment variable OTEL_EXPORTER_OTLP_HEADERS): item 2 is not key=value"),
        "{message}"
    );
}

#[test]
fn bad_otel_values_are_refused_naming_the_variable_and_the_fix() {
    let message = Sandbox::new()
        .var("OTEL_RESOURCE_ATTRIBUTES", "team=payments,oops")
        .var("OTEL_TRACES_SAMPLER", "sometimes")
        .var("OTEL_EXPORTER_OTLP_TIMEOUT", "0")
        .var("OTEL_SERVICE_NAME", " ")
        .error();
    for expected in [
        "telemetry.resource_attributes (set by environment variable OTEL_RESOURCE_ATTRIBUTES): item 2 of \"team=payments,oops\" is not key=value",
        "telemetry.traces_sampler (set by environment variable OTEL_TRACES_SAMPLER): unknown traces sampler \"sometimes\": use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
        "telemetry.otlp_timeout_ms (set by environment variable OTEL_EXPORTER_OTLP_TIMEOUT): must be a whole number of milliseconds from 1 to 600000, not 0",
        "telemetry.service_name (set by environment variable OTEL_SERVICE_NAME): must not be empty",
    ] {
        assert!(message.contains(expected), "{expected}\nin\n{message}");
    }
}

#[test]
fn a_per_signal_variable_replaces_the_shared_one_for_its_signal_only_and_says_so() {
    let sandbox = Sandbox::new()
        .var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        .var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
        .var("OTEL_EXPORTER_OTLP_HEADERS", "x-team=shop")
        .var("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=metrics")
        .var("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
        .var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700");
    let loaded = sandbox.load().unwrap();
    let telemetry = &loaded.settings.telemetry;
    let traces = telemetry.export(Signal::Traces).unwrap();
    assert_eq!(traces.protocol, OtlpProtocol::Grpc);
    assert_eq!(traces.timeout.as_millis(), 700);
    assert_eq!(traces.headers, [("x-team".to_owned(), "shop".to_owned())]);
    let metrics = telemetry.export(Signal::Metrics).unwrap();
    assert_eq!(metrics.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(metrics.timeout.as_millis(), 2500);
    // Replaced, not merged: the shared headers are not sent with metrics.
    assert_eq!(
        metrics.headers,
        [("x-tenant".to_owned(), "metrics".to_owned())]
    );
    let (value, source) = sandbox.value_and_source("telemetry.otlp_traces_protocol");
    assert_eq!(
        (value.as_str(), source.as_str()),
        (
            "grpc",
            "environment variable OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        )
    );
    let (value, _) = sandbox.value_and_source("telemetry.otlp_metrics_headers");
    assert!(value.starts_with("***"), "a secret: {value}");
    // The keel variable of the per-signal key beats its OTEL variable, as for every conventional name.
    let loaded = Sandbox::new()
        .var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        .var("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")
        .var("APP_TELEMETRY__OTLP_METRICS_PROTOCOL", "http/protobuf")
        .load()
        .unwrap();
    let metrics = loaded.settings.telemetry.export(Signal::Metrics).unwrap();
    assert_eq!(metrics.protocol, OtlpProtocol::HttpProtobuf);
}

#[test]
fn bad_per_signal_values_are_refused_naming_their_own_variable() {
    let message = Sandbox::new()
        .var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp")
        .var("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "0")
        .var("OTEL_EXPORTER_OTLP_TRACES_HEADERS", CANARY)
        .error();
    for expected in [
        "telemetry.otlp_traces_protocol (set by environment variable OTEL_EXPORTER_OTLP_TRACES_PROTOCOL): unknown OTLP protocol \"udp\": use http/protobuf or grpc",
        "telemetry.otlp_metrics_timeout_ms (set by environment variable OTEL_EXPORTER_OTLP_METRICS_TIMEOUT): must be a whole number of milliseconds from 1 to 600000, not 0",
        "telemetry.otlp_traces_headers (set by environment variable OTEL_EXPORTER_OTLP_TRACES_HEADERS): item 1 is not key=value",
    ] {
        assert!(message.contains(expected), "{expected}\nin\n{message}");
    }
    assert!(!message.contains(CANARY), "{message}");
}

/// A PEM block the PEM grammar accepts; whether its DER is a usable CA is the TLS stack's question.
const PEM_CERTIFICATE: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";

#[test]
fn a_ca_file_must_exist_and_hold_a_certificate() {
    let sandbox = Sandbox::new().file("ca.pem", PEM_CERTIFICATE).file(
        "key.pem",
        "-----BEGIN PRIVATE KEY-----\nMIIBszCCAVmgAwIBAgIU\n-----END PRIVATE KEY-----\n",
    );
    let ca = sandbox.path("ca.pem").display().to_string();
    let loaded = Sandbox::new()
        .var("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")
        .var("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca)
        .load()
        .unwrap();
    let export = loaded.settings.telemetry.export(Signal::Traces).unwrap();
    assert_eq!(export.trusted_certificates().unwrap().len(), 1);
    let message = Sandbox::new()
        .var("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")
        .var(
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            &sandbox.path("key.pem").display().to_string(),
        )
        .error();
    for expected in [
        "telemetry.otlp_certificate (set by environment variable OTEL_EXPORTER_OTLP_CERTIFICATE): cannot read /nonexistent/ca.pem (No such file or directory (os error 2)): point it at the PEM file (-----BEGIN CERTIFICATE-----) of the CA that signed the collector's certificate",
        "telemetry.otlp_traces_certificate (set by environment variable OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE): ",
        "key.pem holds no certificate: point it at the PEM file",
    ] {
        assert!(message.contains(expected), "{expected}\nin\n{message}");
    }
}

#[test]
fn a_signal_ca_file_replaces_the_shared_one_for_its_signal() {
    let sandbox = Sandbox::new()
        .file("shared.pem", PEM_CERTIFICATE)
        .file("metrics.pem", &PEM_CERTIFICATE.repeat(2));
    let loaded = Sandbox::new()
        .var("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")
        .var(
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            &sandbox.path("shared.pem").display().to_string(),
        )
        .var(
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            &sandbox.path("metrics.pem").display().to_string(),
        )
        .load()
        .unwrap();
    let telemetry = &loaded.settings.telemetry;
    let traces = telemetry.export(Signal::Traces).unwrap();
    assert_eq!(traces.certificate.unwrap().0, "telemetry.otlp_certificate");
    assert_eq!(traces.trusted_certificates().unwrap().len(), 1);
    let metrics = telemetry.export(Signal::Metrics).unwrap();
    assert_eq!(
        metrics.certificate.unwrap().0,
        "telemetry.otlp_metrics_certificate"
    );
    assert_eq!(metrics.trusted_certificates().unwrap().len(), 2);
}
