//! Router tests: the API alone, driven with `oneshot` against a small state on a throwaway SQLite file.

use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

/// The least state the API needs; the app factory's `AppState` provides the same pieces.
#[derive(Clone, FromRef)]
struct TestState {
    db: Db,
    flags: FlagStore,
    build: BuildInfo,
    draining: Draining,
    notes: Notes,
}

/// Notes per page in these tests: small, so paging is cheap to reach.
pub(crate) const PAGE_SIZE: u64 = 3;

pub(crate) struct Harness {
    pub(crate) router: Router,
    pub(crate) db: Db,
    flags: FlagStore,
    draining: Draining,
    _sandbox: keel_ext_flags::testing::Sandbox,
}

pub(crate) async fn harness() -> Harness {
    let sandbox = keel_ext_flags::testing::Sandbox::new(Vec::new()).await;
    let draining = Draining::default();
    let state = TestState {
        draining: draining.clone(),
        notes: Notes::new(sandbox.db.clone(), PAGE_SIZE),
        db: sandbox.db.clone(),
        flags: sandbox.store.clone(),
        build: BuildInfo {
            name: "keel".to_owned(),
            version: "1.2.3".to_owned(),
            git_revision: "abc1234".to_owned(),
            build_profile: "debug".to_owned(),
        },
    };
    Harness {
        router: router().layer(sandbox.visitor_context()).with_state(state),
        db: sandbox.db.clone(),
        flags: sandbox.store.clone(),
        draining,
        _sandbox: sandbox,
    }
}

async fn get_json(router: &Router, path: &str) -> (StatusCode, Value) {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn each_route_answers_its_documented_body() {
    let harness = harness().await;
    let cases = [
        ("/api/v1/health", json!({"status": "ok"})),
        (
            "/api/v1/ready",
            json!({"status": "ok", "checks": {"database": {"status": "ok", "backend": "sqlite"}}}),
        ),
        (
            "/api/v1/version",
            json!({"name": "keel", "version": "1.2.3", "git_revision": "abc1234", "build_profile": "debug"}),
        ),
        (
            "/api/v1/flags",
            json!({"flags": {"new_checkout": false, "signup_v2": false}}),
        ),
    ];
    for (path, expected) in cases {
        assert_eq!(
            get_json(&harness.router, path).await,
            (StatusCode::OK, expected),
            "{path}"
        );
    }
}

#[tokio::test]
async fn readiness_is_503_with_detail_when_the_database_is_gone_and_liveness_stays_ok() {
    let harness = harness().await;
    harness.db.clone().close().await.unwrap();

    let (status, body) = get_json(&harness.router, "/api/v1/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["backend"], "sqlite");
    assert!(body["checks"]["database"]["detail"].is_string(), "{body}");

    let (status, body) = get_json(&harness.router, "/api/v1/health").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
}

#[tokio::test]
async fn readiness_is_503_as_soon_as_draining_starts() {
    let harness = harness().await;
    harness.draining.start();
    let (status, body) = get_json(&harness.router, "/api/v1/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"status": "draining", "checks": {}}));
}

#[tokio::test]
async fn flags_are_evaluated_for_the_visitor_and_a_cookie_is_issued_only_when_it_matters() {
    let harness = harness().await;
    let request = || Request::get("/api/v1/flags").body(Body::empty()).unwrap();

    // Fully on or off for everyone: the answer does not depend on the visitor, so no cookie.
    let response = harness.router.clone().oneshot(request()).await.unwrap();
    assert!(response.headers().get("set-cookie").is_none());

    let half = keel_ext_flags::Change {
        enabled: true,
        rollout_percent: Some(50),
    };
    harness.flags.set("signup_v2", half, "test").await.unwrap();
    let response = harness.router.clone().oneshot(request()).await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("keel_visitor="), "{cookie}");
    let visitor = cookie.split(';').next().unwrap().to_owned();
    let first_answer = response.into_body().collect().await.unwrap().to_bytes();

    // The same visitor keeps their answer and is not sent a new cookie.
    for _ in 0..5 {
        let request = Request::get("/api/v1/flags")
            .header("cookie", &visitor)
            .body(Body::empty())
            .unwrap();
        let response = harness.router.clone().oneshot(request).await.unwrap();
        assert!(response.headers().get("set-cookie").is_none());
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(answer, first_answer);
    }

    // A forged cookie is not trusted: it is replaced.
    let forged = Request::get("/api/v1/flags")
        .header(
            "cookie",
            format!("keel_visitor={}.{}", "a".repeat(32), "0".repeat(64)),
        )
        .body(Body::empty())
        .unwrap();
    let response = harness.router.clone().oneshot(forged).await.unwrap();
    let replaced = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        !replaced.starts_with(&format!("keel_visitor={}", "a".repeat(32))),
        "{replaced}"
    );
}
