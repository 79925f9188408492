//! The middleware stack, outermost first:
//!
//! 1. the edge (`middleware/edge.rs`): `X-App` and the security headers
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
//!    just after the edge in [`apply`];
//! 2. compression: gzip when the client accepts it and `server.compression` is on — outside error
//!    rendering, so error bodies are compressed as they are finally written;
//! 3. metrics (`metrics.rs`): request duration, active requests and body size by method, route template
//!    and final status — outside error rendering, so every response below is counted with its status;
//! 4. error rendering: every 4xx/5xx leaves as `{"error","message","request_id"}`, or as an HTML error
//!    page when the client's `Accept` prefers HTML (browsers);
//! 5. catch panic: a panicking handler becomes a 500 (rendered and counted by 3 and 4) and the process
//!    keeps serving. 3, 4 and 5 are one service (`middleware/finish.rs`);
//! 6. body size limit (413) — outside the timeout, as tower-http's types require — with axum's own
//!    extractor limit set to the same `server.max_body_bytes`;
//! 7. timeout: 504, or 408 when the handler was still waiting for the client's body
//!    (`request_timeout.rs`);
//! 8. CORS: only the origins in `security.cors_origins` (none by default);
//! 9. the flag visitor (built in `lib.rs`, where the flag store is at hand, and given to [`apply`] for
//!    the pages, not for static files): hands each request its [`keel_ext_flags::Flags`] and sets the
//!    signed visitor cookie when an answer depended on it;
//! 10. the routes.
//!
//! Invariant: a handler that fails returns an [`keel_http::ErrorReport`] (directly or through its blueprint's error
//! type), or marks a body written for clients with [`keel_http::PublicErrorBody`]. Layer 4 re-renders any other
//! error response from its status alone, so nothing a handler or a library wrote into an error body can
//! reach the client unreviewed.

mod edge;
mod finish;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use ipnet::IpNet;
use keel_blueprint_main::{SiteInfo, StaticAssets};
use keel_config::{Settings, UrlScheme};
use keel_ext_flags::visitor::VisitorContext;
use keel_http::REQUEST_ID_HEADER;
use tower::ServiceBuilder;
use tower::layer::layer_fn;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;

#[cfg(test)]
pub(crate) use self::edge::APP_HEADER;
use self::edge::{Edge, EdgeService};
use self::finish::{Finish, Finishing};
use crate::request_timeout::RequestTimeout;

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

/// Wraps `routes` in the stack described in the module documentation, with the flag visitor innermost
/// when `visitors` is given.
///
/// The stack is one layer of tower services, each calling the next directly. axum wraps every
/// `Router::layer` (and every `nest`) in a boxed service that it clones for every request, with
/// everything below it, and a `middleware::from_fn` clones the service below it again on each call: as
/// ten such layers, the stack cost more than the framework itself. (A fork's own middleware can still be
/// a `from_fn` layer; each costs a clone of what is below it.)
pub(crate) fn apply(routes: Router, options: &Options, visitors: Option<VisitorContext>) -> Router {
    let edge = Arc::new(Edge {
        app_header: options.app_header.clone(),
        content_security_policy: options.content_security_policy.clone(),
        strict_transport_security: options.strict_transport_security,
        trusted_proxies: Arc::clone(&options.trusted_proxies),
    });
    let finishing = Arc::new(Finishing {
        metrics: options.http_metrics.clone(),
        pages: options.error_pages.clone(),
    });
    let request_timeout = options.request_timeout;
    // Always in the stack, so its type does not depend on a setting; `server.compression = false` makes
    // it compress nothing (and add no `Vary`).
    let compression_on = options.compression;
    let compression = CompressionLayer::new().compress_when(
        DefaultPredicate::new()
            .and(move |_: StatusCode, _: Version, _: &HeaderMap, _: &Extensions| compression_on),
    );
    let stack = ServiceBuilder::new()
        .layer(layer_fn(move |inner| EdgeService {
            edge: Arc::clone(&edge),
            inner,
        }))
        // Outside error rendering, so rendered error bodies are compressed too (inside, the re-rendered
        // body would be plain while the copied headers still said gzip).
        .layer(compression)
        .layer(layer_fn(move |inner| Finish {
            finishing: Arc::clone(&finishing),
            inner,
        }))
        .layer(RequestBodyLimitLayer::new(options.max_body_bytes))
        // axum's body extractors carry a limit of their own (2 MiB unless told otherwise), which would
        // apply under this one and be reported as this one: both are `server.max_body_bytes`, for every
        // route, a fork's included.
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(layer_fn(move |inner| RequestTimeout {
            limit: request_timeout,
            inner,
        }))
        // CORS only when some origin is allowed, so nothing of it runs (and no `Vary` is sent) otherwise.
        .option_layer(options.cors.clone())
        .option_layer(visitors);
    routes.layer(stack)
}

/// What error rendering needs: the body limit (to name it) and the site's look (for HTML pages).
#[derive(Debug, Clone)]
pub(crate) struct ErrorPages {
    pub(crate) max_body_bytes: usize,
    pub(crate) site: SiteInfo,
    pub(crate) assets: StaticAssets,
}

#[cfg(test)]
mod tests;
