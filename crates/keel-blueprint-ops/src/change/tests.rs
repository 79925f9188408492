//! The change body read as the route reads it, through axum's `Json`: what parses, and each refusal's
//! status and exact words.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use keel_http::ErrorReport;

use super::*;

/// Reads `body` the way the route does: through axum's `Json` with `content_type`.
async fn parse(content_type: Option<&str>, body: &str) -> Result<ChangeRequest, ErrorReport> {
    let mut request = Request::builder()
        .method("POST")
        .uri("/ops/flags/signup_v2");
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request.body(Body::from(body.to_owned())).unwrap();
    ChangeBody::from_request(request, &())
        .await
        .and_then(ChangeBody::into_request)
        .map_err(|error| {
            let response = error.into_response();
            response.extensions().get::<ErrorReport>().unwrap().clone()
        })
}

async fn parse_json(body: &str) -> Result<ChangeRequest, ErrorReport> {
    parse(Some("application/json"), body).await
}

#[tokio::test]
async fn valid_changes_parse_with_their_defaults() {
    // (body, enabled, rollout, actor)
    let cases = [
        (r#"{"enabled": true}"#, true, None, "ops:admin-token"),
        (
            r#"{"enabled": false, "rollout_percent": 0}"#,
            false,
            Some(0),
            "ops:admin-token",
        ),
        (
            r#"{"enabled": true, "rollout_percent": null}"#,
            true,
            None,
            "ops:admin-token",
        ),
        (
            r#"{"enabled": true, "rollout_percent": 25, "actor": " alice "}"#,
            true,
            Some(25),
            "ops:alice",
        ),
    ];
    for (body, enabled, rollout_percent, actor) in cases {
        assert_eq!(
            parse_json(body).await.unwrap(),
            ChangeRequest {
                change: Change {
                    enabled,
                    rollout_percent
                },
                actor: actor.to_owned()
            },
            "{body}"
        );
    }
}

#[tokio::test]
async fn each_bad_body_names_what_is_wrong() {
    let longest_name = "a".repeat(ACTOR_NAME_MAX_CHARS);
    let too_long = format!(r#"{{"enabled": true, "actor": "{longest_name}a"}}"#);
    let actor_refused = r#"actor must be a name of 1 to 124 letters, digits, spaces or . _ - @ + ' : /, e.g. "alice""#;
    // (body, status, message)
    let cases = [
        (
            r#"{"enabled": "yes"}"#,
            422,
            r#"enabled must be true or false, not "yes""#,
        ),
        (
            r#"{"enabled": null}"#,
            422,
            "enabled must be true or false, not null",
        ),
        ("{}", 422, "enabled is missing: send true or false"),
        (
            r#"{"enabled": true, "rollout_percent": 150}"#,
            422,
            "rollout_percent must be a whole number from 0 to 100, not 150",
        ),
        (
            r#"{"enabled": true, "rollout_percent": 256}"#,
            422,
            "rollout_percent must be a whole number from 0 to 100, not 256",
        ),
        (
            r#"{"enabled": true, "rollout_percent": -1}"#,
            422,
            "rollout_percent must be a whole number from 0 to 100, not -1",
        ),
        (
            r#"{"enabled": true, "rollout_percent": 2.5}"#,
            422,
            "rollout_percent must be a whole number from 0 to 100, not 2.5",
        ),
        (
            r#"{"enabld": true}"#,
            422,
            r#""enabld" is not a field: a change has enabled, rollout_percent and actor"#,
        ),
        (r#"{"enabled": true, "actor": ""}"#, 422, actor_refused),
        (r#"{"enabled": true, "actor": 7}"#, 422, actor_refused),
        (
            r#"{"enabled": true, "actor": "alice\u202egnp.exe"}"#,
            422,
            actor_refused,
        ),
        (&too_long, 422, actor_refused),
        (
            "[true]",
            422,
            r#"the body must be a JSON object like {"enabled": true, "rollout_percent": 25}"#,
        ),
        (
            "true",
            422,
            r#"the body must be a JSON object like {"enabled": true, "rollout_percent": 25}"#,
        ),
        (
            r#"{"enabled": true, "enabled": false}"#,
            422,
            "a field is given twice: send each of enabled, rollout_percent, actor at most once",
        ),
        (
            "{",
            400,
            r#"the body is not valid JSON (EOF while parsing an object at line 1 column 1): send {"enabled": true, "rollout_percent": 25}"#,
        ),
        (
            r#"{"enabled": true} x"#,
            400,
            r#"the body is not valid JSON (trailing characters at line 1 column 19): send {"enabled": true, "rollout_percent": 25}"#,
        ),
    ];
    for (body, status, message) in cases {
        let report = parse_json(body).await.unwrap_err();
        assert_eq!(
            (report.status.as_u16(), report.message.as_ref()),
            (status, message),
            "{body}"
        );
    }
    let longest = format!(r#"{{"enabled": true, "actor": "{longest_name}"}}"#);
    assert_eq!(
        parse_json(&longest).await.unwrap().actor.chars().count(),
        ACTOR_MAX_CHARS
    );
    let not_json = parse_json("enabled=true").await.unwrap_err();
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    for content_type in [None, Some("application/x-www-form-urlencoded")] {
        let form = parse(content_type, r#"{"enabled": true}"#)
            .await
            .unwrap_err();
        assert_eq!(
            (form.status, form.message.as_ref()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the change as JSON with Content-Type: application/json"
            )
        );
    }
}
