//! The `[telemetry]` section: log output, trace and metric export, and the standard `OTEL_*` variables
//! that feed it (mapped in `layers.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kinds::Choice;
use rustls_pki_types::CertificateDer;

use crate::secret::{ConnectionUrl, Secret};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured when the terminal supports it.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Choice for LogFormat {
    const WHAT: &'static str = "log format";
    const NAMES: &'static [(&'static str, LogFormat)] =
        &[("pretty", LogFormat::Pretty), ("json", LogFormat::Json)];
}

/// The OTLP transport, named as in the OpenTelemetry environment variable specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    Grpc,
}

impl Choice for OtlpProtocol {
    const WHAT: &'static str = "OTLP protocol";
    const NAMES: &'static [(&'static str, OtlpProtocol)] = &[
        ("http/protobuf", OtlpProtocol::HttpProtobuf),
        ("grpc", OtlpProtocol::Grpc),
    ];
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    #[serde(with = "crate::kinds::choice")]
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info,sqlx=warn`; `RUST_LOG` sets it too.
    pub log_level: String,
    /// The OTLP/HTTP collector's base URL (e.g. `http://collector:4318`); traces go to `<url>/v1/traces`.
    /// Unset: no export (trace ids are still made, for log correlation). `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// sets it too.
    /// Shown with any password masked, like the other connection URLs.
    pub otlp_endpoint: Option<ConnectionUrl>,
    /// How spans travel to the collector: `http/protobuf` (port 4318) or `grpc` (port 4317).
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` sets it too.
    #[serde(with = "crate::kinds::choice")]
    pub otlp_protocol: OtlpProtocol,
    /// The share of new traces to sample, 0.0–1.0, for the ratio samplers. `OTEL_TRACES_SAMPLER_ARG`
    /// sets it too.
    pub sample_ratio: f64,
    /// Which traces are sampled, named as `OTEL_TRACES_SAMPLER` names them (which sets it too).
    #[serde(with = "crate::kinds::choice")]
    pub traces_sampler: TracesSampler,
    /// The `service.name` of traces and metrics. Unset: `app.name`. `OTEL_SERVICE_NAME` sets it too.
    pub service_name: Option<String>,
    /// More resource attributes, `key=value` pairs separated by commas (values percent-encoded), e.g.
    /// `team=payments,k8s.namespace.name=shop`. `OTEL_RESOURCE_ATTRIBUTES` sets it too.
    pub resource_attributes: Option<String>,
    /// The full URL spans are sent to, used as it is (no `/v1/traces` appended); unset: derived from
    /// `otlp_endpoint`. `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` sets it too.
    pub otlp_traces_endpoint: Option<ConnectionUrl>,
    /// The full URL metrics are sent to, used as it is; unset: derived from `otlp_endpoint`.
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` sets it too.
    pub otlp_metrics_endpoint: Option<ConnectionUrl>,
    /// Headers sent with every export, `key=value` pairs separated by commas (often a credential, so a
    /// secret: never shown). `OTEL_EXPORTER_OTLP_HEADERS` sets it too.
    pub otlp_headers: Option<Secret>,
    /// How long one export may take, in milliseconds. `OTEL_EXPORTER_OTLP_TIMEOUT` sets it too.
    pub otlp_timeout_ms: u64,
    /// Turns OTLP export of traces and metrics off whatever the endpoints say. `OTEL_SDK_DISABLED` sets
    /// it too.
    pub sdk_disabled: bool,
    /// A PEM file of CA certificates trusted, besides the public (webpki) roots, when an endpoint is
    /// `https://`: for a collector whose certificate a private CA signed. `OTEL_EXPORTER_OTLP_CERTIFICATE`
    /// sets it too.
    pub otlp_certificate: Option<PathBuf>,
    /// Spans' own `otlp_certificate`, replacing it for spans. `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`.
    pub otlp_traces_certificate: Option<PathBuf>,
    /// Metrics' own `otlp_certificate`. `OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE`.
    pub otlp_metrics_certificate: Option<PathBuf>,
    /// Spans' own `otlp_protocol`. `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`.
    #[serde(default, with = "crate::kinds::optional_choice")]
    pub otlp_traces_protocol: Option<OtlpProtocol>,
    /// Metrics' own `otlp_protocol`. `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`.
    #[serde(default, with = "crate::kinds::optional_choice")]
    pub otlp_metrics_protocol: Option<OtlpProtocol>,
    /// Spans' own `otlp_headers`, sent instead of them (a secret). `OTEL_EXPORTER_OTLP_TRACES_HEADERS`.
    pub otlp_traces_headers: Option<Secret>,
    /// Metrics' own `otlp_headers` (a secret). `OTEL_EXPORTER_OTLP_METRICS_HEADERS`.
    pub otlp_metrics_headers: Option<Secret>,
    /// Spans' own `otlp_timeout_ms`. `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`.
    pub otlp_traces_timeout_ms: Option<u64>,
    /// Metrics' own `otlp_timeout_ms`. `OTEL_EXPORTER_OTLP_METRICS_TIMEOUT`.
    pub otlp_metrics_timeout_ms: Option<u64>,
}

impl TelemetrySettings {
    /// Where and how `signal` is exported, if at all: each per-signal key (`otlp_traces_endpoint`,
    /// `otlp_traces_protocol`, …) replaces the shared one for its signal, as the OpenTelemetry
    /// specification says; nothing when `sdk_disabled` or when neither endpoint is set.
    pub fn export(&self, signal: Signal) -> Option<SignalExport<'_>> {
        if self.sdk_disabled {
            return None;
        }
        let (endpoint, protocol, headers, timeout_ms, certificate) = match signal {
            Signal::Traces => (
                &self.otlp_traces_endpoint,
                self.otlp_traces_protocol,
                &self.otlp_traces_headers,
                self.otlp_traces_timeout_ms,
                (
                    "telemetry.otlp_traces_certificate",
                    &self.otlp_traces_certificate,
                ),
            ),
            Signal::Metrics => (
                &self.otlp_metrics_endpoint,
                self.otlp_metrics_protocol,
                &self.otlp_metrics_headers,
                self.otlp_metrics_timeout_ms,
                (
                    "telemetry.otlp_metrics_certificate",
                    &self.otlp_metrics_certificate,
                ),
            ),
        };
        let (endpoint, own_endpoint) = match endpoint {
            Some(url) => (url, true),
            None => (self.otlp_endpoint.as_ref()?, false),
        };
        let certificate = match certificate {
            (key, Some(path)) => Some((key, path.as_path())),
            (_, None) => self
                .otlp_certificate
                .as_deref()
                .map(|path| ("telemetry.otlp_certificate", path)),
        };
        Some(SignalExport {
            signal,
            endpoint,
            own_endpoint,
            protocol: protocol.unwrap_or(self.otlp_protocol),
            headers: headers
                .as_ref()
                .or(self.otlp_headers.as_ref())
                .map(|headers| crate::grammar::key_value_pairs(headers.expose()))
                .unwrap_or_default()
                .into_iter()
                .filter_map(Result::ok)
                .collect(),
            timeout: Duration::from_millis(timeout_ms.unwrap_or(self.otlp_timeout_ms)),
            certificate,
        })
    }

    /// `resource_attributes` as pairs, values percent-decoded; items without `=` are left out (validation
    /// refused them already).
    pub fn resource_attribute_pairs(&self) -> Vec<(String, String)> {
        self.resource_attributes
            .as_deref()
            .map(crate::grammar::key_value_pairs)
            .unwrap_or_default()
            .into_iter()
            .filter_map(Result::ok)
            .collect()
    }
}

/// The trace samplers of the OpenTelemetry environment specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracesSampler {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio,
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio,
}

impl Choice for TracesSampler {
    const WHAT: &'static str = "traces sampler";
    const NAMES: &'static [(&'static str, TracesSampler)] = &[
        ("always_on", TracesSampler::AlwaysOn),
        ("always_off", TracesSampler::AlwaysOff),
        ("traceidratio", TracesSampler::TraceIdRatio),
        ("parentbased_always_on", TracesSampler::ParentBasedAlwaysOn),
        (
            "parentbased_always_off",
            TracesSampler::ParentBasedAlwaysOff,
        ),
        (
            "parentbased_traceidratio",
            TracesSampler::ParentBasedTraceIdRatio,
        ),
    ];
}

/// The two signals keel exports over OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    /// The signal's name in OTLP paths (`/v1/traces`) and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }
}

/// Where and how one signal is exported ([`crate::TelemetrySettings::export`]).
#[derive(Debug, Clone)]
pub struct SignalExport<'a> {
    pub signal: Signal,
    /// The signal's own URL (`own_endpoint`, used as it is) or the shared base URL.
    pub endpoint: &'a ConnectionUrl,
    pub own_endpoint: bool,
    pub protocol: OtlpProtocol,
    /// Header pairs, values percent-decoded (often a credential: never log them).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// The key that names the trusted CA file, and the file.
    pub certificate: Option<(&'static str, &'a Path)>,
}

impl SignalExport<'_> {
    /// The certificates of the CA file, if one is set, as DER: what an https client adds to the public
    /// roots. The message names the key, the file and the fix.
    pub fn trusted_certificates(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        match self.certificate {
            None => Ok(Vec::new()),
            Some((key, path)) => {
                crate::otlp::read_certificates(path).map_err(|reason| format!("{key}: {reason}"))
            }
        }
    }
}
