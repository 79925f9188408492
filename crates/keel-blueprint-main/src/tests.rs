//! Router tests: the blueprint alone, driven with `oneshot` against a small state of its own.

use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use keel_ext_flags::Change;
use keel_ext_flags::catalog::SIGNUP_V2;
use keel_ext_flags::testing::Sandbox;

use super::*;

/// The least state the blueprint needs; the app factory's `AppState` provides the same pieces.
#[derive(Clone, FromRef)]
struct TestState {
    site: SiteInfo,
    assets: StaticAssets,
    calculator: Calculator,
}

/// The blueprint as a test needs it, and no more: its own cheap state always, and a flag store (a
/// migrated SQLite file) only for the routes that read flags (`/`, `/signup-v2`), added with
/// [`TestApp::with_flags`]. `/ping` gets no database.
#[derive(Default)]
struct TestApp<'a> {
    flags: Option<&'a Sandbox>,
}

impl<'a> TestApp<'a> {
    /// With the flag middleware the app factory installs, over `flags`.
    fn with_flags(flags: &'a Sandbox) -> TestApp<'a> {
        TestApp { flags: Some(flags) }
    }

    fn router(&self) -> Router {
        let state = TestState {
            site: SiteInfo {
                app_name: "keel-test".to_owned(),
                environment: "testing".to_owned(),
            },
            assets: StaticAssets::from_fingerprints([("css/app.css", "0123456789ab")]),
            calculator: Calculator::new(6, 7),
        };
        let router = router();
        let router = match self.flags {
            Some(flags) => router.layer(flags.visitor_context()),
            None => router,
        };
        router.with_state(state)
    }

    /// `GET path`: the status, the content type and the body.
    async fn get(&self, path: &str) -> (StatusCode, Option<String>, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = self.router().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }
}

#[tokio::test]
async fn json_routes_answer_their_documented_bodies() {
    let cases = [
        ("/ping", r#"{"pong":true}"#),
        ("/compute", r#"{"result":42}"#),
    ];
    for (path, expected) in cases {
        let (status, content_type, body) = TestApp::default().get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
        assert_eq!(body, expected, "{path}");
    }
}

#[tokio::test]
async fn the_index_page_shows_the_environment_and_a_hashed_stylesheet() {
    let flags = Sandbox::new(Vec::new()).await;
    let (status, content_type, body) = TestApp::with_flags(&flags).get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
    assert!(body.starts_with("<!doctype html>"), "{body}");
    assert!(
        body.contains(r#"href="/static/css/app.css?v=0123456789ab""#),
        "{body}"
    );
    assert!(body.contains("badge-testing"), "{body}");
    assert!(body.contains("Hello from keel-test"), "{body}");
}

#[test]
fn the_calculator_saturates_instead_of_overflowing() {
    let cases = [(6, 7, 42), (0, 9, 0), (u64::MAX, 2, u64::MAX)];
    for (multiplicand, multiplier, expected) in cases {
        assert_eq!(
            Calculator::new(multiplicand, multiplier).compute(),
            expected
        );
    }
}

#[tokio::test]
async fn the_signup_v2_page_is_hidden_while_its_flag_is_off_and_linked_when_on() {
    let flags = Sandbox::new(Vec::new()).await;
    let app = TestApp::with_flags(&flags);
    let (status, _, _) = app.get("/signup-v2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, index) = app.get("/").await;
    assert!(!index.contains("href=\"/signup-v2\""), "{index}");

    let on = Change {
        enabled: true,
        rollout_percent: Some(100),
    };
    flags.store.set(SIGNUP_V2, on, "test").await.unwrap();
    let (status, _, page) = app.get("/signup-v2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Sign up to keel-test</h1>"), "{page}");
    let (_, _, index) = app.get("/").await;
    assert!(index.contains("href=\"/signup-v2\""), "{index}");
}
