//! The Prometheus text format (version 0.0.4) for what the meter provider collected, written here because
//! the `opentelemetry-prometheus` exporter is discontinued (its README says so; it pulls in the
//! unmaintained `protobuf` crate).
//!
//! Names follow the OpenTelemetry → Prometheus compatibility rules: dots become underscores, the unit
//! becomes a suffix (`s` → `_seconds`, `By` → `_bytes`; annotations in braces such as `{request}` are
//! dropped), monotonic sums end in `_total`, histograms are cumulative `_bucket{le=…}` series with `_sum`
//! and `_count`. The resource becomes one `target_info` series.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family: its help, its type and its sample lines.
#[derive(Default)]
struct Family {
    help: String,
    kind: &'static str,
    samples: String,
}

/// `metrics` in the Prometheus text format, families sorted by name.
pub(crate) fn render(metrics: &ResourceMetrics) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            add_metric(&mut families, metric);
        }
    }
    let mut text = String::new();
    let resource: Vec<KeyValue> = metrics
        .resource()
        .iter()
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()))
        .collect();
    if !resource.is_empty() {
        text.push_str("# HELP target_info Target metadata\n# TYPE target_info gauge\n");
        let _ = writeln!(text, "target_info{} 1", labels(&resource, None));
    }
    for (name, family) in families {
        let _ = writeln!(text, "# HELP {name} {}", escape_help(&family.help));
        let _ = writeln!(text, "# TYPE {name} {}", family.kind);
        text.push_str(&family.samples);
    }
    text
}

fn add_metric(families: &mut BTreeMap<String, Family>, metric: &Metric) {
    match metric.data() {
        AggregatedMetrics::F64(data) => add_data(families, metric, data),
        AggregatedMetrics::U64(data) => add_data(families, metric, data),
        AggregatedMetrics::I64(data) => add_data(families, metric, data),
    }
}

/// A sample value as Prometheus reads it.
trait Sample: Copy {
    fn text(self) -> String;
}

impl Sample for f64 {
    fn text(self) -> String {
        float_text(self)
    }
}

impl Sample for u64 {
    fn text(self) -> String {
        self.to_string()
    }
}

impl Sample for i64 {
    fn text(self) -> String {
        self.to_string()
    }
}

fn float_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        value.to_string()
    }
}

fn add_data<T: Sample>(
    families: &mut BTreeMap<String, Family>,
    metric: &Metric,
    data: &MetricData<T>,
) {
    let base = base_name(metric.name(), metric.unit());
    let (name, kind) = match data {
        MetricData::Sum(sum) if sum.is_monotonic() => (format!("{base}_total"), "counter"),
        MetricData::Histogram(_) => (base, "histogram"),
        // Up-down counters and gauges both go up and down: a gauge to Prometheus.
        MetricData::Sum(_) | MetricData::Gauge(_) => (base, "gauge"),
        // Never configured in keel (no view selects it), and Prometheus 2 cannot read it as text.
        MetricData::ExponentialHistogram(_) => return,
    };
    let family = families.entry(name.clone()).or_default();
    family.help = metric.description().to_owned();
    family.kind = kind;
    let samples = &mut family.samples;
    match data {
        MetricData::Sum(sum) => {
            for point in sum.data_points() {
                write_sample(samples, &name, point.attributes(), point.value());
            }
        }
        MetricData::Gauge(gauge) => {
            for point in gauge.data_points() {
                write_sample(samples, &name, point.attributes(), point.value());
            }
        }
        MetricData::Histogram(histogram) => {
            for point in histogram.data_points() {
                let attributes: Vec<KeyValue> = point.attributes().cloned().collect();
                let mut cumulative = 0_u64;
                for (bound, count) in point.bounds().zip(point.bucket_counts()) {
                    cumulative += count;
                    let le = float_text(bound);
                    let _ = writeln!(
                        samples,
                        "{name}_bucket{} {cumulative}",
                        labels(&attributes, Some(&le))
                    );
                }
                let _ = writeln!(
                    samples,
                    "{name}_bucket{} {}",
                    labels(&attributes, Some("+Inf")),
                    point.count()
                );
                let _ = writeln!(
                    samples,
                    "{name}_sum{} {}",
                    labels(&attributes, None),
                    point.sum().text()
                );
                let _ = writeln!(
                    samples,
                    "{name}_count{} {}",
                    labels(&attributes, None),
                    point.count()
                );
            }
        }
        MetricData::ExponentialHistogram(_) => {}
    }
}

/// One `name{labels} value` line.
fn write_sample<'a, T: Sample>(
    samples: &mut String,
    name: &str,
    attributes: impl Iterator<Item = &'a KeyValue>,
    value: T,
) {
    let attributes: Vec<KeyValue> = attributes.cloned().collect();
    let _ = writeln!(
        samples,
        "{name}{} {}",
        labels(&attributes, None),
        value.text()
    );
}

/// The Prometheus name of an OpenTelemetry metric: `http.server.request.duration` in `s` is
/// `http_server_request_duration_seconds`.
pub(crate) fn base_name(name: &str, unit: &str) -> String {
    let mut base = sanitize(name);
    let suffix = match unit {
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        "1" | "" => "",
        // Annotations (`{request}`) say what is counted, which the name already says.
        unit if unit.starts_with('{') => "",
        unit => return format!("{base}_{}", sanitize(unit)),
    };
    if !suffix.is_empty() && !base.ends_with(suffix) {
        base.push('_');
        base.push_str(suffix);
    }
    base
}

/// Letters, digits and underscores; anything else becomes `_`, and a leading digit gets one before it.
fn sanitize(name: &str) -> String {
    let mut sanitized: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if sanitized.starts_with(|c: char| c.is_ascii_digit()) {
        sanitized.insert(0, '_');
    }
    sanitized
}

/// `{key="value",…}` (empty when there is nothing to write), with `le` last for histogram buckets.
fn labels(attributes: &[KeyValue], le: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = attributes
        .iter()
        .map(|pair| (sanitize(pair.key.as_str()), value_text(&pair.value)))
        .collect();
    pairs.sort();
    if let Some(le) = le {
        pairs.push(("le".to_owned(), le.to_owned()));
    }
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn value_text(value: &Value) -> String {
    value.as_str().into_owned()
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_their_unit_once_and_lose_dots_and_annotations() {
        let cases = [
            (
                "http.server.request.duration",
                "s",
                "http_server_request_duration_seconds",
            ),
            (
                "http.server.active_requests",
                "{request}",
                "http_server_active_requests",
            ),
            (
                "http.server.response.body.size",
                "By",
                "http_server_response_body_size_bytes",
            ),
            ("process.cpu.time", "s", "process_cpu_time_seconds"),
            (
                "keel.flags.snapshot.age_seconds",
                "s",
                "keel_flags_snapshot_age_seconds",
            ),
            ("9lives", "", "_9lives"),
        ];
        for (name, unit, expected) in cases {
            assert_eq!(base_name(name, unit), expected, "{name} in {unit}");
        }
    }

    #[test]
    fn label_values_are_escaped_and_keys_sanitized() {
        let attributes = [
            KeyValue::new("http.route", "/a\"b\\c\nd"),
            KeyValue::new("http.response.status_code", 404_i64),
        ];
        assert_eq!(
            labels(&attributes, Some("0.5")),
            r#"{http_response_status_code="404",http_route="/a\"b\\c\nd",le="0.5"}"#
        );
        assert_eq!(labels(&[], None), "");
    }

    #[test]
    fn special_floats_are_written_as_prometheus_reads_them() {
        assert_eq!(float_text(f64::INFINITY), "+Inf");
        assert_eq!(float_text(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float_text(f64::NAN), "NaN");
        assert_eq!(float_text(0.25), "0.25");
    }
}
