//! Router tests of `/notes` and of the OpenAPI description, over a throwaway SQLite file.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::MOUNT_PATH;
use crate::tests::{Harness, PAGE_SIZE, harness};

/// Sends `method path` with `body` as JSON (or no body), and returns the status, headers and JSON body
/// (`Value::Null` when the body is empty).
async fn send(
    harness: &Harness,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(path);
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = harness
        .router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (parts.status, parts.headers, json)
}

#[tokio::test]
async fn a_note_is_created_read_changed_with_its_version_and_deleted() {
    let harness = harness().await;
    let (status, headers, created) = send(
        &harness,
        Method::POST,
        "/api/v1/notes",
        Some(json!({"title": " Groceries ", "body": "milk"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(headers[header::LOCATION], format!("/api/v1/notes/{id}"));
    assert_eq!(
        (&created["title"], &created["version"]),
        (&json!("Groceries"), &json!(1))
    );

    // The `Location` is the note's address in this router.
    let path = headers[header::LOCATION].to_str().unwrap().to_owned();
    let (status, _, read) = send(&harness, Method::GET, &path, None).await;
    assert_eq!((status, &read), (StatusCode::OK, &created));

    let change = json!({"title": "Groceries", "body": "milk, eggs", "version": 1});
    let (status, _, changed) = send(&harness, Method::PUT, &path, Some(change.clone())).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["version"], 2);

    // The same change again names a version that is no longer the note's.
    let (status, _, stale) = send(&harness, Method::PUT, &path, Some(change)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    assert_eq!(stale["error"], "conflict");
    assert_eq!(
        stale["message"],
        format!(
            "note {id} was changed since version 1: it is at version 2; read it again and send your change with its current version"
        )
    );

    let (status, _, _) = send(&harness, Method::DELETE, &format!("{path}?version=1"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, body) =
        send(&harness, Method::DELETE, &format!("{path}?version=2"), None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    for method in [Method::GET, Method::DELETE] {
        let (status, _, body) = send(&harness, method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "not-found");
    }
}

#[tokio::test]
async fn wrong_and_unknown_fields_are_named_one_entry_per_field() {
    let harness = harness().await;
    let long_title = "t".repeat(201);
    let cases = [
        (
            Method::POST,
            json!({"body": "no title"}),
            json!({"title": "is required"}),
        ),
        (
            Method::POST,
            json!({"title": long_title, "body": "b".repeat(10_001)}),
            json!({"title": "must be at most 200 characters", "body": "must be at most 10000 characters"}),
        ),
        (
            Method::POST,
            json!({"title": "a", "colour": "red"}),
            json!({"colour": "is not a field: send only title, body"}),
        ),
        (
            Method::POST,
            json!({"title": 7}),
            json!({"title": "has the wrong type: see /api/v1/openapi.json"}),
        ),
        (
            Method::POST,
            json!(["a list"]),
            json!({"body": "must be a JSON object giving each of title, body at most once"}),
        ),
        (
            Method::PUT,
            json!({"title": ""}),
            json!({"title": "is required", "version": "is required: send the version of the note you changed"}),
        ),
    ];
    let (_, _, note) = send(
        &harness,
        Method::POST,
        "/api/v1/notes",
        Some(json!({"title": "x"})),
    )
    .await;
    let note_path = format!("/api/v1/notes/{}", note["id"]);
    for (method, body, fields) in cases {
        let path = if method == Method::PUT {
            note_path.as_str()
        } else {
            "/api/v1/notes"
        };
        let (status, _, answer) = send(&harness, method, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["fields"], fields, "{body}");
    }
}

#[tokio::test]
async fn pages_are_bounded_and_follow_their_cursor_to_the_end() {
    let harness = harness().await;
    for n in 1..=4 {
        let note = json!({"title": format!("n{n}")});
        assert_eq!(
            send(&harness, Method::POST, "/api/v1/notes", Some(note))
                .await
                .0,
            StatusCode::CREATED
        );
    }
    let titles = |page: &Value| -> Vec<String> {
        page["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|note| note["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, _, first) = send(&harness, Method::GET, "/api/v1/notes", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(titles(&first), ["n4", "n3", "n2"]);
    let next = format!("/api/v1/notes?before={}", first["next"]);
    let (_, _, second) = send(&harness, Method::GET, &next, None).await;
    assert_eq!(
        (titles(&second), &second["next"]),
        (vec!["n1".to_owned()], &Value::Null)
    );

    let (_, _, one) = send(&harness, Method::GET, "/api/v1/notes?limit=1", None).await;
    assert_eq!(titles(&one), ["n4"]);

    let bound = format!("must be a whole number from 1 to {PAGE_SIZE}");
    for query in [
        "limit=0",
        &format!("limit={}", PAGE_SIZE + 1),
        "limit=many",
        "limit=-1",
    ] {
        let (status, _, answer) = send(
            &harness,
            Method::GET,
            &format!("/api/v1/notes?{query}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(answer["fields"], json!({"limit": bound}), "{query}");
    }
    let (status, _, answer) = send(&harness, Method::GET, "/api/v1/notes?before=x", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer["fields"]["before"].is_string(), "{answer}");
}

#[tokio::test]
async fn a_database_failure_is_a_503_that_shows_no_sql() {
    let harness = harness().await;
    harness.db.clone().close().await.unwrap();
    let (status, _, answer) = send(&harness, Method::GET, "/api/v1/notes", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer,
        json!({"error": "service-unavailable", "message": "the notes database is unavailable; nothing was changed, try again"})
    );
}

/// Every operation of the API, as `(method, path)` relative to the server `/api/v1`: what the description
/// must list, and what the router must answer under `MOUNT_PATH`.
const OPERATIONS: [(&str, &str); 10] = [
    ("get", "/flags"),
    ("get", "/health"),
    ("get", "/notes"),
    ("post", "/notes"),
    ("delete", "/notes/{id}"),
    ("get", "/notes/{id}"),
    ("put", "/notes/{id}"),
    ("get", "/openapi.json"),
    ("get", "/ready"),
    ("get", "/version"),
];

#[tokio::test]
async fn the_openapi_description_is_version_3_1_and_lists_every_route_the_router_answers() {
    let harness = harness().await;
    let (status, headers, description) =
        send(&harness, Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(description["openapi"], "3.1.0");
    assert_eq!(description["servers"], json!([{"url": "/api/v1"}]));

    let mut documented: Vec<(String, String)> = description["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<(String, String)> = OPERATIONS
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);

    // Each documented operation is served: an address the router does not know answers axum's bare
    // 404 (no body) or 405, while these reach a handler. A note is needed for the `{id}` routes.
    let (_, _, note) = send(
        &harness,
        Method::POST,
        "/api/v1/notes",
        Some(json!({"title": "x"})),
    )
    .await;
    for (method, path) in OPERATIONS {
        let path = format!("{MOUNT_PATH}{path}").replace("{id}", &note["id"].to_string());
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (method == Method::PUT || method == Method::POST)
            .then(|| json!({"title": "y", "version": 1}));
        let (status, _, answer) = send(&harness, method.clone(), &path, body).await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED
                && !(status == StatusCode::NOT_FOUND && answer.is_null()),
            "{method} {path} is documented but not routed: {status}"
        );
    }
    // And the bare 404 the check relies on is what an unknown address gets, a documented path without
    // the prefix included: the router serves full paths only.
    for path in ["/api/v1/nowhere", "/health", "/openapi.json"] {
        let (status, _, answer) = send(&harness, Method::GET, path, None).await;
        assert_eq!(
            (status, answer),
            (StatusCode::NOT_FOUND, Value::Null),
            "{path}"
        );
    }
}
