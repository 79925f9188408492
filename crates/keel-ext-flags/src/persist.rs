//! The flags' database rows and their audit trail.
//!
//! A change writes the flag's row and one `flag_audit` row (actor, old state, new state, time) in one
//! transaction: there is never a change without its audit row, nor an audit row for a change that did
//! not happen. Audit values are JSON (`{"enabled":true,"rollout_percent":25}`), so the audit table does
//! not change shape when a flag's state grows a field.

use chrono::{DateTime, Utc};
use keel_ext_db::entities::{feature_flag, flag_audit};
use keel_ext_db::{Backend, Db};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::Serialize;

use crate::Error;
use crate::flag::{Change, Declared, FlagState};

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub actor: String,
    /// The effective state before the change (the static default when there was no runtime change).
    /// `None` only for a row written by hand that does not hold a state.
    pub old: Option<FlagState>,
    pub new: Option<FlagState>,
    pub at: DateTime<Utc>,
}

pub(crate) async fn load_rows(db: &Db) -> Result<Vec<feature_flag::Model>, Error> {
    feature_flag::Entity::find()
        .all(db.connection())
        .await
        .map_err(Error::database)
}

/// Writes a change and its audit row in one transaction; returns the state before it and the row after.
/// A `rollout_percent` of `None` keeps the current one.
pub(crate) async fn write_change(
    db: &Db,
    declared: &Declared,
    change: Change,
    actor: &str,
) -> Result<(FlagState, feature_flag::Model), Error> {
    let definition = declared.definition;
    let default = declared.default_flag();
    let transaction = db.connection().begin().await.map_err(Error::database)?;
    let now = Utc::now().fixed_offset();
    // First make sure the row exists (with the default state), as a write: SQLite then holds its write
    // lock for the whole transaction (a transaction that read first would have to upgrade, which fails
    // under WAL when another writer got in between), and two first changes on PostgreSQL cannot both
    // insert.
    let default_row = feature_flag::ActiveModel {
        id: NotSet,
        name: Set(definition.name.to_owned()),
        enabled: Set(default.state.enabled),
        rollout_percent: Set(i16::from(default.state.rollout_percent)),
        salt: Set(default.salt.clone()),
        // A copy of the catalogue's words, for whoever reads the table without the code.
        description: Set(definition.description.to_owned()),
        owner: Set(Some(definition.owner.to_owned())),
        expires_at: Set(definition.expires),
        created_at: Set(now),
        updated_at: Set(now),
    };
    feature_flag::Entity::insert(default_row)
        .on_conflict_do_nothing_on([feature_flag::Column::Name])
        .exec_without_returning(&transaction)
        .await
        .map_err(Error::database)?;
    let mut query =
        feature_flag::Entity::find().filter(feature_flag::Column::Name.eq(definition.name));
    // Two instances changing one flag at once: the second waits for the first, so its audit row records
    // the first one's state as "old". (SQLite's write lock, taken above, does the same.)
    if db.backend() == Backend::Postgres {
        query = query.lock_exclusive();
    }
    let row = query
        .one(&transaction)
        .await
        .map_err(Error::database)?
        .ok_or_else(|| {
            Error::database(sea_orm::DbErr::RecordNotFound(format!(
                "feature_flags row {}",
                definition.name
            )))
        })?;
    let old = FlagState {
        enabled: row.enabled,
        rollout_percent: u8::try_from(row.rollout_percent).unwrap_or(100),
    };
    let new = FlagState {
        enabled: change.enabled,
        rollout_percent: change.rollout_percent.unwrap_or(old.rollout_percent),
    };
    let mut row: feature_flag::ActiveModel = row.into();
    row.enabled = Set(new.enabled);
    row.rollout_percent = Set(i16::from(new.rollout_percent));
    row.updated_at = Set(now);
    let written = row.update(&transaction).await.map_err(Error::database)?;
    flag_audit::ActiveModel {
        id: NotSet,
        flag_name: Set(definition.name.to_owned()),
        actor: Set(actor.to_owned()),
        old_value: Set(Some(to_json(&old))),
        new_value: Set(to_json(&new)),
        at: Set(now),
    }
    .insert(&transaction)
    .await
    .map_err(Error::database)?;
    transaction.commit().await.map_err(Error::database)?;
    Ok((old, written))
}

pub(crate) async fn audit(db: &Db, name: &str, limit: u64) -> Result<Vec<AuditEntry>, Error> {
    let rows = flag_audit::Entity::find()
        .filter(flag_audit::Column::FlagName.eq(name))
        .order_by_desc(flag_audit::Column::At)
        .order_by_desc(flag_audit::Column::Id)
        .limit(limit)
        .all(db.connection())
        .await
        .map_err(Error::database)?;
    Ok(rows
        .into_iter()
        .map(|row| AuditEntry {
            actor: row.actor,
            old: row.old_value.as_deref().and_then(from_json),
            new: from_json(&row.new_value),
            at: row.at.with_timezone(&Utc),
        })
        .collect())
}

fn to_json(state: &FlagState) -> String {
    // Two plain fields: serialising cannot fail.
    serde_json::to_string(state).unwrap_or_default()
}

fn from_json(text: &str) -> Option<FlagState> {
    serde_json::from_str(text).ok()
}
