//! Which connection errors waiting cannot fix. Start-up retries an unreachable database (it is often
//! still starting), but a SQLite file that is not a database, or a password the server refuses, will be
//! the same in thirty seconds: those fail at once, naming the cause and the fix.

use sea_orm::{DbErr, RuntimeErr};

use crate::backend::Backend;

/// The cause and fix of `error` when retrying cannot help, `None` when it may.
pub(crate) fn cause(error: &DbErr, backend: Backend) -> Option<String> {
    let DbErr::Conn(RuntimeErr::SqlxError(sqlx_error)) = error else {
        return None;
    };
    let database_error = sqlx_error.as_database_error()?;
    let code = database_error.code()?;
    let message = database_error.message();
    match backend {
        Backend::Sqlite => sqlite(&code, message),
        Backend::Postgres => postgres(&code, message),
    }
}

/// SQLite's result codes (the primary code is the low byte of an extended one). Only a busy or locked
/// database is worth waiting for: another process holds it for a moment.
fn sqlite(code: &str, message: &str) -> Option<String> {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    let primary = code.parse::<i32>().ok()? & 0xff;
    let fix = match primary {
        BUSY | LOCKED => return None,
        // SQLITE_READONLY
        8 => "it is read-only (or opened with mode=ro): make the file and its folder writable",
        // SQLITE_CANTOPEN
        14 => {
            "it cannot be opened or created: check that the path names a file, not a folder, in a folder keel may write to"
        }
        // SQLITE_CORRUPT
        11 => "the file is damaged: restore it from a backup",
        // SQLITE_NOTADB
        26 => {
            "it is not a SQLite database: point database.url at a SQLite file, or move this file away"
        }
        // SQLITE_PERM, SQLITE_AUTH
        3 | 23 => "access is denied: check the file's permissions",
        _ => "SQLite refused it: check the file and its folder",
    };
    Some(format!("{fix} ({message})"))
}

/// PostgreSQL refusing the credentials or the database name (SQLSTATE class 28, and 3D000): a server that
/// is still starting accepts no connection at all, so these mean the settings are wrong.
fn postgres(code: &str, message: &str) -> Option<String> {
    let fix = if code.starts_with("28") {
        "the server refused the user or password: check them in database.url"
    } else if code == "3D000" {
        "the database does not exist: create it, or fix its name in database.url"
    } else {
        return None;
    };
    Some(format!("{fix} ({message})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_busy_sqlite_or_an_unknown_postgres_error_is_worth_waiting_for() {
        assert_eq!(sqlite("5", "database is locked"), None);
        assert_eq!(sqlite("261", "database is locked"), None);
        assert!(sqlite("26", "file is not a database").is_some());
        assert!(sqlite("1032", "attempt to write a readonly database").is_some());
        assert!(postgres("28P01", "password authentication failed").is_some());
        assert!(postgres("3D000", "database \"x\" does not exist").is_some());
        assert_eq!(
            postgres("57P03", "the database system is starting up"),
            None
        );
    }
}
