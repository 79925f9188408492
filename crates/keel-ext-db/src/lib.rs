//! The database extension: one sea-orm connection pool for the app, SQLite or PostgreSQL by URL.
//!
//! This crate knows nothing about HTTP or routes: it connects (retrying at start-up), pings, runs
//! migrations and holds the entities. Blueprints receive a [`Db`] through their state and decide what a
//! failure means for their clients.

mod backend;
mod connect;
pub mod entities;
mod permanent;
mod retry;

use std::time::Duration;

use tracing::Instrument as _;

use keel_migrations::Migrator;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbErr};
use sea_orm_migration::{MigrationStatus, MigratorTrait};

pub use crate::backend::Backend;
use crate::connect::SqliteFile;

/// One migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

/// The connection pool at one moment (see [`Db::pool_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections checked out by a query.
    pub in_use: u32,
    /// Open connections waiting for a query.
    pub idle: u32,
    /// The most connections the pool opens (`database.max_connections`).
    pub max: u32,
}

/// How long a readiness ping may take before the database counts as unavailable.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// A cheap-to-clone handle on the connection pool.
#[derive(Debug, Clone)]
pub struct Db {
    connection: DatabaseConnection,
    backend: Backend,
    /// The SQLite file the pool opened, when the database is one.
    sqlite_file: Option<SqliteFile>,
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
    #[error("cannot connect to the database at {url}: {reason}")]
    Connect {
        /// The URL with its password masked.
        url: String,
        /// The driver's message with the URL and password masked: drivers quote connection strings
        /// they cannot parse, so their error is never shown as it is.
        reason: String,
    },
    /// The database answered, but in a way waiting cannot change (see `permanent.rs`).
    #[error("cannot use {what}: {cause}")]
    Unusable {
        /// The SQLite file's path, or the URL with its password masked.
        what: String,
        cause: String,
    },
    #[error(
        "cannot connect to the database at {url} within {timeout:?} (database.connect_timeout_secs)"
    )]
    ConnectTimeout { url: String, timeout: Duration },
    #[error("no answer from the database at {url} before database.startup_timeout_secs ran out")]
    StartupDeadline { url: String },
    #[error(
        "the database at {url} was still unreachable after {attempts} attempts over {waited_secs} s (database.startup_timeout_secs)"
    )]
    Unreachable {
        /// The URL with its password masked.
        url: String,
        attempts: u32,
        waited_secs: u64,
        /// The last attempt's error; error chains print it after this one.
        #[source]
        last: Box<Error>,
    },
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    #[error(
        "the SQLite database file {path} was deleted or replaced while keel was running; the open connections still use the old file, whose writes a restart would lose: restore it or restart keel"
    )]
    SqliteFileGone { path: String },
    #[error("the database query failed: {0}")]
    Query(#[source] DbErr),
    #[error("applying migrations failed: {0}")]
    Migration(#[source] DbErr),
}

impl Error {
    /// Whether retrying cannot help: a folder that cannot be created, a file that is not a database, a
    /// refused password.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::CreateFolder { .. } | Error::Unusable { .. })
    }
}

impl Db {
    /// Opens the pool described by `settings` and checks that the database answers.
    pub async fn connect(settings: &keel_config::DatabaseSettings) -> Result<Db, Error> {
        connect::open(settings).await
    }

    /// Like [`Db::connect`], but keeps retrying with backoff for `database.startup_timeout_secs`, logging
    /// each failed attempt, because a database started next to the app is often not ready yet.
    pub async fn connect_with_retry(settings: &keel_config::DatabaseSettings) -> Result<Db, Error> {
        retry::connect(settings).await
    }

    /// The pool, for queries.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database can serve the app's own tables, within a bounded time so readiness
    /// probes never hang: a SQLite file must still be the one the pool opened, and a query on the
    /// migrations table must answer (a bare `SELECT 1` also answers on a database whose schema is gone).
    /// The check is a `db.ping` span, a child of the request's span in traces.
    pub async fn ping(&self) -> Result<(), Error> {
        if let Some(file) = &self.sqlite_file {
            file.check()?;
        }
        let span = tracing::info_span!(
            "db.ping",
            otel.kind = "client",
            db.system.name = self.backend.as_str()
        );
        let select = sea_orm::sea_query::Query::select()
            .expr(sea_orm::sea_query::Expr::val(1))
            .from(Migrator::migration_table_name())
            .limit(1)
            .to_owned();
        let query = self.connection.query_one(&select);
        match tokio::time::timeout(PING_TIMEOUT, query)
            .instrument(span)
            .await
        {
            Ok(result) => result.map(drop).map_err(Error::Query),
            Err(_elapsed) => Err(Error::Timeout(PING_TIMEOUT)),
        }
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> Result<(), Error> {
        Migrator::up(&self.connection, None)
            .await
            .map_err(Error::Migration)
    }

    /// Reverts the last `steps` applied migrations, newest first.
    pub async fn migrate_down(&self, steps: u32) -> Result<(), Error> {
        Migrator::down(&self.connection, Some(steps))
            .await
            .map_err(Error::Migration)
    }

    /// Drops every table of the database (not only keel's) and applies all migrations again.
    pub async fn migrate_fresh(&self) -> Result<(), Error> {
        Migrator::fresh(&self.connection)
            .await
            .map_err(Error::Migration)
    }

    /// Every migration, oldest first, with whether it has been applied.
    pub async fn migrations(&self) -> Result<Vec<MigrationState>, Error> {
        let migrations = Migrator::get_migration_with_status(&self.connection)
            .await
            .map_err(Error::Migration)?;
        Ok(migrations
            .iter()
            .map(|migration| MigrationState {
                name: migration.name().to_owned(),
                applied: migration.status() == MigrationStatus::Applied,
            })
            .collect())
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

    /// How many connections the pool holds right now, for the pool gauges of `/metrics`. Reads counters
    /// the pool keeps anyway: no lock, no query.
    pub fn pool_status(&self) -> PoolStatus {
        let (open, idle, max) = match self.backend {
            Backend::Sqlite => {
                let pool = self.connection.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            Backend::Postgres => {
                let pool = self.connection.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
        PoolStatus {
            in_use: open - idle,
            idle,
            max,
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<(), Error> {
        self.connection.close().await.map_err(Error::Query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The testing profile's database settings with `url`, from the real loader so defaults stay in
    /// the profile files.
    fn settings_for(url: &str) -> keel_config::DatabaseSettings {
        let options = keel_config::LoadOptions {
            environment: Some("testing".to_owned()),
            overrides: vec![
                keel_config::Override::new("database.url", url),
                keel_config::Override::new("database.startup_timeout_secs", "3"),
                keel_config::Override::new("database.connect_timeout_secs", "1"),
            ],
            ..keel_config::LoadOptions::default()
        };
        keel_config::load(&options).unwrap().settings.database
    }

    fn sqlite_settings(folder: &std::path::Path) -> keel_config::DatabaseSettings {
        settings_for(&format!(
            "sqlite://{}?mode=rwc",
            folder.join("nested/keel.sqlite3").display()
        ))
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
                "m20261123_000002_create_flag_audit",
                "m20261202_000001_create_notes"
            ]
        );
        db.migrate_up().await.unwrap();
        assert!(db.pending_migrations().await.unwrap().is_empty());
        db.ping().await.unwrap();
        assert!(folder.path().join("nested/keel.sqlite3").exists());
        db.close().await.unwrap();
    }

    #[tokio::test]
    async fn an_unreachable_database_is_retried_until_the_deadline_then_named_with_its_password_masked()
     {
        // Port 1 on the loopback interface refuses connections at once.
        let settings = settings_for("postgres://keel:hunter2-canary@127.0.0.1:1/keel");
        let error = Db::connect_with_retry(&settings).await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("the database at postgres://keel:***"),
            "{message}"
        );
        assert!(
            message.contains("@127.0.0.1:1/keel was still unreachable after "),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
        let Error::Unreachable { attempts, .. } = error else {
            panic!("expected Unreachable, got {error:?}");
        };
        assert!(attempts >= 2, "retried only {attempts} time(s)");
    }

    #[tokio::test]
    async fn sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout() {
        use sea_orm::{ConnectionTrait, Statement};

        let folder = tempfile::tempdir().unwrap();
        let db = Db::connect(&sqlite_settings(folder.path())).await.unwrap();
        // (pragma, the column it answers in, expected value); every pooled connection gets these options.
        let cases = [
            ("journal_mode", "journal_mode", "wal"),
            ("foreign_keys", "foreign_keys", "1"),
            ("busy_timeout", "timeout", "5000"),
        ];
        for (pragma, column, expected) in cases {
            let statement = Statement::from_string(
                db.connection().get_database_backend(),
                format!("SELECT CAST(\"{column}\" AS TEXT) AS value FROM pragma_{pragma}"),
            );
            let row = db
                .connection()
                .query_one_raw(statement)
                .await
                .unwrap()
                .unwrap();
            let value: String = row.try_get("", "value").unwrap();
            assert_eq!(value, expected, "PRAGMA {pragma}");
        }
        db.close().await.unwrap();
    }
}
