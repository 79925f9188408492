//! The error report: what a client learns when a request fails, and nothing more.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

use crate::request_id::RequestId;

/// A failed request as the client sees it: a status, a kebab-case code, a safe message and, for a
/// request whose fields were wrong, one message per field.
///
/// As a response it renders `{"error": code, "message": message}` (plus `"fields": {"title": "…"}` when
/// there are field messages) and also rides along in the response's
/// extensions, so the app factory can re-render it with the request id (or as an HTML page). Causes are
/// logged by whoever builds the report; they never go into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: Cow<'static, str>,
    /// What is wrong with each field of the request, keyed by the field's name; empty for most errors.
    pub fields: BTreeMap<String, String>,
}

/// Marks an error response whose body was written for clients on purpose (e.g. the readiness report), so
/// the app factory passes it through instead of re-rendering it as an [`ErrorReport`]. Insert it in the
/// response's extensions only for bodies that hold nothing internal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicErrorBody;

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    fields: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

impl ErrorReport {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ErrorReport {
            status,
            code: code.into(),
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    /// The one 422 for a request whose fields were wrong: one message per field, each saying what the
    /// field must be.
    pub fn invalid_fields(fields: BTreeMap<String, String>) -> Self {
        let mut report = ErrorReport::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable-entity",
            "some fields are not valid: see fields",
        );
        report.fields = fields;
        report
    }

    /// The one 503 for a dependency that failed (a database query): `what` is a safe summary such as
    /// "the notes database is unavailable"; the cause is logged by the caller and never shown.
    pub fn unavailable(what: impl Into<Cow<'static, str>>) -> Self {
        ErrorReport::new(StatusCode::SERVICE_UNAVAILABLE, "service-unavailable", what)
    }

    /// The one 404 of the app: unknown routes and hidden pages answer with exactly this.
    pub fn not_found() -> Self {
        ErrorReport::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "there is nothing at this address",
        )
    }

    /// The one 500 of the app: whatever failed on the server's side (a template, a panic), the client
    /// learns only that; the cause is logged by whoever builds it.
    pub fn internal() -> Self {
        ErrorReport::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "something went wrong on our side",
        )
    }

    /// A report for an error response that carries none, e.g. one made by a tower layer or an extractor.
    /// The message is the status's standard reason, so nothing internal can leak through it; a 404 is
    /// always [`ErrorReport::not_found`], so every 404 of the app looks the same.
    pub fn from_status(status: StatusCode) -> Self {
        if status == StatusCode::NOT_FOUND {
            return ErrorReport::not_found();
        }
        let reason = status.canonical_reason().unwrap_or("error");
        ErrorReport::new(
            status,
            reason.to_ascii_lowercase().replace(' ', "-"),
            reason.to_ascii_lowercase(),
        )
    }

    /// The JSON body with the request id: `{"error", "message", "request_id"}`.
    pub fn to_response_with(&self, request_id: &RequestId) -> Response {
        self.render(Some(request_id.as_str()))
    }

    fn render(&self, request_id: Option<&str>) -> Response {
        let body = Body {
            error: &self.code,
            message: &self.message,
            fields: &self.fields,
            request_id,
        };
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl IntoResponse for ErrorReport {
    fn into_response(self) -> Response {
        self.render(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_made_from_a_bare_status_use_its_standard_reason() {
        let cases = [
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "payload too large",
            ),
            (
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "request timeout",
            ),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "method not allowed",
            ),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-server-error",
                "internal server error",
            ),
            (
                StatusCode::NOT_FOUND,
                "not-found",
                "there is nothing at this address",
            ),
        ];
        for (status, code, message) in cases {
            assert_eq!(
                ErrorReport::from_status(status),
                ErrorReport::new(status, code, message)
            );
        }
    }

    #[test]
    fn the_internal_error_says_nothing_about_its_cause() {
        let report = ErrorReport::internal();
        assert_eq!(
            (report.status, report.code.as_ref(), report.message.as_ref()),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "something went wrong on our side"
            )
        );
    }

    #[tokio::test]
    async fn field_messages_are_rendered_one_per_field_and_left_out_when_there_are_none() {
        let fields = BTreeMap::from([
            ("title".to_owned(), "must not be empty".to_owned()),
            ("body".to_owned(), "must be at most 3 characters".to_owned()),
        ]);
        let response = ErrorReport::invalid_fields(fields).to_response_with(&RequestId::generate());
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "unprocessable-entity");
        assert_eq!(
            body["fields"],
            serde_json::json!({"title": "must not be empty", "body": "must be at most 3 characters"})
        );

        let response =
            ErrorReport::unavailable("the notes database is unavailable").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"error": "service-unavailable", "message": "the notes database is unavailable"})
        );
    }

    #[test]
    fn a_report_response_carries_itself_for_later_rendering() {
        let response = ErrorReport::not_found().into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.extensions().get::<ErrorReport>(),
            Some(&ErrorReport::not_found())
        );
    }
}
