//! The request time limit (`server.request_timeout_secs`): 504 when the app was too slow, 408 when the
//! client was — its body was still on its way when time ran out.
//!
//! tower-http's timeout answers one status for both. Telling them apart matters: a 504 sends an operator
//! looking for a slow handler or database, while a slow upload is the client's (or its network's) doing.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use keel_http::ErrorReport;
use pin_project_lite::pin_project;
use tower::Service;

/// Runs `inner` within `limit`.
#[derive(Debug, Clone)]
pub(crate) struct RequestTimeout<S> {
    pub(crate) limit: Duration,
    pub(crate) inner: S,
}

impl<S, B> Service<Request<B>> for RequestTimeout<S>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        // A request without a body (most GETs) cannot keep the handler waiting for the client, so only
        // one with a body is watched.
        let (body, reading) = if body.is_end_stream() {
            (Body::empty(), None)
        } else {
            let reading = Arc::new(AtomicU8::new(BodyState::NotWaiting as u8));
            let body = Body::new(Watched {
                inner: body,
                state: Arc::clone(&reading),
            });
            (body, Some(reading))
        };
        let response = self.inner.call(Request::from_parts(parts, body));
        TimeoutFuture {
            inner: tokio::time::timeout(self.limit, response),
            limit: self.limit,
            reading,
        }
    }
}

pin_project! {
    /// The response future of [`RequestTimeout`], written out so that it needs no allocation.
    pub(crate) struct TimeoutFuture<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
        limit: Duration,
        // Whether the handler is waiting for the client's body; `None` when the request has none.
        reading: Option<Arc<AtomicU8>>,
    }
}

impl<F, R> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<R, Infallible>>,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(Ok(match ready!(this.inner.poll(context)) {
            Ok(answer) => keel_http::response_of(answer),
            Err(_elapsed) => timed_out(*this.limit, this.reading.as_deref()),
        }))
    }
}

/// The answer when time ran out: 408 when the handler was waiting for the client's body, else 504.
fn timed_out(limit: Duration, reading: Option<&AtomicU8>) -> Response {
    let waiting_for_client = reading.is_some_and(|reading| {
        reading.load(Ordering::Acquire) == BodyState::WaitingForClient as u8
    });
    if waiting_for_client {
        let mut response = ErrorReport::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            format!(
                "the request body did not arrive within {} s: send it faster, or in smaller requests",
                limit.as_secs()
            ),
        )
        .into_response();
        // The rest of the body may still be on its way, so the connection cannot carry another request.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    } else {
        // Rendered as the JSON error (or the HTML page) by the error layer above.
        StatusCode::GATEWAY_TIMEOUT.into_response()
    }
}

/// Whether the handler is waiting for the client's body at this moment.
#[repr(u8)]
enum BodyState {
    /// Not read yet, being processed, or complete: a timeout now is the app's.
    NotWaiting,
    /// The last read found no data: a timeout now is the client's.
    WaitingForClient,
}

/// The request body, noting whether its reader is waiting for the client.
struct Watched<B> {
    inner: B,
    state: Arc<AtomicU8>,
}

impl<B> HttpBody for Watched<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    /// The inner body's error as it is (the body limit's `Limited` already boxes it), so that `Body::new`
    /// wraps it once: extractors look a fixed depth into the error for the body limit's, to answer 413.
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        let state = match polled {
            Poll::Pending => BodyState::WaitingForClient,
            Poll::Ready(_) => BodyState::NotWaiting,
        };
        self.state.store(state as u8, Ordering::Release);
        polled.map(|frame| frame.map(|result| result.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
