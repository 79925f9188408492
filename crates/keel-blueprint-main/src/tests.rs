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

/// The blueprint with the flag middleware the app factory installs, over a throwaway flag store.
fn test_router(flags: &Sandbox) -> Router {
    let state = TestState {
        site: SiteInfo {
            app_name: "keel-test".to_owned(),
            environment: "testing".to_owned(),
        },
        assets: StaticAssets::from_fingerprints([("css/app.css", "0123456789ab")]),
        calculator: Calculator::new(6, 7),
    };
    router()
        .layer(axum::middleware::from_fn_with_state(
            flags.visitor_context(),
            keel_ext_flags::visitor::middleware,
        ))
        .with_state(state)
}

async fn get(path: &str) -> (StatusCode, Option<String>, String) {
    get_with(&Sandbox::new(Vec::new()).await, path).await
}

async fn get_with(flags: &Sandbox, path: &str) -> (StatusCode, Option<String>, String) {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = test_router(flags).oneshot(request).await.unwrap();
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

#[tokio::test]
async fn json_routes_answer_their_documented_bodies() {
    let cases = [
        ("/ping", r#"{"pong":true}"#),
        ("/compute", r#"{"result":42}"#),
    ];
    for (path, expected) in cases {
        let (status, content_type, body) = get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
        assert_eq!(body, expected, "{path}");
    }
}

#[tokio::test]
async fn the_index_page_shows_the_environment_and_a_hashed_stylesheet() {
    let (status, content_type, body) = get("/").await;
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
    let (status, _, _) = get_with(&flags, "/signup-v2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, index) = get_with(&flags, "/").await;
    assert!(!index.contains("href=\"/signup-v2\""), "{index}");

    let on = Change {
        enabled: true,
        rollout_percent: Some(100),
    };
    flags.store.set(SIGNUP_V2, on, "test").await.unwrap();
    let (status, _, page) = get_with(&flags, "/signup-v2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<h1>Sign up to keel-test</h1>"), "{page}");
    let (_, _, index) = get_with(&flags, "/").await;
    assert!(index.contains("href=\"/signup-v2\""), "{index}");
}
