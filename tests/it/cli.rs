//! The `keel` command line, driven in-process through `keel_server::run` with the test's own arguments and
//! environment: exit codes and the one-line errors an operator sees.

use keel_config::Vars;
use keel_server::{EXIT_CONFIG, EXIT_SUCCESS, EXIT_USAGE};

/// (arguments, environment variables, text the one line must contain)
type BadConfiguration = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

struct Outcome {
    code: u8,
    stdout: String,
    stderr: String,
}

fn keel(args: &[&str], vars: &[(&str, &str)]) -> Outcome {
    let instance = tempfile::tempdir().unwrap();
    let instance_arg = format!("--instance-dir={}", instance.path().display());
    let argv = ["keel", instance_arg.as_str()]
        .into_iter()
        .chain(args.iter().copied());
    let vars: Vars = vars.iter().copied().collect();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = keel_server::run(argv, vars, &mut stdout, &mut stderr);
    Outcome {
        code,
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

#[test]
fn bad_configuration_exits_78_with_one_line_naming_the_culprit() {
    let cases: &[BadConfiguration] = &[
        (&["show-config"], &[("APP_ENV", "bogus")], "APP_ENV"),
        (&["--env", "qa", "show-config"], &[], "--env"),
        (
            &["--set", "server.port", "show-config"],
            &[],
            "--set \"server.port\"",
        ),
        (
            &["--set", "server.port=eighty", "show-config"],
            &[],
            "override server.port",
        ),
        (
            &["show-config"],
            &[("APP_SERVER__PORT", "abc")],
            "APP_SERVER__PORT",
        ),
        (
            &["show-config"],
            &[("APP_SERVER__PORT", "[1,")],
            "APP_SERVER__PORT",
        ),
        (&["serve"], &[("APP_ENV", "nope")], "APP_ENV"),
    ];
    for (args, vars, culprit) in cases {
        let outcome = keel(args, vars);
        assert_eq!(
            outcome.code, EXIT_CONFIG,
            "{args:?} {vars:?}: {}",
            outcome.stderr
        );
        assert_eq!(
            outcome.stderr.lines().count(),
            1,
            "{args:?} {vars:?}: {}",
            outcome.stderr
        );
        assert!(
            outcome.stderr.starts_with("keel: configuration error: "),
            "{}",
            outcome.stderr
        );
        assert!(
            outcome.stderr.contains(culprit),
            "{culprit} in {}",
            outcome.stderr
        );
        assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
        assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
    }
}

#[test]
fn an_unknown_argument_is_a_usage_error() {
    let outcome = keel(&["--no-such-flag"], &[]);
    assert_eq!(outcome.code, EXIT_USAGE);
    assert!(
        outcome.stderr.contains("--no-such-flag"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn show_config_prints_the_common_keys_and_explains_their_sources() {
    let outcome = keel(
        &["--env", "test", "show-config", "--explain"],
        &[("APP_SERVER__PORT", "9123")],
    );
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    assert!(
        outcome
            .stdout
            .lines()
            .any(|line| line.contains("server.port")
                && line.ends_with("= 9123  # environment variable APP_SERVER__PORT")),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stdout.contains("\"testing\""), "{}", outcome.stdout);
}

#[test]
fn hello_greets_by_name() {
    let outcome = keel(&["hello", "Ada"], &[]);
    assert_eq!(outcome.code, EXIT_SUCCESS);
    assert_eq!(outcome.stdout, "Hello, Ada! This is keel (development).\n");
}
