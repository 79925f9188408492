//! Router tests: the ops blueprint alone, driven with `oneshot` against a small state.

use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use keel_config::{LoadOptions, Override};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

const TOKEN: &str = "an-admin-token-that-is-long-enough-0123456789";

#[derive(Clone, FromRef)]
struct TestState {
    admin_token: AdminToken,
    config: ConfigView,
}

/// The ops router over settings loaded with `token` as `security.admin_token`, as the app builds it.
fn test_router(token: Option<&str>) -> Router {
    let mut overrides = vec![Override::new("server.port", "9321")];
    if let Some(token) = token {
        overrides.push(Override::new("security.admin_token", token));
    }
    let loaded = keel_config::load(&LoadOptions {
        environment: Some("testing".to_owned()),
        overrides,
        ..LoadOptions::default()
    })
    .unwrap();
    let state = TestState {
        admin_token: AdminToken::new(loaded.settings.security.admin_token.clone()),
        config: ConfigView::new(&loaded),
    };
    router().with_state(state)
}

async fn get_config(
    router: Router,
    authorization: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::get("/config");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = router
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|value| value.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn the_token_matrix() {
    let right = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    let lowercase_scheme = format!("bearer {TOKEN}");
    // (configured token, Authorization header, status, error code or None for success)
    let cases = [
        (
            None,
            Some(right.as_str()),
            StatusCode::NOT_FOUND,
            Some("not-found"),
        ),
        (None, None, StatusCode::NOT_FOUND, Some("not-found")),
        (
            Some(TOKEN),
            None,
            StatusCode::UNAUTHORIZED,
            Some("unauthorized"),
        ),
        (
            Some(TOKEN),
            Some("Basic abc"),
            StatusCode::UNAUTHORIZED,
            Some("unauthorized"),
        ),
        (
            Some(TOKEN),
            Some("Bearer "),
            StatusCode::UNAUTHORIZED,
            Some("unauthorized"),
        ),
        (
            Some(TOKEN),
            Some(wrong.as_str()),
            StatusCode::FORBIDDEN,
            Some("forbidden"),
        ),
        (Some(TOKEN), Some(right.as_str()), StatusCode::OK, None),
        (Some(TOKEN), Some(&lowercase_scheme), StatusCode::OK, None),
    ];
    for (configured, authorization, status, code) in cases {
        let (answered, challenge, body) = get_config(test_router(configured), authorization).await;
        assert_eq!(answered, status, "{configured:?} {authorization:?}");
        match code {
            Some(code) => assert_eq!(body["error"], code, "{configured:?} {authorization:?}"),
            None => assert_eq!(
                body["server.port"],
                json!({"value": 9321, "source": "override server.port"})
            ),
        }
        assert_eq!(challenge.is_some(), status == StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn the_config_view_masks_secrets() {
    let (_, _, body) = get_config(test_router(Some(TOKEN)), Some(&format!("Bearer {TOKEN}"))).await;
    let secret = body["security.secret_key"]["value"].as_str().unwrap();
    assert!(secret.starts_with("***"), "{secret}");
    let token = body["security.admin_token"]["value"].as_str().unwrap();
    assert_eq!(token, keel_config::mask(TOKEN));
    assert!(!body.to_string().contains(TOKEN));
}

#[tokio::test]
async fn other_methods_learn_nothing_without_the_token() {
    // (configured token, Authorization header, status)
    let right = format!("Bearer {TOKEN}");
    let cases = [
        (None, None, StatusCode::NOT_FOUND),
        (Some(TOKEN), None, StatusCode::UNAUTHORIZED),
        (
            Some(TOKEN),
            Some(right.as_str()),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (configured, authorization, status) in cases {
        let mut request = Request::post("/config");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let response = test_router(configured)
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            status,
            "{configured:?} {authorization:?}"
        );
    }
}
