//! The `keel` command line, driven in-process through `keel_server::run` with the test's own arguments and
//! environment: exit codes and the exact messages an operator sees.

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
        "server.port (set by override server.port): must be a whole number, not \"eighty\"",
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
        "server.port (set by environment variable APP_SERVER__PORT): must be a whole number, not \"-1\"",
    ),
    (
        &[],
        &[("PORT", "http")],
        None,
        "server.port (set by environment variable PORT): must be a whole number, not \"http\"",
    ),
    (
        &[],
        &[("APP_SERVER__PORT", "[1,")],
        None,
        "server.port (set by environment variable APP_SERVER__PORT): starts like a JSON list or map but is not valid JSON (EOF while parsing a value at line 1 column 3): write e.g. [\"https://a.example\"] or {\"key\": 1}",
    ),
    (
        &[],
        &[("APP_SERVER__MAX_BODY_BYTES", "0")],
        None,
        "server.max_body_bytes (set by environment variable APP_SERVER__MAX_BODY_BYTES): must be at least 1",
    ),
    (
        &[],
        &[("APP_SERVER__REQUEST_TIMEOUT_SECS", "0")],
        None,
        "server.request_timeout_secs (set by environment variable APP_SERVER__REQUEST_TIMEOUT_SECS): must be at least 1 second",
    ),
    (
        &[],
        &[("APP_SERVER__REQUEST_TIMEOUT_SECS", "1.5")],
        None,
        "server.request_timeout_secs (set by environment variable APP_SERVER__REQUEST_TIMEOUT_SECS): must be a whole number, not \"1.5\"",
    ),
    (
        &[],
        &[("APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "soon")],
        None,
        "server.graceful_shutdown_timeout_secs (set by environment variable APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS): must be a whole number, not \"soon\"",
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
        "database.max_connections (set by environment variable APP_DATABASE__MAX_CONNECTIONS): must be at least 1",
    ),
    (
        &[],
        &[("APP_DATABASE__CONNECT_TIMEOUT_SECS", "0")],
        None,
        "database.connect_timeout_secs (set by environment variable APP_DATABASE__CONNECT_TIMEOUT_SECS): must be at least 1 second",
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
        "database.auto_migrate (set by environment variable APP_DATABASE__AUTO_MIGRATE): must be true or false, not a list",
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
        "redis.url (set by environment variable REDIS_URL): http://:***f52fbd32@cache:6379/ is not a Redis URL: write redis://host:6379",
    ),
    (
        &[],
        &[("APP_FLAG_SYNC__RESYNC_INTERVAL_SECS", "0")],
        None,
        "flag_sync.resync_interval_secs (set by environment variable APP_FLAG_SYNC__RESYNC_INTERVAL_SECS): must be at least 1 second",
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
        "server.port (set by instance file <instance>/config.toml line 2): must be a number, not true",
    ),
    (
        &[],
        &[],
        Some("[database]\nauto_migrate = 1\n"),
        "database.auto_migrate (set by instance file <instance>/config.toml line 2): must be true or false, not a number",
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
        "server.port (set by instance file <instance>/config.toml line 4): must be a whole number, not \"http\"",
    ),
    (
        &[],
        &[],
        Some("[telemetry]\nlog_format = \"xml\"\n"),
        "telemetry.log_format (set by instance file <instance>/config.toml line 2): unknown log format \"xml\": use pretty or json",
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
    assert!(BAD_INPUTS.len() >= 25);
}

#[test]
fn all_problems_are_reported_together_one_per_line() {
    let outcome = keel(
        &["check"],
        &[
            ("APP_SERVER__PORT", "x"),
            ("APP_DATABASE__MAX_CONNECTIONS", "0"),
            ("RUST_LOG", "loud="),
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
    ];
    for (args, vars) in runs {
        let outcome = keel(args, vars);
        let everything = format!("{}{}", outcome.stdout, outcome.stderr);
        assert!(!everything.contains(CANARY), "{args:?}: {everything}");
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

#[test]
fn check_reports_whether_the_otlp_endpoint_accepts_connections() {
    let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = format!("http://{}", listening.local_addr().unwrap());
    let closed = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", probe.local_addr().unwrap())
    };
    let outcome = keel(&["check"], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &open)]);
    assert_eq!(
        outcome.code, EXIT_SUCCESS,
        "{}{}",
        outcome.stdout, outcome.stderr
    );
    assert!(
        outcome.stdout.contains(&format!(
            "ok    traces: the OTLP endpoint {open} accepts connections\n"
        )),
        "{}",
        outcome.stdout
    );

    let outcome = keel(&["check"], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &closed)]);
    assert_eq!(outcome.code, EXIT_FAILURE, "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains(&format!(
            "FAIL  traces: the OTLP endpoint {closed} is not reachable: "
        )),
        "{}",
        outcome.stdout
    );
}
