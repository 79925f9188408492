//! Router tests of the notes pages: the session cookie, CSRF refusals, forms re-rendered with their
//! values and messages, the version check and the flash after each change.

use axum::Router;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use keel_ext_flags::testing::Sandbox;
use keel_http::{CookieAttributes, PublicErrorBody};
use keel_services::Notes;
use tower::ServiceExt;

use crate::{SessionCookies, SiteInfo, StaticAssets, notes_router};

#[derive(Clone, FromRef)]
struct TestState {
    site: SiteInfo,
    assets: StaticAssets,
    notes: Notes,
    sessions: SessionCookies,
}

struct Browser {
    router: Router,
    /// The session cookie as the browser holds it (`keel_session=…`).
    cookie: Option<String>,
    _sandbox: Sandbox,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
    public: bool,
}

impl Browser {
    async fn new() -> Browser {
        let sandbox = Sandbox::new(Vec::new()).await;
        let state = TestState {
            site: SiteInfo {
                app_name: "keel-test".to_owned(),
                environment: "testing".to_owned(),
            },
            assets: StaticAssets::from_fingerprints([("css/app.css", "0123456789ab")]),
            notes: Notes::new(sandbox.db.clone(), 2),
            sessions: SessionCookies::new(
                b"a-secret-key-of-at-least-32-bytes!!",
                "keel",
                CookieAttributes {
                    http_only: true,
                    secure: false,
                    same_site: "Lax",
                },
            ),
        };
        Browser {
            router: notes_router().with_state(state),
            cookie: None,
            _sandbox: sandbox,
        }
    }

    async fn send(&mut self, request: axum::http::request::Builder, body: Body) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header(header::COOKIE, cookie),
            None => request,
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        if let Some(set) = response.headers().get(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
        let public = response.extensions().get::<PublicErrorBody>().is_some();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Page {
            status: parts.status,
            headers: parts.headers,
            html: String::from_utf8(bytes.to_vec()).unwrap(),
            public,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), Body::empty()).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(request, Body::from(body)).await
    }
}

/// The value of the hidden field `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_list_sets_no_cookie_and_a_form_sets_one_with_its_token() {
    let mut browser = Browser::new().await;
    let list = browser.get("/notes").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.headers.get(header::SET_COOKIE).is_none());
    assert!(list.html.contains("No notes yet"), "{}", list.html);
    assert!(list.html.contains(r#"href="/notes/new""#));

    let form = browser.get("/notes/new").await;
    assert_eq!(form.status, StatusCode::OK);
    let set = form.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("keel_session="), "{set}");
    assert!(set.ends_with("; Path=/; HttpOnly; SameSite=Lax"), "{set}");
    assert_eq!(hidden(&form.html, "csrf_token").len(), 32);
    // The same session keeps its token, so no new cookie.
    let again = browser.get("/notes/new").await;
    assert!(again.headers.get(header::SET_COOKIE).is_none());
    assert_eq!(
        hidden(&again.html, "csrf_token"),
        hidden(&form.html, "csrf_token")
    );
}

#[tokio::test]
async fn a_submission_without_the_sessions_token_is_refused_with_403() {
    let mut browser = Browser::new().await;
    // No session at all.
    let page = browser.post("/notes", &[("title", "x")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let token = hidden(&browser.get("/notes/new").await.html, "csrf_token");
    let wrong = "0".repeat(32);
    for form in [
        vec![("title", "x")],
        vec![("title", "x"), ("csrf_token", "")],
        vec![("title", "x"), ("csrf_token", wrong.as_str())],
        vec![("title", "x"), ("csrf_token", &token[..31])],
    ] {
        let page = browser.post("/notes", &form).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{form:?}");
        assert!(!page.public, "a 403 must get the app's error page");
    }
    // A right token with a forged cookie is refused too.
    browser.cookie = Some(format!("keel_session={token}~.{}", "0".repeat(64)));
    let page = browser
        .post("/notes", &[("title", "x"), ("csrf_token", &token)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(browser.get("/notes").await.html.contains("No notes yet"));
}

#[tokio::test]
async fn create_edit_with_a_stale_version_and_delete_each_end_with_their_flash() {
    let mut browser = Browser::new().await;
    let token = hidden(&browser.get("/notes/new").await.html, "csrf_token");

    // Invalid: the form comes back with the values and a message per field.
    let long_body = "b".repeat(10_001);
    let page = browser
        .post(
            "/notes",
            &[
                ("csrf_token", &token),
                ("title", "  "),
                ("body", &long_body),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.public, "the form is written for the visitor");
    assert!(page.html.contains("Title is required"), "{}", page.html);
    assert!(page.html.contains("Body must be at most 10000 characters"));
    assert!(page.html.contains(&long_body));

    let page = browser
        .post(
            "/notes",
            &[
                ("csrf_token", &token),
                ("title", "Plan <b>"),
                ("body", "step one"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let location = page.headers[header::LOCATION].to_str().unwrap().to_owned();
    let shown = browser.get(&location).await;
    assert!(
        shown.html.contains("Note “Plan &#60;b&#62;” created."),
        "{}",
        shown.html
    );
    // The flash is shown once.
    let shown = browser.get(&location).await;
    assert!(!shown.html.contains("created."), "{}", shown.html);
    let list = browser.get("/notes").await;
    assert!(list.html.contains("Plan &#60;b&#62;"), "{}", list.html);

    let edit = browser.get(&format!("{location}/edit")).await;
    assert_eq!(hidden(&edit.html, "version"), "1");
    let saved = browser
        .post(
            &location,
            &[
                ("csrf_token", &token),
                ("title", "Plan"),
                ("body", "two"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert!(
        browser
            .get(&location)
            .await
            .html
            .contains("Note “Plan” saved.")
    );

    // The same edit again is stale: the form comes back with the text and the current version.
    let stale = browser
        .post(
            &location,
            &[
                ("csrf_token", &token),
                ("title", "Mine"),
                ("body", "three"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(
        stale.html.contains("Someone changed this note"),
        "{}",
        stale.html
    );
    assert!(stale.html.contains(r#"value="Mine""#));
    assert_eq!(hidden(&stale.html, "version"), "2");

    let confirm = browser.get(&format!("{location}/delete")).await;
    assert!(confirm.html.contains("cannot be undone"));
    let refused = browser
        .post(
            &format!("{location}/delete"),
            &[("csrf_token", &token), ("version", "1")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    let deleted = browser
        .post(
            &format!("{location}/delete"),
            &[("csrf_token", &token), ("version", "2")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.headers[header::LOCATION], "/notes");
    let list = browser.get("/notes").await;
    assert!(list.html.contains("Note deleted."), "{}", list.html);
    assert_eq!(browser.get(&location).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        browser.get("/notes/not-a-number").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_list_pages_by_cursor() {
    let mut browser = Browser::new().await;
    let token = hidden(&browser.get("/notes/new").await.html, "csrf_token");
    for title in ["one", "two", "three"] {
        let page = browser
            .post("/notes", &[("csrf_token", &token), ("title", title)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
    }
    let first = browser.get("/notes").await.html;
    assert!(first.contains(">three<") && first.contains(">two<") && !first.contains(">one<"));
    let start = first.find(r#"href="/notes?before="#).unwrap() + r#"href=""#.len();
    let next = first[start..].split('"').next().unwrap().to_owned();
    let older = browser.get(&next).await.html;
    assert!(
        older.contains(">one<") && !older.contains(">two<"),
        "{older}"
    );
    assert!(older.contains("Newest notes") && !older.contains("Older notes"));
    // A cursor that is not one starts again from the newest notes.
    assert_eq!(
        browser.get("/notes?before=x").await.status,
        StatusCode::SEE_OTHER
    );
}
