//! `/ops/flags`: list the flags, change one (audited), read a flag's audit trail.
//!
//! A change is `POST /ops/flags/{name}` with `{"enabled": bool, "rollout_percent": 0–100}`
//! (without `rollout_percent` the current one stays; an optional `"actor": "alice"` is recorded in the
//! audit row as `ops:alice`, else `ops:admin-token`); `change.rs` reads and checks the body. The change is
//! stored with its audit row in one transaction, applied at once here and announced to the other
//! instances.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use keel_ext_flags::{AuditEntry, Flag, FlagStore, Source};
use serde::Serialize;

use crate::auth::Admin;
use crate::change::ChangeBody;
use crate::error::OpsError;

/// How many audit rows `GET /ops/flags/{name}/audit` returns, newest first.
const AUDIT_LIMIT: u64 = 100;

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

pub(crate) async fn flag_update(
    _admin: Admin,
    State(store): State<FlagStore>,
    Path(name): Path<String>,
    body: Result<ChangeBody, OpsError>,
) -> Result<Json<FlagView>, OpsError> {
    // Unknown flags first: a 404 says more than a complaint about the body of a hopeless request.
    store.flag(&name)?;
    let request = body?.into_request()?;
    let changed = store.set(&name, request.change, &request.actor).await?;
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
) -> Result<Json<AuditList>, OpsError> {
    let entries = store.audit(&name, AUDIT_LIMIT).await?;
    Ok(Json(AuditList {
        flag: name,
        entries,
    }))
}
