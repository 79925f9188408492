//! The log filter (`telemetry.log_level`, `RUST_LOG`), checked by the parser that will use it, and the
//! filter that lets the request span through to the log output whatever the log filter says.

use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{Directive, LevelFilter};
use tracing_subscriber::layer::{Context, Filter};

/// The levels a directive may name, for the message.
const LEVELS: &str = "trace, debug, info, warn, error, off";

/// Checks `filter` the way the subscriber reads it (comma-separated directives, each parsed by
/// `tracing-subscriber`), so what passes here never fails at start-up and a valid directive
/// (`[request]=debug`, `keel::flags[flags.set]=trace`) is never refused. The error says which directive is
/// wrong and how to write one.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    let invalid = |directive: &str| {
        format!(
            "has the invalid directive {directive:?}: write comma-separated directives such as info or sqlx=warn, with levels {LEVELS}"
        )
    };
    if filter.trim().is_empty() {
        return Err(invalid(filter));
    }
    match filter
        .split(',')
        .filter(|directive| !directive.is_empty())
        .find(|directive| directive.parse::<Directive>().is_err())
    {
        Some(directive) => Err(invalid(directive)),
        None => Ok(()),
    }
}

/// The spans at INFO and above, whatever the log filter says: the log output must see the request span
/// even when it writes only warnings, or a warning inside a request would lose the request's ids.
///
/// A type rather than a `filter_fn`: its answer depends on the callsite alone, so it says so once per
/// callsite, and an event the log filter leaves out (the access line at `warn`) is skipped at its
/// callsite instead of being asked about on every request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InfoSpans;

impl InfoSpans {
    fn lets_through(metadata: &Metadata<'_>) -> bool {
        metadata.is_span() && *metadata.level() <= Level::INFO
    }
}

impl<S> Filter<S> for InfoSpans {
    fn enabled(&self, metadata: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        Self::lets_through(metadata)
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::lets_through(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::INFO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_are_judged_by_the_subscribers_parser() {
        for valid in [
            "info",
            "warn,sqlx=debug",
            "[request]=debug",
            "keel_server[request{http.route=/ping}]=trace",
            "info,,warn",
        ] {
            assert_eq!(check_log_filter(valid), Ok(()), "{valid}");
            assert!(
                tracing_subscriber::EnvFilter::builder()
                    .parse(valid)
                    .is_ok(),
                "{valid}"
            );
        }
        for (invalid, directive) in [
            ("info,sqlx=loud", "sqlx=loud"),
            ("sqlx=warn,debug=verbose", "debug=verbose"),
            ("", ""),
            (" ", " "),
        ] {
            assert_eq!(
                check_log_filter(invalid),
                Err(format!(
                    "has the invalid directive {directive:?}: write comma-separated directives such as info or sqlx=warn, with levels {LEVELS}"
                )),
                "{invalid}"
            );
        }
    }
}
