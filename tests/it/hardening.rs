//! HTTP hardening over real TCP: limits, timeouts, panics, error formats, security headers, CORS and
//! static files.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestDatabase, spawn_app, spawn_app_in, spawn_app_with, status_line_after,
};

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_with(TestDatabase::create(Backend::Sqlite).await, overrides).await
}

/// Sends `request` as raw bytes on a new connection and returns the response's status line.
async fn raw_status_line(app: &TestApp, request: &[u8]) -> String {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    status_line_after(&mut stream, request).await
}

#[tokio::test]
async fn an_oversized_body_is_413_json_whether_announced_or_streamed() {
    let app = spawn_with(&[("server.max_body_bytes", "64")]).await;
    let big = json!({"padding": "x".repeat(200)}).to_string();

    let response = app
        .client
        .post(format!("{}/test/echo", app.address))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "payload-too-large");
    assert_eq!(
        body["message"],
        "the request body is larger than the limit of 64 bytes"
    );

    // Chunked: no Content-Length, so the limit is only found while the handler reads the body.
    let chunked = format!(
        "POST /test/echo HTTP/1.1\r\nHost: keel\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    assert_eq!(
        raw_status_line(&app, chunked.as_bytes()).await,
        "HTTP/1.1 413 Payload Too Large"
    );

    // Within the limit the body goes through.
    let small = app
        .client
        .post(format!("{}/test/echo", app.address))
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
}

#[tokio::test]
async fn server_max_body_bytes_is_the_one_limit_every_extractor_obeys_and_names() {
    const MIB: usize = 1024 * 1024;
    let token = "an-admin-token-for-the-black-box-tests-0123456789";
    let padded = |bytes: usize| json!({"padding": "x".repeat(bytes)}).to_string();
    // (max_body_bytes, body size, path, expected status)
    let cases = [
        // Above axum's own 2 MiB default, within the setting: JSON (the test route) and raw bytes (ops).
        ("52428800", 3 * MIB, "/test/echo", 200),
        ("52428800", 3 * MIB, "/ops/flags/signup_v2", 422),
        // The default, 16 MiB: just over 2 MiB goes through.
        ("16777216", 2 * MIB + 1, "/test/echo", 200),
        ("1048576", 2 * MIB, "/test/echo", 413),
        ("1048576", 2 * MIB, "/ops/flags/signup_v2", 413),
    ];
    for (limit, size, path, status) in cases {
        let app = spawn_with(&[
            ("server.max_body_bytes", limit),
            ("security.admin_token", token),
        ])
        .await;
        let response = app.post_json(path, token, &padded(size)).await;
        assert_eq!(response.status(), status, "{limit} {size} {path}");
        if status == 413 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body["message"],
                format!("the request body is larger than the limit of {limit} bytes")
            );
        }
    }
}

#[tokio::test]
async fn a_request_slower_than_the_timeout_is_504_json() {
    let app = spawn_with(&[("server.request_timeout_secs", "1")]).await;
    let response = app.get("/test/slow?ms=5000").await;
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "gateway-timeout");
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn a_body_still_arriving_when_time_runs_out_is_408_and_closes_the_connection() {
    let app = spawn_with(&[("server.request_timeout_secs", "1")]).await;
    // Announces 100 bytes and sends five: the handler waits for the client.
    let slow_upload = b"POST /test/echo HTTP/1.1\r\nHost: keel\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":";
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    assert_eq!(
        status_line_after(&mut stream, slow_upload).await,
        "HTTP/1.1 408 Request Timeout"
    );
    // The unread rest of the body would be taken for the next request: the connection is closed.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest),
    )
    .await;
    assert!(read.is_ok(), "the connection stayed open");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_app_keeps_serving() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/test/panic").await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "internal-error");
    assert_eq!(body["message"], "something went wrong on our side");
    assert!(!body.to_string().contains("panics"), "{body}");
    assert_eq!(app.get("/ping").await.status(), 200);
}

#[tokio::test]
async fn errors_are_html_for_browsers_and_json_for_everyone_else() {
    let app = spawn_app(Backend::Sqlite).await;
    let cases = [
        ("/nowhere", 404, "there is nothing at this address"),
        ("/test/panic", 500, "something went wrong on our side"),
        (
            "/test/unavailable",
            503,
            "the service is temporarily unavailable; try again shortly",
        ),
    ];
    for (path, status, message) in cases {
        for accept in [BROWSER_ACCEPT, "application/json", "*/*"] {
            let response = app.get_with_header(path, "accept", accept).await;
            assert_eq!(response.status(), status, "{path} {accept}");
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let request_id = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let text = response.text().await.unwrap();
            if accept == BROWSER_ACCEPT {
                assert_eq!(content_type, "text/html; charset=utf-8", "{path}");
                assert!(text.starts_with("<!doctype html>"), "{text}");
                assert!(
                    text.contains(message) && text.contains(&request_id),
                    "{text}"
                );
            } else {
                assert_eq!(content_type, "application/json", "{path} {accept}");
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["message"], message);
                assert_eq!(body["request_id"], request_id.as_str());
            }
        }
    }
}

#[tokio::test]
async fn security_headers_follow_the_settings() {
    // (overrides, expected HSTS, expected CSP)
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, &'a str);
    let cases: [Case<'_>; 2] = [
        (
            &[],
            None,
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
        (
            &[
                ("security.preferred_url_scheme", "https"),
                ("security.csp", "default-src 'none'"),
            ],
            Some("max-age=31536000; includeSubDomains"),
            "default-src 'none'",
        ),
    ];
    for (overrides, hsts, csp) in cases {
        let app = spawn_with(overrides).await;
        for path in ["/", "/nowhere", "/static/css/app.css"] {
            let response = app.get(path).await;
            let headers = response.headers();
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert_eq!(headers["x-frame-options"], "DENY");
            assert_eq!(
                headers["referrer-policy"],
                "strict-origin-when-cross-origin"
            );
            assert_eq!(headers["content-security-policy"], csp, "{path}");
            assert_eq!(
                headers
                    .get("strict-transport-security")
                    .map(|value| value.to_str().unwrap()),
                hsts,
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn cors_preflights_are_allowed_only_for_configured_origins() {
    let app = spawn_with(&[("security.cors_origins", r#"["https://app.example"]"#)]).await;
    for (origin, allowed) in [
        ("https://app.example", true),
        ("https://evil.example", false),
    ] {
        let response = app
            .client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/health", app.address),
            )
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        let allowed_origin = response.headers().get("access-control-allow-origin");
        assert_eq!(
            allowed_origin.is_some_and(|value| value == origin),
            allowed,
            "{origin}"
        );
    }
    // Methods, headers and credentials come from the settings too.
    let app = spawn_with(&[
        ("security.cors_origins", r#"["https://app.example"]"#),
        ("security.cors_methods", r#"["GET"]"#),
        ("security.cors_headers", r#"["x-custom"]"#),
        ("security.cors_allow_credentials", "true"),
    ])
    .await;
    let response = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/health", app.address),
        )
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-methods"], "GET");
    assert_eq!(headers["access-control-allow-headers"], "x-custom");
    assert_eq!(headers["access-control-allow-credentials"], "true");
    // With no origins configured (the default), no CORS header is ever sent.
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .get_with_header("/api/v1/health", "origin", "https://app.example")
        .await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn static_files_are_cached_by_content_hash_and_never_escape_their_folder() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = app.get("/").await.text().await.unwrap();
    let start = page.find("/static/css/app.css?v=").unwrap();
    let hashed = &page[start..start + page[start..].find('"').unwrap()];
    // (path, expected status, expected Cache-Control)
    let cases = [
        (hashed, 200, Some("public, max-age=31536000, immutable")),
        ("/static/css/app.css", 200, Some("public, max-age=300")),
        (
            "/static/css/app.css?v=000000000000",
            200,
            Some("public, max-age=300"),
        ),
        ("/static/css", 404, None),
        ("/static/css/", 404, None),
        ("/static/../Cargo.toml", 404, None),
        ("/static/%2e%2e/Cargo.toml", 404, None),
        ("/static/css/%2e%2e/%2e%2e/README.md", 404, None),
        ("/static/..%2f..%2fCargo.toml", 404, None),
        ("/static/%2e%2e%2f%2e%2e%2fCargo.toml", 404, None),
    ];
    for (path, status, cache_control) in cases {
        let response = app.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|value| value.to_str().unwrap()),
            cache_control,
            "{path}"
        );
        if status == 404 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "not-found", "{path}");
        }
    }
}

#[tokio::test]
async fn hidden_files_and_folders_in_the_static_folder_are_404() {
    let folder = tempfile::tempdir().unwrap();
    let root = folder.path();
    for (file, contents) in [
        ("css/app.css", "body {}"),
        (".env", "SECRET_KEY=canary-static-dotfile"),
        (".git/config", "[core]"),
        ("css/.env", "SECRET_KEY=canary-static-dotfile"),
        (".well-hidden/index.css", "body {}"),
    ] {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    let app = spawn_with(&[("static_files.dir", &root.display().to_string())]).await;
    assert_eq!(app.get("/static/css/app.css").await.status(), 200);
    for path in [
        "/static/.env",
        "/static/%2eenv",
        "/static/%2Eenv",
        "/static/.git/config",
        "/static/%2egit%2fconfig",
        "/static/css/.env",
        "/static/css%2f.env",
        "/static/css/%2eenv",
        "/static/.well-hidden/index.css",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("canary-static-dotfile"), "{path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "not-found", "{path}");
    }
}

#[tokio::test]
async fn ops_config_needs_the_admin_token_and_shows_the_masked_view() {
    let token = "an-admin-token-for-the-black-box-tests-0123456789";
    let app = spawn_with(&[("security.admin_token", token)]).await;
    // (Authorization header, expected status)
    let cases = [
        (None, 401),
        (Some("Bearer wrong-token"), 403),
        (Some("Bearer right"), 200),
    ];
    for (authorization, status) in cases {
        let mut request = app.client.get(format!("{}/ops/config", app.address));
        if let Some(value) = authorization {
            let value = value.replace("right", token);
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{authorization:?}");
        let body: Value = response.json().await.unwrap();
        if status == 200 {
            assert_eq!(
                body["server.port"],
                json!({"value": 0, "source": "override server.port"})
            );
            assert!(
                body["security.admin_token"]["value"]
                    .as_str()
                    .unwrap()
                    .starts_with("***")
            );
            assert!(!body.to_string().contains(token));
        }
    }
    // Without a token, /ops does not exist.
    let app = spawn_app(Backend::Sqlite).await;
    assert_eq!(app.get("/ops/config").await.status(), 404);
}

#[tokio::test]
async fn hsts_is_sent_in_staging_and_production_only() {
    for (environment, hsts) in [
        ("development", false),
        ("testing", false),
        ("staging", true),
        ("production", true),
    ] {
        let app = spawn_app_in(
            environment,
            TestDatabase::create(Backend::Sqlite).await,
            &[],
        )
        .await;
        let response = app.get("/ping").await;
        assert_eq!(
            response.headers().contains_key("strict-transport-security"),
            hsts,
            "{environment}"
        );
        assert_eq!(
            response.headers()["x-frame-options"],
            "DENY",
            "{environment}"
        );
    }
}

#[tokio::test]
async fn responses_are_gzipped_for_clients_that_accept_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .get_with_header("/static/css/app.css", "accept-encoding", "gzip")
        .await;
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let plain = app.get("/static/css/app.css").await;
    assert!(plain.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn error_bodies_are_compressed_consistently_with_their_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/nowhere", "/test/panic"] {
        let response = app.get_with_header(path, "accept-encoding", "gzip").await;
        let encoding = response
            .headers()
            .get("content-encoding")
            .map(|value| value.to_str().unwrap().to_owned());
        let body = response.bytes().await.unwrap();
        // Either the body is gzip (magic bytes 1f 8b) and says so, or it is plain JSON and says nothing.
        match encoding.as_deref() {
            Some("gzip") => assert_eq!(&body[..2], &[0x1f, 0x8b], "{path}"),
            None => assert_eq!(body[0], b'{', "{path}"),
            Some(other) => panic!("{path}: unexpected encoding {other}"),
        }
    }
}
