//! The subscriber as a whole: JSON and pretty lines, the request span's ids, the filter.

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use keel_config::{LoadOptions, Override};

use super::*;

/// Collects everything the subscriber writes, for assertions.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn lines(&self) -> Vec<serde_json::Value> {
        let output = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        output
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'writer> MakeWriter<'writer> for Captured {
    type Writer = Captured;

    fn make_writer(&'writer self) -> Self::Writer {
        self.clone()
    }
}

fn settings(format: &str, level: &str) -> Settings {
    let options = LoadOptions {
        environment: Some("testing".to_owned()),
        overrides: vec![
            Override::new("telemetry.log_format", format),
            Override::new("telemetry.log_level", level),
        ],
        ..LoadOptions::default()
    };
    keel_config::load(&options).unwrap().settings
}

/// Headers with a caller's W3C `traceparent` (trace 4bf92f35…, parent span 00f067aa0ba902b7).
fn with_traceparent() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    headers
}

#[test]
fn json_lines_inside_a_request_carry_its_request_trace_and_span_ids() {
    let _alone = one_at_a_time();
    let captured = Captured::default();
    let (subscriber, telemetry) =
        init_with_writer(&settings("json", "info"), captured.clone()).unwrap();
    let headers = with_traceparent();
    let trace_id = tracing::subscriber::with_default(subscriber, || {
        let client = Some(std::net::IpAddr::from([192, 0, 2, 7]));
        let request = request_span(&http::Method::GET, "/ping", "req-1", client, &headers);
        // Recorded after the ids: spliced into the span's stored fields with them.
        record_status(&request.span, http::StatusCode::OK, true);
        let _entered = request.span.enter();
        tracing::info!(answer = 42, "computed");
        tracing::debug!("filtered out");
        request.trace_id()
    });
    telemetry.shutdown(Duration::from_secs(1));

    assert_eq!(
        trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["message"], "computed");
    assert_eq!(line["answer"], 42);
    assert_eq!(line["span"]["request_id"], "req-1");
    assert_eq!(line["span"]["http.route"], "/ping");
    assert_eq!(line["span"]["client.address"], "192.0.2.7");
    assert_eq!(line["span"]["http.response.status_code"], 200);
    assert_eq!(line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let span_id = line["span"]["span_id"].as_str().unwrap();
    assert_eq!(span_id.len(), 16);
    assert_ne!(
        span_id, "00f067aa0ba902b7",
        "the request span is a child, not the caller"
    );
}

#[test]
fn a_quiet_log_level_still_traces_requests_and_puts_the_ids_on_warnings() {
    let _alone = one_at_a_time();
    let captured = Captured::default();
    let (subscriber, telemetry) =
        init_with_writer(&settings("json", "warn"), captured.clone()).unwrap();
    let trace_id = tracing::subscriber::with_default(subscriber, || {
        let request = request_span(
            &http::Method::GET,
            "/ping",
            "req-3",
            None,
            &HeaderMap::new(),
        );
        assert!(
            !crate::request::spans_are_exported(),
            "no exporter is configured"
        );
        let _entered = request.span.enter();
        tracing::info!("not logged at warn");
        tracing::warn!("logged");
        request.trace_id()
    });
    telemetry.shutdown(Duration::from_secs(1));
    let trace_id = trace_id.expect("a trace id at log level warn");
    let lines = captured.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["span"]["trace_id"], trace_id.as_str());
}

#[test]
fn the_status_is_recorded_on_the_span_only_where_something_reads_it() {
    for line_follows in [true, false] {
        let _alone = one_at_a_time();
        let captured = Captured::default();
        let (subscriber, telemetry) =
            init_with_writer(&settings("json", "warn"), captured.clone()).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let request = request_span(
                &http::Method::GET,
                "/ping",
                "req-4",
                None,
                &HeaderMap::new(),
            );
            record_status(&request.span, http::StatusCode::OK, line_follows);
            let _entered = request.span.enter();
            tracing::warn!("after the status");
        });
        telemetry.shutdown(Duration::from_secs(1));
        let lines = captured.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let status = &lines[0]["span"]["http.response.status_code"];
        if line_follows {
            assert_eq!(status, 200);
        } else {
            // Neither exported nor followed by a line: nothing would read it.
            assert!(status.is_null(), "{status}");
        }
    }
}

#[test]
fn with_an_exporter_the_logged_ids_are_those_of_the_exported_span() {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let _alone = one_at_a_time();
    let captured = Captured::default();
    let options = LoadOptions {
        environment: Some("testing".to_owned()),
        overrides: vec![
            Override::new("telemetry.log_format", "json"),
            Override::new("telemetry.log_level", "warn"),
            // Nothing listens there: the export fails in the background, which this test does not read.
            Override::new("telemetry.otlp_endpoint", "http://127.0.0.1:9"),
        ],
        ..LoadOptions::default()
    };
    let settings = keel_config::load(&options).unwrap().settings;
    let (subscriber, telemetry) = init_with_writer(&settings, captured.clone()).unwrap();
    let headers = with_traceparent();
    let (exported, trace_id, exported_ids) = tracing::subscriber::with_default(subscriber, || {
        let request = request_span(&http::Method::GET, "/ping", "req-4", None, &headers);
        let context = request.span.context();
        let exported = context.span().span_context().clone();
        let _entered = request.span.enter();
        tracing::warn!("logged");
        (
            crate::request::spans_are_exported(),
            request.trace_id(),
            (
                exported.trace_id().to_string(),
                exported.span_id().to_string(),
            ),
        )
    });
    telemetry.shutdown(Duration::from_millis(100));
    assert!(exported, "the subscriber with an exporter is recognised");
    assert_eq!(
        trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let lines = captured.lines();
    let line = lines
        .iter()
        .find(|line| line["message"] == "logged")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(line["span"]["trace_id"], exported_ids.0.as_str());
    assert_eq!(line["span"]["span_id"], exported_ids.1.as_str());
    assert_ne!(exported_ids.1, "00f067aa0ba902b7");
}

#[test]
fn without_a_traceparent_a_request_starts_a_new_trace() {
    let _alone = one_at_a_time();
    let (subscriber, telemetry) =
        init_with_writer(&settings("pretty", "info"), std::io::sink).unwrap();
    let trace_id = tracing::subscriber::with_default(subscriber, || {
        request_span(
            &http::Method::GET,
            "/ping",
            "req-2",
            None,
            &HeaderMap::new(),
        )
        .trace_id()
    });
    telemetry.shutdown(Duration::from_secs(1));
    let trace_id = trace_id.unwrap();
    assert_eq!(trace_id.len(), 32);
    assert_ne!(trace_id, "00000000000000000000000000000000");
}

#[test]
fn pretty_lines_show_the_request_once_and_colours_only_when_asked() {
    let _alone = one_at_a_time();
    for colours in [false, true] {
        let captured = Captured::default();
        let (subscriber, telemetry) =
            build(&settings("pretty", "info"), captured.clone(), colours).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let request = request_span(
                &http::Method::GET,
                "/notes/{id}",
                "0192ab3c-7d4e-7f00-8a1b-3f9a1c2e5d6f",
                None,
                &HeaderMap::new(),
            );
            let _entered = request.span.enter();
            tracing::warn!(answer = 42, "computed");
            tracing::info!(
                status = 200_u16,
                latency_ms = 0.4213,
                bytes = 12_u64,
                "request finished"
            );
        });
        telemetry.shutdown(Duration::from_secs(1));
        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 2, "{output}");
        if colours {
            assert!(output.contains("\x1b[32m200\x1b[0m"), "{output:?}");
            continue;
        }
        assert!(!output.contains('\x1b'), "{output:?}");
        // `HH:MM:SS.mmm LEVEL …`, and the request's fields only as its short id.
        assert!(
            lines[0].ends_with(" WARN keel_ext_telemetry::tests: computed answer=42  req 1c2e5d6f"),
            "{output}"
        );
        assert!(
            lines[1].ends_with(" INFO GET /notes/{id} → 200 in 0.4 ms  req 1c2e5d6f"),
            "{output}"
        );
        assert!(!output.contains("otel.name"), "{output}");
    }
}

#[test]
fn an_invalid_filter_is_a_clear_error() {
    let _alone = one_at_a_time();
    // keel-config rejects most bad filters first; this is the last line of defence.
    let mut settings = settings("pretty", "info");
    settings.telemetry.log_level = "info,[unclosed=debug".to_owned();
    let error = init_with_writer(&settings, std::io::sink).err().unwrap();
    assert!(
        error
            .to_string()
            .starts_with("telemetry.log_level \"info,[unclosed=debug\" is not a valid log filter"),
        "{error}"
    );
}
