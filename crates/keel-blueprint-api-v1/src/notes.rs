//! `/api/v1/notes`: the worked example resource as JSON, over the shared notes service.
//!
//! `GET /notes?limit=&before=` lists newest first (`next` is the `before` of the following page),
//! `POST /notes` creates (201 with the note, its `id` and `version`), `GET /notes/{id}` reads,
//! `PUT /notes/{id}` replaces title and body when the `version` sent is still the note's (409
//! otherwise), `DELETE /notes/{id}` deletes (with `?version=` only if still at that version).
//! Bodies refuse keys they do not know; every wrong field is named in a 422, one entry per field.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_http::{JsonBody, JsonBodyError};
use keel_services::Notes;
use keel_services::notes::{Note, NoteDraft};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};

/// A stored note.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NoteView {
    id: i64,
    title: String,
    body: String,
    /// Send it back with a change: a change to an older version is refused with 409.
    version: i32,
    /// RFC 3339.
    created_at: String,
    updated_at: String,
}

impl From<Note> for NoteView {
    fn from(note: Note) -> NoteView {
        NoteView {
            id: note.id,
            title: note.title,
            body: note.body,
            version: note.version,
            created_at: note.created_at.to_rfc3339(),
            updated_at: note.updated_at.to_rfc3339(),
        }
    }
}

/// One page of notes, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotePage {
    notes: Vec<NoteView>,
    /// Pass it as `before` for the next page; `null` on the last page.
    next: Option<i64>,
}

/// `GET /notes` parameters. Both are read as text and checked here, so a bad value is a 422 naming the
/// parameter.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct ListQuery {
    /// How many notes, from 1 to `notes.page_size` (which is also the default).
    #[param(value_type = Option<u64>)]
    limit: Option<String>,
    /// The `next` of the previous page: list notes older than this one.
    #[param(value_type = Option<i64>)]
    before: Option<String>,
}

/// The body of `POST /notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteCreate {
    /// Required, 1 to 200 characters (trimmed).
    #[serde(default)]
    title: String,
    /// At most 10000 characters.
    #[serde(default)]
    body: String,
}

/// The body of `PUT /notes/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteUpdate {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    /// The version the change was made to (from the note as read).
    version: Option<i32>,
}

/// `DELETE /notes/{id}` parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct DeleteQuery {
    /// Delete only if the note is still at this version.
    version: Option<i32>,
}

const CREATE_FIELDS: &[&str] = &["title", "body"];
const UPDATE_FIELDS: &[&str] = &["title", "body", "version"];

#[utoipa::path(
    get, path = "/notes", tag = "notes",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of notes, newest first", body = NotePage),
        (status = 422, description = "A parameter is out of range", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn notes_index(
    State(notes): State<Notes>,
    Query(query): Query<ListQuery>,
) -> Result<Json<NotePage>, ApiError> {
    let mut problems = BTreeMap::new();
    let page_size = notes.page_size();
    let limit = match query.limit.as_deref().map(str::parse::<u64>) {
        None => page_size,
        Some(Ok(limit)) if (1..=page_size).contains(&limit) => limit,
        Some(_) => {
            problems.insert(
                "limit".to_owned(),
                format!("must be a whole number from 1 to {page_size}"),
            );
            page_size
        }
    };
    let before = match query.before.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(before)) => Some(before),
        Some(Err(_)) => {
            problems.insert(
                "before".to_owned(),
                "must be the whole number given as next by the previous page".to_owned(),
            );
            None
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::InvalidFields(problems));
    }
    let page = notes.list(before, limit).await?;
    Ok(Json(NotePage {
        notes: page.notes.into_iter().map(NoteView::from).collect(),
        next: page.next,
    }))
}

#[utoipa::path(
    post, path = "/notes", tag = "notes",
    request_body = NoteCreate,
    responses(
        (status = 201, description = "Created; `Location` is its address", body = NoteView),
        (status = 400, description = "The body is not valid JSON", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "A field is wrong or unknown: one entry per field", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn notes_create(
    State(notes): State<Notes>,
    body: Result<JsonBody<NoteCreate>, JsonBodyError>,
) -> Result<Response, ApiError> {
    let JsonBody(input) = body.map_err(|error| ApiError::body(error, CREATE_FIELDS))?;
    let note = notes
        .create(NoteDraft {
            title: input.title,
            body: input.body,
        })
        .await?;
    let location = format!("{}/notes/{}", crate::MOUNT_PATH, note.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(NoteView::from(note)),
    )
        .into_response())
}

#[utoipa::path(
    get, path = "/notes/{id}", tag = "notes",
    params(("id" = i64, Path, description = "The note's id")),
    responses(
        (status = 200, description = "The note", body = NoteView),
        (status = 404, description = "No such note", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn notes_show(
    State(notes): State<Notes>,
    Path(id): Path<String>,
) -> Result<Json<NoteView>, ApiError> {
    let note = notes.find(note_id(&id)?).await?;
    Ok(Json(NoteView::from(note)))
}

#[utoipa::path(
    put, path = "/notes/{id}", tag = "notes",
    params(("id" = i64, Path, description = "The note's id")),
    request_body = NoteUpdate,
    responses(
        (status = 200, description = "The note as changed, at its new version", body = NoteView),
        (status = 404, description = "No such note", body = ErrorBody),
        (status = 409, description = "The note was changed since the version sent", body = ErrorBody),
        (status = 422, description = "A field is wrong or unknown: one entry per field", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn notes_update(
    State(notes): State<Notes>,
    Path(id): Path<String>,
    body: Result<JsonBody<NoteUpdate>, JsonBodyError>,
) -> Result<Json<NoteView>, ApiError> {
    let id = note_id(&id)?;
    let JsonBody(input) = body.map_err(|error| ApiError::body(error, UPDATE_FIELDS))?;
    let draft = NoteDraft {
        title: input.title,
        body: input.body,
    };
    let Some(version) = input.version else {
        // The other fields are checked too, so one answer names everything that is wrong.
        let mut problems = match draft.checked() {
            Err(keel_services::notes::Error::Invalid(problems)) => problems,
            _ => BTreeMap::new(),
        };
        problems.insert(
            "version".to_owned(),
            "is required: send the version of the note you changed".to_owned(),
        );
        return Err(ApiError::InvalidFields(problems));
    };
    Ok(Json(NoteView::from(
        notes.update(id, version, draft).await?,
    )))
}

#[utoipa::path(
    delete, path = "/notes/{id}", tag = "notes",
    params(("id" = i64, Path, description = "The note's id"), DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such note", body = ErrorBody),
        (status = 409, description = "The note was changed since the version sent", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn notes_delete(
    State(notes): State<Notes>,
    Path(id): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    notes.delete(note_id(&id)?, query.version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An id that is not a number names no note: the ordinary 404, like any other missing note.
fn note_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

#[cfg(test)]
mod tests;
