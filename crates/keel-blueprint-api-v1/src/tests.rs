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
    build: BuildInfo,
    draining: Draining,
}

struct Harness {
    router: Router,
    db: Db,
    draining: Draining,
    _folder: tempfile::TempDir,
}

async fn harness() -> Harness {
    let folder = tempfile::tempdir().unwrap();
    // The testing profile's database settings, from the real loader, pointed at a throwaway file.
    let url = format!(
        "sqlite://{}?mode=rwc",
        folder.path().join("api.sqlite3").display()
    );
    let options = keel_config::LoadOptions {
        environment: Some("testing".to_owned()),
        overrides: vec![keel_config::Override::new("database.url", url)],
        ..keel_config::LoadOptions::default()
    };
    let settings = keel_config::load(&options).unwrap().settings.database;
    let db = Db::connect(&settings).await.unwrap();
    let draining = Draining::default();
    let state = TestState {
        draining: draining.clone(),
        db: db.clone(),
        build: BuildInfo {
            name: "keel".to_owned(),
            version: "1.2.3".to_owned(),
            git_revision: "abc1234".to_owned(),
            build_profile: "debug".to_owned(),
        },
    };
    Harness {
        router: router().with_state(state),
        db,
        draining,
        _folder: folder,
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
        ("/health", json!({"status": "ok"})),
        (
            "/ready",
            json!({"status": "ok", "checks": {"database": {"status": "ok", "backend": "sqlite"}}}),
        ),
        (
            "/version",
            json!({"name": "keel", "version": "1.2.3", "git_revision": "abc1234", "build_profile": "debug"}),
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

    let (status, body) = get_json(&harness.router, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["backend"], "sqlite");
    assert!(body["checks"]["database"]["detail"].is_string(), "{body}");

    let (status, body) = get_json(&harness.router, "/health").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
}

#[tokio::test]
async fn readiness_is_503_as_soon_as_draining_starts() {
    let harness = harness().await;
    harness.draining.start();
    let (status, body) = get_json(&harness.router, "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"status": "draining", "checks": {}}));
}
