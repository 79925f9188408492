//! Every route of the foundation, over real TCP, on every backend: status, content type, body, headers.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestDatabase, backends, spawn_app, spawn_app_with};

/// (path, expected JSON body) for the JSON routes; `/api/v1/ready` depends on the backend.
fn json_routes(backend: Backend) -> Vec<(&'static str, Value)> {
    vec![
        ("/ping", json!({"pong": true})),
        ("/compute", json!({"result": 42})),
        ("/api/v1/health", json!({"status": "ok"})),
        (
            "/api/v1/ready",
            json!({"status": "ok", "checks": {"database": {"status": "ok", "backend": backend.name()}}}),
        ),
    ]
}

#[tokio::test]
async fn json_routes_answer_their_documented_bodies() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        for (path, expected) in json_routes(backend) {
            let response = app.get(path).await;
            assert_eq!(response.status(), 200, "{backend:?} {path}");
            assert_eq!(
                content_type(&response),
                "application/json",
                "{backend:?} {path}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body, expected, "{backend:?} {path}");
        }
    }
}

#[tokio::test]
async fn version_names_the_build() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let body: Value = app.get("/api/v1/version").await.json().await.unwrap();
        assert_eq!(body["name"], "keel", "{backend:?}");
        for field in ["version", "git_revision", "build_profile"] {
            let value = body[field].as_str().unwrap_or_default();
            assert!(!value.is_empty(), "{backend:?} {field} in {body}");
        }
    }
}

#[tokio::test]
async fn the_index_page_is_well_formed_html_whose_stylesheet_is_served_as_css() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let response = app.get("/").await;
        assert_eq!(response.status(), 200, "{backend:?}");
        assert_eq!(content_type(&response), "text/html; charset=utf-8");
        let page = response.text().await.unwrap();
        assert_well_formed_html(&page);
        assert!(page.contains(r#"class="badge badge-testing""#), "{page}");

        let stylesheet = attribute_after(&page, r#"rel="stylesheet" href=""#)
            .unwrap_or_else(|| panic!("no stylesheet link in {page}"));
        assert!(
            stylesheet.starts_with("/static/css/app.css?v="),
            "{stylesheet}"
        );
        let response = app.get(stylesheet).await;
        assert_eq!(response.status(), 200, "{stylesheet}");
        assert_eq!(content_type(&response), "text/css");
    }
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404_carrying_the_request_id() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        for path in ["/nowhere", "/api/v1/nowhere", "/static/missing.css"] {
            let response = app.get(path).await;
            assert_eq!(response.status(), 404, "{path}");
            assert_eq!(content_type(&response), "application/json", "{path}");
            let request_id = header(&response, "x-request-id");
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body,
                json!({"error": "not-found", "message": "there is nothing at this address", "request_id": request_id}),
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn api_and_ops_routes_match_whole_paths_and_refuse_other_methods_as_the_app_does() {
    let token = "an-admin-token-for-the-black-box-tests-0123456789";
    let database = TestDatabase::create(Backend::Sqlite).await;
    let app = spawn_app_with(database, &[("security.admin_token", token)]).await;
    let bearer = format!("Bearer {token}");
    // A prefix alone, a trailing slash or a doubled slash is no route: the app's 404.
    for path in [
        "/api/v1",
        "/api/v1/",
        "/api/v1/health/",
        "/api/v1//health",
        "/ops",
        "/ops/",
        "/ops/config/",
    ] {
        let response = app.get_with_header(path, "authorization", &bearer).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not-found", "{path}");
    }
    // Another method is a 405 naming the route's methods; on /ops only once the token is checked.
    // (path, Authorization, status, error code)
    let cases = [
        ("/api/v1/health", None, 405, "method-not-allowed"),
        ("/ops/config", None, 401, "unauthorized"),
        (
            "/ops/config",
            Some(bearer.as_str()),
            405,
            "method-not-allowed",
        ),
    ];
    for (path, authorization, status, error) in cases {
        let mut request = app.client.delete(format!("{}{path}", app.address));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{path} {authorization:?}");
        if status == 405 {
            assert_eq!(header(&response, "allow"), "GET,HEAD", "{path}");
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{path} {authorization:?}");
    }
}

#[tokio::test]
async fn every_response_carries_x_app_a_request_id_and_the_security_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in [
        "/",
        "/ping",
        "/api/v1/health",
        "/static/css/app.css",
        "/nowhere",
    ] {
        let response = app.get(path).await;
        assert_eq!(header(&response, "x-app"), "keel", "{path}");
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), "DENY", "{path}");
        assert!(
            header(&response, "content-security-policy").starts_with("default-src 'self'"),
            "{path}"
        );
        let request_id = header(&response, "x-request-id");
        let parsed = uuid::Uuid::parse_str(&request_id).unwrap();
        assert_eq!(parsed.get_version_num(), 7, "{path}: {request_id}");
    }
}

#[tokio::test]
async fn a_sane_incoming_request_id_is_echoed_and_anything_else_replaced() {
    let app = spawn_app(Backend::Sqlite).await;
    let too_long = "x".repeat(129);
    // (incoming X-Request-ID, echoed unchanged?)
    let cases = [
        ("req-42.a_b:c", true),
        (too_long.as_str(), false),
        ("with space", false),
        ("semi;colon", false),
    ];
    for (incoming, kept) in cases {
        let response = app.get_with_header("/ping", "x-request-id", incoming).await;
        let echoed = header(&response, "x-request-id");
        assert_eq!(echoed == incoming, kept, "{incoming:?} -> {echoed}");
    }
}

fn content_type(response: &reqwest::Response) -> String {
    header(response, "content-type")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The text between `prefix` and the next `"`.
fn attribute_after<'a>(page: &'a str, prefix: &str) -> Option<&'a str> {
    let start = page.find(prefix)? + prefix.len();
    let length = page[start..].find('"')?;
    Some(&page[start..start + length])
}

/// A structural check, enough for server-rendered templates: the doctype comes first, there is one
/// `<html lang>`, `<head>`, `<title>` and `<body>`, and every non-void element is closed in order.
fn assert_well_formed_html(page: &str) {
    const VOID_ELEMENTS: &[&str] = &["meta", "link", "br", "img", "input", "hr"];
    assert!(page.starts_with("<!doctype html>"), "no doctype: {page}");
    for required in ["<html lang=", "<head>", "<title>", "<body>", "</html>"] {
        assert_eq!(page.matches(required).count(), 1, "{required} in {page}");
    }
    let mut open: Vec<&str> = Vec::new();
    let mut rest = &page["<!doctype html>".len()..];
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("an unclosed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or_default();
        if tag.starts_with('/') {
            assert_eq!(open.pop(), Some(name), "</{name}> closes the wrong element");
        } else if !VOID_ELEMENTS.contains(&name) {
            open.push(name);
        }
    }
    assert!(open.is_empty(), "unclosed elements: {open:?}");
}
