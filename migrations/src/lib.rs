//! keel's database migrations, one file per migration, applied in the order [`Migrator`] lists them.
//!
//! Migrations never import entities: history must not change when today's model does. A migration's name
//! is its file name, so files are never renamed once they have been released.

// `MigrationTrait` (an async-trait) is declared with an elided `SchemaManager` lifetime, and an impl that
// writes `SchemaManager<'_>` no longer matches it, so this one idiom lint is off for the crate.
#![allow(elided_lifetimes_in_paths)]

mod m20261123_000001_create_feature_flags;
mod m20261123_000002_create_flag_audit;
mod m20261202_000001_create_notes;

use sea_orm_migration::prelude::*;

/// Lists every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_feature_flags::Migration),
            Box::new(m20261123_000002_create_flag_audit::Migration),
            Box::new(m20261202_000001_create_notes::Migration),
        ]
    }
}
