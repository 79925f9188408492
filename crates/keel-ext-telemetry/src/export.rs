//! Trace export: the tracer provider (resource, sampler, batch processor, OTLP exporter over HTTP or
//! gRPC, with TLS for `https://`), the filter that keeps exporter failures from flooding the logs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use keel_config::{OtlpProtocol, Settings, Signal, TelemetrySettings, TracesSampler};
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
use crate::destination::{Destination, blocking_client, with_grpc_tls};

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

/// The tracer provider for `settings`: always with a resource and a sampler (so requests get trace ids),
/// and with a batch OTLP exporter (HTTP/protobuf or gRPC) when spans have an endpoint
/// (`telemetry.otlp_traces_endpoint` or `telemetry.otlp_endpoint`, and `telemetry.sdk_disabled` off),
/// over TLS when the endpoint is `https://`.
pub(crate) fn provider(
    settings: &Settings,
    resource: Resource,
) -> Result<SdkTracerProvider, Error> {
    let telemetry = &settings.telemetry;
    let builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(telemetry));
    let Some(export) = telemetry.export(Signal::Traces) else {
        return Ok(builder.build());
    };
    let destination = Destination::new(export)?;
    Ok(match destination.export.protocol {
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
    let endpoint = destination.export.endpoint;
    let builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.expose())
        .with_timeout(destination.export.timeout)
        .with_metadata(destination.metadata()?);
    with_grpc_tls(builder, destination)
        .build()
        .map_err(|error| Error::Exporter {
            endpoint: endpoint.masked(),
            reason: endpoint.redact(&error.to_string()),
        })
}

/// The OTLP/HTTP protobuf exporter, sending to `<endpoint>/v1/traces` (or the traces endpoint as it is).
fn http_exporter(destination: &Destination<'_>) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    let failed = |reason: String| Error::Exporter {
        endpoint: destination.http_url(true),
        reason: destination.export.endpoint.redact(&reason),
    };
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(destination.http_url(false))
        .with_timeout(destination.export.timeout)
        .with_headers(destination.export.headers.iter().cloned().collect())
        // The default batch processor exports from its own thread with a blocking client, never on a
        // request's runtime thread. The client is passed explicitly because a feature enabled anywhere in
        // the dependency graph could otherwise switch the default to an async client that needs a runtime
        // (and then silently drops every span).
        .with_http_client(blocking_client(destination)?)
        .build()
        .map_err(|error| failed(error.to_string()))
}

/// A per-layer filter letting exporter diagnostics ([`is_exporter_event`]) through at most once per
/// `interval`, all of them together: one failed batch produces several events (retries exhausted, export
/// failed, keel's line with the cause), and an outage should cost one line, not one per event or batch.
/// The retry loop's warnings never show (the line with the cause follows them). Everything else passes.
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

/// An exporter diagnostic worth a line once a minute: a warning or error of the OpenTelemetry crates,
/// or keel's own line saying why an HTTP export failed. Their info and debug events (one-off lifecycle
/// lines such as the meter provider being set) pass unlimited, so they never use up the minute's line.
fn is_exporter_event(metadata: &Metadata<'_>) -> bool {
    metadata.is_event()
        && *metadata.level() <= tracing::Level::WARN
        && (metadata.target().starts_with("opentelemetry")
            || metadata.target() == crate::destination::FAILURE_TARGET)
}

/// The retry loop's "exhausted retries" and "deadline exceeded" warnings: always followed, for the same
/// batch, by the processor's error that says why, so they are never the line shown.
fn is_retry_bookkeeping(metadata: &Metadata<'_>) -> bool {
    metadata.target() == "opentelemetry-otlp" && metadata.name().starts_with("Export.Failed.")
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
        if is_retry_bookkeeping(metadata) {
            return false;
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
    use opentelemetry::Key;

    use super::*;
    use crate::destination::tests::settings_with;

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
}
