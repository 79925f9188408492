//! Loader behaviour, as data: which layer wins, what each bad input says.

use std::path::Path;

use crate::{Environment, Error, LoadOptions, Loaded, Override, Vars, load};

/// Variables or overrides as `(name, value)` pairs, the shape of most test tables here.
type Pairs<'a> = &'a [(&'a str, &'a str)];

const CANARY: &str = "canary-secret-4d1f9a-must-never-be-printed";

fn options(vars: &[(&str, &str)], overrides: &[(&str, &str)], instance_dir: &Path) -> LoadOptions {
    LoadOptions {
        environment: None,
        instance_dir: Some(instance_dir.to_owned()),
        vars: vars.iter().copied().collect::<Vars>(),
        overrides: overrides
            .iter()
            .map(|(key, value)| Override::new(*key, *value))
            .collect(),
    }
}

fn load_with(vars: &[(&str, &str)], overrides: &[(&str, &str)]) -> Result<Loaded, Error> {
    let instance = tempfile::tempdir().unwrap();
    load(&options(vars, overrides, instance.path()))
}

fn value_and_source(loaded: &Loaded, key: &str) -> (String, String) {
    let entry = loaded
        .masked_entries()
        .into_iter()
        .find(|entry| entry.key == key)
        .unwrap_or_else(|| panic!("no entry for {key}"));
    let value = match entry.value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    };
    (value, entry.source)
}

#[test]
fn with_nothing_set_development_defaults_apply() {
    let loaded = load_with(&[], &[]).unwrap();
    assert_eq!(loaded.settings.app.env, Environment::Development);
    assert_eq!(loaded.settings.server.port, 8080);
    assert_eq!(
        value_and_source(&loaded, "server.port"),
        (
            "8080".to_owned(),
            "built-in defaults (profiles/default.toml)".to_owned()
        )
    );
    assert_eq!(
        value_and_source(&loaded, "telemetry.log_format"),
        (
            "pretty".to_owned(),
            "profile development (profiles/development.toml)".to_owned()
        )
    );
    assert!(loaded.settings.database.auto_migrate);
    assert!(
        loaded
            .settings
            .database
            .url
            .expose()
            .ends_with("keel-development.sqlite3?mode=rwc"),
        "{:?}",
        loaded.settings.database.url
    );
}

#[test]
fn each_higher_layer_wins_and_is_named_as_the_source() {
    let instance = tempfile::tempdir().unwrap();
    std::fs::write(
        instance.path().join("config.toml"),
        "[server]\nport = 7001\n",
    )
    .unwrap();
    let instance_file = format!(
        "instance file {}",
        instance.path().join("config.toml").display()
    );

    // (variables, overrides, expected port, expected source)
    let cases: [(Pairs<'_>, Pairs<'_>, &str, &str); 4] = [
        (&[], &[], "7001", &instance_file),
        (
            &[("PORT", "7002")],
            &[],
            "7002",
            "environment variable PORT",
        ),
        (
            &[("PORT", "7002"), ("APP_SERVER__PORT", "7003")],
            &[],
            "7003",
            "environment variable APP_SERVER__PORT",
        ),
        (
            &[("APP_SERVER__PORT", "7003")],
            &[("server.port", "7004")],
            "7004",
            "override server.port",
        ),
    ];
    for (vars, overrides, port, source) in cases {
        let loaded = load(&options(vars, overrides, instance.path())).unwrap();
        assert_eq!(
            value_and_source(&loaded, "server.port"),
            (port.to_owned(), source.to_owned()),
            "vars {vars:?}, overrides {overrides:?}"
        );
    }
}

#[test]
fn the_instance_file_merges_with_the_profile_instead_of_replacing_it() {
    let instance = tempfile::tempdir().unwrap();
    std::fs::write(
        instance.path().join("config.toml"),
        "[server]\nport = 7001\n",
    )
    .unwrap();
    let loaded = load(&options(&[], &[], instance.path())).unwrap();
    assert_eq!(loaded.settings.server.port, 7001);
    assert_eq!(loaded.settings.server.host, "127.0.0.1");
}

#[test]
fn the_environment_comes_from_the_option_then_app_env() {
    let instance = tempfile::tempdir().unwrap();
    let mut chosen = options(&[("APP_ENV", "test")], &[], instance.path());
    assert_eq!(
        load(&chosen).unwrap().settings.app.env,
        Environment::Testing
    );
    chosen.environment = Some("dev".to_owned());
    let loaded = load(&chosen).unwrap();
    assert_eq!(loaded.settings.app.env, Environment::Development);
    assert_eq!(value_and_source(&loaded, "app.env").1, "--env");
}

#[test]
fn production_accepts_a_real_secret_key() {
    let loaded = load_with(&[("APP_ENV", "prod"), ("SECRET_KEY", CANARY)], &[]).unwrap();
    assert_eq!(loaded.settings.security.secret_key.expose(), CANARY);
    assert_eq!(loaded.settings.server.host, "0.0.0.0");
}

#[test]
fn a_secret_never_appears_in_the_masked_view() {
    let database_url = format!("postgres://keel:{CANARY}@db/keel");
    let loaded = load_with(
        &[
            ("APP_ENV", "production"),
            ("SECRET_KEY", CANARY),
            ("DATABASE_URL", &database_url),
        ],
        &[],
    )
    .unwrap();
    let shown = format!(
        "{}{:?}",
        serde_json::to_string(&loaded.masked_entries()).unwrap(),
        loaded.settings
    );
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(shown.contains("***"));
}

#[test]
fn ignored_app_variables_are_reported_as_warnings() {
    let loaded = load_with(&[("APP_SERVER_PORT", "9000")], &[]).unwrap();
    assert_eq!(loaded.settings.server.port, 8080);
    assert_eq!(
        loaded.warnings,
        [
            "ignoring environment variable APP_SERVER_PORT: keel settings are named APP_<SECTION>__<KEY> (two underscores), e.g. APP_SERVER__PORT"
        ]
    );
}

#[test]
fn bad_input_gets_an_error_naming_what_and_where() {
    // (variables, overrides, expected error message)
    let cases: &[(Pairs<'_>, Pairs<'_>, &str)] = &[
        (
            &[("APP_ENV", "stage")],
            &[],
            "unknown environment \"stage\": use one of development (dev), testing (test), staging, production (prod) (set by environment variable APP_ENV)",
        ),
        (
            &[("APP_SERVER__PORT", "eighty")],
            &[],
            "invalid type: string \"eighty\", expected an integer for key `server.port` in environment variable APP_SERVER__PORT",
        ),
        (
            &[("APP_SERVER__PORT", "70000")],
            &[],
            "invalid type: 64-bit unsigned integer `70000`, expected an unsigned 16 bit integer for key `server.port` in environment variable APP_SERVER__PORT",
        ),
        (
            &[("APP_SERVER__PORT", "[1, 2")],
            &[],
            "environment variable APP_SERVER__PORT starts like a JSON list or map but is not valid JSON (EOF while parsing a list at line 1 column 5): write e.g. [\"https://a.example\"] or {\"key\": 1}",
        ),
        (
            &[],
            &[("database.url", "mysql://db/keel")],
            "database.url (set by override database.url) mysql://db/keel is not a database URL keel supports: use sqlite://path/to/file.sqlite3?mode=rwc or postgres://user:password@host/database",
        ),
        (
            &[("APP_ENV", "production")],
            &[],
            "security.secret_key (set by built-in defaults (profiles/default.toml)) is the built-in development key, which production refuses: set SECRET_KEY or APP_SECURITY__SECRET_KEY to a random value of at least 32 bytes (e.g. `openssl rand -hex 32`)",
        ),
        (
            &[("APP_ENV", "staging"), ("SECRET_KEY", "short")],
            &[],
            "security.secret_key (set by environment variable SECRET_KEY) is 5 bytes long; staging needs at least 32 (e.g. `openssl rand -hex 32`)",
        ),
        (
            &[
                ("APP_SERVER__REQUEST_TIMEOUT_SECS", "0"),
                ("APP_DATABASE__MAX_CONNECTIONS", "0"),
            ],
            &[],
            "server.request_timeout_secs (set by environment variable APP_SERVER__REQUEST_TIMEOUT_SECS) must be at least 1 second\n\
             database.max_connections (set by environment variable APP_DATABASE__MAX_CONNECTIONS) must be at least 1",
        ),
        (
            &[("APP_TELEMETRY__LOG_FORMAT", "xml")],
            &[],
            "enum LogFormat does not have variant constructor xml for key `telemetry.log_format` in environment variable APP_TELEMETRY__LOG_FORMAT",
        ),
    ];
    for (vars, overrides, expected) in cases {
        let error = load_with(vars, overrides).unwrap_err();
        assert_eq!(
            &error.to_string(),
            expected,
            "vars {vars:?}, overrides {overrides:?}"
        );
    }
}

#[test]
fn unknown_keys_are_errors_that_name_the_key_and_its_layer() {
    let cases = [
        (
            "APP_SERVER__PROT",
            "unknown field `prot`, expected one of `host`, `port`, `max_body_bytes`, `request_timeout_secs`, `graceful_shutdown_timeout_secs` for key `server` in environment variable APP_SERVER__PROT",
        ),
        (
            "APP_SERVR__PORT",
            "unknown field `servr`, expected one of `app`, `server`, `security`, `database`, `static_files`, `telemetry` in environment variable APP_SERVR__PORT",
        ),
    ];
    for (variable, expected) in cases {
        let error = load_with(&[(variable, "9000")], &[]).unwrap_err();
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn malformed_assignments_are_rejected() {
    let cases = [
        (
            "server.port",
            "--set \"server.port\" has no `=`: write --set section.key=value, e.g. --set server.port=9000",
        ),
        (
            "port=1",
            "--set \"port=1\" the key is not a dotted setting name: write --set section.key=value, e.g. --set server.port=9000",
        ),
        (
            "server..port=1",
            "--set \"server..port=1\" the key is not a dotted setting name: write --set section.key=value, e.g. --set server.port=9000",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            Override::parse_assignment(text).unwrap_err().to_string(),
            expected
        );
    }
    assert_eq!(
        Override::parse_assignment("server.port=9000").unwrap(),
        Override::new("server.port", "9000")
    );
}

#[test]
fn a_broken_instance_file_is_named_with_its_line() {
    let instance = tempfile::tempdir().unwrap();
    std::fs::write(
        instance.path().join("config.toml"),
        "[server]\nport = = 1\n",
    )
    .unwrap();
    let message = load(&options(&[], &[], instance.path()))
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(&format!(
            "{}: is not valid TOML",
            instance.path().join("config.toml").display()
        )),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
}
