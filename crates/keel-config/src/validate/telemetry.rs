//! What the telemetry settings' types alone cannot say: endpoint schemes and the sample ratio's range.

use super::{Context, Section};
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
        // The filter's grammar belongs to the log subscriber, which this crate does not know: the loader
        // checks `log_level` with the parser its caller passes (`LoadOptions::log_filter_check`).
        problems
    }
}
