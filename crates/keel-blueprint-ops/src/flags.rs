//! `/ops/flags`: list the flags, change one (audited), read a flag's audit trail.
//!
//! A change is `POST /ops/flags/{name}` with `{"enabled": bool, "rollout_percent": 0–100}`
//! (without `rollout_percent` the current one stays; an optional `"actor": "alice"` is recorded in the audit row as
//! `ops:alice`, else `ops:admin-token`). The body is checked field by field so a 422 names the field
//! that is wrong. The change is stored with its audit row in one transaction, applied at once here and
//! announced to the other instances.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use keel_ext_flags::{AuditEntry, Change, Flag, FlagStore, Source};
use keel_http::ErrorReport;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::Admin;

/// How many audit rows `GET /ops/flags/{name}/audit` returns, newest first.
const AUDIT_LIMIT: u64 = 100;
/// The longest `actor` a change may name.
const ACTOR_MAX_CHARS: usize = 64;

/// A flag as operators see it: its effective state, where that comes from, and its declaration.
#[derive(Debug, Serialize)]
pub(crate) struct FlagView {
    name: &'static str,
    enabled: bool,
    rollout_percent: u8,
    default_enabled: bool,
    /// `default` (the static value from `[features]`) or `runtime` (a stored change).
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<DateTime<Utc>>,
    description: &'static str,
    owner: &'static str,
    expires: Option<chrono::NaiveDate>,
    expired: bool,
}

impl FlagView {
    fn new(flag: &Flag) -> FlagView {
        let (source, updated_at) = match flag.source {
            Source::Default => ("default", None),
            Source::Runtime { updated_at } => ("runtime", Some(updated_at)),
        };
        FlagView {
            name: flag.name(),
            enabled: flag.state.enabled,
            rollout_percent: flag.state.rollout_percent,
            default_enabled: flag.default_enabled,
            source,
            updated_at,
            description: flag.definition.description,
            owner: flag.definition.owner,
            expires: flag.definition.expires,
            expired: flag.is_expired(Utc::now().date_naive()),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct FlagList {
    flags: Vec<FlagView>,
}

pub(crate) async fn flags_list(_admin: Admin, State(store): State<FlagStore>) -> Json<FlagList> {
    let snapshot = store.snapshot();
    Json(FlagList {
        flags: snapshot.flags().into_iter().map(FlagView::new).collect(),
    })
}

/// A validated change request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChangeRequest {
    change: Change,
    actor: String,
}

pub(crate) async fn flag_update(
    _admin: Admin,
    State(store): State<FlagStore>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<FlagView>, ErrorReport> {
    // Unknown flags first: a 404 says more than a complaint about the body of a hopeless request.
    store.flag(&name).map_err(flag_error)?;
    let request = parse_change(&headers, &body)?;
    let changed = store
        .set(&name, request.change, &request.actor)
        .await
        .map_err(flag_error)?;
    Ok(Json(FlagView::new(&changed.flag)))
}

#[derive(Debug, Serialize)]
pub(crate) struct AuditList {
    flag: String,
    entries: Vec<AuditEntry>,
}

pub(crate) async fn flag_audit(
    _admin: Admin,
    State(store): State<FlagStore>,
    Path(name): Path<String>,
) -> Result<Json<AuditList>, ErrorReport> {
    let entries = store.audit(&name, AUDIT_LIMIT).await.map_err(flag_error)?;
    Ok(Json(AuditList {
        flag: name,
        entries,
    }))
}

/// The store's errors as clients see them; database causes stay in the log.
fn flag_error(error: keel_ext_flags::Error) -> ErrorReport {
    match error {
        keel_ext_flags::Error::UnknownFlag { .. } => {
            ErrorReport::new(StatusCode::NOT_FOUND, "not-found", error.to_string())
        }
        keel_ext_flags::Error::RolloutOutOfRange(_) | keel_ext_flags::Error::InvalidActor => {
            ErrorReport::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable-entity",
                error.to_string(),
            )
        }
        other => {
            tracing::error!(error = %other, "a flag operation failed");
            ErrorReport::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "the flag store's database is unavailable; nothing was changed, try again",
            )
        }
    }
}

fn unprocessable(message: String) -> ErrorReport {
    ErrorReport::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unprocessable-entity",
        message,
    )
}

/// Checks the body field by field, so each problem names its field.
pub(crate) fn parse_change(headers: &HeaderMap, body: &[u8]) -> Result<ChangeRequest, ErrorReport> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ErrorReport::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the change as JSON with Content-Type: application/json",
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        ErrorReport::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!(
                "the body is not valid JSON ({error}): send {{\"enabled\": true, \"rollout_percent\": 25}}"
            ),
        )
    })?;
    let Value::Object(fields) = value else {
        return Err(unprocessable(
            "the body must be a JSON object like {\"enabled\": true, \"rollout_percent\": 25}"
                .to_owned(),
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|key| !["enabled", "rollout_percent", "actor"].contains(&key.as_str()))
    {
        return Err(unprocessable(format!(
            "{unknown:?} is not a field: a change has enabled, rollout_percent and actor"
        )));
    }
    let enabled = match fields.get("enabled") {
        Some(Value::Bool(enabled)) => *enabled,
        Some(other) => {
            return Err(unprocessable(format!(
                "enabled must be true or false, not {other}"
            )));
        }
        None => {
            return Err(unprocessable(
                "enabled is missing: send true or false".to_owned(),
            ));
        }
    };
    let rollout_percent = rollout_of(&fields)?;
    let actor = match fields.get("actor") {
        None | Some(Value::Null) => "ops:admin-token".to_owned(),
        Some(Value::String(actor))
            if !actor.trim().is_empty()
                && actor.chars().count() <= ACTOR_MAX_CHARS
                && actor.chars().all(keel_ext_flags::is_actor_char) =>
        {
            format!("ops:{}", actor.trim())
        }
        Some(_) => {
            return Err(unprocessable(format!(
                "actor must be a name of 1 to {ACTOR_MAX_CHARS} letters, digits, spaces or . _ - @ + ' : /, e.g. \"alice\""
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

fn rollout_of(fields: &Map<String, Value>) -> Result<Option<u8>, ErrorReport> {
    match fields.get("rollout_percent") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|percent| u8::try_from(percent).ok())
            .filter(|percent| *percent <= 100)
            .ok_or_else(|| {
                unprocessable(format!(
                    "rollout_percent must be a whole number from 0 to 100, not {value}"
                ))
            })
            .map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        headers
    }

    #[test]
    fn valid_changes_parse_with_their_defaults() {
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
                parse_change(&json_headers(), body.as_bytes()).unwrap(),
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

    #[test]
    fn each_bad_body_names_what_is_wrong() {
        // (body, status, message)
        let cases = [
            (
                r#"{"enabled": "yes"}"#,
                422,
                r#"enabled must be true or false, not "yes""#,
            ),
            ("{}", 422, "enabled is missing: send true or false"),
            (
                r#"{"enabled": true, "rollout_percent": 150}"#,
                422,
                "rollout_percent must be a whole number from 0 to 100, not 150",
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
            (
                r#"{"enabled": true, "actor": ""}"#,
                422,
                r#"actor must be a name of 1 to 64 letters, digits, spaces or . _ - @ + ' : /, e.g. "alice""#,
            ),
            (
                r#"{"enabled": true, "actor": "alice\u202egnp.exe"}"#,
                422,
                r#"actor must be a name of 1 to 64 letters, digits, spaces or . _ - @ + ' : /, e.g. "alice""#,
            ),
            (
                "[true]",
                422,
                r#"the body must be a JSON object like {"enabled": true, "rollout_percent": 25}"#,
            ),
        ];
        for (body, status, message) in cases {
            let report = parse_change(&json_headers(), body.as_bytes()).unwrap_err();
            assert_eq!(
                (report.status.as_u16(), report.message.as_ref()),
                (status, message),
                "{body}"
            );
        }
        let not_json = parse_change(&json_headers(), b"enabled=true").unwrap_err();
        assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
        let form = parse_change(&HeaderMap::new(), br#"{"enabled": true}"#).unwrap_err();
        assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
