//! The stack around a tiny router of purpose-made handlers, driven with `oneshot`.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::routing::{get, post};
use http_body_util::BodyExt;
use keel_http::ErrorReport;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

pub(super) fn options() -> Options {
    Options {
        app_header: HeaderValue::from_static("keel-test"),
        max_body_bytes: 16,
        request_timeout: Duration::from_secs(5),
        cors: Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list([HeaderValue::from_static(
                    "https://app.example",
                )]))
                .allow_methods([Method::GET]),
        ),
        content_security_policy: HeaderValue::from_static("default-src 'self'"),
        strict_transport_security: false,
        compression: true,
        trusted_proxies: Arc::from([]),
        error_pages: ErrorPages {
            max_body_bytes: 16,
            site: SiteInfo {
                app_name: "keel-test".to_owned(),
                environment: "testing".to_owned(),
            },
            assets: StaticAssets::default(),
        },
        http_metrics: keel_ext_telemetry::HttpMetrics::new(),
    }
}

fn stack() -> Router {
    stack_with(&options())
}

fn stack_with(options: &Options) -> Router {
    let routes = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/report",
            get(|| async { ErrorReport::new(StatusCode::CONFLICT, "conflict", "already there") }),
        )
        .route(
            "/leaky",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "SELECT * FROM secrets") }),
        )
        .route("/panic", get(panicking))
        .route(
            "/busy",
            get(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "5")],
                    "slow down",
                )
            }),
        )
        .route(
            "/echo",
            post(|Json(value): Json<Value>| async move { Json(value) }),
        )
        .fallback(|| async { ErrorReport::not_found() });
    apply(routes, options, None)
}

async fn panicking() -> &'static str {
    panic!("boom at /srv/keel/src/secret.rs")
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(request: Request) -> Answer {
    send_to(stack(), request).await
}

async fn send_to(stack: Router, request: Request) -> Answer {
    let response = stack.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status,
        headers,
        body,
    }
}

pub(super) fn get_request(path: &str) -> Request {
    Request::get(path).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn every_response_carries_the_app_and_request_id_headers() {
    for path in ["/ok", "/report", "/nowhere", "/panic"] {
        let answer = send(get_request(path)).await;
        assert_eq!(answer.headers[APP_HEADER], "keel-test", "{path}");
        let id = answer.headers[REQUEST_ID_HEADER].to_str().unwrap();
        assert_eq!(uuid_version(id), Some(7), "{path}: {id}");
    }
}

#[tokio::test]
async fn a_sane_incoming_request_id_is_echoed_and_an_insane_one_replaced() {
    let cases = [
        ("abc-123.x:y_z", true),
        ("has space", false),
        ("a;b", false),
    ];
    for (incoming, kept) in cases {
        let request = Request::get("/ok")
            .header(REQUEST_ID_HEADER, incoming)
            .body(Body::empty())
            .unwrap();
        let answer = send(request).await;
        let echoed = answer.headers[REQUEST_ID_HEADER].to_str().unwrap();
        assert_eq!(echoed == incoming, kept, "{incoming:?} -> {echoed}");
    }
}

#[tokio::test]
async fn errors_leave_as_json_with_the_request_id_and_nothing_internal() {
    // (path, method, body, status, expected error code, expected message)
    let cases = [
        (
            "/report",
            "GET",
            "",
            StatusCode::CONFLICT,
            "conflict",
            "already there",
        ),
        (
            "/nowhere",
            "GET",
            "",
            StatusCode::NOT_FOUND,
            "not-found",
            "there is nothing at this address",
        ),
        (
            "/ok",
            "DELETE",
            "",
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "method not allowed",
        ),
        (
            "/leaky",
            "GET",
            "",
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-server-error",
            "internal server error",
        ),
        (
            "/panic",
            "GET",
            "",
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "something went wrong on our side",
        ),
        (
            "/echo",
            "POST",
            "{\"a\": 1, \"padding\": true}",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "the request body is larger than the limit of 16 bytes",
        ),
    ];
    for (path, method, body, status, code, message) in cases {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap();
        let answer = send(request).await;
        let request_id = answer.headers[REQUEST_ID_HEADER].to_str().unwrap();
        assert_eq!(answer.status, status, "{method} {path}");
        assert_eq!(
            answer.body,
            json!({"error": code, "message": message, "request_id": request_id}),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn re_rendering_an_error_keeps_the_headers_set_below_it() {
    let answer = send(get_request("/busy")).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.headers[header::RETRY_AFTER], "5");
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(answer.body["message"], "slow down");
}

#[tokio::test]
async fn a_rejected_body_keeps_the_extractors_explanation() {
    let request = Request::post("/echo")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{"))
        .unwrap();
    let answer = send(request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["error"], "bad-request");
    let message = answer.body["message"].as_str().unwrap();
    assert!(message.contains("JSON"), "{message}");
}

#[tokio::test]
async fn security_headers_are_on_every_response_and_hsts_only_over_https() {
    let expected = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("content-security-policy", "default-src 'self'"),
    ];
    for path in ["/ok", "/nowhere", "/panic"] {
        let answer = send(get_request(path)).await;
        for (name, value) in expected {
            assert_eq!(answer.headers[name], value, "{path} {name}");
        }
        assert!(
            !answer.headers.contains_key("strict-transport-security"),
            "{path}"
        );
    }
    let https = Options {
        strict_transport_security: true,
        ..options()
    };
    let answer = send_to(stack_with(&https), get_request("/ok")).await;
    assert_eq!(
        answer.headers["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}

#[tokio::test]
async fn cors_preflight_is_answered_only_for_listed_origins() {
    // (configured origins, requesting origin, allowed?)
    let cases = [
        (options(), "https://app.example", true),
        (options(), "https://evil.example", false),
        (
            Options {
                cors: None,
                ..options()
            },
            "https://app.example",
            false,
        ),
    ];
    for (options, origin, allowed) in cases {
        let preflight = Request::builder()
            .method("OPTIONS")
            .uri("/ok")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap();
        let answer = send_to(stack_with(&options), preflight).await;
        let allowed_origin = answer.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
        assert_eq!(
            allowed_origin.is_some_and(|value| value == origin),
            allowed,
            "{origin}"
        );
    }
}

#[tokio::test]
async fn clients_that_prefer_html_get_an_error_page_with_the_same_message() {
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    // (path, status, message shown)
    let cases = [
        (
            "/nowhere",
            StatusCode::NOT_FOUND,
            "there is nothing at this address",
        ),
        (
            "/panic",
            StatusCode::INTERNAL_SERVER_ERROR,
            "something went wrong on our side",
        ),
    ];
    for (path, status, message) in cases {
        let request = Request::get(path)
            .header(header::ACCEPT, browser)
            .body(Body::empty())
            .unwrap();
        let answer = send(request).await;
        assert_eq!(answer.status, status, "{path}");
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{path}"
        );
        let page = answer.body.as_str().unwrap();
        let request_id = answer.headers[REQUEST_ID_HEADER].to_str().unwrap();
        assert!(page.starts_with("<!doctype html>"), "{page}");
        assert!(page.contains(message), "{page}");
        assert!(page.contains(request_id), "{page}");
        assert!(!page.contains("secret.rs"), "{page}");
    }
}

fn uuid_version(text: &str) -> Option<usize> {
    uuid::Uuid::parse_str(text)
        .ok()
        .map(|id| id.get_version_num())
}
