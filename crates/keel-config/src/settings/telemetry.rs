//! The `[telemetry]` section: log output, trace and metric export, and the standard `OTEL_*` variables
//! that feed it (mapped in `layers.rs`).

use serde::{Deserialize, Serialize};

use crate::kinds::Choice;
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
}

impl TelemetrySettings {
    /// Where spans go, if anywhere: `otlp_traces_endpoint` as it is, else `otlp_endpoint` (to which the
    /// exporter appends `/v1/traces` over HTTP), and nowhere when `sdk_disabled`. The flag says whether
    /// the URL is a signal's own (used as it is).
    pub fn traces_endpoint(&self) -> Option<(&ConnectionUrl, bool)> {
        self.signal_endpoint(self.otlp_traces_endpoint.as_ref())
    }

    /// Where metrics go, as [`TelemetrySettings::traces_endpoint`] says for spans.
    pub fn metrics_endpoint(&self) -> Option<(&ConnectionUrl, bool)> {
        self.signal_endpoint(self.otlp_metrics_endpoint.as_ref())
    }

    fn signal_endpoint<'a>(
        &'a self,
        own: Option<&'a ConnectionUrl>,
    ) -> Option<(&'a ConnectionUrl, bool)> {
        if self.sdk_disabled {
            return None;
        }
        match own {
            Some(url) => Some((url, true)),
            None => self.otlp_endpoint.as_ref().map(|url| (url, false)),
        }
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

    /// `otlp_headers` as pairs, values percent-decoded.
    pub fn otlp_header_pairs(&self) -> Vec<(String, String)> {
        self.otlp_headers
            .as_ref()
            .map(|headers| crate::grammar::key_value_pairs(headers.expose()))
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
