//! Router tests: the ops blueprint alone, driven with `oneshot` against a small state.

use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use keel_config::{LoadOptions, Override, Secret};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

const TOKEN: &str = "an-admin-token-that-is-long-enough-0123456789";

#[derive(Clone, FromRef)]
struct TestState {
    admin_token: AdminToken,
    config: ConfigView,
}

fn test_router(token: Option<&str>) -> Router {
    let loaded = keel_config::load(&LoadOptions {
        environment: Some("testing".to_owned()),
        overrides: vec![Override::new("server.port", "9321")],
        ..LoadOptions::default()
    })
    .unwrap();
    let state = TestState {
        admin_token: AdminToken::new(token.map(Secret::new)),
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
    assert_eq!(body["security.admin_token"]["value"], Value::Null);
    assert!(!body.to_string().contains(TOKEN));
}
