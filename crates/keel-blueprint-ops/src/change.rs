//! The body of `POST /ops/flags/{name}`: `{"enabled": bool, "rollout_percent": 0–100, "actor": "alice"}`.
//!
//! axum's `Json` reads it into [`ChangeBody`], whose derived `Deserialize` refuses unknown keys
//! (`deny_unknown_fields`); its rejection becomes an [`OpsError`] (415 without a JSON content type, 400
//! for JSON that does not parse, 422 for JSON that is not a change). Each field keeps the value it was
//! sent even when that value has the wrong type, so the 422 can name the field and show the value
//! (`enabled must be true or false, not "yes"`) in keel's words rather than the parser's.

use std::fmt;

use axum::extract::{FromRequest, Json, Request};
use keel_ext_flags::{ACTOR_MAX_CHARS, Change};
use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::OpsError;

/// What an ops actor is recorded as in the audit trail: `ops:<name>`.
const ACTOR_PREFIX: &str = "ops:";
/// The actor recorded when a change names none.
const DEFAULT_ACTOR: &str = "ops:admin-token";
/// The longest name a change may give as its actor: the audit trail's limit, less the prefix.
const ACTOR_NAME_MAX_CHARS: usize = ACTOR_MAX_CHARS - ACTOR_PREFIX.len();

/// The fields a change has, in the order messages list them.
const FIELDS: [&str; 3] = ["enabled", "rollout_percent", "actor"];

/// The body as it arrived: a JSON object with a change's fields, or any other JSON value, which
/// [`ChangeBody::into_request`] refuses (a derived struct would also take a list, field by position).
/// As an extractor it is axum's `Json` with [`OpsError`] as the rejection.
#[derive(Debug)]
pub(crate) enum ChangeBody {
    Object(ChangeFields),
    NotAnObject,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeFields {
    #[serde(default)]
    enabled: Sent<bool>,
    #[serde(default)]
    rollout_percent: Sent<Option<u8>>,
    #[serde(default)]
    actor: Sent<Option<String>>,
}

/// One field as sent: absent, a value of its type, or a value that is not (kept to be shown).
#[derive(Debug, Default)]
enum Sent<T> {
    #[default]
    Absent,
    Valid(T),
    Invalid(Value),
}

/// A checked change request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChangeRequest {
    pub(crate) change: Change,
    pub(crate) actor: String,
}

impl<S: Send + Sync> FromRequest<S> for ChangeBody {
    type Rejection = OpsError;

    async fn from_request(request: Request, state: &S) -> Result<ChangeBody, OpsError> {
        let Json(body) = Json::<ChangeBody>::from_request(request, state).await?;
        Ok(body)
    }
}

impl ChangeBody {
    /// The change, or a 422 naming the first field that is wrong.
    pub(crate) fn into_request(self) -> Result<ChangeRequest, OpsError> {
        let ChangeBody::Object(fields) = self else {
            return Err(unprocessable(
                "the body must be a JSON object like {\"enabled\": true, \"rollout_percent\": 25}",
            ));
        };
        let enabled = match fields.enabled {
            Sent::Valid(enabled) => enabled,
            Sent::Invalid(other) => {
                return Err(unprocessable(format!(
                    "enabled must be true or false, not {other}"
                )));
            }
            Sent::Absent => return Err(unprocessable("enabled is missing: send true or false")),
        };
        let rollout_percent = match fields.rollout_percent {
            Sent::Absent | Sent::Valid(None) => None,
            Sent::Valid(Some(percent)) if percent <= 100 => Some(percent),
            Sent::Valid(Some(percent)) => return Err(rollout_refused(&Value::from(percent))),
            Sent::Invalid(other) => return Err(rollout_refused(&other)),
        };
        let actor = match fields.actor {
            Sent::Absent | Sent::Valid(None) => DEFAULT_ACTOR.to_owned(),
            Sent::Valid(Some(name))
                if !name.trim().is_empty()
                    && name.chars().count() <= ACTOR_NAME_MAX_CHARS
                    && name.chars().all(keel_ext_flags::is_actor_char) =>
            {
                format!("{ACTOR_PREFIX}{}", name.trim())
            }
            Sent::Valid(Some(_)) | Sent::Invalid(_) => {
                return Err(unprocessable(format!(
                    "actor must be a name of 1 to {ACTOR_NAME_MAX_CHARS} letters, digits, spaces or . _ - @ + ' : /, e.g. \"alice\""
                )));
            }
        };
        Ok(ChangeRequest {
            change: Change {
                enabled,
                rollout_percent,
            },
            actor,
        })
    }
}

/// The 422 for JSON that did not deserialize, from where it failed: a key that is not a field, or
/// (with no key to blame) a field given twice, the one thing a JSON object of known fields can still
/// get wrong.
pub(crate) fn explain(path: &[String]) -> String {
    match path.first() {
        Some(key) if !FIELDS.contains(&key.as_str()) => {
            format!("{key:?} is not a field: a change has enabled, rollout_percent and actor")
        }
        _ => format!(
            "a field is given twice: send each of {} at most once",
            FIELDS.join(", ")
        ),
    }
}

fn unprocessable(message: impl Into<String>) -> OpsError {
    OpsError::Unprocessable(message.into())
}

fn rollout_refused(value: &Value) -> OpsError {
    unprocessable(format!(
        "rollout_percent must be a whole number from 0 to 100, not {value}"
    ))
}

impl<'de> Deserialize<'de> for ChangeBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ChangeBody, D::Error> {
        deserializer.deserialize_any(BodyVisitor)
    }
}

/// Hands an object to the derived [`ChangeFields`] and turns every other JSON value into
/// [`ChangeBody::NotAnObject`].
struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = ChangeBody;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ChangeBody, A::Error> {
        ChangeFields::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(ChangeBody::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<ChangeBody, A::Error> {
        while items.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ChangeBody::NotAnObject)
    }

    fn visit_bool<E: de::Error>(self, _value: bool) -> Result<ChangeBody, E> {
        Ok(ChangeBody::NotAnObject)
    }

    fn visit_i64<E: de::Error>(self, _value: i64) -> Result<ChangeBody, E> {
        Ok(ChangeBody::NotAnObject)
    }

    fn visit_u64<E: de::Error>(self, _value: u64) -> Result<ChangeBody, E> {
        Ok(ChangeBody::NotAnObject)
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<ChangeBody, E> {
        Ok(ChangeBody::NotAnObject)
    }

    fn visit_str<E: de::Error>(self, _value: &str) -> Result<ChangeBody, E> {
        Ok(ChangeBody::NotAnObject)
    }

    fn visit_unit<E: de::Error>(self) -> Result<ChangeBody, E> {
        Ok(ChangeBody::NotAnObject)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Sent<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sent<T>, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match T::deserialize(&value) {
            Ok(typed) => Sent::Valid(typed),
            Err(_) => Sent::Invalid(value),
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::response::IntoResponse;
    use keel_http::ErrorReport;

    use super::*;

    /// Reads `body` the way the route does: through axum's `Json` with `content_type`.
    async fn parse(content_type: Option<&str>, body: &str) -> Result<ChangeRequest, ErrorReport> {
        let mut request = Request::builder().method("POST").uri("/flags/signup_v2");
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
}
