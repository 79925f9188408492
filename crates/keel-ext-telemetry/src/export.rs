//! Trace export: the tracer provider (resource, sampler, batch processor, OTLP/HTTP exporter), the filter
//! that keeps exporter failures from flooding the logs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use keel_config::{ConnectionUrl, OtlpProtocol, Settings, TelemetrySettings, TracesSampler};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{
    Protocol, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, span_processor_with_async_runtime,
};
use tracing::Metadata;
use tracing::subscriber::Interest;

use crate::Error;

/// How often the same exporter diagnostic may reach the logs.
pub(crate) const EXPORTER_EVENT_INTERVAL: Duration = Duration::from_secs(60);

/// What traces and metrics say about the process that sent them. Built from the settings alone (not
/// from the SDK's own reading of the environment), so `.env`, provenance and validation apply: the
/// service name is `telemetry.service_name`, else a `service.name` in `telemetry.resource_attributes`,
/// else `app.name`; the other attributes in `resource_attributes` are added (and may replace keel's
/// `service.version` and `deployment.environment.name`).
pub(crate) fn resource(settings: &Settings) -> Resource {
    let telemetry = &settings.telemetry;
    let pairs = telemetry.resource_attribute_pairs();
    let service_name = telemetry
        .service_name
        .clone()
        .or_else(|| {
            pairs
                .iter()
                .find(|(key, _)| key == "service.name")
                .map(|(_, value)| value.clone())
        })
        .unwrap_or_else(|| settings.app.name.clone());
    let keel_attributes = [
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new("deployment.environment.name", settings.app.env.to_string()),
    ];
    Resource::builder_empty()
        .with_attributes(keel_attributes)
        .with_attributes(
            pairs
                .into_iter()
                .map(|(key, value)| KeyValue::new(key, value)),
        )
        .with_service_name(service_name)
        .build()
}

/// The sampler `telemetry.traces_sampler` names, with `telemetry.sample_ratio` for the ratio ones.
fn sampler(telemetry: &TelemetrySettings) -> Sampler {
    let ratio = || Sampler::TraceIdRatioBased(telemetry.sample_ratio);
    match telemetry.traces_sampler {
        TracesSampler::AlwaysOn => Sampler::AlwaysOn,
        TracesSampler::AlwaysOff => Sampler::AlwaysOff,
        TracesSampler::TraceIdRatio => ratio(),
        TracesSampler::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        TracesSampler::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        TracesSampler::ParentBasedTraceIdRatio => Sampler::ParentBased(Box::new(ratio())),
    }
}

/// How an exporter reaches its collector: the URL (and whether it is the signal's own, used as it is),
/// the headers and the time limit, all from `telemetry.*`.
pub(crate) struct Destination<'a> {
    pub(crate) endpoint: &'a ConnectionUrl,
    pub(crate) own: bool,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
}

impl<'a> Destination<'a> {
    pub(crate) fn new(
        telemetry: &TelemetrySettings,
        (endpoint, own): (&'a ConnectionUrl, bool),
    ) -> Destination<'a> {
        Destination {
            endpoint,
            own,
            headers: telemetry.otlp_header_pairs(),
            timeout: Duration::from_millis(telemetry.otlp_timeout_ms),
        }
    }

    /// The HTTP URL of `signal`: the signal's own URL as it is, else `<endpoint>/v1/<signal>`; exposed
    /// (to send to) or masked (to show).
    pub(crate) fn http_url(&self, signal: &str, masked: bool) -> String {
        let url = if masked {
            self.endpoint.masked()
        } else {
            self.endpoint.expose().to_owned()
        };
        if self.own {
            url
        } else {
            signal_url(&url, signal)
        }
    }

    /// The headers as gRPC metadata; a header that cannot be one is named by position (its value may
    /// be a credential).
    pub(crate) fn metadata(&self) -> Result<tonic::metadata::MetadataMap, Error> {
        let mut metadata = tonic::metadata::MetadataMap::new();
        for (position, (key, value)) in self.headers.iter().enumerate() {
            let key = tonic::metadata::MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes());
            let value = tonic::metadata::MetadataValue::try_from(value.as_str());
            match (key, value) {
                (Ok(key), Ok(value)) => {
                    metadata.insert(key, value);
                }
                _ => {
                    return Err(Error::Exporter {
                        endpoint: self.endpoint.masked(),
                        reason: format!(
                            "header {} of telemetry.otlp_headers cannot be sent as gRPC metadata: use a lowercase name of letters, digits and - and a visible ASCII value",
                            position + 1
                        ),
                    });
                }
            }
        }
        Ok(metadata)
    }
}

/// The tracer provider for `settings`: always with a resource and a sampler (so requests get trace ids),
/// and with a batch OTLP exporter (HTTP/protobuf or gRPC) when spans have an endpoint
/// (`telemetry.otlp_traces_endpoint` or `telemetry.otlp_endpoint`, and `telemetry.sdk_disabled` off).
pub(crate) fn provider(
    settings: &Settings,
    resource: Resource,
) -> Result<SdkTracerProvider, Error> {
    let telemetry = &settings.telemetry;
    let builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(telemetry));
    let Some(endpoint) = telemetry.traces_endpoint() else {
        return Ok(builder.build());
    };
    let destination = Destination::new(telemetry, endpoint);
    Ok(match telemetry.otlp_protocol {
        OtlpProtocol::HttpProtobuf => builder
            .with_span_processor(BatchSpanProcessor::builder(http_exporter(&destination)?).build()),
        OtlpProtocol::Grpc => {
            // tonic needs the tokio runtime, so this processor runs as a task on it; the caller must be
            // inside a runtime (keel-server builds telemetry after starting its runtime).
            let exporter = grpc_exporter(&destination)?;
            builder.with_span_processor(
                span_processor_with_async_runtime::BatchSpanProcessor::builder(exporter, Tokio)
                    .build(),
            )
        }
    }
    .build())
}

/// The OTLP/gRPC exporter; it must be built inside a tokio runtime.
pub(crate) fn grpc_exporter(
    destination: &Destination<'_>,
) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    let endpoint = destination.endpoint;
    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.expose())
        .with_timeout(destination.timeout)
        .with_metadata(destination.metadata()?)
        .build()
        .map_err(|error| Error::Exporter {
            endpoint: endpoint.masked(),
            reason: endpoint.redact(&error.to_string()),
        })
}

/// The OTLP/HTTP protobuf exporter, sending to `<endpoint>/v1/traces` (or the traces endpoint as it is).
fn http_exporter(destination: &Destination<'_>) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    let endpoint = destination.endpoint;
    let failed = |reason: String| Error::Exporter {
        endpoint: destination.http_url("traces", true),
        reason: endpoint.redact(&reason),
    };
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(destination.http_url("traces", false))
        .with_timeout(destination.timeout)
        .with_headers(destination.headers.iter().cloned().collect())
        // The default batch processor exports from its own thread with a blocking client, never on a
        // request's runtime thread. The client is passed explicitly because a feature enabled anywhere in
        // the dependency graph could otherwise switch the default to an async client that needs a runtime
        // (and then silently drops every span).
        .with_http_client(blocking_client(destination.timeout).map_err(failed)?)
        .build()
        .map_err(|error| failed(error.to_string()))
}

/// The URL of one signal (`traces`, `metrics`) for a collector's base URL: `<base>/v1/<signal>`, unless
/// it already ends so.
fn signal_url(endpoint: &str, signal: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    let path = format!("/v1/{signal}");
    if base.ends_with(&path) {
        base.to_owned()
    } else {
        format!("{base}{path}")
    }
}

/// A blocking HTTP client owns a runtime of its own, which must not be created on a runtime thread, so it
/// is built on a short-lived one. Its timeout is set here because the exporter's does not apply to a
/// client passed in.
pub(crate) fn blocking_client(timeout: Duration) -> Result<reqwest::blocking::Client, String> {
    std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
    })
    .join()
    .map_err(|_| "building the HTTP client panicked".to_owned())?
    .map_err(|error| error.to_string())
}

/// A per-layer filter letting exporter diagnostics (events whose target starts with `opentelemetry`)
/// through at most once per `interval`, all of them together: one failed batch produces several events
/// (retries exhausted, export failed), and an outage should cost one line, not one per event or batch.
/// Everything else passes.
pub(crate) fn rate_limit_exporter_events(interval: Duration) -> ExporterEventLimit {
    ExporterEventLimit {
        interval,
        last_shown: Mutex::new(None),
    }
}

pub(crate) struct ExporterEventLimit {
    interval: Duration,
    last_shown: Mutex<Option<Instant>>,
}

fn is_exporter_event(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && metadata.target().starts_with("opentelemetry")
}

impl<S> tracing_subscriber::layer::Filter<S> for ExporterEventLimit {
    fn enabled(
        &self,
        metadata: &Metadata<'_>,
        _context: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        if !is_exporter_event(metadata) {
            return true;
        }
        let now = Instant::now();
        let mut last_shown = self
            .last_shown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *last_shown {
            Some(shown) if now.duration_since(shown) < self.interval => false,
            _ => {
                *last_shown = Some(now);
                true
            }
        }
    }

    /// Exporter events must be asked about every time (the answer changes with the clock); a cached
    /// "always" would let every one through.
    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if is_exporter_event(metadata) {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }
}

#[cfg(test)]
mod tests {
    use keel_config::{LoadOptions, Vars};
    use opentelemetry::Key;

    use super::*;

    fn settings_with(vars: &[(&str, &str)]) -> Settings {
        let vars: Vars = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let options = LoadOptions {
            environment: Some("testing".to_owned()),
            vars,
            ..LoadOptions::default()
        };
        keel_config::load(&options).unwrap().settings
    }

    fn attribute(resource: &Resource, key: &'static str) -> Option<String> {
        resource
            .get(&Key::from_static_str(key))
            .map(|value| value.to_string())
    }

    #[test]
    fn the_service_name_is_otel_service_name_then_the_attributes_then_app_name() {
        let cases = [
            (vec![], "keel"),
            (
                vec![("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")],
                "from-attributes",
            ),
            (
                vec![
                    ("OTEL_SERVICE_NAME", "checkout"),
                    ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes"),
                    ("APP_APP__NAME", "shop"),
                ],
                "checkout",
            ),
        ];
        for (vars, expected) in cases {
            let resource = resource(&settings_with(&vars));
            assert_eq!(
                attribute(&resource, "service.name").as_deref(),
                Some(expected),
                "{vars:?}"
            );
        }
        let resource = resource(&settings_with(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=pay%2Cments, k8s.namespace.name=shop",
        )]));
        assert_eq!(attribute(&resource, "team").as_deref(), Some("pay,ments"));
        assert_eq!(
            attribute(&resource, "k8s.namespace.name").as_deref(),
            Some("shop")
        );
        assert_eq!(
            attribute(&resource, "deployment.environment.name").as_deref(),
            Some("testing")
        );
    }

    #[test]
    fn a_signal_endpoint_is_used_as_it_is_and_the_shared_one_gets_the_signal_path() {
        let settings = settings_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces.example/custom",
            ),
        ]);
        let telemetry = &settings.telemetry;
        let traces = Destination::new(telemetry, telemetry.traces_endpoint().unwrap());
        assert_eq!(
            traces.http_url("traces", false),
            "http://traces.example/custom"
        );
        let metrics = Destination::new(telemetry, telemetry.metrics_endpoint().unwrap());
        assert_eq!(
            metrics.http_url("metrics", false),
            "http://collector:4318/v1/metrics"
        );
    }

    #[test]
    fn the_traces_path_is_appended_once() {
        let cases = [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            (
                "http://collector:4318/v1/traces",
                "http://collector:4318/v1/traces",
            ),
        ];
        for (endpoint, expected) in cases {
            assert_eq!(signal_url(endpoint, "traces"), expected);
        }
    }
}
