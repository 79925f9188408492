//! Opening the pool: per-backend options, and the SQLite folder that must exist before the file can.

use std::path::{Path, PathBuf};
use std::time::Duration;

use keel_config::DatabaseSettings;
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database};

use crate::backend::Backend;
use crate::{Db, Error};

/// How long a SQLite connection waits for another writer before giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn open(settings: &DatabaseSettings) -> Result<Db, Error> {
    let url = settings.url.expose();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    if backend == Backend::Sqlite {
        create_sqlite_folder(url)?;
    }

    let mut options = ConnectOptions::new(url.to_owned());
    options
        .min_connections(settings.min_connections)
        .max_connections(settings.max_connections)
        .connect_timeout(settings.connect_timeout)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(settings.idle_timeout)
        .sqlx_logging(settings.log_statements != "off")
        .sqlx_logging_level(statement_log_level(&settings.log_statements))
        .map_sqlx_sqlite_opts(|sqlite| {
            // WAL lets readers work while one connection writes; foreign keys are off in SQLite by default.
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        })
        // Every acquire is reported as a trace event with its wait, which keel-ext-telemetry records as
        // `db.client.connection.wait_time` (sqlx has no other hook; slow acquires still warn as before).
        .map_sqlx_sqlite_pool_opts(|pool| pool.acquire_time_level(log::LevelFilter::Trace))
        .map_sqlx_postgres_pool_opts(|pool| pool.acquire_time_level(log::LevelFilter::Trace));
    // sqlx keeps retrying a refused connection until its acquire timeout; one attempt here is bounded by
    // the connect timeout instead, so start-up retries (see `retry.rs`) are paced by keel.
    let connection = tokio::time::timeout(settings.connect_timeout, Database::connect(options))
        .await
        .map_err(|_elapsed| Error::ConnectTimeout {
            url: settings.url.masked(),
            timeout: settings.connect_timeout,
        })?
        .map_err(|source| match crate::permanent::cause(&source, backend) {
            Some(cause) => Error::Unusable {
                what: match (backend, sqlite_file_path(url)) {
                    (Backend::Sqlite, Some(path)) => format!("the SQLite database file {path}"),
                    _ => format!("the database at {}", settings.url.masked()),
                },
                cause: settings.url.redact(&cause),
            },
            None => Error::Connect {
                url: settings.url.masked(),
                reason: settings.url.redact(&source.to_string()),
            },
        })?;
    let sqlite_file = match backend {
        Backend::Sqlite => sqlite_file_path(url).map(SqliteFile::opened),
        Backend::Postgres => None,
    };
    Ok(Db {
        connection,
        backend,
        sqlite_file,
    })
}

/// The file behind a SQLite pool, and which file it was when the pool opened it. Connections keep the
/// file open, so when it is deleted or replaced they go on using the old one unnoticed — and a restart
/// loses everything written since.
#[derive(Debug, Clone)]
pub(crate) struct SqliteFile {
    path: PathBuf,
    identity: Option<FileIdentity>,
}

/// Device and inode: what stays the same for one file and differs for its replacement.
type FileIdentity = (u64, u64);

impl SqliteFile {
    fn opened(path: &str) -> SqliteFile {
        let path = PathBuf::from(path);
        let identity = identity_of(&path);
        SqliteFile { path, identity }
    }

    /// Fails when the file is gone from its path, or another file took its place.
    pub(crate) fn check(&self) -> Result<(), Error> {
        let now = identity_of(&self.path);
        if now.is_none() || now != self.identity {
            return Err(Error::SqliteFileGone {
                path: self.path.display().to_string(),
            });
        }
        Ok(())
    }
}

#[cfg(unix)]
fn identity_of(path: &Path) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path)
        .ok()
        .map(|metadata| (metadata.dev(), metadata.ino()))
}

/// Without inodes, only a deleted file is noticed.
#[cfg(not(unix))]
fn identity_of(path: &Path) -> Option<FileIdentity> {
    path.exists().then_some((0, 0))
}

/// `database.log_statements` as the `log` level sqlx uses (the value was validated by `keel-config`).
fn statement_log_level(level: &str) -> log::LevelFilter {
    match level {
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "trace" => log::LevelFilter::Trace,
        "off" => log::LevelFilter::Off,
        _ => log::LevelFilter::Debug,
    }
}

/// SQLite creates the file (with `mode=rwc`) but not its folder, e.g. a fresh clone's `instance/`.
fn create_sqlite_folder(url: &str) -> Result<(), Error> {
    let Some(path) = sqlite_file_path(url) else {
        return Ok(());
    };
    match Path::new(path).parent() {
        Some(folder) if !folder.as_os_str().is_empty() => {
            std::fs::create_dir_all(folder).map_err(|source| Error::CreateFolder {
                path: folder.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// The file path of a SQLite URL, or `None` for an in-memory database.
fn sqlite_file_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(path, _query)| path);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_messages_never_keep_the_url_or_password() {
        let url = keel_config::ConnectionUrl::new("postgres://keel:s3cr%2Ft@db/keel");
        let message = "The connection string 'postgres://keel:s3cr%2Ft@db/keel' cannot be parsed; also s3cr%2Ft";
        let redacted = url.redact(message);
        assert!(!redacted.contains("s3cr"), "{redacted}");
        assert!(redacted.contains(&url.masked()), "{redacted}");
    }

    #[test]
    fn sqlite_file_paths_are_taken_from_the_url() {
        let cases = [
            (
                "sqlite://instance/keel.sqlite3?mode=rwc",
                Some("instance/keel.sqlite3"),
            ),
            ("sqlite:///tmp/keel.sqlite3", Some("/tmp/keel.sqlite3")),
            ("sqlite:keel.sqlite3", Some("keel.sqlite3")),
            ("sqlite::memory:", None),
            ("sqlite://:memory:", None),
            ("postgres://localhost/keel", None),
        ];
        for (url, expected) in cases {
            assert_eq!(sqlite_file_path(url), expected, "{url}");
        }
    }
}
