//! `require_flag`: a route layer that hides a route while a flag is off for the visitor.
//!
//! Hidden means the exact 404 of an unknown address: the layer answers [`ErrorReport::not_found`], and
//! the app factory renders every 404 the same way, so a client cannot tell a gated page from a missing
//! one. When the flag is on, the request goes through untouched.

use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use keel_http::ErrorReport;
use tower::{Layer, Service};

use crate::visitor::Flags;

/// Hides the routes it wraps unless `flag` is on for the visitor: `any(handler).layer(require_flag(SIGNUP_V2))`
/// (with `get`, axum would answer other methods with 405 and `Allow` before this layer runs).
pub fn require_flag(flag: &'static str) -> RequireFlagLayer {
    RequireFlagLayer { flag }
}

#[derive(Debug, Clone, Copy)]
pub struct RequireFlagLayer {
    flag: &'static str,
}

impl<S> Layer<S> for RequireFlagLayer {
    type Service = RequireFlag<S>;

    fn layer(&self, inner: S) -> RequireFlag<S> {
        RequireFlag {
            inner,
            flag: self.flag,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequireFlag<S> {
    inner: S,
    flag: &'static str,
}

impl<S> Service<Request> for RequireFlag<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, std::future::Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let on = match request.extensions().get::<Flags>() {
            Some(flags) => flags.is_enabled(self.flag),
            None => {
                // Failing closed: a page behind a flag stays hidden when the flags are not wired in.
                tracing::error!(
                    flag = self.flag,
                    "require_flag used outside the visitor middleware (keel_ext_flags::visitor::VisitorContext); the page stays hidden"
                );
                false
            }
        };
        if on {
            Either::Left(self.inner.call(request))
        } else {
            Either::Right(std::future::ready(Ok(
                ErrorReport::not_found().into_response()
            )))
        }
    }
}
