//! Layers 3 to 5 of the stack: metrics, error rendering and the panic boundary, in one service.
//!
//! The request is counted (`metrics.rs`) around the rendering of its error, so the metrics see the final
//! status; a panic below becomes the 500 that is rendered and counted like any other. Every 4xx/5xx that
//! carries no [`PublicErrorBody`] is re-rendered from its [`ErrorReport`] (or from its status alone), so
//! nothing a handler or a library wrote into an error body reaches a client unreviewed.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use keel_ext_telemetry::ActiveRequest;
use keel_http::{ErrorReport, PublicErrorBody, RequestId, prefers_html};
use pin_project_lite::pin_project;
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
{
    type Response = Response;
    type Error = Infallible;
    type Future = FinishFuture<S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let active = crate::metrics::start(&self.finishing.metrics, &request);
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate);
        let wants_html = prefers_html(request.headers().get(header::ACCEPT));
        // A handler's code runs when its future is polled; a layer below could still panic while it makes
        // the future, so the call is guarded too.
        let stage = match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => Stage::Handling { future },
            Err(panic) => Stage::Panicked {
                response: Some(panic_response(panic)),
            },
        };
        FinishFuture {
            stage,
            finishing: Arc::clone(&self.finishing),
            active: Some(active),
            request_id,
            wants_html,
        }
    }
}

pin_project! {
    /// The response future of [`Finish`]. Written out rather than an `async` block so that a response
    /// needing no rendering (most of them) costs no allocation; rendering an error, which may read the
    /// body, is an `async` function boxed on that path alone.
    pub(crate) struct FinishFuture<F> {
        #[pin]
        stage: Stage<F>,
        finishing: Arc<Finishing>,
        // Taken when the request is counted as finished.
        active: Option<ActiveRequest>,
        request_id: RequestId,
        wants_html: bool,
    }
}

pin_project! {
    #[project = StageProjection]
    enum Stage<F> {
        /// The layers below and the handler.
        Handling { #[pin] future: F },
        /// A layer below panicked while it made its future: the 500, rendered next.
        Panicked { response: Option<Response> },
        /// An error response being rendered (`render_errors`).
        Rendering { future: BoxFuture<'static, Response> },
        /// The response has been returned.
        Done,
    }
}

impl<F, R> Future for FinishFuture<F>
where
    F: Future<Output = Result<R, Infallible>>,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let response = loop {
            let response = match this.stage.as_mut().project() {
                StageProjection::Handling { future } => {
                    match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(context))) {
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(answer)) => keel_http::response_of(answer),
                        Err(panic) => panic_response(panic),
                    }
                }
                StageProjection::Panicked { response } => response
                    .take()
                    .unwrap_or_else(|| ErrorReport::internal().into_response()),
                StageProjection::Rendering { future } => {
                    break ready!(future.as_mut().poll(context));
                }
                StageProjection::Done => panic!("the stack's future was polled after it completed"),
            };
            if !needs_rendering(&response) {
                break response;
            }
            let finishing = Arc::clone(this.finishing);
            let request_id = this.request_id.clone();
            let wants_html = *this.wants_html;
            this.stage.set(Stage::Rendering {
                future: Box::pin(async move {
                    render_errors(&finishing.pages, response, &request_id, wants_html).await
                }),
            });
        };
        this.stage.set(Stage::Done);
        if let Some(active) = this.active.take() {
            crate::metrics::finish(active, &response);
        }
        Poll::Ready(Ok(response))
    }
}

/// The 500 for a panicking handler. The panic itself is logged by the panic hook (`keel-server` installs
/// one that writes through the subscriber, inside the request's span), so it is not logged again here.
fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    ErrorReport::internal().into_response()
}

/// Whether `response` is an error whose body was not written for clients, which [`render_errors`]
/// replaces.
fn needs_rendering(response: &Response) -> bool {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    is_error && response.extensions().get::<PublicErrorBody>().is_none()
}

/// The error response rendered from its [`ErrorReport`] (or its status alone), as JSON or as an HTML
/// page, for a response [`needs_rendering`].
async fn render_errors(
    pages: &ErrorPages,
    response: Response,
    request_id: &RequestId,
    wants_html: bool,
) -> Response {
    let status = response.status();
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
