//! Trace export: the tracer provider (resource, sampler, batch processor, OTLP/HTTP exporter), the filter
//! that keeps exporter failures from flooding the logs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use keel_config::{ConnectionUrl, OtlpProtocol, Settings};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, span_processor_with_async_runtime,
};
use tracing::Metadata;
use tracing::subscriber::Interest;

use crate::Error;

/// How long one export (a batch, retries included) may take.
pub(crate) const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the same exporter diagnostic may reach the logs.
pub(crate) const EXPORTER_EVENT_INTERVAL: Duration = Duration::from_secs(60);

/// What traces and metrics say about the process that sent them.
pub(crate) fn resource(settings: &Settings) -> Resource {
    Resource::builder()
        .with_service_name(settings.app.name.clone())
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("deployment.environment.name", settings.app.env.to_string()),
        ])
        .build()
}

/// The tracer provider for `settings`: always with a resource and a sampler (so requests get trace ids),
/// and with a batch OTLP exporter (HTTP/protobuf or gRPC) when `telemetry.otlp_endpoint` is set.
pub(crate) fn provider(
    settings: &Settings,
    resource: Resource,
) -> Result<SdkTracerProvider, Error> {
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
        settings.telemetry.sample_ratio,
    )));
    let builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler);
    let Some(endpoint) = &settings.telemetry.otlp_endpoint else {
        return Ok(builder.build());
    };
    Ok(match settings.telemetry.otlp_protocol {
        OtlpProtocol::HttpProtobuf => builder
            .with_span_processor(BatchSpanProcessor::builder(http_exporter(endpoint)?).build()),
        OtlpProtocol::Grpc => {
            // tonic needs the tokio runtime, so this processor runs as a task on it; the caller must be
            // inside a runtime (keel-server builds telemetry after starting its runtime).
            let exporter = grpc_exporter(endpoint, EXPORT_TIMEOUT)?;
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
    endpoint: &ConnectionUrl,
    timeout: Duration,
) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.expose())
        .with_timeout(timeout)
        .build()
        .map_err(|error| Error::Exporter {
            endpoint: endpoint.masked(),
            reason: endpoint.redact(&error.to_string()),
        })
}

/// The OTLP/HTTP protobuf exporter, sending to `<endpoint>/v1/traces`.
fn http_exporter(endpoint: &ConnectionUrl) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    let failed = |reason: String| Error::Exporter {
        endpoint: traces_url(&endpoint.masked()),
        reason: endpoint.redact(&reason),
    };
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint.expose()))
        .with_timeout(EXPORT_TIMEOUT)
        // The default batch processor exports from its own thread with a blocking client, never on a
        // request's runtime thread. The client is passed explicitly because a feature enabled anywhere in
        // the dependency graph could otherwise switch the default to an async client that needs a runtime
        // (and then silently drops every span).
        .with_http_client(blocking_client().map_err(failed)?)
        .build()
        .map_err(|error| failed(error.to_string()))
}

/// The traces URL for a collector's base URL: `<base>/v1/traces`, unless it already ends so.
pub(crate) fn traces_url(endpoint: &str) -> String {
    signal_url(endpoint, "traces")
}

/// The URL of one signal (`traces`, `metrics`) for a collector's base URL: `<base>/v1/<signal>`, unless
/// it already ends so.
pub(crate) fn signal_url(endpoint: &str, signal: &str) -> String {
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
pub(crate) fn blocking_client() -> Result<reqwest::blocking::Client, String> {
    std::thread::spawn(|| {
        reqwest::blocking::Client::builder()
            .timeout(EXPORT_TIMEOUT)
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
    use super::*;

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
            assert_eq!(traces_url(endpoint), expected);
        }
    }
}
