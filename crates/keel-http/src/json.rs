//! A JSON request body read by axum's `Json`, with its rejection sorted into what a client can fix.
//!
//! Body types refuse keys they do not know (`#[serde(deny_unknown_fields)]`), so a misspelt key is an
//! error rather than silently ignored. What went wrong is read from the types axum and serde hand
//! back (the path to the failing key, the parser's own error), never from the text of a message.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Json, Request};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::ErrorReport;

/// A JSON body of type `T`; as an extractor, axum's `Json` with [`JsonBodyError`] as the rejection, which
/// a blueprint converts into its own error.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

/// Why a JSON body was refused.
#[derive(Debug, thiserror::Error)]
pub enum JsonBodyError {
    /// The body is not declared as JSON (415).
    #[error("send the body as JSON with Content-Type: application/json")]
    NotJson,
    /// The body is not valid JSON: the parser's description (a position, never the content) (400).
    #[error("the body is not valid JSON ({0})")]
    Malformed(String),
    /// Valid JSON that is not the expected shape: the key where reading stopped (an unknown key, or a
    /// known key with a value of the wrong type), or `None` when the body as a whole is wrong (not an
    /// object, a key given twice, a required key missing) (422).
    #[error("the body does not have the expected fields")]
    Unexpected { key: Option<String> },
    /// The body could not be read (too large, cut off): answered as axum words it, which the app
    /// factory re-renders in the error format.
    #[error("{0}")]
    Unreadable(JsonRejection),
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = JsonBodyError;

    async fn from_request(request: Request, state: &S) -> Result<JsonBody<T>, JsonBodyError> {
        let Json(Object(body)) = Json::<Object<T>>::from_request(request, state).await?;
        Ok(JsonBody(body))
    }
}

/// `T` read only from a JSON object: a derived `Deserialize` would also take a list, field by position.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Object<T>, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Object)
    }
}

/// The answer when a handler takes [`JsonBody`] directly. Blueprints usually convert the rejection into
/// their own error instead, to name the fields the body accepts.
impl IntoResponse for JsonBodyError {
    fn into_response(self) -> Response {
        let report = match self {
            JsonBodyError::Unreadable(rejection) => return rejection.into_response(),
            error @ JsonBodyError::NotJson => ErrorReport::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                error.to_string(),
            ),
            error @ JsonBodyError::Malformed(_) => {
                ErrorReport::new(StatusCode::BAD_REQUEST, "bad-request", error.to_string())
            }
            JsonBodyError::Unexpected { key } => ErrorReport::invalid_fields(BTreeMap::from([(
                key.unwrap_or_else(|| "body".to_owned()),
                "is not expected here".to_owned(),
            )])),
        };
        report.into_response()
    }
}

impl From<JsonRejection> for JsonBodyError {
    fn from(rejection: JsonRejection) -> JsonBodyError {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => JsonBodyError::NotJson,
            JsonRejection::JsonSyntaxError(syntax) => {
                JsonBodyError::Malformed(parser_message(&syntax).unwrap_or_default())
            }
            JsonRejection::JsonDataError(data) => JsonBodyError::Unexpected {
                key: path_of(&data).into_iter().next(),
            },
            // The body could not be read, or a kind of rejection a later axum adds.
            rejection => JsonBodyError::Unreadable(rejection),
        }
    }
}

/// The JSON parser's own description of a syntax error, e.g. `EOF while parsing an object at line 1
/// column 1`: axum keeps the parser's error as the rejection's source.
fn parser_message(rejection: &(dyn std::error::Error + 'static)) -> Option<String> {
    causes(rejection).find_map(|cause| {
        cause
            .downcast_ref::<serde_path_to_error::Error<serde_json::Error>>()
            .map(|located| located.inner().to_string())
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .map(ToString::to_string)
            })
    })
}

/// The keys from the body's root to where a data error happened (`["enabld"]`), as axum's `Json`
/// records them; empty when the error is about the body as a whole.
fn path_of(rejection: &(dyn std::error::Error + 'static)) -> Vec<String> {
    causes(rejection)
        .find_map(|cause| cause.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>())
        .map(|located| {
            located
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Example {
        title: String,
        count: Option<u8>,
    }

    async fn read(content_type: Option<&str>, body: &str) -> Result<String, JsonBodyError> {
        let mut request = Request::post("/")
            .body(Body::from(body.to_owned()))
            .unwrap();
        if let Some(content_type) = content_type {
            request.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_str(content_type).unwrap(),
            );
        }
        JsonBody::<Example>::from_request(request, &())
            .await
            .map(|JsonBody(example)| example.title)
    }

    #[tokio::test]
    async fn each_kind_of_bad_body_is_told_apart_from_the_types_not_the_text() {
        let json = Some("application/json");
        assert_eq!(read(json, r#"{"title": "a"}"#).await.unwrap(), "a");
        assert!(matches!(
            read(None, r#"{"title": "a"}"#).await,
            Err(JsonBodyError::NotJson)
        ));
        let Err(JsonBodyError::Malformed(position)) = read(json, r#"{"title": "#).await else {
            panic!("a cut-off body is malformed");
        };
        assert!(position.contains("line 1 column"), "{position}");
        let cases = [
            (r#"{"title": "a", "colour": "red"}"#, Some("colour")),
            (r#"{"title": "a", "count": "many"}"#, Some("count")),
            (r#"{"count": 1}"#, None),
            ("[1, 2]", None),
        ];
        for (body, expected) in cases {
            match read(json, body).await {
                Err(JsonBodyError::Unexpected { key }) => {
                    assert_eq!(key.as_deref(), expected, "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
