//! The edge of the stack, outermost: one middleware for everything every response gets on its way out
//! and every request on its way in — the request id, the request span with its access line and
//! `X-Trace-ID`, `X-App` and the security headers.
//!
//! They were nine layers (five header setters, two middleware functions, tower-http's trace layer and
//! HSTS); as one service they cost one. The order inside is the order they had as layers, so responses
//! are the same.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::HttpBody as _;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use keel_ext_telemetry::RequestSpan;
use keel_http::{ClientAddress, REQUEST_ID_HEADER, RequestId};
use pin_project_lite::pin_project;
use tower::Service;

/// The header that returns the request's trace id.
pub(crate) const TRACE_ID_HEADER: HeaderName = HeaderName::from_static("x-trace-id");

/// The header naming the service that answered, for operators behind a proxy or load balancer.
pub(crate) const APP_HEADER: HeaderName = HeaderName::from_static("x-app");

/// HSTS for a year, subdomains included: sent only when clients are known to arrive over https.
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");

/// How many headers the edge may add to a response.
const EDGE_HEADERS: usize = 8;

/// What the edge needs, resolved from the settings once.
#[derive(Debug)]
pub(crate) struct Edge {
    pub(crate) app_header: HeaderValue,
    pub(crate) content_security_policy: HeaderValue,
    pub(crate) strict_transport_security: bool,
    /// `server.trusted_proxies`: whose `X-Forwarded-For` names the client.
    pub(crate) trusted_proxies: Arc<[IpNet]>,
}

/// The edge around `inner` (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct EdgeService<S> {
    pub(crate) edge: Arc<Edge>,
    pub(crate) inner: S,
}

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // Request id: kept when the client's is a sane token, else a new UUIDv7; handlers and error
        // rendering read it from the extensions, and the response echoes it.
        let id = RequestId::from_incoming(request.headers().get(REQUEST_ID_HEADER));
        let id_header = id.to_header_value();
        let request_span = request_span(&request, &id, &self.edge.trusted_proxies);
        let trace_id_header = request_span.trace_id_header();
        request.extensions_mut().insert(id);
        let started = Instant::now();
        // Outside the span: making the future runs no handler code and logs nothing. The stack's services
        // do their work in their futures, and axum calls the services behind each `Route` (handlers,
        // `require_flag`) only when the future is polled, inside the span. A service added to the stack
        // must log in its future too, not in `call`.
        let inner = self.inner.call(request);
        EdgeFuture {
            inner: Below::Running { future: inner },
            span: request_span.span,
            edge: Arc::clone(&self.edge),
            started,
            headers: Some((trace_id_header, id_header)),
        }
    }
}

pin_project! {
    /// The edge's response future: polls the stack below inside the request span, then writes the access
    /// line and sets the headers.
    ///
    /// Written out rather than an `async` block with `Instrumented`: it needs no allocation, and it enters
    /// the span once per poll, where `Instrumented` also enters it to drop a future that has completed.
    /// A future dropped before it completed (the client went away) is still dropped inside the span, so
    /// what it logs on the way out keeps the request's ids.
    pub(crate) struct EdgeFuture<F> {
        #[pin]
        inner: Below<F>,
        span: tracing::Span,
        edge: Arc<Edge>,
        started: Instant,
        // `X-Trace-ID` and `X-Request-ID`, taken when the response is ready.
        headers: Option<(Option<HeaderValue>, HeaderValue)>,
    }

    impl<F> PinnedDrop for EdgeFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let BelowProjection::Running { .. } = this.inner.as_mut().project() {
                let _entered = this.span.enter();
                this.inner.project_replace(Below::Done);
            }
        }
    }
}

pin_project! {
    /// The stack below the edge: running until its response is ready, then gone.
    #[project = BelowProjection]
    #[project_replace = BelowReplaced]
    enum Below<F> {
        Running { #[pin] future: F },
        Done,
    }
}

impl<F, R> Future for EdgeFuture<F>
where
    F: Future<Output = Result<R, Infallible>>,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut response = {
            let _entered = this.span.enter();
            let BelowProjection::Running { future } = this.inner.as_mut().project() else {
                panic!("the edge's future was polled after it completed");
            };
            let response = keel_http::response_of(ready!(future.poll(context)));
            this.inner.project_replace(Below::Done);
            // Inside the span, so the access line carries the request's ids.
            access_line(&response, this.started.elapsed(), this.span);
            response
        };
        if let Some((trace_id_header, id_header)) = this.headers.take() {
            add_headers(
                this.edge,
                response.headers_mut(),
                trace_id_header,
                id_header,
            );
        }
        Poll::Ready(Ok(response))
    }
}

/// The response headers the edge sets: ids, security headers and `X-App`.
fn add_headers(
    edge: &Edge,
    headers: &mut HeaderMap,
    trace_id: Option<HeaderValue>,
    request_id: HeaderValue,
) {
    // Room for the headers below at once: the map would otherwise grow (and rehash) on the way.
    headers.reserve(EDGE_HEADERS);
    if let Some(trace_id) = trace_id {
        headers.insert(TRACE_ID_HEADER, trace_id);
    }
    headers.insert(REQUEST_ID_HEADER, request_id);
    // Security headers, each only when a handler did not choose its own.
    if edge.strict_transport_security {
        set_if_absent(headers, header::STRICT_TRANSPORT_SECURITY, &HSTS);
    }
    set_if_absent(
        headers,
        header::CONTENT_SECURITY_POLICY,
        &edge.content_security_policy,
    );
    set_if_absent(
        headers,
        header::REFERRER_POLICY,
        &HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    set_if_absent(
        headers,
        header::X_FRAME_OPTIONS,
        &HeaderValue::from_static("DENY"),
    );
    set_if_absent(
        headers,
        header::X_CONTENT_TYPE_OPTIONS,
        &HeaderValue::from_static("nosniff"),
    );
    headers.insert(APP_HEADER, edge.app_header.clone());
}

fn set_if_absent(headers: &mut HeaderMap, name: HeaderName, value: &HeaderValue) {
    // One lookup: the entry is either the handler's value, kept, or the place for ours.
    headers.entry(name).or_insert_with(|| value.clone());
}

/// The span every log line of a request is written in (see `keel_ext_telemetry::request_span`), with the
/// client's address when the connection's peer is known (the server puts it in the extensions).
fn request_span(request: &Request, id: &RequestId, trusted_proxies: &[IpNet]) -> RequestSpan {
    // `Router::layer` runs the stack after routing, so the matched route is known here; requests that
    // matched no route (the 404 fallback) have none. The raw path is never logged: it can hold ids or
    // personal data, and would make every URL its own series.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| {
            ClientAddress::resolve(peer.ip(), request.headers(), trusted_proxies).0
        });
    keel_ext_telemetry::request_span(
        request.method(),
        route,
        id.as_str(),
        client,
        request.headers(),
    )
}

/// The access line: one per request, when its response head is ready.
fn access_line(response: &Response, latency: Duration, span: &tracing::Span) {
    // Asked of the line below's own target and level, so the answer is the line's.
    let logged = tracing::enabled!(tracing::Level::INFO);
    keel_ext_telemetry::record_status(span, response.status(), logged);
    // The body's exact size when it is known up front (most responses); streamed bodies have none.
    let bytes = response.body().size_hint().exact();
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        bytes,
        "request finished"
    );
}

#[cfg(test)]
mod tests;
