//! The `flag_audit` table: who changed which flag, when, from what to what. Rows are only ever added.
//!
//! There is no foreign key to `feature_flags`: the audit trail must outlive the flags it describes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_pk_auto, string_len, text, text_null, timestamp_with_time_zone_default_now,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum FlagAudit {
    Table,
    Id,
    FlagName,
    Actor,
    OldValue,
    NewValue,
    At,
}

const INDEX_NAME: &str = "idx_flag_audit_flag_name_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FlagAudit::Table)
                    .col(big_pk_auto(FlagAudit::Id))
                    .col(string_len(FlagAudit::FlagName, 64))
                    .col(string_len(FlagAudit::Actor, 128))
                    // Old and new states are JSON text, so the audit format can grow without a migration.
                    .col(text_null(FlagAudit::OldValue))
                    .col(text(FlagAudit::NewValue))
                    .col(timestamp_with_time_zone_default_now(FlagAudit::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX_NAME)
                    .table(FlagAudit::Table)
                    .col(FlagAudit::FlagName)
                    .col(FlagAudit::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FlagAudit::Table).to_owned())
            .await
    }
}
