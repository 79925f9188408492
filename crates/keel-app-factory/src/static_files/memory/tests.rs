//! The in-memory static files: negotiation, validators and the budget, as data.

use std::time::{Duration, SystemTime};

use super::*;

fn candidates(budget: u64, files: &[(&str, usize)]) -> Candidates {
    let mut candidates = Candidates::new(budget);
    for (path, size) in files {
        candidates.offer(ScannedFile {
            path,
            fingerprint: "0123456789ab",
            contents: vec![b'a'; *size],
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        });
    }
    candidates
}

/// Request headers, the expected status and the expected `ETag`.
type ValidatorCase<'case> = (&'case [(&'case str, &'case str)], StatusCode, &'case str);

fn request(path: &str, headers: &[(&str, &str)]) -> Request {
    let mut builder = Request::builder().uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

#[test]
fn the_smallest_files_are_held_first_and_hidden_ones_never() {
    // Without compression a file costs its size; 100 + 200 fit in 350, 300 does not.
    let files = candidates(
        350,
        &[
            ("big.txt", 300),
            ("small.txt", 100),
            ("mid.txt", 200),
            (".env", 10),
            ("css/.hidden/a.txt", 10),
            ("huge.txt", 1000),
        ],
    )
    .finish(false);
    let mut held: Vec<&str> = files.files.keys().map(String::as_str).collect();
    held.sort_unstable();
    assert_eq!(held, ["mid.txt", "small.txt"]);
    assert_eq!(candidates(0, &[("a.txt", 1)]).finish(false).len(), 0);
}

#[test]
fn a_gzip_copy_is_made_for_what_the_compression_layer_compresses() {
    let files = candidates(
        1 << 20,
        &[("app.css", 4096), ("tiny.css", 8), ("logo.png", 4096)],
    );
    let files = files.finish(true);
    assert!(files.files["app.css"].gzip.is_some());
    // Too small for the layer's predicate, and images are never compressed.
    assert!(files.files["tiny.css"].gzip.is_none());
    assert!(files.files["logo.png"].gzip.is_none());
    assert!(
        candidates(1 << 20, &[("app.css", 4096)])
            .finish(false)
            .files["app.css"]
            .gzip
            .is_none()
    );
}

#[test]
fn gzip_is_chosen_as_the_compression_layer_would() {
    // (Accept-Encoding, gzip chosen)
    let cases = [
        (None, false),
        (Some("gzip"), true),
        (Some("x-gzip"), true),
        (Some("gzip, deflate, br"), true),
        (Some("br"), false),
        (Some("*"), false),
        (Some("gzip;q=0"), false),
        (Some("gzip;q=0.5, identity"), false),
        (Some("gzip;q=1.0, identity;q=1"), true),
        (Some("identity;q=0.5, gzip;q=0.8"), true),
        (Some("gzip;q=2"), false),
        (Some("gzip;q=0.1234"), false),
        (Some("gzip;level=9"), false),
        (Some("GZIP;Q=0.3"), true),
    ];
    for (accept, expected) in cases {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accept));
        }
        assert_eq!(prefers_gzip(&headers), expected, "{accept:?}");
    }
}

#[test]
fn plain_gets_and_heads_are_answered_and_everything_else_goes_to_the_file_server() {
    let files = candidates(1 << 20, &[("css/app.css", 4096)]).finish(true);
    let answered = [
        request("/static/css/app.css", &[]),
        request("/static/css%2Fapp.css", &[]),
        request("/static/css/app.css?v=0123456789ab", &[]),
        request("/static/css/app.css", &[("if-modified-since", "x")]),
    ];
    for request in answered {
        let response = files.answer(&request).expect("answered from memory");
        assert_eq!(response.status(), StatusCode::OK, "{}", request.uri());
    }
    let mut post = request("/static/css/app.css", &[]);
    *post.method_mut() = Method::POST;
    let passed_on = [
        post,
        request("/static/css/app.css", &[("range", "bytes=0-1")]),
        request("/static/css/app.css", &[("if-range", "\"x\"")]),
        request("/static/css/app.css", &[("if-match", "*")]),
        request("/static/css/app.css", &[("if-unmodified-since", "x")]),
        request("/static/css/missing.css", &[]),
        request("/static/css/", &[]),
        request("/static/css/../css/app.css", &[]),
        request("/static/%ff.css", &[]),
    ];
    for request in passed_on {
        assert!(files.answer(&request).is_none(), "{request:?}");
    }
}

#[test]
fn validators_answer_304_for_the_representation_the_client_has() {
    let files = candidates(1 << 20, &[("app.css", 4096)]).finish(true);
    let plain = "\"0123456789ab\"";
    let gzip = "\"0123456789ab-gzip\"";
    let modified = "Tue, 14 Nov 2023 22:13:20 GMT";
    let later = "Wed, 15 Nov 2023 00:00:00 GMT";
    let earlier = "Tue, 14 Nov 2023 22:13:19 GMT";
    // (request headers, expected status, expected ETag)
    let cases: [ValidatorCase<'_>; 9] = [
        (&[("if-none-match", plain)], StatusCode::NOT_MODIFIED, plain),
        (
            &[("if-none-match", "W/\"0123456789ab\"")],
            StatusCode::NOT_MODIFIED,
            plain,
        ),
        (
            &[("if-none-match", "\"other\", \"0123456789ab\"")],
            StatusCode::NOT_MODIFIED,
            plain,
        ),
        (&[("if-none-match", "*")], StatusCode::NOT_MODIFIED, plain),
        (&[("if-none-match", gzip)], StatusCode::OK, plain),
        (
            &[("if-none-match", gzip), ("accept-encoding", "gzip")],
            StatusCode::NOT_MODIFIED,
            gzip,
        ),
        (
            &[("if-modified-since", modified)],
            StatusCode::NOT_MODIFIED,
            plain,
        ),
        (
            &[("if-modified-since", later), ("if-none-match", "\"other\"")],
            StatusCode::OK,
            plain,
        ),
        (&[("if-modified-since", earlier)], StatusCode::OK, plain),
    ];
    for (headers, status, etag) in cases {
        let response = files.answer(&request("/static/app.css", headers)).unwrap();
        assert_eq!(response.status(), status, "{headers:?}");
        assert_eq!(response.headers()[header::ETAG], etag, "{headers:?}");
        assert_eq!(
            response.headers()[header::VARY],
            "accept-encoding",
            "{headers:?}"
        );
    }
}

#[test]
fn a_response_describes_its_bytes() {
    let files = candidates(1 << 20, &[("app.css", 4096)]).finish(true);
    let plain = files.answer(&request("/static/app.css", &[])).unwrap();
    let headers = plain.headers();
    assert_eq!(headers[header::CONTENT_TYPE], "text/css");
    assert_eq!(headers[header::CONTENT_LENGTH], "4096");
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    assert_eq!(
        headers[header::LAST_MODIFIED],
        "Tue, 14 Nov 2023 22:13:20 GMT"
    );
    assert!(!headers.contains_key(header::CONTENT_ENCODING));
    let gzip = files
        .answer(&request("/static/app.css", &[("accept-encoding", "gzip")]))
        .unwrap();
    let headers = gzip.headers();
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(headers[header::CONTENT_TYPE], "text/css");
    assert!(!headers.contains_key(header::ACCEPT_RANGES));
    let length: usize = headers[header::CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(length < 4096, "{length}");
}
