//! Layered loading: each layer is a `config` source whose values remember where they came from.
//!
//! Layers, lowest to highest (a later layer wins): built-in defaults, the environment's profile, the
//! instance folder's `config.toml`, environment variables, explicit overrides. Every value carries its
//! layer as its `config::Value` origin, which is how [`Provenance`] answers "where did this come from?".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{Config, Map, Source, Value, ValueKind};

use crate::environment::Environment;
use crate::error::{Error, SourcedProblem};
use crate::provenance::Provenance;
use crate::settings::Settings;

/// The profile files, embedded so that the binary carries its own defaults.
const DEFAULT_PROFILE: &str = include_str!("../profiles/default.toml");
const DEVELOPMENT_PROFILE: &str = include_str!("../profiles/development.toml");
const TESTING_PROFILE: &str = include_str!("../profiles/testing.toml");
const STAGING_PROFILE: &str = include_str!("../profiles/staging.toml");
const PRODUCTION_PROFILE: &str = include_str!("../profiles/production.toml");

/// Where the instance folder is when neither `--instance-dir` nor `APP_INSTANCE_DIR` says otherwise.
pub const DEFAULT_INSTANCE_DIR: &str = "instance";

/// The prefix of every keel setting variable: `APP_<SECTION>__<KEY>`.
const VARIABLE_PREFIX: &str = "APP_";
/// Separates section and key (and deeper levels) in variable names.
const VARIABLE_NESTING: &str = "__";

/// Conventional variable names that platforms and tools set, and the key each one feeds. A keel variable
/// (`APP_…`) for the same key wins over these.
const CONVENTIONAL_VARIABLES: [(&str, &str); 4] = [
    ("DATABASE_URL", "database.url"),
    ("SECRET_KEY", "security.secret_key"),
    ("PORT", "server.port"),
    ("RUST_LOG", "telemetry.log_level"),
];

/// A snapshot of environment variables. The loader never reads the process environment itself, so tests
/// can pass their own variables and run in parallel.
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// The variables of this process. Variables that are not valid UTF-8 are kept out, and reported by
    /// the loader when their name says they are meant for keel.
    pub fn from_process() -> Self {
        Vars(
            std::env::vars_os()
                .map(|(name, value)| {
                    let value = value
                        .into_string()
                        .unwrap_or_else(|_| NOT_UNICODE.to_owned());
                    (name.to_string_lossy().into_owned(), value)
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Vars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Vars(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Stands in for a variable value that is not valid UTF-8, so the loader can name the variable.
const NOT_UNICODE: &str = "\u{0}keel: not unicode\u{0}";

/// One explicit override, `section.key=value`: from `--set` or from code (tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub key: String,
    pub value: String,
}

impl Override {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Override {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Parses the `--set` form `section.key=value`.
    pub fn parse_assignment(text: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadInput {
            origin: format!("--set {text:?}"),
            message: format!(
                "{reason}: write --set section.key=value, e.g. --set server.port=9000"
            ),
        };
        let (key, value) = text.split_once('=').ok_or_else(|| bad("has no `=`"))?;
        let key = key.trim();
        let well_formed = key.split('.').count() >= 2
            && key.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !well_formed {
            return Err(bad("the key is not a dotted setting name"));
        }
        Ok(Override::new(key, value))
    }
}

/// What the loader needs to know besides the files it embeds.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--env`; when absent, `APP_ENV` from [`LoadOptions::vars`], else development.
    pub environment: Option<String>,
    /// `--instance-dir`; when absent, `APP_INSTANCE_DIR`, else `instance`.
    pub instance_dir: Option<PathBuf>,
    /// The environment variables to read (layer 6).
    pub vars: Vars,
    /// `--set` assignments and test overrides (layer 7), applied in order.
    pub overrides: Vec<Override>,
}

/// The outcome of a successful load: typed settings plus where each value came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub provenance: Provenance,
    pub instance_dir: PathBuf,
    /// Things worth telling the operator that do not stop keel, e.g. an ignored `APP_…` variable.
    pub warnings: Vec<String>,
}

/// Loads, merges, deserializes and validates the settings.
pub fn load(options: &LoadOptions) -> Result<Loaded, Error> {
    let (environment, environment_origin) = select_environment(options)?;
    let instance_dir = options
        .instance_dir
        .clone()
        .or_else(|| options.vars.get("APP_INSTANCE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_INSTANCE_DIR));
    let mut warnings = Vec::new();

    let layers = [
        toml_layer(DEFAULT_PROFILE, "built-in defaults (profiles/default.toml)")?,
        derived_defaults(environment, &instance_dir),
        toml_layer(
            profile_text(environment),
            &format!("profile {environment} (profiles/{environment}.toml)"),
        )?,
        instance_file_layer(&instance_dir)?,
        variables_layer(&options.vars, &mut warnings)?,
        overrides_layer(&options.overrides)?,
        Layer::single(
            "app.env",
            ValueKind::String(environment.to_string()),
            environment_origin,
        ),
    ];
    let merged = layers
        .into_iter()
        .fold(Config::builder(), |builder, layer| {
            builder.add_source(layer)
        })
        .build()
        .map_err(|error| Error::Merge(error.to_string()))?;

    let tree = merged
        .collect()
        .map_err(|error| Error::Merge(error.to_string()))?;
    let provenance = Provenance::from_tree(&tree);
    let settings: Settings = merged
        .try_deserialize()
        .map_err(|error| Error::Merge(describe_merge_error(error, &provenance)))?;

    let problems: Vec<SourcedProblem> = settings
        .problems()
        .into_iter()
        .map(|problem| SourcedProblem {
            origin: provenance
                .source_of(problem.key)
                .unwrap_or("unknown")
                .to_owned(),
            problem,
        })
        .collect();
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    Ok(Loaded {
        settings,
        provenance,
        instance_dir,
        warnings,
    })
}

/// `config` names the key of a type error but not always its layer (range errors and unknown keys lose
/// it), so find the layer from the provenance and add it.
fn describe_merge_error(error: config::ConfigError, provenance: &Provenance) -> String {
    let message = error.to_string();
    if message.contains(" in ") {
        return message;
    }
    let key = match &error {
        config::ConfigError::Type { key, .. } | config::ConfigError::At { key, .. } => key.clone(),
        _ => None,
    };
    // Serde names an unknown key as "unknown field `name`" relative to the table it is in.
    let unknown_field = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field);
    let full_key = match (key, unknown_field) {
        (Some(table), Some(field)) => format!("{table}.{field}"),
        (None, Some(field)) => field.to_owned(),
        (Some(key), None) => key,
        (None, None) => return message,
    };
    match provenance.source_of_key_or_table(&full_key) {
        Some(origin) => format!("{message} in {origin}"),
        None => message,
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
        .map_err(|source| Error::UnknownEnvironment {
            origin: origin.to_owned(),
            source,
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

/// Defaults that depend on the environment and the instance folder, so no file can spell them out.
fn derived_defaults(environment: Environment, instance_dir: &Path) -> Layer {
    let database_file = instance_dir.join(format!("keel-{environment}.sqlite3"));
    Layer::single(
        "database.url",
        ValueKind::String(format!("sqlite://{}?mode=rwc", database_file.display())),
        "built-in default (SQLite file in the instance folder)".to_owned(),
    )
}

fn instance_file_layer(instance_dir: &Path) -> Result<Layer, Error> {
    let path = instance_dir.join("config.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            toml_layer(&text, &format!("instance file {}", path.display())).map_err(|error| {
                match error {
                    Error::BadInput { message, .. } => Error::File { path, message },
                    other => other,
                }
            })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Layer::default()),
        Err(error) => Err(Error::File {
            path,
            message: format!("cannot be read ({error}): fix its permissions or remove it"),
        }),
    }
}

fn toml_layer(text: &str, origin: &str) -> Result<Layer, Error> {
    let table: toml::Table = toml::from_str(text).map_err(|error| Error::BadInput {
        origin: origin.to_owned(),
        message: format!("is not valid TOML: {error}"),
    })?;
    let origin = origin.to_owned();
    Ok(Layer(
        table
            .into_iter()
            .map(|(key, value)| (key, from_toml(value, &origin)))
            .collect(),
    ))
}

fn from_toml(value: toml::Value, origin: &String) -> Value {
    let kind = match value {
        toml::Value::String(text) => ValueKind::String(text),
        toml::Value::Integer(number) => ValueKind::I64(number),
        toml::Value::Float(number) => ValueKind::Float(number),
        toml::Value::Boolean(flag) => ValueKind::Boolean(flag),
        toml::Value::Datetime(datetime) => ValueKind::String(datetime.to_string()),
        toml::Value::Array(items) => ValueKind::Array(
            items
                .into_iter()
                .map(|item| from_toml(item, origin))
                .collect(),
        ),
        toml::Value::Table(table) => ValueKind::Table(
            table
                .into_iter()
                .map(|(key, value)| (key, from_toml(value, origin)))
                .collect(),
        ),
    };
    Value::new(Some(origin), kind)
}

fn variables_layer(vars: &Vars, warnings: &mut Vec<String>) -> Result<Layer, Error> {
    let mut layer = Layer::default();
    for (name, key) in CONVENTIONAL_VARIABLES {
        if let Some(text) = vars.get(name) {
            layer.insert(
                key,
                parse_value(text, &format!("environment variable {name}"))?,
            );
        }
    }
    for (name, text) in &vars.0 {
        let Some(rest) = name.strip_prefix(VARIABLE_PREFIX) else {
            continue;
        };
        if matches!(name.as_str(), "APP_ENV" | "APP_INSTANCE_DIR") {
            continue;
        }
        if !rest.contains(VARIABLE_NESTING) {
            warnings.push(format!(
                "ignoring environment variable {name}: keel settings are named APP_<SECTION>__<KEY> (two underscores), e.g. APP_SERVER__PORT"
            ));
            continue;
        }
        let key = rest.to_ascii_lowercase().replace(VARIABLE_NESTING, ".");
        layer.insert(
            &key,
            parse_value(text, &format!("environment variable {name}"))?,
        );
    }
    Ok(layer)
}

fn overrides_layer(overrides: &[Override]) -> Result<Layer, Error> {
    let mut layer = Layer::default();
    for assignment in overrides {
        let origin = format!("override {}", assignment.key);
        layer.insert(&assignment.key, parse_value(&assignment.value, &origin)?);
    }
    Ok(layer)
}

/// Reads a value given as text (a variable or `--set`). Text that starts like a JSON list or map must be
/// JSON; anything else stays text, which `config` converts to numbers or booleans where a key needs one.
fn parse_value(text: &str, origin: &str) -> Result<Value, Error> {
    if text == NOT_UNICODE {
        return Err(Error::BadInput {
            origin: origin.to_owned(),
            message: "is not valid UTF-8: set it to plain text".to_owned(),
        });
    }
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('[') || trimmed.starts_with('{')) {
        return Ok(Value::new(
            Some(&origin.to_owned()),
            ValueKind::String(text.to_owned()),
        ));
    }
    let json: serde_json::Value = serde_json::from_str(text).map_err(|error| Error::BadInput {
        origin: origin.to_owned(),
        message: format!(
            "starts like a JSON list or map but is not valid JSON ({error}): write e.g. [\"https://a.example\"] or {{\"key\": 1}}"
        ),
    })?;
    Ok(from_json(json, &origin.to_owned()))
}

fn from_json(value: serde_json::Value, origin: &String) -> Value {
    let kind = match value {
        serde_json::Value::Null => ValueKind::Nil,
        serde_json::Value::Bool(flag) => ValueKind::Boolean(flag),
        serde_json::Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(signed), _) => ValueKind::I64(signed),
            (None, Some(unsigned)) => ValueKind::U64(unsigned),
            (None, None) => ValueKind::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(text) => ValueKind::String(text),
        serde_json::Value::Array(items) => ValueKind::Array(
            items
                .into_iter()
                .map(|item| from_json(item, origin))
                .collect(),
        ),
        serde_json::Value::Object(map) => ValueKind::Table(
            map.into_iter()
                .map(|(key, value)| (key, from_json(value, origin)))
                .collect(),
        ),
    };
    Value::new(Some(origin), kind)
}

/// One layer: a map from keys (dotted paths allowed) to values that carry their origin.
#[derive(Debug, Clone, Default)]
struct Layer(Map<String, Value>);

impl Layer {
    fn single(key: &str, kind: ValueKind, origin: String) -> Self {
        let mut layer = Layer::default();
        layer.insert(key, Value::new(Some(&origin), kind));
        layer
    }

    fn insert(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self.0.clone())
    }
}
