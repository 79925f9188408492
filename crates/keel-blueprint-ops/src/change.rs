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
use keel_http::JsonBodyError;
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
    /// Boxed: the fields keep wrongly typed values, which makes them large.
    Object(Box<ChangeFields>),
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
        // axum's `Json` rather than `keel_http::JsonBody`, which takes only objects: this body tells a
        // non-object apart itself, to answer with an example.
        let Json(body) = Json::<ChangeBody>::from_request(request, state)
            .await
            .map_err(JsonBodyError::from)?;
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
fn explain(key: Option<&String>) -> String {
    match key {
        Some(key) if !FIELDS.contains(&key.as_str()) => {
            format!("{key:?} is not a field: a change has enabled, rollout_percent and actor")
        }
        _ => format!(
            "a field is given twice: send each of {} at most once",
            FIELDS.join(", ")
        ),
    }
}

impl From<JsonBodyError> for OpsError {
    fn from(rejection: JsonBodyError) -> OpsError {
        match rejection {
            JsonBodyError::NotJson => OpsError::NotJson,
            JsonBodyError::Malformed(position) => OpsError::Malformed(position),
            JsonBodyError::Unexpected { key } => OpsError::Unprocessable(explain(key.as_ref())),
            JsonBodyError::Unreadable(rejection) => OpsError::Rejected(rejection),
        }
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
            .map(|fields| ChangeBody::Object(Box::new(fields)))
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
mod tests;
