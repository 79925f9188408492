//! `/notes`: the worked example resource as HTML pages, over the notes service shared with the API.
//!
//! A paginated list, a page per note, forms to create and edit (re-rendered with the submitted values and
//! a message per field when invalid, with 422), and deletion behind a confirmation form. Every change
//! ends with a redirect (303) to a page that shows a flash message, so reloading never resends a form.
//! Forms go through [`CsrfForm`]; no page needs JavaScript.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use keel_http::PublicErrorBody;
use keel_services::Notes;
use keel_services::notes::{Error as NotesError, Note, NoteDraft};
use serde::Deserialize;

use crate::assets::StaticAssets;
use crate::error::MainError;
use crate::pages::SiteInfo;
use crate::session::{CsrfForm, Session};

#[derive(Template)]
#[template(path = "notes/index.html")]
struct NotesIndexTemplate<'a> {
    site: &'a SiteInfo,
    assets: &'a StaticAssets,
    flash: Option<String>,
    notes: Vec<Note>,
    /// The cursor of the next (older) page.
    next: Option<i64>,
    /// Whether this is an older page, so a link back to the newest one is shown.
    newer: bool,
}

#[derive(Template)]
#[template(path = "notes/show.html")]
struct NoteShowTemplate<'a> {
    site: &'a SiteInfo,
    assets: &'a StaticAssets,
    flash: Option<String>,
    note: Note,
}

#[derive(Template)]
#[template(path = "notes/form.html")]
struct NoteFormTemplate<'a> {
    site: &'a SiteInfo,
    assets: &'a StaticAssets,
    heading: &'a str,
    action: String,
    cancel: String,
    csrf_token: String,
    /// The version being edited; `None` for a new note.
    version: Option<i32>,
    title: String,
    body: String,
    title_error: Option<String>,
    body_error: Option<String>,
    /// A problem with the form as a whole (a conflicting edit).
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "notes/delete.html")]
struct NoteDeleteTemplate<'a> {
    site: &'a SiteInfo,
    assets: &'a StaticAssets,
    csrf_token: String,
    note: Note,
    problem: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    before: Option<String>,
}

/// The fields of the create and edit forms; the CSRF token was checked by [`CsrfForm`].
#[derive(Debug, Deserialize)]
pub(crate) struct NoteFields {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    version: Option<i32>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteFields {
    version: Option<i32>,
}

/// The pages' shared state, so each handler names it once.
pub(crate) struct Pages {
    site: SiteInfo,
    assets: StaticAssets,
    notes: Notes,
}

impl<S> axum::extract::FromRequestParts<S> for Pages
where
    S: Send + Sync,
    SiteInfo: axum::extract::FromRef<S>,
    StaticAssets: axum::extract::FromRef<S>,
    Notes: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        _parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Pages, Self::Rejection> {
        use axum::extract::FromRef;
        Ok(Pages {
            site: SiteInfo::from_ref(state),
            assets: StaticAssets::from_ref(state),
            notes: Notes::from_ref(state),
        })
    }
}

fn render(template: &impl Template, name: &'static str) -> Result<Html<String>, MainError> {
    template
        .render()
        .map(Html)
        .map_err(|source| MainError::Render {
            template: name,
            source,
        })
}

/// A page written for the visitor that still has an error status (a form to correct): the app factory
/// passes it through rather than replacing it with the error page.
fn with_status(status: StatusCode, page: Html<String>) -> Response {
    let mut response = (status, page).into_response();
    response.extensions_mut().insert(PublicErrorBody);
    response
}

/// An id that is not a number names no note: the app's ordinary 404.
fn note_id(id: &str) -> Result<i64, MainError> {
    id.parse().map_err(|_| MainError::NotFound)
}

pub(crate) async fn notes_index(
    pages: Pages,
    session: Session,
    Query(query): Query<ListQuery>,
) -> Result<Response, MainError> {
    let before = match query.before.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(before)) => Some(before),
        // A cursor that is not one: start from the newest notes rather than fail.
        Some(Err(_)) => return Ok(Redirect::to("/notes").into_response()),
    };
    let page = pages.notes.list(before, pages.notes.page_size()).await?;
    let html = render(
        &NotesIndexTemplate {
            site: &pages.site,
            assets: &pages.assets,
            flash: session.take_flash(),
            notes: page.notes,
            next: page.next,
            newer: before.is_some(),
        },
        "notes/index.html",
    )?;
    Ok(session.finish(html))
}

pub(crate) async fn notes_show(
    pages: Pages,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, MainError> {
    let note = pages.notes.find(note_id(&id)?).await?;
    let html = render(
        &NoteShowTemplate {
            site: &pages.site,
            assets: &pages.assets,
            flash: session.take_flash(),
            note,
        },
        "notes/show.html",
    )?;
    Ok(session.finish(html))
}

/// What a form shows: the values, and the message for each field and for the whole.
#[derive(Default)]
struct FormState {
    version: Option<i32>,
    title: String,
    body: String,
    errors: BTreeMap<String, String>,
    problem: Option<String>,
}

fn form_page(
    pages: &Pages,
    session: &Session,
    editing: Option<i64>,
    mut state: FormState,
) -> Result<Html<String>, MainError> {
    let (heading, action, cancel) = match editing {
        Some(id) => ("Edit note", format!("/notes/{id}"), format!("/notes/{id}")),
        None => ("New note", "/notes".to_owned(), "/notes".to_owned()),
    };
    render(
        &NoteFormTemplate {
            site: &pages.site,
            assets: &pages.assets,
            heading,
            action,
            cancel,
            csrf_token: session.csrf_token(),
            version: state.version,
            title: state.title,
            body: state.body,
            title_error: state.errors.remove("title"),
            body_error: state.errors.remove("body"),
            problem: state.problem,
        },
        "notes/form.html",
    )
}

pub(crate) async fn notes_new(pages: Pages, session: Session) -> Result<Response, MainError> {
    let html = form_page(&pages, &session, None, FormState::default())?;
    Ok(session.finish(html))
}

pub(crate) async fn notes_create(
    pages: Pages,
    CsrfForm { session, form }: CsrfForm<NoteFields>,
) -> Result<Response, MainError> {
    let draft = NoteDraft {
        title: form.title.clone(),
        body: form.body.clone(),
    };
    match pages.notes.create(draft).await {
        Ok(note) => {
            session.flash(&format!("Note “{}” created.", note.title));
            Ok(session.finish(Redirect::to(&format!("/notes/{}", note.id))))
        }
        Err(NotesError::Invalid(errors)) => {
            let state = FormState {
                title: form.title,
                body: form.body,
                errors,
                ..FormState::default()
            };
            let html = form_page(&pages, &session, None, state)?;
            Ok(session.finish(with_status(StatusCode::UNPROCESSABLE_ENTITY, html)))
        }
        Err(other) => Err(other.into()),
    }
}

pub(crate) async fn notes_edit(
    pages: Pages,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, MainError> {
    let note = pages.notes.find(note_id(&id)?).await?;
    let state = FormState {
        version: Some(note.version),
        title: note.title,
        body: note.body,
        ..FormState::default()
    };
    let html = form_page(&pages, &session, Some(note.id), state)?;
    Ok(session.finish(html))
}

pub(crate) async fn notes_update(
    pages: Pages,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<NoteFields>,
) -> Result<Response, MainError> {
    let id = note_id(&id)?;
    let draft = NoteDraft {
        title: form.title.clone(),
        body: form.body.clone(),
    };
    // A form without a version was not made by the edit page; treat it as the oldest version, which
    // the update refuses unless nobody ever changed the note.
    let version = form.version.unwrap_or(1);
    let (status, state) = match pages.notes.update(id, version, draft).await {
        Ok(note) => {
            session.flash(&format!("Note “{}” saved.", note.title));
            return Ok(session.finish(Redirect::to(&format!("/notes/{id}"))));
        }
        Err(NotesError::Invalid(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            FormState {
                version: Some(version),
                title: form.title,
                body: form.body,
                errors,
                problem: None,
            },
        ),
        Err(NotesError::Stale { current, .. }) => (
            StatusCode::CONFLICT,
            FormState {
                // Saving this form again replaces the current version, on purpose and knowingly.
                version: Some(current),
                title: form.title,
                body: form.body,
                errors: BTreeMap::new(),
                problem: Some(format!(
                    "Someone changed this note while you were editing it (it is now at version {current}). Your text is below: open the note in another tab to compare, then save again to replace it."
                )),
            },
        ),
        Err(other) => return Err(other.into()),
    };
    let html = form_page(&pages, &session, Some(id), state)?;
    Ok(session.finish(with_status(status, html)))
}

pub(crate) async fn notes_delete_confirm(
    pages: Pages,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, MainError> {
    let note = pages.notes.find(note_id(&id)?).await?;
    let html = delete_page(&pages, &session, note, None)?;
    Ok(session.finish(html))
}

fn delete_page(
    pages: &Pages,
    session: &Session,
    note: Note,
    problem: Option<String>,
) -> Result<Html<String>, MainError> {
    render(
        &NoteDeleteTemplate {
            site: &pages.site,
            assets: &pages.assets,
            csrf_token: session.csrf_token(),
            note,
            problem,
        },
        "notes/delete.html",
    )
}

pub(crate) async fn notes_delete(
    pages: Pages,
    Path(id): Path<String>,
    CsrfForm { session, form }: CsrfForm<DeleteFields>,
) -> Result<Response, MainError> {
    let id = note_id(&id)?;
    match pages
        .notes
        .delete(id, Some(form.version.unwrap_or(1)))
        .await
    {
        Ok(()) => {
            session.flash("Note deleted.");
            Ok(session.finish(Redirect::to("/notes")))
        }
        Err(NotesError::Stale { .. }) => {
            let note = pages.notes.find(id).await?;
            let problem = format!(
                "Someone changed this note since you opened this page (it is now at version {}): check it is still the one to delete.",
                note.version
            );
            let html = delete_page(&pages, &session, note, Some(problem))?;
            Ok(session.finish(with_status(StatusCode::CONFLICT, html)))
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests;
