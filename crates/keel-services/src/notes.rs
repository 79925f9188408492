//! Notes, the worked example resource: listing by pages, reading, creating, updating with optimistic
//! concurrency and deleting.
//!
//! Every change names the `version` it read; an update whose version is no longer the row's changes
//! nothing and reports [`Error::Stale`], so two editors never overwrite each other silently. Each query
//! runs in a span of its own (`SELECT notes`, `UPDATE notes`, …), a child of the request's span, so a
//! trace shows where a slow request spent its time.

use std::collections::BTreeMap;

use keel_ext_db::Db;
use keel_ext_db::entities::note;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue, ColumnTrait as _, DbErr, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use tracing::Instrument as _;

/// A note as stored.
pub type Note = note::Model;

/// The longest title, in characters (the column allows the same).
pub const TITLE_MAX_CHARS: usize = 200;
/// The longest body, in characters.
pub const BODY_MAX_CHARS: usize = 10_000;

/// What a client sends to create or change a note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoteDraft {
    pub title: String,
    pub body: String,
}

/// One page of notes, newest first, and where the next (older) page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub notes: Vec<Note>,
    /// The cursor of the next page: pass it as `before` to continue; `None` on the last page.
    pub next: Option<i64>,
}

/// Everything a notes operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The draft breaks a rule: one message per field, keyed by the field's name.
    #[error("the note is not valid: {}", describe(.0))]
    Invalid(BTreeMap<String, String>),
    #[error("note {0} does not exist")]
    NotFound(i64),
    /// The note was changed since the client read it: the client's version and the current one.
    #[error("note {id} was changed since version {sent}: it is at version {current}")]
    Stale { id: i64, sent: i32, current: i32 },
    /// The database failed; the cause is for the log, never for a client.
    #[error("the notes query failed: {0}")]
    Database(#[from] DbErr),
}

fn describe(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(field, message)| format!("{field} {message}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl NoteDraft {
    /// The draft with its title trimmed, or one message per field that breaks a rule.
    pub fn checked(self) -> Result<NoteDraft, Error> {
        let title = self.title.trim().to_owned();
        let mut problems = BTreeMap::new();
        if title.is_empty() {
            problems.insert("title".to_owned(), "is required".to_owned());
        } else if title.chars().count() > TITLE_MAX_CHARS {
            problems.insert(
                "title".to_owned(),
                format!("must be at most {TITLE_MAX_CHARS} characters"),
            );
        }
        if self.body.chars().count() > BODY_MAX_CHARS {
            problems.insert(
                "body".to_owned(),
                format!("must be at most {BODY_MAX_CHARS} characters"),
            );
        }
        if problems.is_empty() {
            Ok(NoteDraft {
                title,
                body: self.body,
            })
        } else {
            Err(Error::Invalid(problems))
        }
    }
}

/// The notes service: a database handle and the page size from `notes.page_size`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Notes {
    db: Db,
    page_size: u64,
}

impl Notes {
    pub fn new(db: Db, page_size: u64) -> Notes {
        Notes { db, page_size }
    }

    /// `notes.page_size`: a page of the HTML list, and the default and largest API `limit`.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// The span of one query, named as OpenTelemetry's database conventions ask (`SELECT notes`).
    fn span(&self, operation: &'static str) -> tracing::Span {
        tracing::info_span!(
            "notes.query",
            otel.name = format!("{operation} notes"),
            otel.kind = "client",
            db.system.name = self.db.backend().as_str(),
            db.collection.name = "notes",
            db.operation.name = operation,
        )
    }

    /// Up to `limit` notes (at most the page size) older than the note `before`, newest first.
    /// Paging by id rather than by offset keeps pages stable while notes are added.
    pub async fn list(&self, before: Option<i64>, limit: u64) -> Result<Page, Error> {
        let limit = limit.clamp(1, self.page_size);
        let mut query = note::Entity::find().order_by_desc(note::Column::Id);
        if let Some(before) = before {
            query = query.filter(note::Column::Id.lt(before));
        }
        // One more than asked for tells whether another page follows.
        let mut notes = query
            .limit(limit + 1)
            .all(self.db.connection())
            .instrument(self.span("SELECT"))
            .await?;
        let more = notes.len() as u64 > limit;
        notes.truncate(limit as usize);
        let next = if more {
            notes.last().map(|note| note.id)
        } else {
            None
        };
        Ok(Page { notes, next })
    }

    pub async fn find(&self, id: i64) -> Result<Note, Error> {
        note::Entity::find_by_id(id)
            .one(self.db.connection())
            .instrument(self.span("SELECT"))
            .await?
            .ok_or(Error::NotFound(id))
    }

    /// Creates a note at version 1.
    pub async fn create(&self, draft: NoteDraft) -> Result<Note, Error> {
        let draft = draft.checked()?;
        let now = chrono::Utc::now().fixed_offset();
        let row = note::ActiveModel {
            id: ActiveValue::NotSet,
            title: ActiveValue::Set(draft.title),
            body: ActiveValue::Set(draft.body),
            version: ActiveValue::Set(1),
            created_at: ActiveValue::Set(now),
            updated_at: ActiveValue::Set(now),
        };
        Ok(row
            .insert(self.db.connection())
            .instrument(self.span("INSERT"))
            .await?)
    }

    /// Replaces the title and body of note `id` if it is still at `version`, raising the version by one.
    /// One `UPDATE … WHERE id = ? AND version = ?`, so two concurrent updates of one version cannot
    /// both succeed.
    pub async fn update(&self, id: i64, version: i32, draft: NoteDraft) -> Result<Note, Error> {
        let draft = draft.checked()?;
        let updated = note::Entity::update_many()
            .col_expr(note::Column::Title, Expr::value(draft.title))
            .col_expr(note::Column::Body, Expr::value(draft.body))
            .col_expr(
                note::Column::Version,
                Expr::col(note::Column::Version).add(1),
            )
            .col_expr(
                note::Column::UpdatedAt,
                Expr::value(chrono::Utc::now().fixed_offset()),
            )
            .filter(note::Column::Id.eq(id))
            .filter(note::Column::Version.eq(version))
            .exec(self.db.connection())
            .instrument(self.span("UPDATE"))
            .await?;
        if updated.rows_affected == 0 {
            return Err(self.missing_or_stale(id, version).await);
        }
        self.find(id).await
    }

    /// Deletes note `id`; with a `version`, only if the note is still at it.
    pub async fn delete(&self, id: i64, version: Option<i32>) -> Result<(), Error> {
        let mut query = note::Entity::delete_many().filter(note::Column::Id.eq(id));
        if let Some(version) = version {
            query = query.filter(note::Column::Version.eq(version));
        }
        let deleted = query
            .exec(self.db.connection())
            .instrument(self.span("DELETE"))
            .await?;
        match (deleted.rows_affected, version) {
            (0, Some(version)) => Err(self.missing_or_stale(id, version).await),
            (0, None) => Err(Error::NotFound(id)),
            _ => Ok(()),
        }
    }

    /// Why a change of note `id` at `version` touched no row: the note is gone, or at another version.
    async fn missing_or_stale(&self, id: i64, version: i32) -> Error {
        match self.find(id).await {
            Ok(current) => Error::Stale {
                id,
                sent: version,
                current: current.version,
            },
            Err(error) => error,
        }
    }
}

#[cfg(test)]
mod tests;
