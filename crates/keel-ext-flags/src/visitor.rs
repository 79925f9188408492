//! The anonymous visitor id that percentage rollouts bucket by, carried in a signed cookie, and
//! [`Flags`], the per-request evaluator handlers and the guard use.
//!
//! The cookie is `<name>_visitor=<32 hex id>.<64 hex HMAC-SHA256(secret key, "<name>-visitor:" + id)>`,
//! where `<name>` is `app.name` as a token (`keel_visitor` for keel), so two services on one domain keep
//! their visitors apart, with
//! `Secure`, `HttpOnly` and `SameSite` from `[security]`. A cookie whose signature does not verify is
//! never trusted (a client cannot pick its own bucket) and is replaced. A visitor without a cookie gets
//! one on any response while some flag is partly rolled out, whether or not that response evaluated
//! it: a page hidden behind a flag must answer exactly like a missing page, cookie included. While every
//! flag is fully on or off, no cookie is set. The app factory leaves static files outside this
//! middleware, so they never carry a cookie (caches and CDNs must not store one).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use keel_config::Settings;
use keel_http::{CookieAttributes, CookieSigner, ErrorReport, presented_cookie};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::store::FlagStore;

/// How long browsers keep the cookie: a year, so a returning visitor keeps their bucket.
const MAX_AGE_SECS: u64 = 365 * 24 * 60 * 60;

/// Signs and checks visitor cookies; its signer holds the secret key, so its `Debug` shows nothing of it.
#[derive(Debug, Clone)]
pub struct VisitorCookies {
    /// Keyed by the secret key with the context `<name>-visitor:`, which separates this use of the key
    /// from any other signature made with it.
    signer: CookieSigner,
    /// `<name>_visitor`.
    name: Arc<str>,
    /// `; Path=/; Max-Age=…; HttpOnly; Secure; SameSite=Lax`, from the settings.
    attributes: Arc<str>,
}

impl VisitorCookies {
    pub fn new(settings: &Settings) -> VisitorCookies {
        let security = &settings.security;
        let token = settings.app.token();
        let attributes = CookieAttributes {
            http_only: security.cookie_http_only,
            secure: security.cookie_secure,
            same_site: security.cookie_same_site.as_attribute(),
        }
        .render(Some(MAX_AGE_SECS));
        VisitorCookies {
            signer: CookieSigner::new(
                security.secret_key.expose().as_bytes(),
                &format!("{token}-visitor:"),
            ),
            name: Arc::from(format!("{token}_visitor")),
            attributes: Arc::from(attributes),
        }
    }

    /// The cookie's name, `<app.name as a token>_visitor`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cookie value for `id`: the id, a dot, and its signature in hex.
    pub fn sign(&self, id: &str) -> String {
        self.signer.sign(id)
    }

    /// The id inside `value` when it is a visitor id (32 hex digits) whose signature verifies, else
    /// `None`.
    pub fn verify(&self, value: &str) -> Option<String> {
        self.verified_id(value).map(|id| id.as_str().to_owned())
    }

    fn verified_id(&self, value: &str) -> Option<VisitorId> {
        let id = self.signer.verify(value)?;
        let id: [u8; 32] = id.as_bytes().try_into().ok()?;
        id.iter()
            .all(u8::is_ascii_hexdigit)
            .then_some(VisitorId(id))
    }

    fn set_cookie(&self, id: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!(
            "{}={}{}",
            self.name,
            self.sign(id),
            self.attributes
        ))
        .ok()
    }
}

/// A visitor id: 32 hex digits, held inline so that handing a request its [`Flags`] allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VisitorId([u8; 32]);

impl VisitorId {
    /// A new random id (a version 4 UUID's 32 hex digits).
    fn new_random() -> VisitorId {
        let mut id = [0_u8; 32];
        uuid::Uuid::new_v4().simple().encode_lower(&mut id);
        VisitorId(id)
    }

    fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored (`verified_id`, `new_random`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// What the middleware hands each request: the store and this visitor.
#[derive(Debug, Clone)]
pub struct Flags {
    store: FlagStore,
    visitor_id: VisitorId,
}

impl Flags {
    /// Whether `name` is on for this visitor. An undeclared flag is off.
    pub fn is_enabled(&self, name: &str) -> bool {
        self.store.is_enabled(name, Some(self.visitor_id.as_str()))
    }

    /// Every flag, on or off for this visitor, in catalogue order (one consistent snapshot).
    pub fn evaluate_all(&self) -> Vec<(&'static str, bool)> {
        let snapshot = self.store.load();
        let visitor_id = self.visitor_id.as_str();
        snapshot
            .flags()
            .into_iter()
            .map(|flag| (flag.name(), flag.is_on_for(Some(visitor_id))))
            .collect()
    }
}

/// The visitor middleware, as a layer: identifies the visitor by their signed cookie (or a new random id),
/// hands the request a [`Flags`], and sets the cookie on the response when a forged cookie must be
/// replaced, or when the visitor is new and some flag is partly rolled out. Add it with
/// `Router::layer(context)`.
#[derive(Debug, Clone)]
pub struct VisitorContext {
    pub store: FlagStore,
    pub cookies: VisitorCookies,
}

impl<S> Layer<S> for VisitorContext {
    type Service = VisitorMiddleware<S>;

    fn layer(&self, inner: S) -> VisitorMiddleware<S> {
        VisitorMiddleware {
            context: Arc::new(self.clone()),
            inner,
        }
    }
}

/// The service [`VisitorContext`] wraps a router's routes in (see there).
#[derive(Debug, Clone)]
pub struct VisitorMiddleware<S> {
    /// Shared: axum clones a route's service for every request.
    context: Arc<VisitorContext>,
    inner: S,
}

impl<S> Service<Request> for VisitorMiddleware<S>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = VisitorFuture<S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let cookies = &self.context.cookies;
        let presented = presented_cookie(request.headers(), cookies.name());
        let verified = presented.and_then(|value| cookies.verified_id(value));
        let forged = presented.is_some() && verified.is_none();
        let is_new = verified.is_none();
        let visitor_id = verified.unwrap_or_else(VisitorId::new_random);
        request.extensions_mut().insert(Flags {
            store: self.context.store.clone(),
            visitor_id,
        });
        VisitorFuture {
            inner: self.inner.call(request),
            context: Arc::clone(&self.context),
            visitor_id,
            forged,
            is_new,
        }
    }
}

pin_project! {
    /// The response future of [`VisitorMiddleware`], written out so that it needs no allocation.
    pub struct VisitorFuture<F> {
        #[pin]
        inner: F,
        context: Arc<VisitorContext>,
        visitor_id: VisitorId,
        // The cookie presented did not verify.
        forged: bool,
        // No valid cookie was presented.
        is_new: bool,
    }
}

impl<F, R> Future for VisitorFuture<F>
where
    F: Future<Output = Result<R, Infallible>>,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = keel_http::response_of(ready!(this.inner.poll(context)));
        let visitors = &this.context;
        if (*this.forged || (*this.is_new && visitors.store.load().any_partial_rollout()))
            && let Some(cookie) = visitors.cookies.set_cookie(this.visitor_id.as_str())
        {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        Poll::Ready(Ok(response))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Flags {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Flags>().cloned().ok_or_else(|| {
            tracing::error!(
                "a handler asked for Flags outside the visitor middleware (keel_ext_flags::visitor::VisitorContext); the app factory installs it"
            );
            ErrorReport::from_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(secret: &str) -> VisitorCookies {
        VisitorCookies {
            signer: CookieSigner::new(secret.as_bytes(), "keel-visitor:"),
            name: Arc::from("keel_visitor"),
            attributes: Arc::from(""),
        }
    }

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn only_a_signed_visitor_id_verifies() {
        let signer = cookies("a-secret-key-of-at-least-32-bytes!!");
        assert_eq!(signer.verify(&signer.sign(ID)).as_deref(), Some(ID));
        // Signed with the right key, but not an id: a value of another shape is never a visitor.
        for not_an_id in ["abc", "not-hex-not-hex-not-hex-not-hex!", ""] {
            assert_eq!(
                signer.verify(&signer.sign(not_an_id)),
                None,
                "{not_an_id:?}"
            );
        }
        assert_eq!(signer.verify(&format!("{ID}.{}", "0".repeat(64))), None);
    }

    #[test]
    fn cookie_attributes_follow_the_security_settings() {
        let settings = keel_config::load(&keel_config::LoadOptions {
            environment: Some("testing".to_owned()),
            vars: keel_config::Vars::from_iter([("APP_SECRETS_DIR", "/nonexistent")]),
            overrides: vec![
                keel_config::Override::new("security.cookie_secure", "true"),
                keel_config::Override::new("security.cookie_same_site", "strict"),
            ],
            ..keel_config::LoadOptions::default()
        })
        .unwrap()
        .settings;
        let header = VisitorCookies::new(&settings).set_cookie(ID).unwrap();
        let header = header.to_str().unwrap();
        assert!(
            header.starts_with(&format!("keel_visitor={ID}.")),
            "{header}"
        );
        assert!(
            header.ends_with("; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Strict"),
            "{header}"
        );
    }
}
