//! The command line: global options shared by every command, and the commands.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// keel: a production-ready Rust web starter. Without a command, `keel` serves the app.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about)]
pub(crate) struct Cli {
    /// Environment: development (dev), testing (test), staging or production (prod). Default: APP_ENV, else development.
    #[arg(long, global = true, value_name = "ENV")]
    pub(crate) env: Option<String>,

    /// Set one setting, highest precedence of all layers; repeatable. Example: --set server.port=9000
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,

    /// The instance folder (config.toml, the default SQLite file). Default: APP_INSTANCE_DIR, else ./instance
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) instance_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// `message` (the parser's, about `args`) without any value given to `--set`. A value may be a secret,
/// and a mistyped `--set security.admin_token SECRET` (a space for the `=`) makes the parser quote the
/// secret as an unknown command; the argument after a `--set` whose value has no `=` counts as a value.
/// So does a word right after a whole `--set key=value` that is not a command: an unquoted value with a
/// space in it (`--set security.admin_token=abc Sup3rSecret`) arrives split in two.
pub(crate) fn without_set_values(message: &str, args: &[OsString]) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let commands: Vec<String> = <Cli as clap::CommandFactory>::command()
        .get_subcommands()
        .map(|command| command.get_name().to_owned())
        .collect();
    let mut values = Vec::new();
    for (index, arg) in args.iter().enumerate() {
        let (value, next) = match arg.strip_prefix("--set=") {
            Some(value) => (Some(value), index + 1),
            None if arg == "--set" => (args.get(index + 1).map(String::as_str), index + 2),
            None => continue,
        };
        let Some(value) = value else { continue };
        match value.split_once('=') {
            Some((_key, secret)) => {
                values.push(secret);
                values.extend(
                    args.get(next)
                        .filter(|word| !word.starts_with('-') && !commands.contains(word))
                        .map(String::as_str),
                );
            }
            None => {
                values.push(value);
                values.extend(args.get(next).map(String::as_str));
            }
        }
    }
    let mut shown = message.to_owned();
    // Quoted, a value of any length is found exactly; bare, only one long enough not to be a common word.
    for value in values.into_iter().filter(|value| !value.is_empty()) {
        shown = shown.replace(&format!("'{value}'"), "'…'");
        if value.chars().count() >= 6 {
            shown = shown.replace(value, "…");
        }
    }
    shown
}

#[derive(Debug, Default, Subcommand)]
pub(crate) enum Command {
    /// Serve the app until SIGINT or SIGTERM (the default command).
    #[default]
    Serve,
    /// Validate the configuration (every problem at once), then reach the database and report each check.
    Check,
    /// Apply, revert or list database migrations.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Print the settings, with secrets masked.
    ShowConfig(ShowConfigOptions),
    /// List, change or check the feature flags.
    #[command(subcommand)]
    Flags(FlagsCommand),
    /// Probe this instance's /api/v1/health: exit 0 when it answers 200, 1 otherwise (container health
    /// checks; the image has no curl).
    Healthcheck {
        /// How long to wait for the answer, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=300))]
        timeout_secs: u64,
    },
    /// Generate secrets for a deployment.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Print a greeting: the smallest custom command, to copy when adding your own.
    Hello {
        /// Who to greet.
        #[arg(default_value = "world")]
        name: String,
    },
}

impl Command {
    /// Whether running it installs the log subscriber (when keel is the process itself).
    pub(crate) fn installs_telemetry(&self) -> bool {
        matches!(
            self,
            Command::Serve
                | Command::Migrate(_)
                | Command::Flags(FlagsCommand::List | FlagsCommand::Set { .. })
        )
    }
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub(crate) enum MigrateCommand {
    /// Apply every pending migration.
    Up,
    /// Revert the newest applied migrations.
    Down {
        /// How many to revert.
        #[arg(default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
        /// Allow it in staging and production, where it would destroy real data.
        #[arg(long)]
        force: bool,
    },
    /// List applied and pending migrations.
    Status,
    /// Drop every table of the database and apply all migrations again.
    Fresh {
        /// Allow it in staging and production, where it would destroy real data.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Write random secret_key, admin_token and database_password files (mode 0600) into DIR, keeping any
    /// that exist. Needs no settings, so it runs before the secrets it writes exist.
    Init {
        /// The secrets folder keel reads (APP_SECRETS_DIR). Default: APP_SECRETS_DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum FlagsCommand {
    /// List every flag: its state, where it comes from (default or runtime), owner, expiry.
    List,
    /// Turn a flag on or off; with --rollout, for that share of visitors. Audited as cli:<user>.
    Set {
        /// The flag, e.g. signup_v2 (`keel flags list` shows them all).
        name: String,
        /// on or off.
        switch: Switch,
        /// The percentage of visitors (0-100) who get the flag while it is on. Default: keep the current one.
        #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
        rollout: Option<u8>,
    },
    /// Fail (exit 1) when a flag is past its expiry date, listing each one; run it in CI.
    Check {
        /// Check as of this day (YYYY-MM-DD) instead of today, e.g. to look ahead.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<chrono::NaiveDate>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, Default, Args)]
pub(crate) struct ShowConfigOptions {
    /// Print every setting, not only the common ones.
    #[arg(long)]
    pub(crate) all: bool,
    /// Also print the layer that set each value.
    #[arg(long)]
    pub(crate) explain: bool,
    /// Print JSON: {"server.port": {"value": 8080, "source": "…"}, …}.
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_are_accepted_after_the_command() {
        let cli = Cli::try_parse_from([
            "keel",
            "show-config",
            "--all",
            "--env",
            "prod",
            "--set",
            "a.b=c",
        ])
        .unwrap();
        assert_eq!(cli.env.as_deref(), Some("prod"));
        assert_eq!(cli.set, ["a.b=c"]);
        assert!(matches!(
            cli.command,
            Some(Command::ShowConfig(ShowConfigOptions { all: true, .. }))
        ));
    }
}
