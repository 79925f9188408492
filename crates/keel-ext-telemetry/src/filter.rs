//! The log filter (`telemetry.log_level`, `RUST_LOG`), checked by the parser that will use it.

use tracing_subscriber::filter::Directive;

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
