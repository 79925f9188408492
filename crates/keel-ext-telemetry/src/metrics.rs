//! The meter provider: one for the process, read two ways. A manual reader renders the current values as
//! Prometheus text when `/metrics` is scraped; when `telemetry.otlp_endpoint` is set, a periodic reader
//! also pushes them to the collector (every 60 s, or `OTEL_METRIC_EXPORT_INTERVAL` milliseconds).

use std::sync::{Arc, Weak};
use std::time::Duration;

use keel_config::{OtlpProtocol, Settings, Signal};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::{
    Protocol, WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, PeriodicReader, Pipeline, SdkMeterProvider, Temporality,
    periodic_reader_with_async_runtime,
};
use opentelemetry_sdk::runtime::Tokio;

use crate::Error;
use crate::destination::{Destination, blocking_client, with_grpc_tls};

/// Reads the current value of every instrument, for one scrape of `/metrics`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetricsScrape {
    reader: Arc<ManualReader>,
}

impl MetricsScrape {
    /// Every metric in the Prometheus text format ([`crate::PROMETHEUS_CONTENT_TYPE`]).
    pub fn render(&self) -> Result<String, Error> {
        let mut collected = ResourceMetrics::default();
        self.reader
            .collect(&mut collected)
            .map_err(|error| Error::Metrics(error.to_string()))?;
        Ok(crate::prometheus::render(&collected))
    }
}

/// The manual reader, shared between the provider (which owns its reader) and [`MetricsScrape`].
#[derive(Debug)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }

    fn collect(&self, metrics: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(metrics)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// The meter provider for `settings` with the process gauges registered, and its scrape handle.
pub(crate) fn provider(
    settings: &Settings,
    resource: Resource,
) -> Result<(SdkMeterProvider, MetricsScrape), Error> {
    // Prometheus expects cumulative values (a counter only grows until the process restarts).
    let reader = Arc::new(
        ManualReader::builder()
            .with_temporality(Temporality::Cumulative)
            .build(),
    );
    let mut builder = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(SharedReader(Arc::clone(&reader)));
    if let Some(export) = settings.telemetry.export(Signal::Metrics) {
        let destination = Destination::new(export)?;
        builder = match destination.export.protocol {
            OtlpProtocol::HttpProtobuf => {
                builder.with_reader(PeriodicReader::builder(http_exporter(&destination)?).build())
            }
            // tonic needs the tokio runtime: this reader runs as a task on it (see the span processor).
            OtlpProtocol::Grpc => builder.with_reader(
                periodic_reader_with_async_runtime::PeriodicReader::builder(
                    grpc_exporter(&destination)?,
                    Tokio,
                )
                .build(),
            ),
        };
    }
    let provider = builder.build();
    crate::instruments::observe_process(&provider.meter(crate::instruments::SCOPE));
    Ok((provider, MetricsScrape { reader }))
}

/// The OTLP/HTTP protobuf metrics exporter, sending to `<endpoint>/v1/metrics` from the periodic
/// reader's own thread with a blocking client (as spans are).
fn http_exporter(
    destination: &Destination<'_>,
) -> Result<opentelemetry_otlp::MetricExporter, Error> {
    opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(destination.http_url(false))
        .with_timeout(destination.export.timeout)
        .with_headers(destination.export.headers.iter().cloned().collect())
        .with_http_client(blocking_client(destination)?)
        .build()
        .map_err(|error| Error::Exporter {
            endpoint: destination.http_url(true),
            reason: destination.export.endpoint.redact(&error.to_string()),
        })
}

/// The OTLP/gRPC metrics exporter; it must be built inside a tokio runtime.
fn grpc_exporter(
    destination: &Destination<'_>,
) -> Result<opentelemetry_otlp::MetricExporter, Error> {
    let endpoint = destination.export.endpoint;
    let builder = opentelemetry_otlp::MetricExporter::builder()
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

#[cfg(test)]
mod tests {
    use http::{Method, StatusCode};
    use keel_config::LoadOptions;

    use super::*;
    use crate::instruments::HttpMetrics;

    #[test]
    fn a_scrape_shows_requests_by_method_route_and_status() {
        let _alone = crate::one_at_a_time();
        let options = LoadOptions {
            environment: Some("testing".to_owned()),
            ..LoadOptions::default()
        };
        let settings = keel_config::load(&options).unwrap().settings;
        let (provider, scrape) = provider(&settings, Resource::builder().build()).unwrap();
        let metrics = HttpMetrics::on(&provider.meter("test"));
        for status in [StatusCode::OK, StatusCode::OK, StatusCode::NOT_FOUND] {
            metrics
                .start(&Method::GET, "/notes/{id}")
                .finish(status, Some(12));
        }
        let abandoned = metrics.start(&Method::POST, "/notes");
        let text = scrape.render().unwrap();
        assert!(
            text.contains(
                "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/notes/{id}\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE http_server_request_duration_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "http_server_request_duration_seconds_bucket{http_request_method=\"GET\",http_response_status_code=\"404\",http_route=\"/notes/{id}\",le=\"+Inf\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "http_server_active_requests{http_request_method=\"POST\",url_scheme=\"http\"} 1\n"
            ),
            "{text}"
        );
        drop(abandoned);
        let text = scrape.render().unwrap();
        assert!(
            text.contains(
                "http_server_active_requests{http_request_method=\"POST\",url_scheme=\"http\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("http_route=\"/notes\""),
            "an abandoned request has no duration: {text}"
        );
        if crate::process::is_supported() {
            assert!(text.contains("\nprocess_memory_usage_bytes "), "{text}");
            assert!(
                text.contains("process_cpu_time_seconds_total{cpu_mode=\"user\"} "),
                "{text}"
            );
        }
        provider.shutdown().unwrap();
    }
}
