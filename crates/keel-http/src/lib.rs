//! The HTTP vocabulary that keel's blueprints and its app factory share: request ids, client addresses,
//! error reports, JSON bodies, signed cookies, and the response of a middleware's inner service.
//!
//! This crate knows no routes, no state and no configuration. It exists so that every blueprint speaks
//! the same error format without depending on another blueprint or on the app factory.

mod client_address;
mod error;
mod json;
mod negotiate;
mod request_id;
mod signing;

pub use crate::client_address::{ClientAddress, FORWARDED_FOR_HEADER};
pub use crate::error::{ErrorReport, PublicErrorBody};
pub use crate::json::{JsonBody, JsonBodyError};
pub use crate::negotiate::prefers_html;
pub use crate::request_id::{REQUEST_ID_HEADER, RequestId};
pub use crate::signing::{CookieAttributes, CookieSigner, presented_cookie};

/// The response of a service that cannot fail (every service of the middleware stack and the routes
/// below it): what the stack's response futures do with the answer of the service they wrap.
pub fn response_of<R: axum::response::IntoResponse>(
    answer: Result<R, std::convert::Infallible>,
) -> axum::response::Response {
    match answer {
        Ok(response) => response.into_response(),
        Err(infallible) => match infallible {},
    }
}
