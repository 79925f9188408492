//! The request time limit (`server.request_timeout_secs`): 504 when the app was too slow, 408 when the
//! client was — its body was still on its way when time ran out.
//!
//! tower-http's timeout answers one status for both. Telling them apart matters: a 504 sends an operator
//! looking for a slow handler or database, while a slow upload is the client's (or its network's) doing.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use keel_http::ErrorReport;

/// Runs the rest of the stack within `limit`.
pub(crate) async fn limit_time(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let reading = Arc::new(AtomicU8::new(BodyState::NotWaiting as u8));
    let body = Body::new(Watched {
        inner: body,
        state: Arc::clone(&reading),
    });
    match tokio::time::timeout(limit, next.run(Request::from_parts(parts, body))).await {
        Ok(response) => response,
        Err(_elapsed) if reading.load(Ordering::Acquire) == BodyState::WaitingForClient as u8 => {
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
        }
        // Rendered as the JSON error (or the HTML page) by the error layer above.
        Err(_elapsed) => StatusCode::GATEWAY_TIMEOUT.into_response(),
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
struct Watched {
    inner: Body,
    state: Arc<AtomicU8>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    /// The inner body's error unwrapped, so that `Body::new` wraps it once, as before this layer:
    /// extractors look a fixed depth into the error for the body limit's, to answer 413.
    type Error = axum::BoxError;

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
        polled.map(|frame| frame.map(|result| result.map_err(axum::Error::into_inner)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
