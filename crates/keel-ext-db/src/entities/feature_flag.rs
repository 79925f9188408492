//! `feature_flags`: one row per flag whose state was changed at runtime.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feature_flags")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Unique; at most 64 characters.
    #[sea_orm(unique)]
    pub name: String,
    pub enabled: bool,
    /// 0–100, enforced by a check constraint.
    pub rollout_percent: i16,
    pub salt: String,
    pub description: String,
    pub owner: Option<String>,
    pub expires_at: Option<Date>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
