//! Loader behaviour, as data: which layer wins, what each bad input says, and that secrets stay hidden.

mod otel;

use std::path::PathBuf;

use crate::{Environment, Error, LoadOptions, Loaded, Override, Vars, load};

const CANARY: &str = "canary-secret-4d1f9a-must-never-be-printed";

/// A sandbox for one load: an instance folder, a `.env` path and a secrets folder of its own, plus the
/// variables and overrides to pass. Files are written only when a test asks for them.
struct Sandbox {
    root: tempfile::TempDir,
    environment: Option<String>,
    vars: Vec<(String, String)>,
    overrides: Vec<Override>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("instance")).unwrap();
        std::fs::create_dir_all(root.path().join("secrets")).unwrap();
        Sandbox {
            root,
            environment: None,
            vars: Vec::new(),
            overrides: Vec::new(),
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    fn env(mut self, name: &str) -> Sandbox {
        self.environment = Some(name.to_owned());
        self
    }

    fn var(mut self, name: &str, value: &str) -> Sandbox {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    fn set(mut self, key: &str, value: &str) -> Sandbox {
        self.overrides.push(Override::new(key, value));
        self
    }

    /// Writes `relative` (e.g. `instance/config.toml`, `.env`, `secrets/secret_key`) under the sandbox.
    fn file(self, relative: &str, contents: &str) -> Sandbox {
        std::fs::write(self.path(relative), contents).unwrap();
        self
    }

    fn options(&self) -> LoadOptions {
        let secrets_dir = self.path("secrets").display().to_string();
        let vars: Vars = self
            .vars
            .iter()
            .cloned()
            .chain([("APP_SECRETS_DIR".to_owned(), secrets_dir)])
            .collect();
        LoadOptions {
            environment: self.environment.clone(),
            instance_dir: Some(self.path("instance")),
            dotenv_file: Some(self.path(".env")),
            vars,
            overrides: self.overrides.clone(),
            log_filter_check: None,
            store_entries: Vec::new(),
        }
    }

    fn load(&self) -> Result<Loaded, Error> {
        load(&self.options())
    }

    /// The error message, with the sandbox's path replaced by `<sandbox>` so tables can spell it.
    fn error(&self) -> String {
        let message = self.load().unwrap_err().to_string();
        message.replace(&self.root.path().display().to_string(), "<sandbox>")
    }

    /// The value (as text) and source of `key`, with the sandbox's path replaced by `<sandbox>`.
    fn value_and_source(&self, key: &str) -> (String, String) {
        let loaded = self.load().unwrap_or_else(|error| panic!("{error}"));
        let entry = loaded
            .masked_entries()
            .into_iter()
            .find(|entry| entry.key == key)
            .unwrap_or_else(|| panic!("no entry for {key}"));
        let value = match entry.value {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        let root = self.root.path().display().to_string();
        (
            value.replace(&root, "<sandbox>"),
            entry.source.replace(&root, "<sandbox>"),
        )
    }
}

#[test]
fn with_nothing_set_development_defaults_apply() {
    let sandbox = Sandbox::new();
    let loaded = sandbox.load().unwrap();
    assert_eq!(loaded.settings.app.env, Environment::Development);
    assert_eq!(loaded.settings.server.port, 8080);
    assert!(loaded.settings.database.auto_migrate);
    assert_eq!(
        sandbox.value_and_source("server.port"),
        (
            "8080".into(),
            "built-in defaults (profiles/default.toml)".into()
        )
    );
    assert_eq!(
        sandbox.value_and_source("database.url"),
        (
            "sqlite://<sandbox>/instance/keel-development.sqlite3?mode=rwc".into(),
            "built-in default (SQLite file in the instance folder)".into()
        )
    );
}

#[test]
fn each_layer_beats_the_one_below_and_is_named_as_its_source() {
    // Secret layers are told apart by the admin token's fingerprint (keyed by the development secret key;
    // the secret key itself is shown without one).
    let development_key =
        crate::Secret::new("keel-development-secret-key-do-not-use-in-production");
    let fingerprint = |token: &str| crate::Fingerprints::new(&development_key).mask(token);
    let from_secrets_folder = fingerprint("an-admin-token-from-the-secrets-folder");
    let from_named_file = fingerprint("an-admin-token-from-the-named-file-0123");
    // (what the pair is, the sandbox with both layers set, key, expected value, expected source)
    let cases: Vec<(&str, Sandbox, &str, &str, &str)> = vec![
        (
            "profile over built-in defaults",
            Sandbox::new(),
            "telemetry.log_format",
            "pretty",
            "profile development (profiles/development.toml)",
        ),
        (
            "instance file over profile",
            Sandbox::new().file(
                "instance/config.toml",
                "[telemetry]\n\nlog_format = \"json\"\n",
            ),
            "telemetry.log_format",
            "json",
            "instance file <sandbox>/instance/config.toml line 3",
        ),
        (
            ".env over instance file",
            Sandbox::new()
                .file("instance/config.toml", "[server]\nport = 7001\n")
                .file(".env", "APP_SERVER__PORT=7002\n"),
            "server.port",
            "7002",
            ".env file <sandbox>/.env, variable APP_SERVER__PORT",
        ),
        (
            "secret file over .env",
            Sandbox::new()
                .file(
                    ".env",
                    "APP_SECURITY__ADMIN_TOKEN=an-admin-token-from-the-dotenv-file-012345\n",
                )
                .file(
                    "secrets/admin_token",
                    "an-admin-token-from-the-secrets-folder\n",
                ),
            "security.admin_token",
            &from_secrets_folder,
            "secret file <sandbox>/secrets/admin_token",
        ),
        (
            "a _FILE variable over the secrets folder",
            Sandbox::new()
                .file(
                    "secrets/admin_token",
                    "an-admin-token-from-the-secrets-folder\n",
                )
                .file("named", "an-admin-token-from-the-named-file-0123\n"),
            "security.admin_token",
            &from_named_file,
            "secret file <sandbox>/named (named by APP_SECURITY__ADMIN_TOKEN_FILE)",
        ),
        (
            "environment variable over secret file",
            Sandbox::new()
                .file("port", "7003\n")
                .var("APP_SERVER__PORT", "7004"),
            "server.port",
            "7004",
            "environment variable APP_SERVER__PORT",
        ),
        (
            "keel variable over conventional variable",
            Sandbox::new()
                .var("PORT", "7005")
                .var("APP_SERVER__PORT", "7006"),
            "server.port",
            "7006",
            "environment variable APP_SERVER__PORT",
        ),
        (
            "override over environment variable",
            Sandbox::new()
                .var("APP_SERVER__PORT", "7006")
                .set("server.port", "7007"),
            "server.port",
            "7007",
            "override server.port",
        ),
    ];
    for (pair, sandbox, key, value, source) in cases {
        // Variables that name files inside the sandbox can only be spelt once the sandbox exists.
        let sandbox = match pair {
            "a _FILE variable over the secrets folder" => {
                let named = sandbox.path("named").display().to_string();
                sandbox.var("APP_SECURITY__ADMIN_TOKEN_FILE", &named)
            }
            "environment variable over secret file" => {
                let port = sandbox.path("port").display().to_string();
                sandbox.var("PORT_FILE", &port)
            }
            _ => sandbox,
        };
        assert_eq!(
            sandbox.value_and_source(key),
            (value.to_owned(), source.to_owned()),
            "{pair}"
        );
    }
}

#[test]
fn the_instance_file_merges_with_the_profile_instead_of_replacing_it() {
    let sandbox = Sandbox::new().file("instance/config.toml", "[server]\nport = 7001\n");
    let loaded = sandbox.load().unwrap();
    assert_eq!(loaded.settings.server.port, 7001);
    assert_eq!(loaded.settings.server.host, "127.0.0.1");
    assert_eq!(loaded.settings.server.request_timeout.as_secs(), 30);
}

#[test]
fn the_environment_comes_from_the_option_then_app_env_then_development() {
    let cases = [
        (None, None, Environment::Development, "default environment"),
        (
            None,
            Some("test"),
            Environment::Testing,
            "environment variable APP_ENV",
        ),
        (Some("prod"), Some("test"), Environment::Production, "--env"),
    ];
    for (option, variable, expected, source) in cases {
        let mut sandbox = Sandbox::new().var("SECRET_KEY", CANARY);
        if let Some(name) = option {
            sandbox = sandbox.env(name);
        }
        if let Some(name) = variable {
            sandbox = sandbox.var("APP_ENV", name);
        }
        assert_eq!(sandbox.load().unwrap().settings.app.env, expected);
        assert_eq!(sandbox.value_and_source("app.env").1, source);
    }
}

#[test]
fn dotenv_is_read_only_in_development_and_testing_and_never_beats_a_real_variable() {
    let dotenv = "APP_SERVER__PORT=7100\nexport APP_SERVER__HOST=\"0.0.0.0\"\n";
    let cases = [
        ("development", None, 7100),
        ("testing", None, 7100),
        ("development", Some("7200"), 7200),
        ("staging", None, 8080),
        ("production", None, 8080),
    ];
    for (environment, real_port, expected) in cases {
        let mut sandbox = Sandbox::new()
            .env(environment)
            .var("SECRET_KEY", CANARY)
            .file(".env", dotenv);
        if let Some(port) = real_port {
            sandbox = sandbox.var("APP_SERVER__PORT", port);
        }
        let loaded = sandbox.load().unwrap();
        assert_eq!(
            loaded.settings.server.port, expected,
            "{environment} {real_port:?}"
        );
    }
}

#[test]
fn loader_variables_in_dotenv_are_ignored_with_a_warning() {
    let sandbox = Sandbox::new().file(".env", "APP_ENV=production\n");
    let loaded = sandbox.load().unwrap();
    assert_eq!(loaded.settings.app.env, Environment::Development);
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0].starts_with("ignoring APP_ENV in "),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn a_secret_file_is_read_and_trimmed() {
    let sandbox = Sandbox::new().file("key", &format!("  {CANARY}\n\n"));
    let key_path = sandbox.path("key").display().to_string();
    let sandbox = sandbox.var("APP_SECURITY__SECRET_KEY_FILE", &key_path);
    let loaded = sandbox.load().unwrap();
    assert_eq!(loaded.settings.security.secret_key.expose(), CANARY);
}

#[test]
fn a_bad_secret_file_is_an_error_naming_the_variable() {
    let sandbox = Sandbox::new().file("empty", " \n");
    std::fs::create_dir_all(sandbox.path("a-folder")).unwrap();
    // (variable, file inside the sandbox, expected message)
    let cases = [
        (
            "SECRET_KEY_FILE",
            "missing",
            "security.secret_key (set by environment variable SECRET_KEY_FILE): the file <sandbox>/missing does not exist: create it or fix the path",
        ),
        (
            "DATABASE_URL_FILE",
            "empty",
            "database.url (set by environment variable DATABASE_URL_FILE): the file <sandbox>/empty is empty: write the secret into it",
        ),
        (
            "APP_SECURITY__SECRET_KEY_FILE",
            "a-folder",
            "security.secret_key (set by environment variable APP_SECURITY__SECRET_KEY_FILE): the file <sandbox>/a-folder is a folder, not a file: remove it or put the file there",
        ),
    ];
    for (variable, file, expected) in cases {
        let path = sandbox.path(file).display().to_string();
        let sandbox = Sandbox {
            root: tempfile::tempdir().unwrap(),
            ..Sandbox::new()
        };
        let sandbox = sandbox.var(variable, &path);
        let message = sandbox.load().unwrap_err().to_string();
        let root = path.trim_end_matches(file).trim_end_matches('/');
        assert_eq!(message.replace(root, "<sandbox>"), expected);
    }
}

#[test]
fn every_problem_is_reported_in_one_error() {
    let sandbox = Sandbox::new()
        .file("instance/config.toml", "[server]\nport = \"eighty\"\n")
        .var("APP_DATABASE__MAX_CONNECTIONS", "[1,")
        .var("APP_TELEMETRY__LOG_FORMAT", "xml")
        .var("APP_SERVER__REQUEST_TIMEOUT_SECS", "0")
        .set("nonsense.key", "1");
    assert_eq!(
        sandbox.error(),
        [
            "nonsense (set by override nonsense.key): is not a section keel knows: the sections are app, server, security, database, redis, static_files, telemetry, features, flag_sync, notes, secrets",
            // Two problems in one section are both reported.
            "server.port (set by instance file <sandbox>/instance/config.toml line 2): must be a whole number from 0 to 65535, not \"eighty\"",
            "server.request_timeout_secs (set by environment variable APP_SERVER__REQUEST_TIMEOUT_SECS): must be a whole number of seconds from 1 to 3600, not 0",
            // Text is JSON only where a list or a map belongs.
            "database.max_connections (set by environment variable APP_DATABASE__MAX_CONNECTIONS): must be a whole number of connections from 1 to 1000, not \"[1,\"",
            "telemetry.log_format (set by environment variable APP_TELEMETRY__LOG_FORMAT): unknown log format \"xml\": use pretty or json",
        ]
        .join("\n")
    );
}

#[test]
fn a_canary_secret_in_every_layer_never_appears_in_views_errors_or_debug_output() {
    let database_url = format!("postgres://keel:{CANARY}@db/keel");
    let layers = [
        Sandbox::new().file(
            "instance/config.toml",
            &format!("[security]\nsecret_key = \"{CANARY}\"\n"),
        ),
        Sandbox::new().file(".env", &format!("SECRET_KEY={CANARY}\n")),
        Sandbox::new().file("secrets/secret_key", CANARY),
        Sandbox::new().var("SECRET_KEY", CANARY),
        Sandbox::new().var("DATABASE_URL", &database_url),
        Sandbox::new().set("security.secret_key", CANARY),
    ];
    for sandbox in layers {
        let loaded = sandbox.load().unwrap();
        let shown = format!(
            "{}{:?}{:?}",
            serde_json::to_string(&loaded.masked_entries()).unwrap(),
            loaded.settings,
            loaded,
        );
        assert!(!shown.contains(CANARY), "{shown}");
        assert!(shown.contains("***"), "{shown}");

        // With other settings broken too, the error lists problems but never the secret.
        let broken = sandbox
            .var("APP_SERVER__PORT", "x")
            .set("security.secret_key", &format!("[{CANARY}"));
        let message = broken.load().unwrap_err().to_string();
        assert!(!message.contains(CANARY), "{message}");
    }
    // A secret too short for production is refused without being shown.
    let message = Sandbox::new()
        .env("prod")
        .var("SECRET_KEY", "canary-short")
        .error();
    assert!(!message.contains("canary-short"), "{message}");
}

#[test]
fn misnamed_app_variables_are_reported_as_warnings() {
    let loaded = Sandbox::new()
        .var("APP_SERVER_PORT", "9000")
        .load()
        .unwrap();
    assert_eq!(loaded.settings.server.port, 8080);
    assert_eq!(
        loaded.warnings,
        [
            "ignoring environment variable APP_SERVER_PORT: keel settings are named APP_<SECTION>__<KEY> (two underscores), e.g. APP_SERVER__PORT"
        ]
    );
}

#[test]
fn json_and_scalar_variables_convert_to_the_keys_type() {
    let loaded = Sandbox::new()
        .var("APP_SERVER__PORT", "9000")
        .var("APP_DATABASE__AUTO_MIGRATE", "false")
        .var("APP_SERVER__MAX_BODY_BYTES", " 1024")
        .load();
    // " 1024" is not a number: surrounding spaces are kept, and the error says so.
    let message = loaded.unwrap_err().to_string();
    assert_eq!(
        message,
        "server.max_body_bytes (set by environment variable APP_SERVER__MAX_BODY_BYTES): must be a whole number of bytes from 1 to 1073741824, not \" 1024\""
    );
    let loaded = Sandbox::new()
        .var("APP_SERVER__PORT", "9000")
        .var("APP_DATABASE__AUTO_MIGRATE", "false")
        .load()
        .unwrap();
    assert_eq!(loaded.settings.server.port, 9000);
    assert!(!loaded.settings.database.auto_migrate);
}

#[test]
fn the_sections_list_matches_the_settings_struct() {
    let loaded = Sandbox::new().load().unwrap();
    let serialized = serde_json::to_value(&loaded.settings).unwrap();
    let fields: Vec<&str> = serialized
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sections = crate::settings::sections().to_vec();
    sections.sort_unstable();
    let mut fields = fields;
    fields.sort_unstable();
    assert_eq!(fields, sections);
}

#[test]
fn the_configuration_reference_documents_exactly_the_keys_that_exist() {
    let reference = include_str!("../../../docs/configuration.md");
    // Key rows of the reference's tables start with "| `section.key` |".
    let mut documented: Vec<&str> = reference
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(key, _)| key)
        .filter(|key| key.contains('.') && !key.contains(' '))
        .collect();
    documented.sort_unstable();
    let loaded = Sandbox::new().load().unwrap();
    let existing: Vec<String> = loaded
        .masked_entries()
        .into_iter()
        .map(|entry| entry.key)
        .collect();
    assert_eq!(
        documented, existing,
        "docs/configuration.md and Settings disagree: document every key in its section's table, and remove keys that no longer exist"
    );
}

#[test]
fn a_json_map_variable_sets_keys_of_its_section_and_leaves_the_others() {
    let loaded = Sandbox::new()
        .var("APP_FEATURES", r#"{"signup_v2": true}"#)
        .load()
        .unwrap();
    let features = &loaded.settings.features;
    assert_eq!(features.default_of("signup_v2"), Some(true));
    // Deep-merged: the other flag keeps its default.
    assert_eq!(features.default_of("new_checkout"), Some(false));
    assert_eq!(
        loaded.provenance.source_of("features.signup_v2"),
        Some("environment variable APP_FEATURES")
    );

    // (value, expected error)
    let cases = [
        (
            "true",
            "features (set by environment variable APP_FEATURES): sets the whole [features] section, so it must be a JSON map such as {\"key\": true}; to set one key use APP_FEATURES__<KEY>",
        ),
        (
            r#"{"signup_v2": "#,
            "features (set by environment variable APP_FEATURES): starts like a JSON list or map but is not valid JSON (EOF while parsing a value at line 1 column 14): write e.g. [\"https://a.example\"] or {\"key\": 1}",
        ),
        (
            r#"{"signup_v2": 1}"#,
            "features.signup_v2 (set by environment variable APP_FEATURES): must be true or false, not 1",
        ),
    ];
    for (value, expected) in cases {
        let error = Sandbox::new()
            .var("APP_FEATURES", value)
            .load()
            .unwrap_err();
        assert_eq!(error.to_string(), expected, "{value}");
    }
}

#[test]
fn a_json_list_variable_sets_a_list_and_production_refuses_a_wildcard() {
    let loaded = Sandbox::new()
        .var(
            "APP_SECURITY__CORS_ORIGINS",
            r#"["https://a.example", "http://localhost:3000"]"#,
        )
        .load()
        .unwrap();
    assert_eq!(
        loaded.settings.security.cors_origins,
        ["https://a.example", "http://localhost:3000"]
    );
    // (environment, origins, expected error or None)
    let cases = [
        ("development", r#"["*"]"#, None),
        (
            "production",
            r#"["*"]"#,
            Some(
                "security.cors_origins (set by environment variable APP_SECURITY__CORS_ORIGINS): contains \"*\", which production refuses: list the exact origins, e.g. [\"https://app.example\"]",
            ),
        ),
        (
            "development",
            r#"["https://a.example/"]"#,
            Some(
                "security.cors_origins (set by environment variable APP_SECURITY__CORS_ORIGINS): contains \"https://a.example/\", which has more than scheme, host and port: write scheme://host[:port], e.g. https://app.example",
            ),
        ),
        (
            "development",
            r#"["ftp://a.example"]"#,
            Some(
                "security.cors_origins (set by environment variable APP_SECURITY__CORS_ORIGINS): contains \"ftp://a.example\", which is not http or https: write scheme://host[:port], e.g. https://app.example",
            ),
        ),
    ];
    for (environment, origins, expected) in cases {
        let sandbox = Sandbox::new()
            .env(environment)
            .var("SECRET_KEY", CANARY)
            .var("APP_SECURITY__CORS_ORIGINS", origins);
        match expected {
            None => assert!(sandbox.load().is_ok(), "{environment} {origins}"),
            Some(message) => assert_eq!(sandbox.error(), message, "{environment} {origins}"),
        }
    }
}

#[test]
fn a_content_security_policy_must_be_one_line_of_directives() {
    let cases = [
        ("default-src 'self'; img-src *", None),
        ("", Some("is empty")),
        (
            "default-src 'self'\nimg-src *",
            Some("contains a control character or line break"),
        ),
        (
            "Default_Src 'self'",
            Some("has the directive \"Default_Src\", which is not a directive name"),
        ),
    ];
    for (policy, reason) in cases {
        let sandbox = Sandbox::new().set("security.csp", policy);
        match reason {
            None => assert!(sandbox.load().is_ok(), "{policy:?}"),
            Some(reason) => assert_eq!(
                sandbox.error(),
                format!(
                    "security.csp (set by override security.csp): {reason}: write directives separated by `;`, e.g. default-src 'self'; img-src 'self' data:"
                ),
                "{policy:?}"
            ),
        }
    }
}

#[test]
fn cors_methods_headers_and_credentials_are_checked() {
    let cases = [
        (
            "security.cors_methods",
            r#"["get"]"#,
            "security.cors_methods (set by override security.cors_methods): contains \"get\", which is not an HTTP method: write e.g. [\"GET\", \"POST\"]",
        ),
        (
            "security.cors_headers",
            r#"["x custom"]"#,
            "security.cors_headers (set by override security.cors_headers): contains \"x custom\", which is not a header name: write e.g. [\"content-type\"]",
        ),
    ];
    for (key, value, expected) in cases {
        assert_eq!(Sandbox::new().set(key, value).error(), expected);
    }
    let message = Sandbox::new()
        .set("security.cors_origins", r#"["*"]"#)
        .set("security.cors_allow_credentials", "true")
        .error();
    assert_eq!(
        message,
        "security.cors_allow_credentials (set by override security.cors_allow_credentials): cannot be true while security.cors_origins contains \"*\" (browsers refuse it): list the exact origins"
    );
}

#[test]
fn every_bad_value_of_a_section_is_reported_even_next_to_an_unknown_key() {
    let sandbox = Sandbox::new()
        .var("APP_SERVER__PORT", "abc")
        .var("APP_SERVER__MAX_BODY_BYTES", "xyz")
        .var("APP_SERVER__COMPRESSION", "maybe")
        .var("APP_SERVER__PROT", "1")
        .var("APP_DATABASE__MAX_CONNECTIONS", "many");
    assert_eq!(
        sandbox.error(),
        [
            "server.compression (set by environment variable APP_SERVER__COMPRESSION): must be true or false, not \"maybe\"",
            "server.max_body_bytes (set by environment variable APP_SERVER__MAX_BODY_BYTES): must be a whole number of bytes from 1 to 1073741824, not \"xyz\"",
            "server.port (set by environment variable APP_SERVER__PORT): must be a whole number from 0 to 65535, not \"abc\"",
            "server.prot (set by environment variable APP_SERVER__PROT): is not a setting: [server] has host, port, max_body_bytes, request_timeout_secs, header_read_timeout_secs, drain_delay_secs, graceful_shutdown_timeout_secs, compression, trusted_proxies, metrics_host, metrics_port (see docs/configuration.md)",
            "database.max_connections (set by environment variable APP_DATABASE__MAX_CONNECTIONS): must be a whole number of connections from 1 to 1000, not \"many\"",
        ]
        .join("\n")
    );
}

#[test]
fn a_fraction_for_a_whole_number_is_refused_in_every_layer() {
    // (sandbox, expected message)
    let cases = [
        (
            Sandbox::new().file("instance/config.toml", "[server]\nport = 80.5\n"),
            "server.port (set by instance file <sandbox>/instance/config.toml line 2): must be a whole number from 0 to 65535, not 80.5",
        ),
        (
            Sandbox::new().file("instance/config.toml", "[server]\nport = 80.0\n"),
            "server.port (set by instance file <sandbox>/instance/config.toml line 2): must be a whole number from 0 to 65535, not 80",
        ),
        (
            Sandbox::new().file(".env", "APP_SERVER__PORT=80.5\n"),
            "server.port (set by .env file <sandbox>/.env, variable APP_SERVER__PORT): must be a whole number from 0 to 65535, not \"80.5\"",
        ),
        (
            Sandbox::new().var("APP_SERVER", r#"{"port": 80.5}"#),
            "server.port (set by environment variable APP_SERVER): must be a whole number from 0 to 65535, not 80.5",
        ),
        (
            Sandbox::new().set("database.idle_timeout_secs", "0.5"),
            "database.idle_timeout_secs (set by override database.idle_timeout_secs): must be a whole number of seconds from 1 to 86400, not \"0.5\"",
        ),
    ];
    for (sandbox, expected) in cases {
        assert_eq!(sandbox.error(), expected);
    }
    // A fraction where a fraction belongs is fine, and so is a whole number there.
    let loaded = Sandbox::new()
        .file("instance/config.toml", "[telemetry]\nsample_ratio = 1\n")
        .load()
        .unwrap();
    assert!((loaded.settings.telemetry.sample_ratio - 1.0).abs() < f64::EPSILON);
}

#[test]
fn every_duration_and_size_has_an_upper_bound() {
    for bound in crate::bounds::BOUNDS {
        let too_big = (bound.max + 1).to_string();
        let message = Sandbox::new().set(bound.key, &too_big).error();
        assert_eq!(
            message,
            format!(
                "{} (set by override {}): must be {}, not {too_big}",
                bound.key,
                bound.key,
                bound.describe()
            )
        );
        let huge = u64::MAX.to_string();
        let message = Sandbox::new().set(bound.key, &huge).error();
        assert!(message.contains(&bound.describe()), "{message}");
    }
}

#[test]
fn text_that_looks_like_json_is_text_where_a_string_belongs() {
    let loaded = Sandbox::new()
        .var("RUST_LOG", "[request]=debug")
        .var(
            "APP_SECURITY__ADMIN_TOKEN",
            "[not-json-{a-token-of-enough-length}",
        )
        .load()
        .unwrap();
    assert_eq!(loaded.settings.telemetry.log_level, "[request]=debug");
    assert_eq!(
        loaded.settings.security.admin_token.unwrap().expose(),
        "[not-json-{a-token-of-enough-length}"
    );
}

#[test]
fn the_log_filter_is_checked_by_the_parser_the_caller_passes() {
    fn refuse_loud(filter: &str) -> Result<(), String> {
        if filter.contains("loud") {
            Err(format!("has the invalid directive {filter:?}"))
        } else {
            Ok(())
        }
    }
    let sandbox = Sandbox::new().var("RUST_LOG", "sqlx=loud");
    let mut options = sandbox.options();
    options.log_filter_check = Some(refuse_loud);
    assert_eq!(
        load(&options).unwrap_err().to_string(),
        "telemetry.log_level (set by environment variable RUST_LOG): has the invalid directive \"sqlx=loud\""
    );
    // Without a parser, the filter is not this crate's to judge.
    assert!(sandbox.load().is_ok());
}

#[test]
fn a_variable_for_one_key_beats_the_same_key_in_its_sections_map() {
    // Repeated, because precedence inside one layer once depended on hash order.
    for _ in 0..20 {
        let loaded = Sandbox::new()
            .var("APP_SERVER", r#"{"port": 9100, "host": "0.0.0.0"}"#)
            .var("APP_SERVER__PORT", "9200")
            .var("PORT", "9300")
            .load()
            .unwrap();
        assert_eq!(loaded.settings.server.port, 9200);
        assert_eq!(loaded.settings.server.host, "0.0.0.0");
        assert_eq!(
            loaded.provenance.source_of("server.port"),
            Some("environment variable APP_SERVER__PORT")
        );
    }
}

#[test]
fn a_folder_where_a_file_belongs_says_so() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path(".env")).unwrap();
    std::fs::create_dir(sandbox.path("instance/config.toml")).unwrap();
    assert_eq!(
        sandbox.error(),
        [
            ".env file <sandbox>/.env: is a folder, not a file: remove it or put the file there",
            "instance file <sandbox>/instance/config.toml: is a folder, not a file: remove it or put the file there",
        ]
        .join("\n")
    );
}

#[test]
fn a_variable_that_is_not_utf8_is_named_and_never_treated_as_unset() {
    let sandbox = Sandbox::new();
    let mut options = sandbox.options();
    options.vars = options
        .vars
        .with_not_unicode("APP_SERVER__PORT")
        .with_not_unicode("SECRET_KEY_FILE")
        .with_not_unicode("UNRELATED");
    assert_eq!(
        load(&options).unwrap_err().to_string(),
        [
            "server.port (set by environment variable APP_SERVER__PORT): is not valid UTF-8: set it to plain text",
            "security.secret_key (set by environment variable SECRET_KEY_FILE): is not valid UTF-8: set it to plain text",
        ]
        .join("\n")
    );
    // The variables that choose the files stop the load: guessing them would read the wrong files.
    options.vars = options.vars.with_not_unicode("APP_ENV");
    assert_eq!(
        load(&options).unwrap_err().to_string(),
        "environment variable APP_ENV: is not valid UTF-8: set it to plain text"
    );
}

#[test]
fn the_configuration_reference_states_the_range_of_every_whole_number() {
    let reference = include_str!("../../../docs/configuration.md");
    for bound in crate::bounds::BOUNDS {
        let row = reference
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", bound.key)))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for {}", bound.key));
        let type_column = row.split('|').nth(2).unwrap_or_default();
        assert!(
            type_column.contains(&format!("integer {}–{}", bound.min, bound.max)),
            "docs/configuration.md must state the range of {} as integer {}–{}: {row}",
            bound.key,
            bound.min,
            bound.max
        );
    }
}

#[test]
fn a_section_that_is_not_a_table_is_reported() {
    let sandbox = Sandbox::new().file("instance/config.toml", "server = 5\n");
    assert_eq!(
        sandbox.error(),
        "server (set by instance file <sandbox>/instance/config.toml line 1): must be a table of keys (in a variable, a JSON map such as {\"key\": 1}), not 5"
    );
}

#[test]
fn a_database_password_from_a_secret_file_is_merged_into_the_url_and_never_shown() {
    let sandbox = Sandbox::new()
        .var("DATABASE_URL", "postgres://keel@db:5432/keel")
        .file("secrets/database_password", &format!("{CANARY}/@\n"));
    let loaded = sandbox.load().unwrap();
    let url = url::Url::parse(loaded.settings.database.url.expose()).unwrap();
    assert_eq!(
        (url.username(), url.host_str(), url.path()),
        ("keel", Some("db"), "/keel")
    );
    let password = percent_encoding::percent_decode_str(url.password().unwrap());
    assert_eq!(password.decode_utf8_lossy(), format!("{CANARY}/@"));
    let (password, source) = sandbox.value_and_source("database.password");
    assert!(password.starts_with("***"), "{password}");
    assert_eq!(source, "secret file <sandbox>/secrets/database_password");
    let (url, _) = sandbox.value_and_source("database.url");
    assert!(url.starts_with("postgres://keel:***"), "{url}");
    let shown = format!("{:?}{:?}", loaded.settings, loaded.masked_entries());
    assert!(!shown.contains(CANARY), "{shown}");
}

#[test]
fn a_database_password_needs_a_url_that_can_carry_it() {
    let empty = Sandbox::new()
        .var("DATABASE_URL", "postgres://keel@db/keel")
        .var("DATABASE_PASSWORD", "");
    assert_eq!(
        empty.error(),
        "database.password (set by environment variable DATABASE_PASSWORD): is empty: set the password, or unset it to use the one in database.url"
    );
    // A SQLite file has no password: the URL stays as it is, with a warning.
    let sqlite = Sandbox::new().file("secrets/database_password", CANARY);
    let loaded = sqlite.load().unwrap();
    assert!(
        loaded
            .settings
            .database
            .url
            .expose()
            .starts_with("sqlite://"),
        "{:?}",
        loaded.settings.database.url
    );
    assert!(!loaded.settings.database.url.expose().contains(CANARY));
    assert_eq!(
        loaded.warnings,
        ["ignoring database.password: database.url is a SQLite file, which has no password"]
    );
}

#[test]
fn trusted_proxies_are_networks_or_addresses() {
    let loaded = Sandbox::new()
        .var(
            "APP_SERVER__TRUSTED_PROXIES",
            r#"["10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1", "::ffff:172.16.0.0/108"]"#,
        )
        .load()
        .unwrap();
    let networks: Vec<String> = loaded
        .settings
        .server
        .trusted_proxy_networks()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        networks,
        [
            "10.0.0.0/8",
            "192.168.1.7/32",
            "fd00::/8",
            "::1/128",
            "172.16.0.0/12"
        ]
    );
    let everyone = Sandbox::new()
        .env("production")
        .var("SECRET_KEY", "a-production-secret-key-that-is-long-enough")
        .var("APP_SERVER__TRUSTED_PROXIES", r#"["0.0.0.0/0"]"#)
        .load()
        .unwrap();
    assert!(
        everyone
            .warnings
            .iter()
            .any(|warning| warning.starts_with("server.trusted_proxies trusts every address")),
        "{:?}",
        everyone.warnings
    );

    for bad in ["10.0.0.0/33", "proxy.internal", "", "10.0.0.1-10.0.0.9"] {
        let message = Sandbox::new()
            .var("APP_SERVER__TRUSTED_PROXIES", &format!("[{bad:?}]"))
            .error();
        assert_eq!(
            message,
            format!(
                "server.trusted_proxies (set by environment variable APP_SERVER__TRUSTED_PROXIES): contains {bad:?}, which is neither an IP address nor a network: write e.g. [\"10.0.0.0/8\", \"192.168.1.7\"]"
            )
        );
    }
}

#[test]
fn sqlite_outside_development_and_testing_is_a_warning_about_replicas() {
    let warned = |environment: &str| {
        Sandbox::new()
            .env(environment)
            .var("SECRET_KEY", "a-production-secret-key-that-is-long-enough")
            .load()
            .unwrap()
            .warnings
            .iter()
            .any(|warning| warning.contains("SQLite serves one instance only"))
    };
    assert!(warned("production"));
    assert!(warned("staging"));
    assert!(!warned("development"));
}

#[test]
fn the_name_token_keeps_letters_and_digits_and_joins_the_rest_with_dashes() {
    let cases = [
        ("keel", "keel"),
        ("My Shop", "my-shop"),
        ("  a--b__C9 ", "a-b-c9"),
        ("!!!", "app"),
    ];
    for (name, token) in cases {
        assert_eq!(crate::settings::name_token(name), token, "{name:?}");
    }
}
