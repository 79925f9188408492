//! The middleware stack, outermost first:
//!
//! 1. the edge (`middleware/edge.rs`, one middleware function): `X-App` and the security headers
//!    (`X-Content-Type-Options`, `X-Frame-Options`, `Referrer-Policy`, `Content-Security-Policy` from
//!    `security.csp`, and HSTS when `security.preferred_url_scheme` is https), each set only when a handler
//!    did not choose its own; the request id (keep a sane incoming `X-Request-ID` or make a UUIDv7, store
//!    it in the request's extensions, echo it on the response); and the request span (child of an
//!    incoming W3C `traceparent`) carrying the request id, trace id, span id and client address (from
//!    `X-Forwarded-For` only when the peer is one of `server.trusted_proxies`), so every log line inside
//!    has them, with the access line when the response head is ready and the trace id back in
//!    `X-Trace-ID`. The headers sit outermost, not next to the routes where a stack usually puts them,
//!    so that responses made by the layers below (413, 504, the panic 500) carry them too. A layer that
//!    must see every request with its id and span goes right inside the edge: add it
//!    just before the edge in [`apply`];
//! 2. compression: gzip when the client accepts it and `server.compression` is on — outside error
//!    rendering, so error bodies are compressed as they are finally written;
//! 3. metrics (`metrics.rs`): request duration, active requests and body size by method, route template
//!    and final status — outside error rendering, so every response below is counted with its status;
//! 4. error rendering: every 4xx/5xx leaves as `{"error","message","request_id"}`, or as an HTML error
//!    page when the client's `Accept` prefers HTML (browsers). 3 and 4 are one middleware function
//!    (`finish`), one boxed layer fewer for every request to clone;
//! 5. catch panic: a panicking handler becomes a 500 and the process keeps serving;
//! 6. body size limit (413) — outside the timeout, as tower-http's types require — with axum's own
//!    extractor limit set to the same `server.max_body_bytes`;
//! 7. timeout: 504, or 408 when the handler was still waiting for the client's body
//!    (`request_timeout.rs`);
//! 8. CORS: only the origins in `security.cors_origins` (none by default);
//! 9. the flag visitor (installed in `lib.rs`, where the flag store is at hand): hands each request its
//!    [`keel_ext_flags::Flags`] and sets the signed visitor cookie when an answer depended on it;
//! 10. the routes.
//!
//! Invariant: a handler that fails returns an [`ErrorReport`] (directly or through its blueprint's error
//! type), or marks a body written for clients with [`PublicErrorBody`]. Layer 4 re-renders any other
//! error response from its status alone, so nothing a handler or a library wrote into an error body can
//! reach the client unreviewed.

mod edge;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use keel_blueprint_main::{SiteInfo, StaticAssets};
use keel_config::{Settings, UrlScheme};
use keel_http::{ErrorReport, PublicErrorBody, REQUEST_ID_HEADER, RequestId, prefers_html};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;

#[cfg(test)]
pub(crate) use self::edge::APP_HEADER;
use self::edge::Edge;

/// The longest client-error body that is kept as the error message (axum's rejections are short and safe).
const MAX_REJECTION_MESSAGE_BYTES: usize = 1024;

/// What the stack needs from the settings, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    app_header: HeaderValue,
    max_body_bytes: usize,
    request_timeout: Duration,
    /// `None` when no origin is allowed: then no CORS headers are sent at all.
    cors: Option<CorsLayer>,
    content_security_policy: HeaderValue,
    strict_transport_security: bool,
    compression: bool,
    /// `server.trusted_proxies`: whose `X-Forwarded-For` names the client.
    trusted_proxies: Arc<[IpNet]>,
    error_pages: ErrorPages,
    http_metrics: keel_ext_telemetry::HttpMetrics,
}

impl Options {
    /// Resolves the settings into header values. The settings were validated by `keel-config`, so a value
    /// that still cannot be a header is reported as an error naming the key.
    pub(crate) fn new(
        settings: &Settings,
        app_header: HeaderValue,
        site: SiteInfo,
        assets: StaticAssets,
    ) -> Result<Options, crate::Error> {
        let security = &settings.security;
        let cors = if security.cors_origins.is_empty() {
            None
        } else {
            Some(cors_layer(security)?)
        };
        Ok(Options {
            app_header,
            max_body_bytes: settings.server.max_body_bytes,
            request_timeout: settings.server.request_timeout,
            cors,
            content_security_policy: HeaderValue::from_str(&security.csp)
                .map_err(|_| crate::Error::NotAHeader("security.csp"))?,
            strict_transport_security: security.preferred_url_scheme == UrlScheme::Https,
            compression: settings.server.compression,
            trusted_proxies: settings.server.trusted_proxy_networks().into(),
            error_pages: ErrorPages {
                max_body_bytes: settings.server.max_body_bytes,
                site,
                assets,
            },
            http_metrics: keel_ext_telemetry::HttpMetrics::new(),
        })
    }
}

/// The CORS layer for `security.cors_*`. The settings were validated by `keel-config`; a value that still
/// cannot be a header is reported naming its key.
fn cors_layer(security: &keel_config::SecuritySettings) -> Result<CorsLayer, crate::Error> {
    let origins = if security.cors_origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        let origins = security
            .cors_origins
            .iter()
            .map(|origin| HeaderValue::from_str(origin))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| crate::Error::NotAHeader("security.cors_origins"))?;
        AllowOrigin::list(origins)
    };
    let methods = security
        .cors_methods
        .iter()
        .map(|method| Method::from_bytes(method.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| crate::Error::NotAHeader("security.cors_methods"))?;
    let headers = security
        .cors_headers
        .iter()
        .map(|name| HeaderName::from_bytes(name.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| crate::Error::NotAHeader("security.cors_headers"))?;
    Ok(CorsLayer::new()
        .allow_origin(origins)
        .allow_methods(methods)
        .allow_headers(headers)
        .allow_credentials(security.cors_allow_credentials)
        .expose_headers([REQUEST_ID_HEADER])
        .max_age(Duration::from_secs(600)))
}

/// Wraps `routes` in the stack described in the module documentation.
pub(crate) fn apply(routes: Router, options: &Options) -> Router {
    // `Router::layer` wraps what is already there, so layers are added innermost first.
    let mut routes = routes;
    if let Some(cors) = &options.cors {
        routes = routes.layer(cors.clone());
    }
    let mut routes = routes
        .layer(middleware::from_fn_with_state(
            options.request_timeout,
            crate::request_timeout::limit_time,
        ))
        .layer(RequestBodyLimitLayer::new(options.max_body_bytes))
        // axum's body extractors carry a limit of their own (2 MiB unless told otherwise), which would
        // apply under this one and be reported as this one: both are `server.max_body_bytes`, for every
        // route, a fork's included.
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            Arc::new(Finishing {
                metrics: options.http_metrics.clone(),
                pages: options.error_pages.clone(),
            }),
            finish,
        ));
    // Outside error rendering, so rendered error bodies are compressed too (inside, the re-rendered body
    // would be plain while the copied headers still said gzip).
    if options.compression {
        routes = routes.layer(CompressionLayer::new());
    }
    let edge = Edge {
        app_header: options.app_header.clone(),
        content_security_policy: options.content_security_policy.clone(),
        strict_transport_security: options.strict_transport_security,
        trusted_proxies: Arc::clone(&options.trusted_proxies),
    };
    routes.layer(middleware::from_fn_with_state(Arc::new(edge), edge::edge))
}

/// What error rendering needs: the body limit (to name it) and the site's look (for HTML pages).
#[derive(Debug, Clone)]
pub(crate) struct ErrorPages {
    pub(crate) max_body_bytes: usize,
    pub(crate) site: SiteInfo,
    pub(crate) assets: StaticAssets,
}

/// What layers 3 and 4 need. They are one middleware function: every layer is a boxed service that
/// each request clones with everything below it, so two functions in a row cost twice.
#[derive(Debug)]
struct Finishing {
    metrics: keel_ext_telemetry::HttpMetrics,
    pages: ErrorPages,
}

/// Layers 3 and 4: the request is counted (`metrics.rs`) around the rendering of its error, so the
/// metrics see the final status.
async fn finish(State(finishing): State<Arc<Finishing>>, request: Request, next: Next) -> Response {
    let active = crate::metrics::start(&finishing.metrics, &request);
    let response = render_errors(&finishing.pages, request, next).await;
    crate::metrics::finish(active, &response);
    response
}

async fn render_errors(pages: &ErrorPages, request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(RequestId::generate);
    let wants_html = prefers_html(request.headers().get(header::ACCEPT));
    let response = next.run(request).await;
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || response.extensions().get::<PublicErrorBody>().is_some() {
        return response;
    }
    // Headers set below (CORS, `Retry-After`, `WWW-Authenticate`, …) survive the re-rendering; only the
    // body and its description are replaced.
    let mut kept_headers = response.headers().clone();
    for describes_the_old_body in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
    ] {
        kept_headers.remove(describes_the_old_body);
    }
    let report = match response.extensions().get::<ErrorReport>() {
        Some(report) => report.clone(),
        // The limit is reported by two layers (by `Content-Length` up front, or while a handler reads a
        // streamed body) with different wording; clients get one message that names the limit.
        None if status == StatusCode::PAYLOAD_TOO_LARGE => ErrorReport::new(
            status,
            "payload-too-large",
            format!(
                "the request body is larger than the limit of {} bytes",
                pages.max_body_bytes
            ),
        ),
        None => report_for_bare_error(response).await,
    };
    let mut rendered = if wants_html {
        keel_blueprint_main::error_page(&pages.site, &pages.assets, &report, &request_id)
    } else {
        report.to_response_with(&request_id)
    };
    for (name, value) in &kept_headers {
        rendered.headers_mut().append(name, value.clone());
    }
    rendered
}

/// A report for an error response that carries none. A client error keeps a short plain-text body as its
/// message (that is how axum's extractors explain a rejected request); a server error never does.
async fn report_for_bare_error(response: Response) -> ErrorReport {
    let status = response.status();
    let is_plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    let mut report = ErrorReport::from_status(status);
    if status.is_client_error() && is_plain_text {
        let body = axum::body::to_bytes(response.into_body(), MAX_REJECTION_MESSAGE_BYTES).await;
        if let Some(text) = body
            .ok()
            .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
        {
            let text = text.trim();
            if !text.is_empty() {
                report.message = text.to_owned().into();
            }
        }
    }
    report
}

/// The 500 for a panicking handler. The panic itself is logged by the panic hook (`keel-server` installs
/// one that writes through the subscriber, inside the request's span), so it is not logged again here.
fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    ErrorReport::internal().into_response()
}

#[cfg(test)]
mod tests;
