//! The `keel` command line, driven in-process through `keel_server::run` with the test's own arguments and
//! environment: exit codes and the exact messages an operator sees.

use sha2::Digest as _;

use crate::helpers::{Outcome, run_keel};
use keel_server::{EXIT_CONFIG, EXIT_FAILURE, EXIT_SUCCESS, EXIT_USAGE};

const CANARY: &str = "canary-7f3e-never-print-me-0123456789abcdef";

fn keel(args: &[&str], vars: &[(&str, &str)]) -> Outcome {
    run_keel(args, vars, None)
}

/// One bad input: (arguments, environment variables, instance config.toml). Its exact message, after
/// `keel: configuration error: `, is in `snapshots/bad_inputs.txt`.
type BadInput = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

const BAD_INPUTS: &[BadInput] = &[
    (&[], &[("APP_ENV", "stage")], None),
    (&["--env", "qa"], &[], None),
    (&["--set", "server.port"], &[], None),
    (&["--set", "port=1"], &[], None),
    (&["--set", "security.secret-key=hunter2-secret"], &[], None),
    (&["--set", "hunter2-secret"], &[], None),
    (&["--set", "server..port=1"], &[], None),
    (&["--set", "server.port=eighty"], &[], None),
    (&[], &[("APP_SERVER__PORT", "70000")], None),
    (&[], &[("APP_SERVER__PORT", "-1")], None),
    (&[], &[("PORT", "http")], None),
    (&[], &[("APP_SERVER__PORT", "[1,")], None),
    (&[], &[("APP_SERVER__MAX_BODY_BYTES", "0")], None),
    (&[], &[("APP_SERVER__REQUEST_TIMEOUT_SECS", "0")], None),
    (&[], &[("APP_SERVER__REQUEST_TIMEOUT_SECS", "1.5")], None),
    (
        &[],
        &[("APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "soon")],
        None,
    ),
    (&[], &[("APP_SERVER__HOST", " ")], None),
    (&[], &[("APP_DATABASE__URL", "mysql://db/keel")], None),
    (&[], &[("APP_DATABASE__MAX_CONNECTIONS", "0")], None),
    (&[], &[("APP_DATABASE__CONNECT_TIMEOUT_SECS", "0")], None),
    (&[], &[("APP_DATABASE__AUTO_MIGRATE", "maybe")], None),
    (&[], &[("APP_DATABASE__AUTO_MIGRATE", "[true]")], None),
    (&[], &[("APP_TELEMETRY__LOG_FORMAT", "xml")], None),
    (&[], &[("RUST_LOG", "info,sqlx=loud")], None),
    (&[], &[("APP_ENV", "production")], None),
    (
        &[],
        &[("APP_ENV", "staging"), ("SECRET_KEY", "short")],
        None,
    ),
    (&[], &[("APP_SERVR__PORT", "1")], None),
    (&[], &[("APP_SERVER__PROT", "1")], None),
    (&[], &[("APP_FEATURES__SINGUP_V2", "true")], None),
    (&[], &[("APP_FEATURES__SIGNUP_V2", "maybe")], None),
    (&["--set", "security.cookie_same_site=none"], &[], None),
    (&["--set", "security.cookie_same_site=relaxed"], &[], None),
    (&[], &[("REDIS_URL", "http://:hunter2@cache:6379")], None),
    (&[], &[("APP_FLAG_SYNC__RESYNC_INTERVAL_SECS", "0")], None),
    (
        &[],
        &[("SECRET_KEY_FILE", "/nonexistent/keel/secret")],
        None,
    ),
    (&[], &[("APP_APP__NAME", "")], None),
    (&[], &[("APP_APP__NAME", "café")], None),
    (&[], &[], Some("[server]\nport = true\n")),
    (&[], &[], Some("[database]\nauto_migrate = 1\n")),
    (&["--set", "app.env=production"], &[], None),
    (&[], &[], Some("[server]\nport = = 1\n")),
    (
        &[],
        &[],
        Some("[server]\nhost = \"::1\"\n\nport = \"http\"\n"),
    ),
    (&[], &[], Some("[telemetry]\nlog_format = \"xml\"\n")),
    // Durations and sizes have an upper bound: u64::MAX seconds passes the type but not time arithmetic.
    (
        &[],
        &[(
            "APP_SERVER__HEADER_READ_TIMEOUT_SECS",
            "18446744073709551615",
        )],
        None,
    ),
    (
        &[],
        &[("APP_DATABASE__STARTUP_TIMEOUT_SECS", "18446744073709551615")],
        None,
    ),
    (&["--set", "database.acquire_timeout_secs=301"], &[], None),
    (
        &[],
        &[("APP_SERVER__MAX_BODY_BYTES", "99999999999999999999999")],
        None,
    ),
    (&[], &[("APP_STATIC_FILES__MAX_AGE_SECS", "31536001")], None),
    // A fraction is never rounded into a whole number, whichever layer wrote it.
    (&[], &[], Some("[server]\nport = 80.5\n")),
    (&[], &[("APP_SERVER", r#"{"drain_delay_secs": 2.5}"#)], None),
    // A boolean is true or false, not yes, on or 1.
    (&[], &[("APP_SERVER__COMPRESSION", "yes")], None),
    // A list is a JSON list.
    (
        &[],
        &[("APP_SECURITY__CORS_ORIGINS", "https://a.example")],
        None,
    ),
    (
        &[],
        &[("APP_SECURITY__CORS_ORIGINS", r#"["https://a.example","#)],
        None,
    ),
    // What `serve` would only find when binding or connecting, `check` and every command find first.
    (&[], &[("APP_SERVER__HOST", "my host")], None),
    (&[], &[("APP_SERVER__HOST", "0.0.0.0:8080")], None),
    (&[], &[("DATABASE_URL", "postgres://")], None),
    (
        &[],
        &[("DATABASE_URL", "postgresql:///keel?sslmode=disable")],
        None,
    ),
    // Credentials in the OTLP endpoint are masked like every other URL's.
    (
        &[],
        &[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "ftp://collector:hunter2@otel:4318",
        )],
        None,
    ),
    (&[], &[("RUST_LOG", "[request]=debug,sqlx=verbose")], None),
];

#[test]
fn each_bad_input_exits_78_with_its_exact_message_and_no_panic() {
    let mut transcript = String::new();
    for &(args, vars, instance_config) in BAD_INPUTS {
        let args: Vec<&str> = args.iter().copied().chain(["show-config"]).collect();
        let outcome = run_keel(&args, vars, instance_config);
        assert_eq!(
            outcome.code, EXIT_CONFIG,
            "{args:?} {vars:?} {instance_config:?}: {}",
            outcome.stderr
        );
        assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
        transcript.push_str(&command_line(&args, vars, instance_config));
        transcript.push_str(&outcome.stderr);
        transcript.push('\n');
    }
    expect_test::expect_file!["snapshots/bad_inputs.txt"].assert_eq(&transcript);
    assert!(BAD_INPUTS.len() >= 55);
}

/// A run as a shell line for the snapshot: `$ NAME=value keel args…`, then the instance file, if any.
fn command_line(args: &[&str], vars: &[(&str, &str)], instance_config: Option<&str>) -> String {
    let quoted = |word: &str| {
        let plain = !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-./:=,".contains(c));
        if plain {
            word.to_owned()
        } else {
            format!("'{}'", word.replace('\'', "'\\''"))
        }
    };
    let mut line: Vec<String> = vars
        .iter()
        .map(|(name, value)| format!("{name}={}", quoted(value)))
        .collect();
    line.push("keel".to_owned());
    line.extend(args.iter().map(|arg| quoted(arg)));
    let mut text = format!("$ {}\n", line.join(" "));
    if let Some(config) = instance_config {
        text.push_str(&format!("# instance/config.toml: {config:?}\n"));
    }
    text
}

#[test]
fn all_problems_are_reported_together_one_per_line() {
    let outcome = keel(
        &["check"],
        &[
            ("APP_SERVER__PORT", "x"),
            ("APP_DATABASE__MAX_CONNECTIONS", "0"),
            ("RUST_LOG", "sqlx=loud"),
        ],
    );
    assert_eq!(outcome.code, EXIT_CONFIG);
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", outcome.stderr);
    assert!(
        lines[0].starts_with("keel: configuration error: server.port"),
        "{}",
        outcome.stderr
    );
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
fn the_argument_parser_never_prints_a_value_given_to_set() {
    let flag_like = format!("--{CANARY}");
    let assignment = format!("security.admin_token={CANARY}");
    let cases: [&[&str]; 6] = [
        // A space instead of `=`: the secret would be taken for a command.
        &["--set", "security.admin_token", CANARY],
        &["--set", "security.admin_token", CANARY, "serve"],
        &["show-config", "--set", "security.admin_token", CANARY],
        &["--set=security.admin_token", CANARY, "show-config"],
        &["--set", "security.admin_token", &flag_like],
        &["flags", "set", "signup_v2", "maybe", "--set", &assignment],
    ];
    for args in cases {
        let outcome = keel(args, &[]);
        assert_eq!(outcome.code, EXIT_USAGE, "{args:?}");
        assert!(
            !outcome.stderr.contains(CANARY),
            "{args:?}: {}",
            outcome.stderr
        );
        assert!(outcome.stderr.starts_with("error: "), "{}", outcome.stderr);
    }
    let outcome = keel(&["--set", "security.admin_token", CANARY], &[]);
    assert!(
        outcome
            .stderr
            .starts_with("error: unrecognized subcommand '…'\n"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn show_config_explains_each_source_and_speaks_json() {
    let outcome = keel(
        &["--env", "test", "show-config", "--explain"],
        &[("APP_SERVER__PORT", "9123")],
    );
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    assert!(
        outcome
            .stdout
            .lines()
            .any(|line| line
                == "server.port          = 9123  # environment variable APP_SERVER__PORT"),
        "{}",
        outcome.stdout
    );

    let outcome = keel(
        &["show-config", "--all", "--json", "--explain"],
        &[("PORT", "9124")],
    );
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    let report: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(
        report["server.port"],
        serde_json::json!({"value": 9124, "source": "environment variable PORT"})
    );
    assert_eq!(report["server.max_body_bytes"]["value"], 16_777_216);
}

#[test]
fn a_canary_secret_never_reaches_any_output() {
    let database_url = format!("postgres://keel:{CANARY}@127.0.0.1:1/keel");
    let secret_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret_file.path(), CANARY).unwrap();
    let secret_path = secret_file.path().display().to_string();
    let otlp_url = format!("http://keel:{CANARY}@127.0.0.1:1");
    let otlp_not_http = format!("ftp://keel:{CANARY}@127.0.0.1:1");
    let redis_url = format!("redis://:{CANARY}@127.0.0.1:1");
    // (arguments, environment variables)
    type Run<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>);
    let runs: &[Run<'_>] = &[
        (
            &["show-config"],
            vec![("SECRET_KEY", CANARY), ("DATABASE_URL", &database_url)],
        ),
        (
            &["show-config", "--all", "--explain"],
            vec![("SECRET_KEY_FILE", &secret_path)],
        ),
        (
            &["show-config", "--all", "--json", "--explain"],
            vec![("APP_SECURITY__SECRET_KEY", CANARY)],
        ),
        (
            &[
                "--set",
                &format!("security.secret_key={CANARY}"),
                "show-config",
                "--all",
            ],
            vec![],
        ),
        // Invalid alongside a secret: the error lists the problem, not the secret.
        (
            &["show-config"],
            vec![("SECRET_KEY", CANARY), ("APP_SERVER__PORT", "x")],
        ),
        (
            &["show-config"],
            vec![("APP_ENV", "prod"), ("SECRET_KEY", "canary-short")],
        ),
        // An unreachable database: the failure names the masked URL.
        (
            &["check"],
            vec![
                ("DATABASE_URL", &database_url),
                ("APP_DATABASE__CONNECT_TIMEOUT_SECS", "1"),
            ],
        ),
        // Credentials in the other URLs: the masked view, a validation error, a failed check.
        (
            &["show-config", "--all", "--json"],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp_url),
                ("REDIS_URL", &redis_url),
            ],
        ),
        (
            &["show-config"],
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp_not_http)],
        ),
        (
            &["check"],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp_url),
                ("REDIS_URL", &redis_url),
            ],
        ),
        // A value given to --set with a space for the `=`, and one with a space inside, unquoted.
        (&["--set", "security.admin_token", CANARY], vec![]),
        (&["--set", "security.admin_token=abc", CANARY], vec![]),
        (&["--set=security.admin_token=abc", CANARY, "serve"], vec![]),
        // An admin token in the masked view.
        (
            &["show-config", "--all"],
            vec![("APP_SECURITY__ADMIN_TOKEN", CANARY)],
        ),
    ];
    // The unkeyed fingerprint would let anyone confirm a guess: it must appear nowhere either.
    let unkeyed = &hex::encode(sha2::Sha256::digest(CANARY.as_bytes()))[..8];
    for (args, vars) in runs {
        let outcome = keel(args, vars);
        let everything = format!("{}{}", outcome.stdout, outcome.stderr);
        assert!(!everything.contains(CANARY), "{args:?}: {everything}");
        assert!(!everything.contains(unkeyed), "{args:?}: {everything}");
        assert!(
            !everything.contains("canary-short"),
            "{args:?}: {everything}"
        );
    }
}

#[test]
fn check_reports_the_database_and_fails_when_it_is_unreachable() {
    let outcome = keel(&["check"], &[("PORT", "0")]);
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    assert!(outcome.stdout.starts_with("ok    configuration: valid for development (0 warnings)\nok    secret stores: none configured (secrets.ssm.enabled is false, and secrets.vault.addr, or VAULT_ADDR, is not set)\nok    listen address: 127.0.0.1:0 is free to listen on\nok    database: sqlite://<instance>/keel-development.sqlite3?mode=rwc answers; "), "{}", outcome.stdout);

    let outcome = keel(
        &["check"],
        &[
            ("DATABASE_URL", "postgres://keel@127.0.0.1:1/keel"),
            ("APP_DATABASE__CONNECT_TIMEOUT_SECS", "1"),
        ],
    );
    assert_eq!(outcome.code, EXIT_FAILURE, "{}", outcome.stderr);
    assert!(
        outcome.stdout.contains(
            "FAIL  database: cannot connect to the database at postgres://keel@127.0.0.1:1/keel"
        ),
        "{}",
        outcome.stdout
    );
    assert_eq!(
        outcome.stderr,
        "keel: check failed: 1 of the checks above did not pass\n"
    );
}

#[test]
fn check_fails_where_serve_could_not_listen() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let cases = [
        (
            vec![("APP_SERVER__HOST", "no-such-host.invalid"), ("PORT", "0")],
            "FAIL  listen address: no-such-host.invalid:0 does not resolve (",
        ),
        (
            vec![("APP_SERVER__HOST", "192.0.2.1"), ("PORT", "0")],
            "FAIL  listen address: 192.0.2.1 is not an address of this machine: set server.host to one of its addresses, or 0.0.0.0",
        ),
        (
            vec![("PORT", taken_port.as_str())],
            "FAIL  listen address: 127.0.0.1:<port> is already in use (another keel?): stop it, or set server.port (or PORT)",
        ),
    ];
    for (vars, expected) in cases {
        let outcome = keel(&["check"], &vars);
        assert_eq!(outcome.code, EXIT_FAILURE, "{vars:?}: {}", outcome.stdout);
        let expected = expected.replace("<port>", &taken_port);
        assert!(
            outcome
                .stdout
                .lines()
                .any(|line| line.starts_with(&expected)),
            "{vars:?}: {}",
            outcome.stdout
        );
    }
}

#[test]
fn hello_greets_by_name() {
    let outcome = keel(&["hello", "Ada"], &[]);
    assert_eq!(outcome.code, EXIT_SUCCESS);
    assert_eq!(outcome.stdout, "Hello, Ada! This is keel (development).\n");
}

/// A one-connection server on a free port that answers each read with `reply`, as many times as
/// `replies(read)` says, until the client hangs up. Returns its address (`127.0.0.1:port`).
fn answer_with(reply: &'static [u8], replies: fn(&[u8]) -> usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut request = [0; 4096];
        while let Ok(read) = stream.read(&mut request) {
            let count = replies(&request[..read]);
            if read == 0 || stream.write_all(&reply.repeat(count)).is_err() {
                return;
            }
        }
    });
    address
}

/// Runs `keel check` with `vars`, asserts its exit code, that its report holds `line` and no canary.
fn check_reports(vars: &[(&str, &str)], code: u8, line: &str) -> Outcome {
    let outcome = keel(&["check"], vars);
    assert_eq!(outcome.code, code, "{}{}", outcome.stdout, outcome.stderr);
    assert!(outcome.stdout.contains(line), "{}", outcome.stdout);
    assert!(!outcome.stdout.contains(CANARY), "{}", outcome.stdout);
    outcome
}

#[test]
fn check_sends_the_otlp_endpoint_an_empty_export_with_its_credentials() {
    let accepting = answer_with(
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        |_| 1,
    );
    let open = format!("http://{accepting}");
    check_reports(
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &open)],
        EXIT_SUCCESS,
        &format!("ok    traces: the OTLP endpoint {open}/ accepts an empty export\n"),
    );

    // A collector that wants other credentials: the failure says so, and the password stays hidden.
    let refusing = answer_with(
        b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        |_| 1,
    );
    check_reports(
        &[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            &format!("http://keel:{CANARY}@{refusing}"),
        )],
        EXIT_FAILURE,
        &format!(
            "FAIL  traces: the OTLP endpoint http://keel:***@{refusing}/ answers, but it refused an empty export with 401 Unauthorized: check the credentials in telemetry.otlp_endpoint\n"
        ),
    );

    let closed = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", probe.local_addr().unwrap())
    };
    check_reports(
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &closed)],
        EXIT_FAILURE,
        &format!("FAIL  traces: the OTLP endpoint {closed}/ is not reachable: "),
    );
}

#[test]
fn check_signs_in_to_redis_and_fails_on_a_wrong_password() {
    // A Redis that refuses the password, as a real one does: one error per command (the client sends
    // AUTH and two CLIENT SETINFO at once; each command is an array, a line starting with `*`).
    let refusing = answer_with(
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        |commands| {
            commands
                .split(|byte| *byte == b'\n')
                .filter(|line| line.starts_with(b"*"))
                .count()
        },
    );
    let outcome = check_reports(
        &[("REDIS_URL", &format!("redis://:{CANARY}@{refusing}"))],
        EXIT_FAILURE,
        &format!(
            "FAIL  redis: Redis at redis://:***@{refusing} fails: Password authentication failed"
        ),
    );
    assert_eq!(
        outcome.stderr,
        "keel: check failed: 1 of the checks above did not pass\n"
    );

    // The real one, when CI provides it: reachable with its URL, refused with a password it does not
    // know.
    let Ok(real) = std::env::var("TEST_REDIS_URL") else {
        return;
    };
    check_reports(
        &[("REDIS_URL", &real)],
        EXIT_SUCCESS,
        "ok    redis: redis://",
    );
    let mut wrong = url::Url::parse(&real).unwrap();
    wrong.set_password(Some(CANARY)).unwrap();
    check_reports(
        &[("REDIS_URL", wrong.as_str())],
        EXIT_FAILURE,
        "FAIL  redis: Redis at redis://:***@",
    );
}

#[test]
fn explain_says_when_no_layer_sets_an_optional_setting() {
    let outcome = keel(&["show-config", "--all", "--explain"], &[]);
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    for key in [
        "security.admin_token",
        "redis.url",
        "telemetry.otlp_endpoint",
    ] {
        let line = outcome
            .stdout
            .lines()
            .find(|line| line.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {}", outcome.stdout));
        assert!(line.ends_with("= null  # not set by any layer"), "{line}");
    }
    assert!(!outcome.stdout.contains("# unknown"), "{}", outcome.stdout);
}

#[test]
fn every_bad_value_is_listed_even_next_to_an_unknown_key() {
    let outcome = keel(
        &["show-config"],
        &[
            ("APP_SERVER__PORT", "abc"),
            ("APP_SERVER__MAX_BODY_BYTES", "xyz"),
            ("APP_SERVER__COMPRESSION", "maybe"),
            ("APP_SERVER__LISTEN", "all"),
        ],
    );
    assert_eq!(outcome.code, EXIT_CONFIG);
    let keys: Vec<&str> = outcome
        .stderr
        .lines()
        .map(|line| {
            line.trim_start_matches("keel: configuration error: ")
                .split_once(' ')
                .map_or(line, |(key, _)| key)
        })
        .collect();
    assert_eq!(
        keys,
        [
            "server.compression",
            "server.listen",
            "server.max_body_bytes",
            "server.port"
        ],
        "{}",
        outcome.stderr
    );
}

#[test]
fn every_command_passes_on_the_loaders_warnings() {
    let warning = "keel: warning: ignoring environment variable APP_SERVER_PORT: keel settings are named APP_<SECTION>__<KEY> (two underscores), e.g. APP_SERVER__PORT\n";
    for args in [&["show-config"][..], &["hello"], &["flags", "check"]] {
        let outcome = keel(args, &[("APP_SERVER_PORT", "9000")]);
        assert_eq!(outcome.code, EXIT_SUCCESS, "{args:?}: {}", outcome.stderr);
        assert_eq!(outcome.stderr, warning, "{args:?}");
    }
    // `check` lists them in its report.
    let outcome = keel(&["check"], &[("APP_SERVER_PORT", "9000")]);
    assert!(
        outcome
            .stdout
            .contains("  warning: ignoring environment variable APP_SERVER_PORT"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_failure_says_each_cause_once() {
    let outcome = keel(
        &["--env", "test", "serve"],
        &[("DATABASE_URL", "sqlite:///proc/keel-missing/keel.sqlite3")],
    );
    assert_eq!(
        (outcome.code, outcome.stderr.as_str()),
        (
            EXIT_FAILURE,
            "keel: cannot start the app: cannot create the folder /proc/keel-missing for the SQLite database: No such file or directory (os error 2)\n"
        )
    );
}
