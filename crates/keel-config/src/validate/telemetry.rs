//! What the telemetry settings' types alone cannot say: endpoint schemes, the sample ratio's range, the
//! `key=value` lists of resource attributes and headers (the headers named by position only: a secret),
//! and CA certificate files that exist and hold a certificate.

use super::{Context, Section};
use crate::bounds;
use crate::settings::TelemetrySettings;

impl Section for TelemetrySettings {
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(endpoint) = &self.otlp_endpoint
            && !matches!(endpoint.scheme(), Some("http" | "https"))
        {
            problems.push((
                "telemetry.otlp_endpoint",
                format!(
                    "{} is not an http(s) URL: write the collector's OTLP address, e.g. http://otel-collector:4318",
                    endpoint.masked()
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            problems.push((
                "telemetry.sample_ratio",
                format!(
                    "is {}: write a share between 0.0 (no new traces) and 1.0 (every trace)",
                    self.sample_ratio
                ),
            ));
        }
        for (key, endpoint) in [
            ("telemetry.otlp_traces_endpoint", &self.otlp_traces_endpoint),
            (
                "telemetry.otlp_metrics_endpoint",
                &self.otlp_metrics_endpoint,
            ),
        ] {
            if let Some(endpoint) = endpoint
                && !matches!(endpoint.scheme(), Some("http" | "https"))
            {
                problems.push((
                    key,
                    format!(
                        "{} is not an http(s) URL: write the full URL of the collector's signal, e.g. http://otel-collector:4318/v1/traces",
                        endpoint.masked()
                    ),
                ));
            }
        }
        if let Some(attributes) = &self.resource_attributes {
            for position in crate::grammar::key_value_pairs(attributes)
                .into_iter()
                .filter_map(Result::err)
            {
                problems.push((
                    "telemetry.resource_attributes",
                    format!(
                        "item {position} of {attributes:?} is not key=value: write pairs separated by commas, e.g. team=payments,region=eu (percent-encode commas in values)"
                    ),
                ));
            }
        }
        for (key, headers) in [
            ("telemetry.otlp_headers", &self.otlp_headers),
            ("telemetry.otlp_traces_headers", &self.otlp_traces_headers),
            ("telemetry.otlp_metrics_headers", &self.otlp_metrics_headers),
        ] {
            if let Some(headers) = headers
                && let Some(position) = crate::grammar::key_value_pairs(headers.expose())
                    .into_iter()
                    .find_map(Result::err)
            {
                // The headers are a secret: the message names the item by position only.
                problems.push((
                    key,
                    format!(
                        "item {position} is not key=value: write headers separated by commas, e.g. authorization=Bearer%20TOKEN (percent-encode spaces and commas)"
                    ),
                ));
            }
        }
        for (key, path) in [
            ("telemetry.otlp_certificate", &self.otlp_certificate),
            (
                "telemetry.otlp_traces_certificate",
                &self.otlp_traces_certificate,
            ),
            (
                "telemetry.otlp_metrics_certificate",
                &self.otlp_metrics_certificate,
            ),
        ] {
            if let Some(path) = path
                && let Err(reason) = crate::otlp::read_certificates(path)
            {
                problems.push((key, reason));
            }
        }
        if let Some(name) = &self.service_name
            && name.trim().is_empty()
        {
            problems.push((
                "telemetry.service_name",
                "must not be empty: unset it to use app.name".to_owned(),
            ));
        }
        problems.extend(bounds::check(
            "telemetry.otlp_timeout_ms",
            self.otlp_timeout_ms,
        ));
        for (key, timeout) in [
            (
                "telemetry.otlp_traces_timeout_ms",
                self.otlp_traces_timeout_ms,
            ),
            (
                "telemetry.otlp_metrics_timeout_ms",
                self.otlp_metrics_timeout_ms,
            ),
        ] {
            problems.extend(timeout.and_then(|timeout| bounds::check(key, timeout)));
        }
        // The filter's grammar belongs to the log subscriber, which this crate does not know: the loader
        // checks `log_level` with the parser its caller passes (`LoadOptions::log_filter_check`).
        problems
    }
}
