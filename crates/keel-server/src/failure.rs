//! Why a command failed, and the documented exit code of each reason.
//!
//! A failure is classified where it is made: library errors convert through `From` impls that match
//! every variant (no catch-all arm), so a new variant in a library does not compile until someone decides
//! its exit code here; keel-server's own failures name their variant. Nothing searches an error chain
//! for a type afterwards.

use std::fmt::Display;

/// Exit code of a successful command.
pub const EXIT_SUCCESS: u8 = 0;
/// Exit code for every failure that is not one of the more specific ones below.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a command line that cannot be parsed (clap's convention).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the database stays unreachable past `database.startup_timeout_secs` (`EX_UNAVAILABLE`
/// from sysexits.h): an orchestrator may retry later, unlike for a configuration error.
pub const EXIT_UNAVAILABLE: u8 = 69;
/// Exit code when in-flight requests outlived `server.graceful_shutdown_timeout_secs` and were cut
/// (`EX_TEMPFAIL` from sysexits.h): the shutdown completed, but clients may have seen failures, which an
/// orchestrator should be able to tell from a clean stop.
pub const EXIT_REQUESTS_CUT: u8 = 75;
/// Exit code for a configuration error (`EX_CONFIG` from BSD's sysexits.h), distinct from other failures
/// so that deploy scripts can tell "fix the settings" from "the service broke".
pub const EXIT_CONFIG: u8 = 78;
/// Exit code when a second SIGINT/SIGTERM cut a graceful shutdown short (128 + SIGINT, the shell's
/// convention for "interrupted").
pub const EXIT_INTERRUPTED: u8 = 130;

/// A failed command: what the operator is told, and through [`Failure::exit_code`], what a script or an
/// orchestrator learns.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line asks for something it cannot have (a missing folder argument).
    Usage(String),
    /// The settings, or what they name (a static folder, a schema with pending migrations), must change
    /// before keel can run.
    Config(anyhow::Error),
    /// A service keel needs stayed unreachable past its start-up timeout; trying later may work.
    Unavailable(anyhow::Error),
    /// Requests were still running when the grace period (in seconds) ended, and were cut. The rest of
    /// the shutdown happened.
    RequestsCut(u64),
    /// A second shutdown signal (its name) ended the process without waiting.
    Interrupted(&'static str),
    /// Anything else.
    Failed(anyhow::Error),
}

impl Failure {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Config(_) => EXIT_CONFIG,
            Failure::Unavailable(_) => EXIT_UNAVAILABLE,
            Failure::RequestsCut(_) => EXIT_REQUESTS_CUT,
            Failure::Interrupted(_) => EXIT_INTERRUPTED,
            Failure::Failed(_) => EXIT_FAILURE,
        }
    }

    /// The message, on one line, each cause said once.
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Usage(message) => message.clone(),
            Failure::Config(error) | Failure::Unavailable(error) | Failure::Failed(error) => {
                one_line(error)
            }
            Failure::RequestsCut(grace_secs) => format!(
                "in-flight requests were still running after {grace_secs} s (server.graceful_shutdown_timeout_secs) and were cut"
            ),
            Failure::Interrupted(signal) => format!("interrupted by {signal}: exiting at once"),
        }
    }

    /// A failure of keel-server's own, described by `message`.
    pub(crate) fn failed(message: impl Into<String>) -> Failure {
        Failure::Failed(anyhow::Error::msg(message.into()))
    }

    /// A configuration problem found after the settings loaded (the telemetry subscriber refusing them).
    pub(crate) fn config(error: impl Display) -> Failure {
        Failure::Config(anyhow::anyhow!("configuration error: {error}"))
    }

    /// The same failure, its message preceded by `context` (`cannot start the app: …`).
    pub(crate) fn context(self, context: &'static str) -> Failure {
        match self {
            Failure::Config(error) => Failure::Config(error.context(context)),
            Failure::Unavailable(error) => Failure::Unavailable(error.context(context)),
            Failure::Failed(error) => Failure::Failed(error.context(context)),
            other @ (Failure::Usage(_) | Failure::RequestsCut(_) | Failure::Interrupted(_)) => {
                other
            }
        }
    }
}

impl From<keel_config::Error> for Failure {
    fn from(error: keel_config::Error) -> Failure {
        Failure::config(error)
    }
}

impl From<keel_ext_db::Error> for Failure {
    fn from(error: keel_ext_db::Error) -> Failure {
        use keel_ext_db::Error as Db;
        match error {
            Db::Unreachable { .. } | Db::StartupDeadline { .. } => {
                Failure::Unavailable(error.into())
            }
            Db::CreateFolder { .. }
            | Db::Connect { .. }
            | Db::Unusable { .. }
            | Db::ConnectTimeout { .. }
            | Db::Timeout(_)
            | Db::SqliteFileGone { .. }
            | Db::Query(_)
            | Db::Migration(_) => Failure::Failed(error.into()),
        }
    }
}

impl From<keel_ext_flags::Error> for Failure {
    fn from(error: keel_ext_flags::Error) -> Failure {
        use keel_ext_flags::Error as Flags;
        match error {
            Flags::Database(database) => Failure::from(database),
            Flags::UnknownFlag { .. }
            | Flags::RolloutOutOfRange(_)
            | Flags::InvalidActor
            | Flags::Catalog(_)
            | Flags::RedisUrl { .. }
            | Flags::RedisUnavailable { .. } => Failure::Failed(error.into()),
        }
    }
}

impl From<keel_app_factory::Error> for Failure {
    fn from(error: keel_app_factory::Error) -> Failure {
        use keel_app_factory::Error as App;
        match error {
            App::Database(database) => Failure::from(database),
            App::Flags(flags) => Failure::from(flags),
            // The static folder and the schema are fixed by the operator, like a setting.
            App::StaticFiles(_) | App::PendingMigrations { .. } => Failure::Config(error.into()),
            App::AppNameNotAHeader(_) | App::NotAHeader(_) => Failure::Failed(error.into()),
        }
    }
}

/// The error and its causes on one line, each said once. Many errors, keel's and libraries', print their
/// source in their own message too, and joining the chain as it is would repeat it
/// (`…: Permission denied (os error 13): Permission denied (os error 13)`).
pub(crate) fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_documented_exit_code() {
        let unreachable = keel_ext_db::Error::Unreachable {
            url: "postgres://db/keel".to_owned(),
            attempts: 3,
            waited_secs: 30,
            last: Box::new(keel_ext_db::Error::Timeout(Duration::from_secs(5))),
        };
        let timeout = || keel_ext_db::Error::Timeout(Duration::from_secs(5));
        // (failure, exit code)
        let cases = [
            (Failure::Usage("pass --dir".to_owned()), 2),
            (Failure::config("bad"), 78),
            (Failure::from(unreachable), 69),
            (
                Failure::from(keel_app_factory::Error::Database(timeout())).context("cannot start"),
                1,
            ),
            (
                Failure::from(keel_app_factory::Error::PendingMigrations {
                    pending: vec!["m1".to_owned()],
                    environment: keel_config::Environment::Production,
                }),
                78,
            ),
            (
                Failure::from(keel_ext_flags::Error::InvalidActor).context("cannot set"),
                1,
            ),
            (Failure::RequestsCut(30), 75),
            (Failure::Interrupted("SIGTERM"), 130),
            (Failure::failed("broken"), 1),
        ];
        for (failure, code) in cases {
            assert_eq!(failure.exit_code(), code, "{failure:?}");
        }
    }

    #[test]
    fn context_keeps_the_kind_and_leads_the_message() {
        let failure = Failure::from(keel_ext_db::Error::Timeout(Duration::from_millis(1500)))
            .context("cannot reach the database");
        assert_eq!(
            failure.message(),
            "cannot reach the database: the database did not answer within 1.5s"
        );
        assert_eq!(failure.exit_code(), EXIT_FAILURE);
    }

    #[test]
    fn a_cause_repeated_by_its_error_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let repeated = anyhow::Error::new(io).context(format!(
            "cannot write: {}",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied)
        ));
        assert_eq!(one_line(&repeated), "cannot write: permission denied");
    }
}
