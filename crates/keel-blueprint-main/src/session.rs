//! The session of the HTML pages: a signed cookie carrying a CSRF token and the flash message shown
//! after a change, and [`CsrfForm`], the extractor every form submission goes through.
//!
//! The cookie is `<name>_session=<csrf token>~<flash as hex>.<HMAC-SHA256>` (signed by
//! [`keel_http::CookieSigner`] with the context `<name>-session:`), with `HttpOnly`, `Secure` and
//! `SameSite` from `[security]` and no `Max-Age`, so it ends with the browser session. It is set only
//! by a page that needs it (a form, or a flash to show or clear): the API, static files and the home
//! page never carry it. A signed cookie rather than a server-side store: nothing to store or expire,
//! the same cost as the visitor cookie, and no dependency; what it holds is small and not secret from
//! its own visitor.
//!
//! CSRF: a form carries the session's token in a hidden field `csrf_token`; a submission whose field is
//! missing or differs from the token in its signed cookie is refused with 403 before the form is read.
//! A forged page cannot read the token (same-origin policy), and cannot forge the cookie (signature).

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Form, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_http::{CookieAttributes, CookieSigner, ErrorReport, presented_cookie};
use serde::de::DeserializeOwned;

/// The name of the hidden form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

/// The longest flash message kept; longer ones are cut, so the cookie stays far below browsers' limits.
const FLASH_MAX_CHARS: usize = 200;

/// Signs and reads session cookies; its signer holds the secret key, so `Debug` shows nothing of it.
#[derive(Debug, Clone)]
pub struct SessionCookies {
    signer: CookieSigner,
    /// `<name>_session`.
    name: Arc<str>,
    attributes: Arc<str>,
}

impl SessionCookies {
    /// `app_token` is `app.name` as a token (`keel`), so two services on one domain keep their sessions
    /// apart.
    pub fn new(secret_key: &[u8], app_token: &str, attributes: CookieAttributes) -> SessionCookies {
        SessionCookies {
            signer: CookieSigner::new(secret_key, &format!("{app_token}-session:")),
            name: Arc::from(format!("{app_token}_session")),
            attributes: Arc::from(attributes.render(None)),
        }
    }

    /// The cookie's name, `<app.name as a token>_session`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn read(&self, parts: &Parts) -> Option<Data> {
        let value = presented_cookie(&parts.headers, &self.name)?;
        let (csrf, flash) = self.signer.verify(value)?.split_once('~')?;
        if csrf.len() != 32 || !csrf.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        let flash = hex::decode(flash)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|flash| !flash.is_empty());
        Some(Data {
            csrf: Some(csrf.to_owned()),
            flash,
        })
    }

    fn set_cookie(&self, data: &Data) -> Option<HeaderValue> {
        let csrf = data.csrf.as_deref()?;
        let flash = hex::encode(data.flash.as_deref().unwrap_or_default());
        let value = self.signer.sign(&format!("{csrf}~{flash}"));
        HeaderValue::from_str(&format!("{}={value}{}", self.name, self.attributes)).ok()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Data {
    csrf: Option<String>,
    flash: Option<String>,
}

/// This request's session: read from the cookie when its signature verifies, else empty. A handler
/// changes it and passes its response through [`Session::finish`], which sets the cookie only if the
/// session changed.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    cookies: SessionCookies,
    state: Arc<Mutex<(Data, bool)>>,
}

impl Session {
    fn with<T>(&self, change: impl FnOnce(&mut Data, &mut bool) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (data, changed) = &mut *guard;
        change(data, changed)
    }

    /// The CSRF token for a form, made (and the cookie set) on first use.
    pub(crate) fn csrf_token(&self) -> String {
        self.with(|data, changed| {
            data.csrf
                .get_or_insert_with(|| {
                    *changed = true;
                    uuid::Uuid::new_v4().simple().to_string()
                })
                .clone()
        })
    }

    /// Whether `presented` is this session's token, compared in constant time.
    fn accepts(&self, presented: Option<&str>) -> bool {
        self.with(|data, _| match (data.csrf.as_deref(), presented) {
            (Some(token), Some(presented)) => {
                constant_time_eq(token.as_bytes(), presented.as_bytes())
            }
            _ => false,
        })
    }

    /// Keeps `message` for the next page this visitor sees.
    pub(crate) fn flash(&self, message: &str) {
        let message: String = message.chars().take(FLASH_MAX_CHARS).collect();
        self.with(|data, changed| {
            // A flash needs a cookie, and every cookie carries a token.
            data.csrf
                .get_or_insert_with(|| uuid::Uuid::new_v4().simple().to_string());
            data.flash = Some(message);
            *changed = true;
        });
    }

    /// The flash message waiting to be shown, removed from the session.
    pub(crate) fn take_flash(&self) -> Option<String> {
        self.with(|data, changed| {
            let flash = data.flash.take();
            *changed |= flash.is_some();
            flash
        })
    }

    /// `response` with the session cookie set if this request changed the session.
    pub(crate) fn finish(&self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        let cookie = self.with(|data, changed| (*changed).then(|| self.cookies.set_cookie(data)));
        if let Some(Some(cookie)) = cookie {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<S> FromRequestParts<S> for Session
where
    S: Send + Sync,
    SessionCookies: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let cookies = SessionCookies::from_ref(state);
        let data = cookies.read(parts).unwrap_or_default();
        Ok(Session {
            cookies,
            state: Arc::new(Mutex::new((data, false))),
        })
    }
}

/// A form submission whose `csrf_token` matched its session, and the form read as `T`. Any other
/// submission is refused with 403 before `T` is read, whatever its content type.
#[derive(Debug)]
pub(crate) struct CsrfForm<T> {
    pub(crate) session: Session,
    pub(crate) form: T,
}

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    S: Send + Sync,
    SessionCookies: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Ok(session) = Session::from_request_parts(&mut parts, state).await;
        // The body limit layer cuts a body that is too long; the app factory words the 413.
        let bytes: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(_) => return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
        };
        let presented = form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == CSRF_FIELD)
            .map(|(_, value)| value.into_owned());
        if !session.accepts(presented.as_deref()) {
            // Not logged: a stale tab is the usual cause, and the access log has the 403.
            return Err(ErrorReport::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this form was not sent from this site or its session has ended: reload the page and send the form again",
            )
            .into_response());
        }
        let request = Request::from_parts(parts, Body::from(bytes));
        let Form(form) = Form::<T>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(CsrfForm { session, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies() -> SessionCookies {
        SessionCookies::new(
            b"a-secret-key-of-at-least-32-bytes!!",
            "keel",
            CookieAttributes {
                http_only: true,
                secure: false,
                same_site: "Lax",
            },
        )
    }

    fn parts_with_cookie(cookie: &str) -> Parts {
        let (parts, ()) = Request::get("/")
            .header(header::COOKIE, cookie)
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    #[test]
    fn a_session_round_trips_through_its_cookie_and_a_tampered_one_is_empty() {
        let cookies = cookies();
        let data = Data {
            csrf: Some("0123456789abcdef0123456789abcdef".to_owned()),
            flash: Some("Note “Ünïcode; =,” saved.".to_owned()),
        };
        let header = cookies.set_cookie(&data).unwrap();
        let header = header.to_str().unwrap();
        assert!(header.starts_with("keel_session="), "{header}");
        assert!(
            header.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
            "{header}"
        );
        let pair = header.split(';').next().unwrap();
        assert_eq!(cookies.read(&parts_with_cookie(pair)), Some(data));

        let tampered = pair.replacen("0123", "f123", 1);
        assert_eq!(cookies.read(&parts_with_cookie(&tampered)), None);
        let other_app = SessionCookies::new(
            b"a-secret-key-of-at-least-32-bytes!!",
            "other",
            CookieAttributes {
                http_only: true,
                secure: false,
                same_site: "Lax",
            },
        );
        let renamed = pair.replacen("keel_session", "other_session", 1);
        assert_eq!(other_app.read(&parts_with_cookie(&renamed)), None);
    }

    #[test]
    fn only_the_sessions_own_token_is_accepted() {
        let session = Session {
            cookies: cookies(),
            state: Arc::new(Mutex::new((Data::default(), false))),
        };
        assert!(
            !session.accepts(None),
            "a session without a token accepted none"
        );
        assert!(!session.accepts(Some("")));
        let token = session.csrf_token();
        assert_eq!(
            session.csrf_token(),
            token,
            "the token changed within a session"
        );
        assert!(session.accepts(Some(&token)));
        assert!(!session.accepts(None));
        assert!(!session.accepts(Some(&token[1..])));
        assert!(!session.accepts(Some(&"0".repeat(32))));
    }
}
