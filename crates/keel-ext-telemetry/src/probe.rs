//! The check `keel check` runs against the OTLP endpoint: one empty export, over the protocol and with
//! the credentials the real exporter uses, so a wrong port, a wrong protocol or refused credentials show
//! up before `serve` quietly drops every span.

use std::time::Duration;

use keel_config::{OtlpProtocol, SignalExport};
use opentelemetry_sdk::trace::SpanExporter as _;

use crate::Error;
use crate::destination::Destination;
use crate::export::grpc_exporter;

/// How long the probe may take, connection included.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends an export with no spans to where spans go (`export`, from
/// [`keel_config::TelemetrySettings::export`]), with the configured headers and TLS roots, and checks that
/// the collector accepts it. Must run inside a tokio runtime.
pub async fn probe_endpoint(mut export: SignalExport<'_>) -> Result<(), Error> {
    export.timeout = PROBE_TIMEOUT;
    let destination = Destination::new(export)?;
    match destination.export.protocol {
        OtlpProtocol::HttpProtobuf => probe_http(&destination).await,
        OtlpProtocol::Grpc => probe_grpc(&destination).await,
    }
}

async fn probe_http(destination: &Destination<'_>) -> Result<(), Error> {
    let endpoint = destination.export.endpoint;
    let unreachable = |reason: String| Error::Unreachable {
        endpoint: endpoint.masked(),
        reason: endpoint.redact(&reason),
    };
    // keel's own TLS config, as for the exporter (`tls.rs` says why it is never the process default).
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .tls_backend_preconfigured(destination.rustls_config()?)
        .build()
        .map_err(|error| unreachable(error.to_string()))?;
    // An empty body is a valid, empty `ExportTraceServiceRequest`.
    let mut request = client
        .post(destination.http_url(false))
        .header(http::header::CONTENT_TYPE, "application/x-protobuf");
    for (name, value) in &destination.export.headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        // The error's URL would carry the password; the endpoint is named by the error itself.
        .map_err(|error| unreachable(crate::destination::error_chain(&error.without_url())))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let reason = if matches!(status.as_u16(), 401 | 403) {
        format!(
            "it refused an empty export with {status}: check the credentials in telemetry.otlp_endpoint"
        )
    } else {
        format!(
            "it answered an empty export with {status}: is this the collector's OTLP/HTTP address (port 4318)?"
        )
    };
    Err(Error::Refused {
        endpoint: endpoint.masked(),
        reason,
    })
}

async fn probe_grpc(destination: &Destination<'_>) -> Result<(), Error> {
    let endpoint = destination.export.endpoint;
    let exporter = grpc_exporter(destination)?;
    match tokio::time::timeout(PROBE_TIMEOUT, exporter.export(Vec::new())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Error::Refused {
            endpoint: endpoint.masked(),
            reason: format!(
                "an empty gRPC export failed ({}): is this the collector's OTLP/gRPC address (port 4317)?",
                endpoint.redact(&error.to_string())
            ),
        }),
        Err(_elapsed) => Err(Error::Unreachable {
            endpoint: endpoint.masked(),
            reason: format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
        }),
    }
}
