//! The `keel` command line, driven in-process through `keel_server::run` with the test's own arguments and
//! environment: exit codes and the exact messages an operator sees.

use sha2::Digest as _;

use crate::helpers::{Outcome, run_keel};
use keel_server::{EXIT_CONFIG, EXIT_FAILURE, EXIT_SUCCESS, EXIT_USAGE};

const CANARY: &str = "canary-7f3e-never-print-me-0123456789abcdef";

fn keel(args: &[&str], vars: &[(&str, &str)]) -> Outcome {
    run_keel(args, vars, None)
}

/// One bad input: (arguments, environment variables, instance config.toml, the exact message after
/// `keel: configuration error: `).
type BadInput = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
    &'static str,
);

const BAD_INPUTS: &[BadInput] = &[
    (
        &[],
        &[("APP_ENV", "stage")],
        None,
        "environment variable APP_ENV: unknown environment \"stage\": use one of development (dev), testing (test), staging, production (prod)",
    ),
    (
        &["--env", "qa"],
        &[],
        None,
        "--env: unknown environment \"qa\": use one of development (dev), testing (test), staging, production (prod)",
    ),
    (
        &["--set", "server.port"],
        &[],
        None,
        "--set \"server.port\": has no `=`: write --set section.key=value, e.g. --set server.port=9000",
    ),
    (
        &["--set", "port=1"],
        &[],
        None,
        "--set \"port=…\": the key is not a dotted setting name: write --set section.key=value, e.g. --set server.port=9000",
    ),
    (
        &["--set", "security.secret-key=hunter2-secret"],
        &[],
        None,
        "--set \"security.secret-key=…\": the key is not a dotted setting name: write --set section.key=value, e.g. --set server.port=9000",
    ),
    (
        &["--set", "hunter2-secret"],
        &[],
        None,
        "--set \"…\": has no `=`: write --set section.key=value, e.g. --set server.port=9000",
    ),
    (
        &["--set", "server..port=1"],
        &[],
        None,
        "--set \"server..port=…\": the key is not a dotted setting name: write --set section.key=value, e.g. --set server.port=9000",
    ),
    (
        &["--set", "server.port=eighty"],
        &[],
        None,
        "server.port (set by override server.port): must be a whole number from 0 to 65535, not \"eighty\"",
    ),
    (
        &[],
        &[("APP_SERVER__PORT", "70000")],
        None,
        "server.port (set by environment variable APP_SERVER__PORT): must be a whole number from 0 to 65535, not 70000",
    ),
    (
        &[],
        &[("APP_SERVER__PORT", "-1")],
        None,
        "server.port (set by environment variable APP_SERVER__PORT): must be a whole number from 0 to 65535, not -1",
    ),
    (
        &[],
        &[("PORT", "http")],
        None,
        "server.port (set by environment variable PORT): must be a whole number from 0 to 65535, not \"http\"",
    ),
    (
        &[],
        &[("APP_SERVER__PORT", "[1,")],
        None,
        "server.port (set by environment variable APP_SERVER__PORT): must be a whole number from 0 to 65535, not \"[1,\"",
    ),
    (
        &[],
        &[("APP_SERVER__MAX_BODY_BYTES", "0")],
        None,
        "server.max_body_bytes (set by environment variable APP_SERVER__MAX_BODY_BYTES): must be a whole number of bytes from 1 to 1073741824, not 0",
    ),
    (
        &[],
        &[("APP_SERVER__REQUEST_TIMEOUT_SECS", "0")],
        None,
        "server.request_timeout_secs (set by environment variable APP_SERVER__REQUEST_TIMEOUT_SECS): must be a whole number of seconds from 1 to 3600, not 0",
    ),
    (
        &[],
        &[("APP_SERVER__REQUEST_TIMEOUT_SECS", "1.5")],
        None,
        "server.request_timeout_secs (set by environment variable APP_SERVER__REQUEST_TIMEOUT_SECS): must be a whole number of seconds from 1 to 3600, not \"1.5\"",
    ),
    (
        &[],
        &[("APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "soon")],
        None,
        "server.graceful_shutdown_timeout_secs (set by environment variable APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS): must be a whole number of seconds from 0 to 3600, not \"soon\"",
    ),
    (
        &[],
        &[("APP_SERVER__HOST", " ")],
        None,
        "server.host (set by environment variable APP_SERVER__HOST): must not be empty: use 127.0.0.1 or 0.0.0.0",
    ),
    (
        &[],
        &[("APP_DATABASE__URL", "mysql://db/keel")],
        None,
        "database.url (set by environment variable APP_DATABASE__URL): mysql://db/keel is not a database URL keel supports: use sqlite://path/to/file.sqlite3?mode=rwc or postgres://user:password@host/database",
    ),
    (
        &[],
        &[("APP_DATABASE__MAX_CONNECTIONS", "0")],
        None,
        "database.max_connections (set by environment variable APP_DATABASE__MAX_CONNECTIONS): must be a whole number of connections from 1 to 1000, not 0",
    ),
    (
        &[],
        &[("APP_DATABASE__CONNECT_TIMEOUT_SECS", "0")],
        None,
        "database.connect_timeout_secs (set by environment variable APP_DATABASE__CONNECT_TIMEOUT_SECS): must be a whole number of seconds from 1 to 300, not 0",
    ),
    (
        &[],
        &[("APP_DATABASE__AUTO_MIGRATE", "maybe")],
        None,
        "database.auto_migrate (set by environment variable APP_DATABASE__AUTO_MIGRATE): must be true or false, not \"maybe\"",
    ),
    (
        &[],
        &[("APP_DATABASE__AUTO_MIGRATE", "[true]")],
        None,
        "database.auto_migrate (set by environment variable APP_DATABASE__AUTO_MIGRATE): must be true or false, not \"[true]\"",
    ),
    (
        &[],
        &[("APP_TELEMETRY__LOG_FORMAT", "xml")],
        None,
        "telemetry.log_format (set by environment variable APP_TELEMETRY__LOG_FORMAT): unknown log format \"xml\": use pretty or json",
    ),
    (
        &[],
        &[("RUST_LOG", "info,sqlx=loud")],
        None,
        "telemetry.log_level (set by environment variable RUST_LOG): has the invalid directive \"sqlx=loud\": write comma-separated directives such as info or sqlx=warn, with levels trace, debug, info, warn, error, off",
    ),
    (
        &[],
        &[("APP_ENV", "production")],
        None,
        "security.secret_key (set by built-in defaults (profiles/default.toml)): is the built-in development key, which production refuses: set SECRET_KEY or APP_SECURITY__SECRET_KEY to a random value of at least 32 bytes (e.g. `openssl rand -hex 32`)",
    ),
    (
        &[],
        &[("APP_ENV", "staging"), ("SECRET_KEY", "short")],
        None,
        "security.secret_key (set by environment variable SECRET_KEY): is 5 bytes long; staging needs at least 32 (e.g. `openssl rand -hex 32`)",
    ),
    (
        &[],
        &[("APP_SERVR__PORT", "1")],
        None,
        "servr (set by environment variable APP_SERVR__PORT): is not a section keel knows: the sections are app, server, security, database, redis, static_files, telemetry, features, flag_sync",
    ),
    (
        &[],
        &[("APP_SERVER__PROT", "1")],
        None,
        "server.prot (set by environment variable APP_SERVER__PROT): is not a setting: [server] has host, port, max_body_bytes, request_timeout_secs, header_read_timeout_secs, drain_delay_secs, graceful_shutdown_timeout_secs, compression, trusted_proxies (see docs/configuration.md)",
    ),
    (
        &[],
        &[("APP_FEATURES__SINGUP_V2", "true")],
        None,
        "features.singup_v2 (set by environment variable APP_FEATURES__SINGUP_V2): is not a declared flag: the flags are new_checkout, signup_v2 (a new flag is declared in profiles/default.toml and crates/keel-ext-flags/src/catalog.rs)",
    ),
    (
        &[],
        &[("APP_FEATURES__SIGNUP_V2", "maybe")],
        None,
        "features.signup_v2 (set by environment variable APP_FEATURES__SIGNUP_V2): must be true or false, not \"maybe\"",
    ),
    (
        &["--set", "security.cookie_same_site=none"],
        &[],
        None,
        "security.cookie_same_site (set by override security.cookie_same_site): is none while security.cookie_secure is false, and browsers drop such cookies: set cookie_secure = true or use lax",
    ),
    (
        &["--set", "security.cookie_same_site=relaxed"],
        &[],
        None,
        "security.cookie_same_site (set by override security.cookie_same_site): unknown SameSite value \"relaxed\": use strict, lax or none",
    ),
    (
        &[],
        &[("REDIS_URL", "http://:hunter2@cache:6379")],
        None,
        "redis.url (set by environment variable REDIS_URL): http://:***@cache:6379/ is not a Redis URL: write redis://host:6379",
    ),
    (
        &[],
        &[("APP_FLAG_SYNC__RESYNC_INTERVAL_SECS", "0")],
        None,
        "flag_sync.resync_interval_secs (set by environment variable APP_FLAG_SYNC__RESYNC_INTERVAL_SECS): must be a whole number of seconds from 1 to 86400, not 0",
    ),
    (
        &[],
        &[("SECRET_KEY_FILE", "/nonexistent/keel/secret")],
        None,
        "security.secret_key (set by environment variable SECRET_KEY_FILE): the file /nonexistent/keel/secret does not exist: create it or fix the path",
    ),
    (
        &[],
        &[("APP_APP__NAME", "")],
        None,
        "app.name (set by environment variable APP_APP__NAME): must not be empty",
    ),
    (
        &[],
        &[("APP_APP__NAME", "café")],
        None,
        "app.name (set by environment variable APP_APP__NAME): is \"café\", which cannot be sent in the X-App header: use ASCII letters, digits and punctuation",
    ),
    (
        &[],
        &[],
        Some("[server]\nport = true\n"),
        "server.port (set by instance file <instance>/config.toml line 2): must be a whole number from 0 to 65535, not true",
    ),
    (
        &[],
        &[],
        Some("[database]\nauto_migrate = 1\n"),
        "database.auto_migrate (set by instance file <instance>/config.toml line 2): must be true or false, not 1",
    ),
    (
        &["--set", "app.env=production"],
        &[],
        None,
        "app.env (set by override app.env): cannot be set as a setting: choose the environment with --env or APP_ENV",
    ),
    (
        &[],
        &[],
        Some("[server]\nport = = 1\n"),
        "instance file <instance>/config.toml: is not valid TOML at line 2: extra `=`, expected nothing",
    ),
    (
        &[],
        &[],
        Some("[server]\nhost = \"::1\"\n\nport = \"http\"\n"),
        "server.port (set by instance file <instance>/config.toml line 4): must be a whole number from 0 to 65535, not \"http\"",
    ),
    (
        &[],
        &[],
        Some("[telemetry]\nlog_format = \"xml\"\n"),
        "telemetry.log_format (set by instance file <instance>/config.toml line 2): unknown log format \"xml\": use pretty or json",
    ),
    // Durations and sizes have an upper bound: u64::MAX seconds passes the type but not time arithmetic.
    (
        &[],
        &[(
            "APP_SERVER__HEADER_READ_TIMEOUT_SECS",
            "18446744073709551615",
        )],
        None,
        "server.header_read_timeout_secs (set by environment variable APP_SERVER__HEADER_READ_TIMEOUT_SECS): must be a whole number of seconds from 1 to 300, not 18446744073709551615",
    ),
    (
        &[],
        &[("APP_DATABASE__STARTUP_TIMEOUT_SECS", "18446744073709551615")],
        None,
        "database.startup_timeout_secs (set by environment variable APP_DATABASE__STARTUP_TIMEOUT_SECS): must be a whole number of seconds from 0 to 3600, not 18446744073709551615",
    ),
    (
        &["--set", "database.acquire_timeout_secs=301"],
        &[],
        None,
        "database.acquire_timeout_secs (set by override database.acquire_timeout_secs): must be a whole number of seconds from 1 to 300, not 301",
    ),
    (
        &[],
        &[("APP_SERVER__MAX_BODY_BYTES", "99999999999999999999999")],
        None,
        "server.max_body_bytes (set by environment variable APP_SERVER__MAX_BODY_BYTES): must be a whole number of bytes from 1 to 1073741824, not 99999999999999999999999",
    ),
    (
        &[],
        &[("APP_STATIC_FILES__MAX_AGE_SECS", "31536001")],
        None,
        "static_files.max_age_secs (set by environment variable APP_STATIC_FILES__MAX_AGE_SECS): must be a whole number of seconds from 0 to 31536000, not 31536001",
    ),
    // A fraction is never rounded into a whole number, whichever layer wrote it.
    (
        &[],
        &[],
        Some("[server]\nport = 80.5\n"),
        "server.port (set by instance file <instance>/config.toml line 2): must be a whole number from 0 to 65535, not 80.5",
    ),
    (
        &[],
        &[("APP_SERVER", r#"{"drain_delay_secs": 2.5}"#)],
        None,
        "server.drain_delay_secs (set by environment variable APP_SERVER): must be a whole number of seconds from 0 to 3600, not 2.5",
    ),
    // A boolean is true or false, not yes, on or 1.
    (
        &[],
        &[("APP_SERVER__COMPRESSION", "yes")],
        None,
        "server.compression (set by environment variable APP_SERVER__COMPRESSION): must be true or false, not \"yes\"",
    ),
    // A list is a JSON list.
    (
        &[],
        &[("APP_SECURITY__CORS_ORIGINS", "https://a.example")],
        None,
        "security.cors_origins (set by environment variable APP_SECURITY__CORS_ORIGINS): must be a list such as [\"a\", \"b\"], not \"https://a.example\"",
    ),
    (
        &[],
        &[("APP_SECURITY__CORS_ORIGINS", r#"["https://a.example","#)],
        None,
        "security.cors_origins (set by environment variable APP_SECURITY__CORS_ORIGINS): starts like a JSON list or map but is not valid JSON (EOF while parsing a value at line 1 column 21): write e.g. [\"https://a.example\"] or {\"key\": 1}",
    ),
    // What `serve` would only find when binding or connecting, `check` and every command find first.
    (
        &[],
        &[("APP_SERVER__HOST", "my host")],
        None,
        "server.host (set by environment variable APP_SERVER__HOST): is \"my host\", which is not an IP address or a host name: use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or a host name",
    ),
    (
        &[],
        &[("APP_SERVER__HOST", "0.0.0.0:8080")],
        None,
        "server.host (set by environment variable APP_SERVER__HOST): is \"0.0.0.0:8080\", which is not an IP address or a host name: use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or a host name",
    ),
    (
        &[],
        &[("DATABASE_URL", "postgres://")],
        None,
        "database.url (set by environment variable DATABASE_URL): postgres:// names no host: write postgres://user:password@host/database",
    ),
    (
        &[],
        &[("DATABASE_URL", "postgresql:///keel?sslmode=disable")],
        None,
        "database.url (set by environment variable DATABASE_URL): postgresql:///keel?sslmode=disable names no host: write postgres://user:password@host/database",
    ),
    // Credentials in the OTLP endpoint are masked like every other URL's.
    (
        &[],
        &[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "ftp://collector:hunter2@otel:4318",
        )],
        None,
        "telemetry.otlp_endpoint (set by environment variable OTEL_EXPORTER_OTLP_ENDPOINT): ftp://collector:***@otel:4318/ is not an http(s) URL: write the collector's OTLP address, e.g. http://otel-collector:4318",
    ),
    (
        &[],
        &[("RUST_LOG", "[request]=debug,sqlx=verbose")],
        None,
        "telemetry.log_level (set by environment variable RUST_LOG): has the invalid directive \"sqlx=verbose\": write comma-separated directives such as info or sqlx=warn, with levels trace, debug, info, warn, error, off",
    ),
];

#[test]
fn each_bad_input_exits_78_with_its_exact_message_and_no_panic() {
    for &(args, vars, instance_config, expected) in BAD_INPUTS {
        let args: Vec<&str> = args.iter().copied().chain(["show-config"]).collect();
        let outcome = run_keel(&args, vars, instance_config);
        assert_eq!(
            (outcome.code, outcome.stderr.as_str()),
            (
                EXIT_CONFIG,
                format!("keel: configuration error: {expected}\n").as_str()
            ),
            "{args:?} {vars:?} {instance_config:?}"
        );
        assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
    }
    assert!(BAD_INPUTS.len() >= 55);
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
        // A value given to --set with a space for the `=`.
        (&["--set", "security.admin_token", CANARY], vec![]),
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
    let outcome = keel(&["check"], &[]);
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    assert!(outcome.stdout.starts_with("ok    configuration: valid for development (0 warnings)\nok    database: sqlite://<instance>/keel-development.sqlite3?mode=rwc answers; "), "{}", outcome.stdout);

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
