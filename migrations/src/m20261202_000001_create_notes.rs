//! The `notes` table of the worked example resource: a title, a body and a version for optimistic
//! concurrency (every update must name the version it read and raises it by one).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_pk_auto, integer, string_len, text, timestamp_with_time_zone_default_now,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Notes {
    Table,
    Id,
    Title,
    Body,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notes::Table)
                    .col(big_pk_auto(Notes::Id))
                    // The application allows 200 characters; the column is the last line of defence.
                    .col(string_len(Notes::Title, 200))
                    .col(text(Notes::Body).default(""))
                    .col(
                        integer(Notes::Version)
                            .default(1)
                            .check(Expr::col(Notes::Version).gte(1)),
                    )
                    .col(timestamp_with_time_zone_default_now(Notes::CreatedAt))
                    .col(timestamp_with_time_zone_default_now(Notes::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notes::Table).to_owned())
            .await
    }
}
