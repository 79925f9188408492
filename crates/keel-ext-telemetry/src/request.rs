//! The request span: one per request, child of the caller's trace when a W3C `traceparent` came in, and
//! carrying the ids that tie log lines to traces.
//!
//! With an exporter, the OpenTelemetry layer gives the span its ids. Without one that layer is not
//! installed (it would build and drop a whole OpenTelemetry span per request for nobody), and the ids are
//! made here the same way: the caller's trace id, or a new random one, and a new span id, from the
//! SDK's thread-local generator (no system call). Logs and `X-Trace-ID` look the same either way.

use std::borrow::Cow;
use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator};
use tracing::Metadata;
use tracing::field::Empty;
use tracing::subscriber::Interest;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Filter};

/// The W3C trace context header that names the caller's span.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A request's span and its trace id.
#[derive(Debug)]
pub struct RequestSpan {
    pub span: tracing::Span,
    trace_id: Option<TraceId>,
}

impl RequestSpan {
    /// The trace id as 32 hex digits, when the span has one.
    pub fn trace_id(&self) -> Option<String> {
        self.trace_id.map(|trace_id| trace_id.to_string())
    }

    /// The trace id as a header value (`X-Trace-ID`), when the span has one.
    pub fn trace_id_header(&self) -> Option<HeaderValue> {
        let mut hex = [0_u8; 32];
        HeaderValue::from_str(write_hex(&self.trace_id?.to_bytes(), &mut hex)).ok()
    }
}

/// `bytes` as lowercase hex digits in `out` (twice as long), as the W3C trace context writes ids: by hand,
/// because the formatting machinery costs more than the request's other fields together.
fn write_hex<'out>(bytes: &[u8], out: &'out mut [u8]) -> &'out str {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (index, byte) in bytes.iter().enumerate() {
        out[2 * index] = HEX_DIGITS[usize::from(byte >> 4)];
        out[2 * index + 1] = HEX_DIGITS[usize::from(byte & 0x0f)];
    }
    std::str::from_utf8(&out[..2 * bytes.len()]).unwrap_or_default()
}

/// An IPv4 address in dotted decimal in `out`, by hand for the same reason; `None` for IPv6 (rarer, and
/// written by `Display`).
fn write_ipv4(address: IpAddr, out: &mut [u8; 15]) -> Option<&str> {
    let IpAddr::V4(address) = address else {
        return None;
    };
    let mut length = 0;
    for (index, octet) in address.octets().into_iter().enumerate() {
        if index > 0 {
            out[length] = b'.';
            length += 1;
        }
        if octet >= 100 {
            out[length] = b'0' + octet / 100;
            length += 1;
        }
        if octet >= 10 {
            out[length] = b'0' + octet / 10 % 10;
            length += 1;
        }
        out[length] = b'0' + octet % 10;
        length += 1;
    }
    std::str::from_utf8(&out[..length]).ok()
}

/// `METHOD route`, the exported span's name, written into `buffer` when it fits (a string is
/// written straight into the log output, where a formatted value goes through the formatting machinery).
fn span_name<'buffer>(
    method: &str,
    route: &str,
    buffer: &'buffer mut [u8; 128],
) -> Cow<'buffer, str> {
    let Some(out) = buffer.get_mut(..method.len() + 1 + route.len()) else {
        return Cow::Owned(format!("{method} {route}"));
    };
    let (method_part, rest) = out.split_at_mut(method.len());
    method_part.copy_from_slice(method.as_bytes());
    rest[0] = b' ';
    rest[1..].copy_from_slice(route.as_bytes());
    // Two strings and an ASCII space: UTF-8.
    Cow::Borrowed(std::str::from_utf8(out).unwrap_or_default())
}

/// The span every log line of a request is written in, named `METHOD route` for the trace. `route` is the
/// route template (`/api/v1/ready`), never the raw path.
///
/// An incoming `traceparent` becomes the span's parent; the trace and span ids are recorded as fields, so
/// JSON log lines carry them. `client` is who sent the request (the peer, or the client a trusted proxy
/// names), when known.
///
/// Every field known up front is given when the span is made: each record is one more pass of the log
/// output's field formatter over the span. Without an exporter that includes the ids, which are this
/// function's to make; with one, the OpenTelemetry layer makes them when the span is made, and both are
/// recorded together right after.
pub fn request_span(
    method: &Method,
    route: &str,
    request_id: &str,
    client: Option<IpAddr>,
    headers: &HeaderMap,
) -> RequestSpan {
    let mut ipv4 = [0_u8; 15];
    let client: Option<Cow<'_, str>> = client.map(|client| match write_ipv4(client, &mut ipv4) {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(client.to_string()),
    });
    // Most requests carry no `traceparent`: then the propagator, which would look the header up by a
    // name it parses first, has nothing to find, and the parent is the current context, as it would say.
    let parent = if headers.contains_key(&TRACEPARENT) {
        TraceContextPropagator::new().extract(&HeaderExtractor(headers))
    } else {
        opentelemetry::Context::current()
    };
    let caller = parent.span().span_context().clone();
    let caller_trace_id = caller.is_valid().then(|| caller.trace_id());
    let own = (!spans_are_exported()).then(|| own_ids(caller_trace_id));
    let (mut trace_hex, mut span_hex) = ([0_u8; 32], [0_u8; 16]);
    let (own_trace_id, own_span_id) = match own {
        Some((trace_id, span_id)) => (
            Some(write_hex(&trace_id.to_bytes(), &mut trace_hex)),
            Some(write_hex(&span_id.to_bytes(), &mut span_hex)),
        ),
        None => (None, None),
    };
    let mut name = [0_u8; 128];
    let name = span_name(method.as_str(), route, &mut name);
    let span = tracing::info_span!(
        "request",
        otel.name = &*name,
        otel.kind = "server",
        http.request.method = method.as_str(),
        http.route = route,
        http.response.status_code = Empty,
        client.address = client.as_deref(),
        request_id,
        trace_id = own_trace_id,
        span_id = own_span_id,
    );
    if span.is_disabled() {
        return RequestSpan {
            span,
            trace_id: None,
        };
    }
    if let Some((trace_id, _)) = own {
        return RequestSpan {
            span,
            trace_id: Some(trace_id),
        };
    }
    // The parent must be set before anything looks at the span's context, or it is too late.
    let (trace_id, span_id) = if span.set_parent(parent).is_ok() {
        let context = span.context();
        let span_context = context.span().span_context().clone();
        if !span_context.is_valid() {
            return RequestSpan {
                span,
                trace_id: None,
            };
        }
        (span_context.trace_id(), span_context.span_id())
    } else {
        own_ids(caller_trace_id)
    };
    record_ids(&span, trace_id, span_id);
    RequestSpan {
        span,
        trace_id: Some(trace_id),
    }
}

/// The filter of the OpenTelemetry layer: what `LevelFilter::INFO` lets through. Its type marks a
/// subscriber that exports spans, which [`request_span`] asks the current dispatcher about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExportedSpans;

impl<S> Filter<S> for ExportedSpans {
    fn enabled(&self, metadata: &Metadata<'_>, context: &Context<'_, S>) -> bool {
        <LevelFilter as Filter<S>>::enabled(&LevelFilter::INFO, metadata, context)
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        <LevelFilter as Filter<S>>::callsite_enabled(&LevelFilter::INFO, metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }
}

/// Whether the current subscriber exports spans (has the OpenTelemetry layer, filtered by
/// [`ExportedSpans`]).
pub(crate) fn spans_are_exported() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.downcast_ref::<ExportedSpans>().is_some())
}

/// Ids for a span without the OpenTelemetry layer: the caller's trace, or a new one, and a new span.
fn own_ids(caller: Option<TraceId>) -> (TraceId, SpanId) {
    let ids = RandomIdGenerator::default();
    (
        caller.unwrap_or_else(|| ids.new_trace_id()),
        ids.new_span_id(),
    )
}

/// Records both ids on `span` in one record (two `Span::record` calls would be two).
fn record_ids(span: &tracing::Span, trace_id: TraceId, span_id: SpanId) {
    let Some(metadata) = span.metadata() else {
        return;
    };
    let fields = metadata.fields();
    let (Some(trace_field), Some(span_field)) = (fields.field("trace_id"), fields.field("span_id"))
    else {
        return;
    };
    let (mut trace_hex, mut span_hex) = ([0_u8; 32], [0_u8; 16]);
    let trace_id = write_hex(&trace_id.to_bytes(), &mut trace_hex);
    let span_id = write_hex(&span_id.to_bytes(), &mut span_hex);
    let values: [(&tracing::field::Field, Option<&dyn tracing::Value>); 2] = [
        (&trace_field, Some(&trace_id)),
        (&span_field, Some(&span_id)),
    ];
    span.record_all(&fields.value_set(&values));
}

/// Records the response status on the request span, where something will read it: the exported span
/// (an attribute), or a line the caller logs in the span next (`line_follows`: the access line, when the
/// log filter lets it through). With neither, the record would be one more pass of the log output's
/// field formatter over the span for nothing.
pub fn record_status(span: &tracing::Span, status: StatusCode, line_follows: bool) {
    if line_follows || spans_are_exported() {
        // As i64: the tracing layer exports unsigned integers as strings.
        span.record("http.response.status_code", i64::from(status.as_u16()));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_span_name_is_the_method_and_the_route_however_long() {
        let mut buffer = [0_u8; 128];
        assert_eq!(
            span_name("GET", "/api/v1/health", &mut buffer),
            "GET /api/v1/health"
        );
        for length in [123, 124, 125, 500] {
            let route = format!("/{}", "é".repeat(length / 2));
            let expected = format!("PATCH {route}");
            assert_eq!(span_name("PATCH", &route, &mut buffer), expected);
        }
    }

    #[test]
    fn own_ids_continue_the_callers_trace_or_start_a_new_one() {
        let caller = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let (trace_id, span_id) = own_ids(Some(caller));
        assert_eq!(trace_id, caller);
        assert_ne!(span_id, SpanId::INVALID);
        let (first, _) = own_ids(None);
        let (second, _) = own_ids(None);
        assert_ne!(first, TraceId::INVALID);
        assert_ne!(first, second);
    }

    #[test]
    fn ids_and_addresses_are_written_as_display_writes_them() {
        let trace_id = TraceId::from_hex("04bf92f3577b34da6a3ce929d0e0e473").unwrap();
        let mut hex = [0_u8; 32];
        assert_eq!(
            write_hex(&trace_id.to_bytes(), &mut hex),
            trace_id.to_string()
        );
        let span_id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        let mut hex = [0_u8; 16];
        assert_eq!(
            write_hex(&span_id.to_bytes(), &mut hex),
            span_id.to_string()
        );
        for address in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.100.255",
            "255.255.255.255",
            "1.10.100.9",
        ] {
            let mut text = [0_u8; 15];
            assert_eq!(
                write_ipv4(address.parse().unwrap(), &mut text),
                Some(address)
            );
        }
        assert_eq!(write_ipv4("::1".parse().unwrap(), &mut [0_u8; 15]), None);
    }

    #[test]
    fn the_trace_id_header_is_the_32_hex_digits() {
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let span = RequestSpan {
            span: tracing::Span::none(),
            trace_id: Some(trace_id),
        };
        assert_eq!(
            span.trace_id_header().unwrap(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(span.trace_id().unwrap(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
