//! The standard `OTEL_*` variables are settings like any other: every layer, provenance, validation and
//! masking apply to them.

use super::{CANARY, Sandbox};
use crate::TracesSampler;

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
    assert_eq!(telemetry.traces_endpoint(), None, "the SDK is disabled");
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
    let (traces, own) = telemetry.traces_endpoint().unwrap();
    assert_eq!(
        (traces.expose(), own),
        ("http://traces.example/custom", true)
    );
    let (metrics, own) = telemetry.metrics_endpoint().unwrap();
    assert_eq!((metrics.expose(), own), ("http://collector:4318", false));
}

#[test]
fn otlp_headers_are_a_secret_masked_when_shown_and_named_by_position_when_malformed() {
    let headers = format!("authorization=Bearer%20{CANARY}");
    let sandbox = Sandbox::new().var("OTEL_EXPORTER_OTLP_HEADERS", &headers);
    let loaded = sandbox.load().unwrap();
    assert_eq!(
        loaded.settings.telemetry.otlp_header_pairs(),
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
