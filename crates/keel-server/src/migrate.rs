//! `keel migrate up | down [N] [--force] | status | fresh [--force]`: the database schema, explicitly.
//!
//! Development and testing migrate on start (`database.auto_migrate`); staging and production run
//! `keel migrate up` as a release step, and `serve` refuses to start while migrations are pending.

use keel_config::Settings;
use keel_ext_db::Db;

use crate::cli::MigrateCommand;
use crate::failure::Failure;

/// Runs `command` and returns the report to print.
pub(crate) async fn run(command: MigrateCommand, settings: &Settings) -> Result<String, Failure> {
    // Staging and production hold data worth keeping: what destroys it needs --force there.
    let environment = settings.app.env;
    let guarded = !environment.is_local();
    if let MigrateCommand::Fresh { force: false } = command
        && guarded
    {
        return Err(Failure::failed(format!(
            "migrate fresh drops every table, and this is {environment}: add --force if that is really what you want"
        )));
    }
    let db = Db::connect_with_retry(&settings.database)
        .await
        .map_err(|error| Failure::from(error).context("cannot reach the database"))?;
    let database = settings.database.url.masked();
    let report = match command {
        MigrateCommand::Up => {
            let pending = db.pending_migrations().await?;
            db.migrate_up().await?;
            match pending.len() {
                0 => format!("{database}: nothing to apply, the schema is up to date\n"),
                count => format!("{database}: applied {count}: {}\n", pending.join(", ")),
            }
        }
        MigrateCommand::Down { steps, force } => {
            let applied: Vec<String> = db
                .migrations()
                .await?
                .into_iter()
                .filter(|migration| migration.applied)
                .map(|migration| migration.name)
                .collect();
            let reverted: Vec<&str> = applied
                .iter()
                .rev()
                .take(steps as usize)
                .map(String::as_str)
                .collect();
            if guarded && !force && !reverted.is_empty() {
                db.close().await?;
                return Err(Failure::failed(format!(
                    "migrate down {steps} would revert {} migration(s), dropping their tables and the data in them ({}), and this is {environment}: add --force if that is really what you want",
                    reverted.len(),
                    reverted.join(", ")
                )));
            }
            db.migrate_down(steps).await?;
            match reverted.len() {
                0 => format!("{database}: nothing to revert\n"),
                count => format!("{database}: reverted {count}: {}\n", reverted.join(", ")),
            }
        }
        MigrateCommand::Status => {
            let migrations = db.migrations().await?;
            let mut text = format!("{database}\n");
            for migration in &migrations {
                let state = if migration.applied {
                    "applied"
                } else {
                    "pending"
                };
                text.push_str(&format!("{state:<8} {}\n", migration.name));
            }
            text
        }
        MigrateCommand::Fresh { .. } => {
            db.migrate_fresh().await?;
            format!("{database}: dropped every table and applied all migrations\n")
        }
    };
    db.close().await?;
    Ok(report)
}
