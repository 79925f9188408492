//! The database extension: one sea-orm connection pool for the app, SQLite or PostgreSQL by URL.
//!
//! This crate knows nothing about HTTP or routes: it connects, pings, and applies migrations. Blueprints
//! receive a [`Db`] through their state and decide what a failure means for their clients.

mod connect;

use std::time::Duration;

use keel_migrations::Migrator;
use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

pub use crate::connect::Backend;

/// How long a readiness ping may take before the database counts as unavailable.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// A cheap-to-clone handle on the connection pool.
#[derive(Debug, Clone)]
pub struct Db {
    connection: DatabaseConnection,
    backend: Backend,
}

/// Everything the database layer can fail with. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create the folder {path} for the SQLite database: {source}")]
    CreateFolder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to the database at {url}: {source}")]
    Connect {
        /// The URL with its password masked.
        url: String,
        #[source]
        source: DbErr,
    },
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the database query failed: {0}")]
    Query(#[source] DbErr),
    #[error("applying migrations failed: {0}")]
    Migration(#[source] DbErr),
}

impl Db {
    /// Opens the pool described by `settings` and checks that the database answers.
    pub async fn connect(settings: &keel_config::DatabaseSettings) -> Result<Db, Error> {
        connect::open(settings).await
    }

    /// The pool, for queries.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers, within a bounded time so readiness probes never hang.
    pub async fn ping(&self) -> Result<(), Error> {
        match tokio::time::timeout(PING_TIMEOUT, self.connection.ping()).await {
            Ok(result) => result.map_err(Error::Query),
            Err(_elapsed) => Err(Error::Timeout(PING_TIMEOUT)),
        }
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> Result<(), Error> {
        Migrator::up(&self.connection, None)
            .await
            .map_err(Error::Migration)
    }

    /// The names of migrations not yet applied, oldest first.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, Error> {
        let pending = Migrator::get_pending_migrations(&self.connection)
            .await
            .map_err(Error::Migration)?;
        Ok(pending
            .iter()
            .map(|migration| migration.name().to_owned())
            .collect())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<(), Error> {
        self.connection.close().await.map_err(Error::Query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_settings(folder: &std::path::Path) -> keel_config::DatabaseSettings {
        keel_config::DatabaseSettings {
            url: keel_config::ConnectionUrl::new(format!(
                "sqlite://{}?mode=rwc",
                folder.join("nested/keel.sqlite3").display()
            )),
            max_connections: 2,
            connect_timeout_secs: 5,
            auto_migrate: true,
        }
    }

    #[tokio::test]
    async fn a_fresh_sqlite_file_is_created_migrated_and_answers_pings() {
        let folder = tempfile::tempdir().unwrap();
        let db = Db::connect(&sqlite_settings(folder.path())).await.unwrap();
        assert_eq!(db.backend(), Backend::Sqlite);
        assert_eq!(
            db.pending_migrations().await.unwrap(),
            [
                "m20261123_000001_create_feature_flags",
                "m20261123_000002_create_flag_audit"
            ]
        );
        db.migrate_up().await.unwrap();
        assert!(db.pending_migrations().await.unwrap().is_empty());
        db.ping().await.unwrap();
        assert!(folder.path().join("nested/keel.sqlite3").exists());
        db.close().await.unwrap();
    }
}
