//! Layers 3 to 5 of the stack: metrics, error rendering and the panic boundary, in one service.
//!
//! The request is counted (`metrics.rs`) around the rendering of its error, so the metrics see the final
//! status; a panic below becomes the 500 that is rendered and counted like any other. Every 4xx/5xx that
//! carries no [`PublicErrorBody`] is re-rendered from its [`ErrorReport`] (or from its status alone), so
//! nothing a handler or a library wrote into an error body reaches a client unreviewed.

use std::any::Any;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use keel_http::{ErrorReport, PublicErrorBody, RequestId, prefers_html};
use tower::Service;

use super::ErrorPages;

/// The longest client-error body that is kept as the error message (axum's rejections are short and safe).
const MAX_REJECTION_MESSAGE_BYTES: usize = 1024;

/// What the service needs: the HTTP instruments, and the body limit and site look for error pages.
#[derive(Debug)]
pub(crate) struct Finishing {
    pub(crate) metrics: keel_ext_telemetry::HttpMetrics,
    pub(crate) pages: ErrorPages,
}

/// Metrics, error rendering and the panic boundary around `inner`.
#[derive(Debug, Clone)]
pub(crate) struct Finish<S> {
    pub(crate) finishing: Arc<Finishing>,
    pub(crate) inner: S,
}

impl<S> Service<Request> for Finish<S>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let finishing = Arc::clone(&self.finishing);
        let active = crate::metrics::start(&finishing.metrics, &request);
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate);
        let wants_html = prefers_html(request.headers().get(header::ACCEPT));
        // A handler's code runs when its future is polled; a layer below could still panic while it makes
        // the future, so the call is guarded too.
        let response = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)));
        Box::pin(async move {
            let response = match response {
                Ok(future) => match AssertUnwindSafe(future).catch_unwind().await {
                    Ok(Ok(response)) => response.into_response(),
                    Ok(Err(infallible)) => match infallible {},
                    Err(panic) => panic_response(panic),
                },
                Err(panic) => panic_response(panic),
            };
            let response = render_errors(&finishing.pages, response, &request_id, wants_html).await;
            crate::metrics::finish(active, &response);
            Ok(response)
        })
    }
}

/// The 500 for a panicking handler. The panic itself is logged by the panic hook (`keel-server` installs
/// one that writes through the subscriber, inside the request's span), so it is not logged again here.
fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    ErrorReport::internal().into_response()
}

async fn render_errors(
    pages: &ErrorPages,
    response: Response,
    request_id: &RequestId,
    wants_html: bool,
) -> Response {
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
        keel_blueprint_main::error_page(&pages.site, &pages.assets, &report, request_id)
    } else {
        report.to_response_with(request_id)
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
