//! Loading: choose the environment, stack the layers, deserialize each section, validate, and report every
//! problem at once.
//!
//! Layers, lowest to highest (a later layer wins): built-in defaults, the environment's profile, the
//! instance folder's `config.toml`, `.env` (development and testing only), secret files, environment
//! variables, explicit overrides. Every value carries its layer as its `config::Value` origin, which is how
//! [`Provenance`] answers "where did this come from?".

use std::path::{Path, PathBuf};

use config::{Config, ValueKind};

use crate::environment::Environment;
use crate::error::{Error, Problem};
use crate::layers::{self, Findings, Layer};
use crate::provenance::Provenance;
use crate::read::Sections;
use crate::settings::{self, Settings, TelemetrySettings};
use crate::validate::Context;
use crate::vars::{Override, Vars};

/// The profile files, embedded so that the binary carries its own defaults.
const DEFAULT_PROFILE: &str = include_str!("../profiles/default.toml");
const DEVELOPMENT_PROFILE: &str = include_str!("../profiles/development.toml");
const TESTING_PROFILE: &str = include_str!("../profiles/testing.toml");
const STAGING_PROFILE: &str = include_str!("../profiles/staging.toml");
const PRODUCTION_PROFILE: &str = include_str!("../profiles/production.toml");

/// Where the instance folder is when neither `--instance-dir` nor `APP_INSTANCE_DIR` says otherwise.
pub const DEFAULT_INSTANCE_DIR: &str = "instance";

/// What the loader needs to know besides the files it embeds.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--env`; when absent, `APP_ENV` from [`LoadOptions::vars`], else development.
    pub environment: Option<String>,
    /// `--instance-dir`; when absent, `APP_INSTANCE_DIR`, else `instance`.
    pub instance_dir: Option<PathBuf>,
    /// The `.env` file to read in development and testing; `None` reads none. The binary passes `.env`.
    pub dotenv_file: Option<PathBuf>,
    /// The real environment variables (secret file names, the secrets folder, and layer 6).
    pub vars: Vars,
    /// `--set` assignments and test overrides (layer 7), applied in order.
    pub overrides: Vec<Override>,
    /// Checks `telemetry.log_level` with the log subscriber's own parser, returning what is wrong and how
    /// to fix it. This crate knows nothing of the subscriber, so the binary passes
    /// `keel_ext_telemetry::check_log_filter`; `None` leaves the filter unchecked.
    pub log_filter_check: Option<LogFilterCheck>,
}

/// See [`LoadOptions::log_filter_check`].
pub type LogFilterCheck = fn(&str) -> Result<(), String>;

/// The outcome of a successful load: typed settings plus where each value came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub provenance: Provenance,
    pub instance_dir: PathBuf,
    /// Things worth telling the operator that do not stop keel, e.g. an ignored `APP_…` variable.
    pub warnings: Vec<String>,
}

/// Loads, merges, deserializes and validates the settings. On failure the error lists every problem.
pub fn load(options: &LoadOptions) -> Result<Loaded, Error> {
    let steering = layers::steering_not_unicode(&options.vars);
    if !steering.is_empty() {
        return Err(Error::new(steering));
    }
    let (environment, environment_origin) = select_environment(options)?;
    let instance_dir = options
        .instance_dir
        .clone()
        .or_else(|| options.vars.get("APP_INSTANCE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_INSTANCE_DIR));
    let mut findings = Findings::default();

    let dotenv = match &options.dotenv_file {
        Some(path) if environment.is_local() => {
            layers::dotenv_variables(path, &options.vars, &mut findings)
        }
        _ => Vars::default(),
    };
    let dotenv_origin = options
        .dotenv_file
        .as_deref()
        .map(|path| format!(".env file {}", path.display()))
        .unwrap_or_default();
    let profile_origin = format!("profile {environment} (profiles/{environment}.toml)");
    let built_in = layers::toml_layer(
        DEFAULT_PROFILE,
        "built-in defaults (profiles/default.toml)",
        false,
        &mut findings,
    );
    // Kept as read: its values stand in for bad ones, and it declares the flags and the development key.
    let defaults = built_in.table().clone();
    let mut stack: Vec<Layer> = vec![
        built_in,
        layers::toml_layer(
            profile_text(environment),
            &profile_origin,
            false,
            &mut findings,
        ),
        layers::instance_file_layer(&instance_dir, &mut findings),
        layers::variables_layer(
            &dotenv,
            |name| format!("{dotenv_origin}, variable {name}"),
            &mut findings,
        ),
        layers::secret_files_layer(&options.vars, &dotenv, &mut findings),
        layers::variables_layer(
            &options.vars,
            |name| format!("environment variable {name}"),
            &mut findings,
        ),
        layers::overrides_layer(&options.overrides),
    ];
    // Defaults derived from the name rank just above the built-in profile, so every layer that sets a
    // value wins over them; the name is the one the layers above give.
    let name = stack
        .iter()
        .rev()
        .find_map(|layer| layer.string_at("app.name"))
        .unwrap_or_default();
    stack.insert(1, derived_defaults(environment, &instance_dir, &name));
    // The environment picks the profile before any layer is read, so a layer cannot change it afterwards;
    // saying so beats ignoring the attempt.
    for origin in stack.iter().filter_map(|layer| layer.origin_of("app.env")) {
        findings.problems.push(Problem::at_key(
            "app.env",
            origin,
            "cannot be set as a setting: choose the environment with --env or APP_ENV",
        ));
    }
    stack.push(Layer::single(
        "app.env",
        ValueKind::String(environment.to_string()),
        environment_origin,
    ));
    let Findings {
        mut problems,
        mut warnings,
    } = findings;

    let merged = stack
        .into_iter()
        .fold(Config::builder(), |builder, layer| {
            builder.add_source(layer)
        })
        .build()
        .map_err(|error| {
            Error::single(Problem::at_input("the merged settings", error.to_string()))
        })?;
    let tree = config::Source::collect(&merged).map_err(|error| {
        Error::single(Problem::at_input("the merged settings", error.to_string()))
    })?;
    let provenance = Provenance::from_tree(&tree);

    let sections = settings::sections();
    for (name, _) in tree
        .iter()
        .filter(|(name, _)| !sections.contains(&name.as_str()))
    {
        problems.push(Problem::at_key(
            name.clone(),
            provenance.source_of_key_or_table(name).unwrap_or("unknown"),
            format!(
                "is not a section keel knows: the sections are {}",
                sections.join(", ")
            ),
        ));
    }
    problems.extend(undeclared_flags(&tree, &defaults, &provenance));
    // One section at a time, so that a mistake in one section does not hide those in the others.
    let mut read = Sections {
        tree: &tree,
        defaults: &defaults,
        provenance: &provenance,
        context: Context {
            environment,
            development_secret_key: text_at(&defaults, "security", "secret_key"),
        },
        problems: &mut problems,
    };
    let sections = (
        read.section("app"),
        read.section("server"),
        read.section("security"),
        read.section("database"),
        read.section("redis"),
        read.section("static_files"),
        read.section::<TelemetrySettings>("telemetry"),
        read.section("features"),
        read.section("flag_sync"),
        read.section("notes"),
    );
    if let (Some(telemetry), Some(check)) = (&sections.6, options.log_filter_check)
        && let Err(message) = check(&telemetry.log_level)
    {
        let origin = provenance
            .source_of("telemetry.log_level")
            .unwrap_or("unknown");
        problems.push(Problem::at_key("telemetry.log_level", origin, message));
    }
    let settings = match sections {
        (
            Some(app),
            Some(server),
            Some(security),
            Some(database),
            Some(redis),
            Some(static_files),
            Some(telemetry),
            Some(features),
            Some(flag_sync),
            Some(notes),
        ) => Some(Settings {
            app,
            server,
            security,
            database,
            redis,
            static_files,
            telemetry,
            features,
            flag_sync,
            notes,
        }),
        _ => None,
    };
    match settings {
        Some(mut settings) if problems.is_empty() => {
            merge_database_password(&mut settings.database);
            warnings.extend(deployment_warnings(&settings));
            Ok(Loaded {
                settings,
                provenance,
                instance_dir,
                warnings,
            })
        }
        _ => Err(Error::new(problems)),
    }
}

/// Puts `database.password` into `database.url`, so everything that connects sees one URL. A SQLite
/// file has no password, so there it is left out (and [`deployment_warnings`] says so).
fn merge_database_password(database: &mut settings::DatabaseSettings) {
    if database.url.scheme() == Some("sqlite") {
        return;
    }
    if let Some(url) = database
        .password
        .as_ref()
        .and_then(|password| database.url.with_password(password.expose()))
    {
        database.url = url;
    }
}

/// Settings that work but are probably not what a deployment wants.
fn deployment_warnings(settings: &Settings) -> Vec<String> {
    let mut warnings = Vec::new();
    let sqlite = settings.database.url.scheme() == Some("sqlite");
    if sqlite && settings.database.password.is_some() {
        warnings.push(
            "ignoring database.password: database.url is a SQLite file, which has no password"
                .to_owned(),
        );
    }
    if !settings.app.env.is_local()
        && settings
            .server
            .trusted_proxy_networks()
            .iter()
            .any(|network| network.prefix_len() == 0)
    {
        warnings.push(
            "server.trusted_proxies trusts every address (a /0 network): any client can choose the address it is logged under; list your proxies' networks instead".to_owned(),
        );
    }
    if !settings.app.env.is_local() && sqlite {
        warnings.push(format!(
            "database.url is a SQLite file in {}: SQLite serves one instance only, so run a single replica or set DATABASE_URL to PostgreSQL",
            settings.app.env
        ));
    }
    warnings
}

/// A `features.<flag>` key for a flag that `profiles/default.toml` does not declare is a typo or a stale
/// setting (`APP_FEATURES__SINGUP_V2=true` would otherwise do nothing, silently).
fn undeclared_flags(
    tree: &config::Map<String, config::Value>,
    defaults: &config::Map<String, config::Value>,
    provenance: &Provenance,
) -> Vec<Problem> {
    let mut declared: Vec<&str> = match defaults.get("features").map(|value| &value.kind) {
        Some(ValueKind::Table(flags)) => flags.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    declared.sort_unstable();
    let Some(ValueKind::Table(set)) = tree.get("features").map(|value| &value.kind) else {
        return Vec::new();
    };
    set.keys()
        .filter(|flag| !declared.contains(&flag.as_str()))
        .map(|flag| {
            let key = format!("features.{flag}");
            let origin = provenance.source_of(&key).unwrap_or("unknown").to_owned();
            Problem::at_key(
                key,
                origin,
                format!(
                    "is not a declared flag: the flags are {} (a new flag is declared in profiles/default.toml and crates/keel-ext-flags/src/catalog.rs)",
                    declared.join(", ")
                ),
            )
        })
        .collect()
}

/// The text at `section.key` of a tree, if it is text.
fn text_at<'a>(
    tree: &'a config::Map<String, config::Value>,
    section: &str,
    key: &str,
) -> Option<&'a str> {
    let ValueKind::Table(table) = &tree.get(section)?.kind else {
        return None;
    };
    match &table.get(key)?.kind {
        ValueKind::String(text) => Some(text),
        _ => None,
    }
}

fn select_environment(options: &LoadOptions) -> Result<(Environment, String), Error> {
    let (name, origin) = match (&options.environment, options.vars.get("APP_ENV")) {
        (Some(name), _) => (name.as_str(), "--env"),
        (None, Some(name)) => (name, "environment variable APP_ENV"),
        (None, None) => return Ok((Environment::Development, "default environment".to_owned())),
    };
    name.parse()
        .map(|environment| (environment, origin.to_owned()))
        .map_err(|unknown: crate::environment::UnknownEnvironment| {
            Error::single(Problem::at_input(origin, unknown.to_string()))
        })
}

fn profile_text(environment: Environment) -> &'static str {
    match environment {
        Environment::Development => DEVELOPMENT_PROFILE,
        Environment::Testing => TESTING_PROFILE,
        Environment::Staging => STAGING_PROFILE,
        Environment::Production => PRODUCTION_PROFILE,
    }
}

/// Defaults that depend on the environment, the instance folder and the app's name, so no file can spell
/// them out: the SQLite file `<instance>/<name>-<environment>.sqlite3` and the Redis channel
/// `<name>:flags` (the name as [`crate::name_token`] writes it).
fn derived_defaults(environment: Environment, instance_dir: &Path, name: &str) -> Layer {
    let token = crate::settings::name_token(name);
    let database_file = instance_dir.join(format!("{token}-{environment}.sqlite3"));
    let mut layer = Layer::single(
        "database.url",
        ValueKind::String(format!("sqlite://{}?mode=rwc", database_file.display())),
        "built-in default (SQLite file in the instance folder)".to_owned(),
    );
    layer.set(
        "flag_sync.redis_channel",
        ValueKind::String(format!("{token}:flags")),
        "built-in default (app.name:flags)".to_owned(),
    );
    layer
}
