//! Router tests: the ops blueprint alone, driven with `oneshot` against a small state.

use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use keel_config::Override;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

const TOKEN: &str = "an-admin-token-that-is-long-enough-0123456789";

#[derive(Clone, FromRef)]
struct TestState {
    admin_token: AdminToken,
    config: ConfigView,
    flags: FlagStore,
}

/// The ops router over settings loaded with `token` as `security.admin_token`, as the app builds it,
/// with a flag store on a throwaway SQLite file.
struct Harness {
    router: Router,
    sandbox: keel_ext_flags::testing::Sandbox,
}

async fn harness(token: Option<&str>) -> Harness {
    let mut overrides = vec![Override::new("server.port", "9321")];
    if let Some(token) = token {
        overrides.push(Override::new("security.admin_token", token));
    }
    let sandbox = keel_ext_flags::testing::Sandbox::new(overrides).await;
    let loaded = &sandbox.loaded;
    let state = TestState {
        admin_token: AdminToken::new(loaded.settings.security.admin_token.clone()),
        config: ConfigView::new(loaded),
        flags: sandbox.store.clone(),
    };
    Harness {
        router: router().with_state(state),
        sandbox,
    }
}

impl Harness {
    /// Sends one request; `body` is sent as JSON.
    async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Option<String>, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_owned())),
            None => request.body(Body::empty()),
        };
        let response = self.router.clone().oneshot(request.unwrap()).await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|value| value.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, challenge, body)
    }
}

async fn get_config(
    harness: &Harness,
    authorization: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    harness
        .send("GET", "/ops/config", authorization, None)
        .await
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
        let harness = harness(configured).await;
        let (answered, challenge, body) = get_config(&harness, authorization).await;
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
    let harness = harness(Some(TOKEN)).await;
    let (_, _, body) = get_config(&harness, Some(&format!("Bearer {TOKEN}"))).await;
    let secret = body["security.secret_key"]["value"].as_str().unwrap();
    assert!(secret.starts_with("***"), "{secret}");
    let token = body["security.admin_token"]["value"].as_str().unwrap();
    // The fingerprint is keyed by the secret key, so only those who hold it can reproduce it.
    let fingerprints =
        keel_config::Fingerprints::new(&harness.sandbox.loaded.settings.security.secret_key);
    assert_eq!(token, fingerprints.mask(TOKEN));
    assert!(!body.to_string().contains(TOKEN));
}

#[tokio::test]
async fn routes_are_served_at_their_full_paths_only() {
    let harness = harness(Some(TOKEN)).await;
    let right = format!("Bearer {TOKEN}");
    let config = format!("{MOUNT_PATH}/config");
    let (status, _, _) = harness.send("GET", &config, Some(&right), None).await;
    assert_eq!(status, StatusCode::OK);
    // Without the prefix the address is unknown to the router: axum's bare 404, no handler reached.
    let (status, _, body) = harness.send("GET", "/config", Some(&right), None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, Value::Null));
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
        let harness = harness(configured).await;
        for path in ["/ops/config", "/ops/flags", "/ops/flags/signup_v2/audit"] {
            let (answered, _, _) = harness.send("POST", path, authorization, None).await;
            assert_eq!(answered, status, "{path} {configured:?} {authorization:?}");
        }
        let (answered, _, _) = harness
            .send("GET", "/ops/flags/signup_v2", authorization, None)
            .await;
        assert_eq!(
            answered, status,
            "GET /flags/signup_v2 {configured:?} {authorization:?}"
        );
    }
}

#[tokio::test]
async fn every_flag_route_is_behind_the_token() {
    let right = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    let change = r#"{"enabled": true}"#;
    // (method, path, body)
    let routes = [
        ("GET", "/ops/flags", None),
        ("POST", "/ops/flags/signup_v2", Some(change)),
        ("GET", "/ops/flags/signup_v2/audit", None),
    ];
    // (configured token, Authorization header, status)
    let cases = [
        (None, Some(right.as_str()), StatusCode::NOT_FOUND),
        (Some(TOKEN), None, StatusCode::UNAUTHORIZED),
        (Some(TOKEN), Some(wrong.as_str()), StatusCode::FORBIDDEN),
        (Some(TOKEN), Some(right.as_str()), StatusCode::OK),
    ];
    for (configured, authorization, status) in cases {
        let harness = harness(configured).await;
        for (method, path, body) in routes {
            let (answered, _, _) = harness.send(method, path, authorization, body).await;
            assert_eq!(
                answered, status,
                "{method} {path} {configured:?} {authorization:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_change_is_listed_and_audited_and_bad_requests_name_their_problem() {
    let harness = harness(Some(TOKEN)).await;
    let auth = format!("Bearer {TOKEN}");
    let auth = Some(auth.as_str());

    let (status, _, body) = harness.send("GET", "/ops/flags", auth, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["flags"][0]["name"], "signup_v2");
    assert_eq!(body["flags"][0]["source"], "default");
    assert_eq!(body["flags"][0]["enabled"], false);

    let (status, _, body) = harness
        .send(
            "POST",
            "/ops/flags/signup_v2",
            auth,
            Some(r#"{"enabled": true, "rollout_percent": 25, "actor": "alice"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["enabled"], &body["rollout_percent"], &body["source"]),
        (&json!(true), &json!(25), &json!("runtime"))
    );

    let (status, _, body) = harness
        .send("GET", "/ops/flags/signup_v2/audit", auth, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor"], "ops:alice");
    assert_eq!(
        entries[0]["old"],
        json!({"enabled": false, "rollout_percent": 100})
    );
    assert_eq!(
        entries[0]["new"],
        json!({"enabled": true, "rollout_percent": 25})
    );

    // (method, path, body, status, error code)
    let refused = [
        (
            "POST",
            "/ops/flags/no_such_flag",
            Some(r#"{"enabled": true}"#),
            404,
            "not-found",
        ),
        (
            "GET",
            "/ops/flags/no_such_flag/audit",
            None,
            404,
            "not-found",
        ),
        (
            "POST",
            "/ops/flags/signup_v2",
            Some(r#"{"enabled": true, "rollout_percent": 101}"#),
            422,
            "unprocessable-entity",
        ),
        (
            "POST",
            "/ops/flags/signup_v2",
            Some("{"),
            400,
            "bad-request",
        ),
    ];
    for (method, path, body, status, code) in refused {
        let (answered, _, answer) = harness.send(method, path, auth, body).await;
        assert_eq!(
            (answered.as_u16(), &answer["error"]),
            (status, &json!(code)),
            "{method} {path} {body:?}: {answer}"
        );
    }
    let (_, _, body) = harness
        .send("GET", "/ops/flags/signup_v2/audit", auth, None)
        .await;
    assert_eq!(
        body["entries"].as_array().unwrap().len(),
        1,
        "refused changes wrote audit rows"
    );
}
