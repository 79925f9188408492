//! Stacking the layers: choose the environment, build each layer in precedence order, and merge them into
//! one tree whose every value remembers its layer. Both loading phases ([`crate::load`] and
//! [`crate::preload`]) start here.

use std::path::{Path, PathBuf};

use config::{Config, ValueKind};

use crate::environment::Environment;
use crate::error::{Error, Problem};
use crate::layers::{self, Findings, Layer};
use crate::provenance::Provenance;
use crate::store_settings::StoreEntry;
use crate::stores;
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
    /// What the binary read from secret stores (layer 5, above the secret files), after [`preload`]
    /// told it which stores to read.
    pub store_entries: Vec<StoreEntry>,
    /// Checks `telemetry.log_level` with the log subscriber's own parser, returning what is wrong and how
    /// to fix it. This crate knows nothing of the subscriber, so the binary passes
    /// `keel_ext_telemetry::check_log_filter`; `None` leaves the filter unchecked.
    pub log_filter_check: Option<LogFilterCheck>,
}

/// See [`LoadOptions::log_filter_check`].
pub type LogFilterCheck = fn(&str) -> Result<(), String>;

/// Every layer merged into one tree, before any section is read.
pub(crate) struct Merged {
    pub(crate) tree: config::Map<String, config::Value>,
    /// The built-in defaults as read: its values stand in for bad ones, and it declares the flags and
    /// the development key.
    pub(crate) defaults: config::Map<String, config::Value>,
    pub(crate) provenance: Provenance,
    pub(crate) environment: Environment,
    pub(crate) instance_dir: PathBuf,
    /// The secret stores' layer, for `secrets.required`.
    pub(crate) stores: Layer,
    pub(crate) findings: Findings,
}

pub(crate) fn merge(options: &LoadOptions) -> Result<Merged, Error> {
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
    let defaults = built_in.table().clone();
    let stores = stores::store_entries_layer(&options.store_entries, &mut findings);
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
        stores.clone(),
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
    Ok(Merged {
        tree,
        defaults,
        provenance,
        environment,
        instance_dir,
        stores,
        findings,
    })
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
/// them out: the SQLite file `<instance>/<name>-<environment>.sqlite3`, the Redis channel
/// `<name>:flags`, the Vault path `<name>/<environment>` and the SSM path `/<name>/<environment>/` (the name
/// as [`crate::name_token`] writes it).
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
    layer.set(
        "secrets.vault.path",
        ValueKind::String(format!("{token}/{environment}")),
        "built-in default (app.name/environment)".to_owned(),
    );
    layer.set(
        "secrets.ssm.path",
        ValueKind::String(format!("/{token}/{environment}/")),
        "built-in default (/app.name/environment/)".to_owned(),
    );
    layer
}
