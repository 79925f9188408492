//! The request span: one per request, child of the caller's trace when a W3C `traceparent` came in, and
//! carrying the ids that tie log lines to traces.

use http::{HeaderMap, Method, StatusCode};
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The span every log line of a request is written in, named `METHOD route` for the trace. `route` is the
/// route template (`/api/v1/ready`), never the raw path.
///
/// An incoming `traceparent` becomes the span's parent; the trace and span ids are recorded as fields, so
/// JSON log lines carry them.
pub fn request_span(
    method: &Method,
    route: &str,
    request_id: &str,
    headers: &HeaderMap,
) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        http.response.status_code = Empty,
        client.address = Empty,
        request_id,
        trace_id = Empty,
        span_id = Empty,
    );
    // The parent must be set before anything looks at the span's context, or it is too late.
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    if let Err(error) = span.set_parent(parent) {
        // Only without the tracing layer (e.g. a test subscriber): the request is served all the same.
        tracing::debug!(%error, "the request span has no trace context");
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", tracing::field::display(span_context.trace_id()));
        span.record("span_id", tracing::field::display(span_context.span_id()));
    }
    span
}

/// Records who sent the request (the peer, or the client a trusted proxy names) on the request span.
pub fn record_client_address(span: &tracing::Span, address: std::net::IpAddr) {
    span.record("client.address", tracing::field::display(address));
}

/// Records the response status on the request span (an attribute of the exported span).
pub fn record_status(span: &tracing::Span, status: StatusCode) {
    // As i64: the tracing layer exports unsigned integers as strings.
    span.record("http.response.status_code", i64::from(status.as_u16()));
}

/// The trace id of `span` as 32 hex digits, when it has one.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Reads propagation headers from an `http::HeaderMap`.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}
