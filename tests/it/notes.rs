//! The notes example through real TCP, on SQLite and on PostgreSQL when `TEST_DATABASE_URL` is set: the
//! JSON API (create, list, a stale edit, delete, pages, field errors, 404, 503 while its table is gone)
//! and the HTML pages (session cookie only where needed, CSRF refused, a form round trip).

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::collector::Collector;
use crate::helpers::{TestApp, TestDatabase, backends, spawn_app_with};
use crate::process::{KeelProcess, fresh_client};
use crate::telemetry::text;

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn spawn(backend: crate::helpers::Backend) -> TestApp {
    spawn_app_with(
        TestDatabase::create(backend).await,
        &[("notes.page_size", "2")],
    )
    .await
}

async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let url = format!("{}/api/v1{path}", app.address);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
    };
    (status, json)
}

#[tokio::test]
async fn a_note_is_created_listed_refused_when_stale_and_deleted_through_the_api() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (status, created) = call(
            &app,
            "POST",
            "/notes",
            Some(json!({"title": "First", "body": "b"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{backend:?}: {created}");
        assert_eq!(created["version"], 1);
        let id = created["id"].as_i64().unwrap();

        let (status, page) = call(&app, "GET", "/notes", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["notes"][0]["id"], id, "{backend:?}: {page}");

        let path = format!("/notes/{id}");
        let change = json!({"title": "First!", "body": "b", "version": 1});
        let (status, changed) = call(&app, "PUT", &path, Some(change.clone())).await;
        assert_eq!((status, &changed["version"]), (StatusCode::OK, &json!(2)));
        let (status, stale) = call(&app, "PUT", &path, Some(change)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend:?}: {stale}");
        assert_eq!(stale["error"], "conflict");
        assert!(stale["request_id"].is_string(), "{stale}");

        let (status, _) = call(&app, "DELETE", &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        for method in ["GET", "PUT", "DELETE"] {
            let body = (method == "PUT").then(|| json!({"title": "x", "version": 2}));
            let (status, missing) = call(&app, method, &path, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{backend:?} {method}");
            assert_eq!(missing["error"], "not-found");
        }
    }
}

#[tokio::test]
async fn pages_of_the_api_are_bounded_by_the_page_size_and_end_without_a_cursor() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (_, empty) = call(&app, "GET", "/notes", None).await;
        assert_eq!(empty, json!({"notes": [], "next": null}), "{backend:?}");
        for n in 1..=4 {
            let (status, _) = call(
                &app,
                "POST",
                "/notes",
                Some(json!({"title": format!("n{n}")})),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let mut titles = Vec::new();
        let mut path = "/notes".to_owned();
        loop {
            let (_, page) = call(&app, "GET", &path, None).await;
            let notes = page["notes"].as_array().unwrap();
            assert!(notes.len() <= 2, "{page}");
            titles.extend(
                notes
                    .iter()
                    .map(|note| note["title"].as_str().unwrap().to_owned()),
            );
            match page["next"].as_i64() {
                Some(next) => path = format!("/notes?before={next}"),
                None => break,
            }
        }
        // Four notes in pages of two: exactly two pages, the second without a cursor.
        assert_eq!(titles, ["n4", "n3", "n2", "n1"], "{backend:?}");
        for limit in ["0", "3", "x"] {
            let (status, refused) = call(&app, "GET", &format!("/notes?limit={limit}"), None).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "limit={limit}");
            assert_eq!(
                refused["fields"],
                json!({"limit": "must be a whole number from 1 to 2"})
            );
        }
    }
}

#[tokio::test]
async fn bad_bodies_get_one_message_per_field_and_unknown_fields_are_refused() {
    let app = spawn(crate::helpers::Backend::Sqlite).await;
    let cases = [
        (
            json!({"title": "", "body": "b".repeat(10_001)}),
            json!({"title": "is required", "body": "must be at most 10000 characters"}),
        ),
        (
            json!({"title": "a", "tags": ["x"]}),
            json!({"tags": "is not a field: send only title, body"}),
        ),
    ];
    for (body, fields) in cases {
        let (status, refused) = call(&app, "POST", "/notes", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"], "unprocessable-entity");
        assert_eq!(refused["fields"], fields);
    }
    let response = app
        .client
        .post(format!("{}/api/v1/notes", app.address))
        .header(CONTENT_TYPE, "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_missing_notes_table_is_a_503_that_names_no_sql_and_the_health_check_stays_cookie_free() {
    for backend in backends() {
        let app = spawn(backend).await;
        let health = app.get("/api/v1/health").await;
        assert!(health.headers().get(SET_COOKIE).is_none());

        let admin = app.database.connect().await;
        admin.execute_unprepared("DROP TABLE notes").await.unwrap();
        admin.close().await.unwrap();

        let (status, body) = call(&app, "GET", "/notes", None).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{backend:?}: {body}"
        );
        assert_eq!(body["error"], "service-unavailable");
        assert_eq!(
            body["message"],
            "the notes database is unavailable; nothing was changed, try again"
        );
        let (status, _) = call(&app, "POST", "/notes", Some(json!({"title": "t"}))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let page = app
            .get_with_header("/notes", "accept", BROWSER_ACCEPT)
            .await;
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        let html = page.text().await.unwrap();
        assert!(html.contains("the notes database is unavailable"), "{html}");
        assert!(!html.to_lowercase().contains("select"), "{html}");
    }
}

#[tokio::test]
async fn the_openapi_description_is_served_by_the_app() {
    let app = spawn(crate::helpers::Backend::Sqlite).await;
    let (status, description) = call(&app, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(description["openapi"], "3.1.0");
    assert!(
        description["paths"]["/notes/{id}"]["put"].is_object(),
        "{description}"
    );
}

#[tokio::test]
async fn each_notes_query_is_a_child_span_of_its_request() {
    let collector = Collector::start().await;
    let endpoint = format!("http://{}", collector.address);
    let mut keel = KeelProcess::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]).await;
    let created = fresh_client()
        .post(format!("{}/api/v1/notes", keel.address))
        .json(&json!({"title": "traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    keel.stop_gracefully().await;

    let request = collector
        .span_named("POST /api/v1/notes", std::time::Duration::from_secs(10))
        .await;
    let insert = collector
        .span_named("INSERT notes", std::time::Duration::from_secs(10))
        .await;
    assert_eq!(insert.span.parent_span_id, request.span.span_id);
    assert_eq!(
        text(&insert.span.attributes, "db.collection.name"),
        Some("notes")
    );
}

/// A browser without JavaScript: keeps the session cookie, never follows redirects by itself.
struct Visitor {
    client: reqwest::Client,
    address: String,
    cookie: Option<String>,
}

impl Visitor {
    fn new(app: &TestApp) -> Visitor {
        Visitor {
            client: crate::http_client::client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            address: app.address.clone(),
            cookie: None,
        }
    }

    async fn send(
        &mut self,
        request: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let request = request.header(ACCEPT, BROWSER_ACCEPT);
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.unwrap();
        let headers = response.headers().clone();
        for set in headers.get_all(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            if pair.starts_with("keel_session=") {
                self.cookie = Some(pair.to_owned());
            }
        }
        (response.status(), headers, response.text().await.unwrap())
    }

    async fn get(&mut self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let request = self.client.get(format!("{}{path}", self.address));
        self.send(request).await
    }

    async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .client
            .post(format!("{}{path}", self.address))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }
}

fn csrf_token(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no token in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_browser_creates_a_note_through_the_form_and_a_forged_post_gets_the_403_page() {
    for backend in backends() {
        let app = spawn(backend).await;
        let mut visitor = Visitor::new(&app);
        let (_, headers, home) = visitor.get("/").await;
        assert!(home.contains(r#"href="/notes""#), "{home}");
        assert!(headers.get(SET_COOKIE).is_none());
        let (status, headers, _) = visitor.get("/notes").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers.get(SET_COOKIE).is_none(),
            "the list needs no session"
        );

        let (status, forged, _) = {
            let (status, headers, html) = visitor.post("/notes", &[("title", "forged")]).await;
            (status, html, headers)
        };
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            forged.contains("<!doctype html>") && forged.contains("403"),
            "{forged}"
        );

        let (_, _, form) = visitor.get("/notes/new").await;
        let token = csrf_token(&form);
        let (status, _, invalid) = visitor
            .post(
                "/notes",
                &[("csrf_token", &token), ("title", ""), ("body", "kept")],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{backend:?}");
        assert!(
            invalid.contains("Title is required") && invalid.contains(">kept</textarea>"),
            "{invalid}"
        );

        let (status, headers, _) = visitor
            .post(
                "/notes",
                &[
                    ("csrf_token", &token),
                    ("title", "From the form"),
                    ("body", ""),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{backend:?}");
        let location = headers[LOCATION].to_str().unwrap().to_owned();
        let (_, _, shown) = visitor.get(&location).await;
        assert!(shown.contains("Note “From the form” created."), "{shown}");
        let (_, _, list) = visitor.get("/notes").await;
        assert!(
            list.contains("From the form") && !list.contains("created."),
            "{list}"
        );

        // The API never sets the session cookie.
        let api = app.get("/api/v1/notes").await;
        assert!(api.headers().get(SET_COOKIE).is_none());
    }
}
