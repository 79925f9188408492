//! The `feature_flags` table: runtime state of each flag, the source of truth shared by every instance.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, date_null, pk_auto, small_integer, string_len, string_len_null, string_len_uniq, text,
    timestamp_with_time_zone_default_now,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum FeatureFlags {
    Table,
    Id,
    Name,
    Enabled,
    RolloutPercent,
    Salt,
    Description,
    Owner,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FeatureFlags::Table)
                    .col(pk_auto(FeatureFlags::Id))
                    .col(string_len_uniq(FeatureFlags::Name, 64))
                    .col(boolean(FeatureFlags::Enabled).default(false))
                    .col(
                        small_integer(FeatureFlags::RolloutPercent)
                            .default(100)
                            .check(
                                Expr::col(FeatureFlags::RolloutPercent)
                                    .gte(0)
                                    .and(Expr::col(FeatureFlags::RolloutPercent).lte(100)),
                            ),
                    )
                    .col(string_len(FeatureFlags::Salt, 64))
                    .col(text(FeatureFlags::Description).default(""))
                    .col(string_len_null(FeatureFlags::Owner, 128))
                    .col(date_null(FeatureFlags::ExpiresAt))
                    .col(timestamp_with_time_zone_default_now(
                        FeatureFlags::CreatedAt,
                    ))
                    .col(timestamp_with_time_zone_default_now(
                        FeatureFlags::UpdatedAt,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FeatureFlags::Table).to_owned())
            .await
    }
}
