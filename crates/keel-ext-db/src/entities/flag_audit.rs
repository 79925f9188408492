//! `flag_audit`: one row per runtime change of a flag, never updated or deleted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flag_audit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub flag_name: String,
    /// Who made the change: `ops:admin-token`, `ops:<actor named in the request>` or `cli:<user>`.
    pub actor: String,
    /// The effective state before the change as JSON text (the static default before the first runtime
    /// change); keel always writes it, the column allows `NULL` for rows written by hand.
    pub old_value: Option<String>,
    pub new_value: String,
    pub at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
