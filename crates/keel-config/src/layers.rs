//! The configuration layers as `config` sources whose every value remembers where it came from.
//!
//! Building a layer never stops at the first bad input: the problem is recorded, the input is left out,
//! and loading goes on, so one run reports everything that needs fixing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{Map, Source, Value, ValueKind};

use crate::error::Problem;
use crate::vars::{Override, Vars};

/// Conventional variable names that platforms and tools set, and the key each one feeds. A keel variable
/// (`APP_…`) for the same key wins over these.
pub(crate) const CONVENTIONAL_VARIABLES: [(&str, &str); 39] = [
    ("DATABASE_URL", "database.url"),
    ("DATABASE_PASSWORD", "database.password"),
    ("REDIS_URL", "redis.url"),
    ("SECRET_KEY", "security.secret_key"),
    ("PORT", "server.port"),
    ("RUST_LOG", "telemetry.log_level"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "telemetry.otlp_protocol"),
    ("OTEL_TRACES_SAMPLER_ARG", "telemetry.sample_ratio"),
    // Vault's own variables, as its CLI and agents read them (each also as `<NAME>_FILE`).
    ("VAULT_ADDR", "secrets.vault.addr"),
    ("VAULT_NAMESPACE", "secrets.vault.namespace"),
    ("VAULT_ROLE_ID", "secrets.vault.role_id"),
    ("VAULT_SECRET_ID", "secrets.vault.secret_id"),
    ("VAULT_TOKEN", "secrets.vault.token"),
    ("VAULT_CACERT", "secrets.vault.cacert"),
    // The AWS SDK's standard variables, for the SSM Parameter Store. Variables are taken in name order,
    // so the more specific AWS_REGION and AWS_ENDPOINT_URL_SSM win, as they do in the SDK.
    ("AWS_DEFAULT_REGION", "secrets.ssm.region"),
    ("AWS_REGION", "secrets.ssm.region"),
    ("AWS_ENDPOINT_URL", "secrets.ssm.endpoint_url"),
    ("AWS_ENDPOINT_URL_SSM", "secrets.ssm.endpoint_url"),
    ("AWS_ACCESS_KEY_ID", "secrets.ssm.access_key_id"),
    ("AWS_SECRET_ACCESS_KEY", "secrets.ssm.secret_access_key"),
    ("AWS_SESSION_TOKEN", "secrets.ssm.session_token"),
    ("OTEL_TRACES_SAMPLER", "telemetry.traces_sampler"),
    ("OTEL_SERVICE_NAME", "telemetry.service_name"),
    ("OTEL_RESOURCE_ATTRIBUTES", "telemetry.resource_attributes"),
    (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "telemetry.otlp_traces_endpoint",
    ),
    (
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "telemetry.otlp_metrics_endpoint",
    ),
    ("OTEL_EXPORTER_OTLP_HEADERS", "telemetry.otlp_headers"),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", "telemetry.otlp_timeout_ms"),
    ("OTEL_SDK_DISABLED", "telemetry.sdk_disabled"),
    // OTLP over TLS and the per-signal variants of the shared OTLP variables (per-signal wins for its
    // signal: `TelemetrySettings::export`).
    (
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "telemetry.otlp_certificate",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "telemetry.otlp_traces_certificate",
    ),
    (
        "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        "telemetry.otlp_metrics_certificate",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "telemetry.otlp_traces_protocol",
    ),
    (
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "telemetry.otlp_metrics_protocol",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "telemetry.otlp_traces_headers",
    ),
    (
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        "telemetry.otlp_metrics_headers",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "telemetry.otlp_traces_timeout_ms",
    ),
    (
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        "telemetry.otlp_metrics_timeout_ms",
    ),
];

/// Variables that steer the loader itself rather than set a key.
pub(crate) const LOADER_VARIABLES: [&str; 3] = ["APP_ENV", "APP_INSTANCE_DIR", "APP_SECRETS_DIR"];

/// Where Docker and Kubernetes mount secrets, unless `APP_SECRETS_DIR` says otherwise.
pub(crate) const DEFAULT_SECRETS_DIR: &str = "/run/secrets";

/// The files looked for in the secrets folder, and the key each one feeds.
pub(crate) const SECRET_FILES: [(&str, &str); 5] = [
    ("secret_key", "security.secret_key"),
    ("admin_token", "security.admin_token"),
    ("database_url", "database.url"),
    ("database_password", "database.password"),
    ("redis_url", "redis.url"),
];

/// The prefix of every keel setting variable: `APP_<SECTION>__<KEY>`.
const VARIABLE_PREFIX: &str = "APP_";
/// Separates section and key (and deeper levels) in variable names.
const VARIABLE_NESTING: &str = "__";
/// `<VARIABLE>_FILE=/path` reads the variable's value from a file.
const FILE_SUFFIX: &str = "_FILE";

/// One layer: a map from keys (dotted paths allowed) to values that carry their origin.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layer(Map<String, Value>);

impl Layer {
    /// The layer's values, as a tree of tables.
    pub(crate) fn table(&self) -> &Map<String, Value> {
        &self.0
    }

    pub(crate) fn single(key: &str, kind: ValueKind, origin: String) -> Self {
        let mut layer = Layer::default();
        layer.set(key, kind, origin);
        layer
    }

    /// The origin of the value this layer gives `dotted_key`.
    pub(crate) fn origin_of(&self, dotted_key: &str) -> Option<String> {
        self.value_at(dotted_key)
            .map(|value| value.origin().unwrap_or("unknown").to_owned())
    }

    /// The string this layer gives `dotted_key`, if it gives one.
    pub(crate) fn string_at(&self, dotted_key: &str) -> Option<String> {
        match &self.value_at(dotted_key)?.kind {
            ValueKind::String(text) => Some(text.clone()),
            _ => None,
        }
    }

    fn value_at(&self, dotted_key: &str) -> Option<&Value> {
        let mut parts = dotted_key.split('.');
        let mut value = self.0.get(parts.next()?)?;
        for part in parts {
            match &value.kind {
                ValueKind::Table(table) => value = table.get(part)?,
                _ => return None,
            }
        }
        Some(value)
    }

    /// Adds `key` with a value of `kind` from `origin`.
    pub(crate) fn set(&mut self, key: &str, kind: ValueKind, origin: String) {
        self.insert(key, Value::new(Some(&origin), kind));
    }

    /// Sets `dotted_key` (`server.port`), making the tables on its way; a table is merged key by key into
    /// the one already there. A later insert wins, so within one layer the order of inserts decides
    /// (`config` would apply dotted keys in hash order).
    fn insert(&mut self, dotted_key: &str, value: Value) {
        let parts: Vec<&str> = dotted_key.split('.').collect();
        insert_nested(&mut self.0, &parts, value);
    }
}

fn insert_nested(table: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        merge(table, first, value);
        return;
    }
    let entry = table
        .entry((*first).to_owned())
        .or_insert_with(|| Value::new(None, ValueKind::Table(Map::new())));
    if !matches!(entry.kind, ValueKind::Table(_)) {
        *entry = Value::new(None, ValueKind::Table(Map::new()));
    }
    if let ValueKind::Table(inner) = &mut entry.kind {
        insert_nested(inner, rest, value);
    }
}

/// Puts `value` at `key`, merging it key by key when both it and the value already there are tables.
fn merge(table: &mut Map<String, Value>, key: &str, value: Value) {
    if let ValueKind::Table(entries) = &value.kind
        && let Some(Value {
            kind: ValueKind::Table(existing),
            ..
        }) = table.get_mut(key)
    {
        for (inner_key, inner_value) in entries.clone() {
            merge(existing, &inner_key, inner_value);
        }
        return;
    }
    table.insert(key.to_owned(), value);
}

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self.0.clone())
    }
}

/// What building the layers found besides values.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) problems: Vec<Problem>,
    /// Worth telling the operator, but not a reason to refuse to start.
    pub(crate) warnings: Vec<String>,
}

/// A TOML document as a layer. With `line_numbers`, each value's origin ends with the line that set it
/// (for files an operator edits); the embedded profiles keep a shorter origin.
pub(crate) fn toml_layer(
    text: &str,
    origin: &str,
    line_numbers: bool,
    findings: &mut Findings,
) -> Layer {
    let table: toml::Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(error) => {
            let line = error
                .span()
                .map(|span| format!(" at line {}", line_of(text, span.start)))
                .unwrap_or_default();
            findings.problems.push(Problem::at_input(
                origin,
                format!("is not valid TOML{line}: {}", error.message().trim()),
            ));
            return Layer::default();
        }
    };
    let lines = if line_numbers {
        key_lines(text)
    } else {
        BTreeMap::new()
    };
    let origin_of = |key: &str| match lines.get(key) {
        Some(line) => format!("{origin} line {line}"),
        None => origin.to_owned(),
    };
    Layer(
        table
            .into_iter()
            .map(|(key, value)| {
                let converted = from_toml(value, &key, &origin_of);
                (key, converted)
            })
            .collect(),
    )
}

/// `<instance>/config.toml`, when it exists.
pub(crate) fn instance_file_layer(instance_dir: &Path, findings: &mut Findings) -> Layer {
    let path = instance_dir.join("config.toml");
    let origin = format!("instance file {}", path.display());
    match std::fs::read_to_string(&path) {
        Ok(text) => toml_layer(&text, &origin, true, findings),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Layer::default(),
        Err(error) => {
            findings
                .problems
                .push(Problem::at_input(origin, unreadable(&error)));
            Layer::default()
        }
    }
}

/// Why a file cannot be read, and the fix: a folder where a file belongs says so, rather than an
/// operating-system error that suggests permissions.
fn unreadable(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::IsADirectory => {
            "is a folder, not a file: remove it or put the file there".to_owned()
        }
        _ => format!("cannot be read ({error}): fix its permissions or remove it"),
    }
}

/// The variables of a `.env` file that the real environment does not already set (a real variable always
/// wins, even over a later layer's idea of precedence, because the operator set it on purpose).
pub(crate) fn dotenv_variables(path: &Path, real: &Vars, findings: &mut Findings) -> Vars {
    let origin = format!(".env file {}", path.display());
    // Opening a folder succeeds on Unix; only reading it fails, which dotenvy would report per line.
    if path.is_dir() {
        let error = std::io::Error::from(std::io::ErrorKind::IsADirectory);
        findings
            .problems
            .push(Problem::at_input(origin, unreadable(&error)));
        return Vars::default();
    }
    let entries = match dotenvy::from_path_iter(path) {
        Ok(entries) => entries,
        Err(dotenvy::Error::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {
            return Vars::default();
        }
        Err(dotenvy::Error::Io(error)) => {
            findings
                .problems
                .push(Problem::at_input(origin, unreadable(&error)));
            return Vars::default();
        }
        Err(error) => {
            findings.problems.push(Problem::at_input(
                origin,
                format!("cannot be read ({error}): fix or remove it"),
            ));
            return Vars::default();
        }
    };
    let mut variables = Vec::new();
    for entry in entries {
        match entry {
            Ok((name, _)) if LOADER_VARIABLES.contains(&name.as_str()) => {
                findings.warnings.push(format!(
                    "ignoring {name} in {}: it chooses which files are read, so set it in the real environment",
                    path.display()
                ));
            }
            Ok((name, value)) if !real.contains(&name) => variables.push((name, value)),
            Ok(_) => {}
            Err(dotenvy::Error::Io(error)) => {
                findings
                    .problems
                    .push(Problem::at_input(&origin, unreadable(&error)));
                return Vars::default();
            }
            Err(error) => {
                // dotenvy's message quotes the whole line, which may hold a secret: name its number only.
                let line = match &error {
                    dotenvy::Error::LineParse(text, _) => std::fs::read_to_string(path)
                        .ok()
                        .and_then(|file| file.lines().position(|line| line.contains(text.as_str())))
                        .map(|index| format!("line {}", index + 1)),
                    _ => None,
                };
                let line = line.unwrap_or_else(|| "a line".to_owned());
                findings.problems.push(Problem::at_input(
                    &origin,
                    format!(
                        "{line} is not NAME=value: fix it, quoting values that contain spaces or #"
                    ),
                ));
                return Vars::default();
            }
        }
    }
    variables.into_iter().collect()
}

/// The settings that `variables` set, each recorded with `origin(name)` as its source.
pub(crate) fn variables_layer(
    variables: &Vars,
    origin: impl Fn(&str) -> String,
    findings: &mut Findings,
) -> Layer {
    let mut layer = Layer::default();
    // The order of inserts is the precedence inside this layer: conventional names first, so that an
    // `APP_…` variable for the same key replaces them; then whole sections, so that a variable naming
    // one key (`APP_SERVER__PORT`) beats the same key inside its section's map (`APP_SERVER`).
    let conventional = variables.iter().filter(|(name, _)| {
        CONVENTIONAL_VARIABLES
            .iter()
            .any(|(known, _)| known == name)
    });
    let keel = || {
        variables
            .iter()
            .filter(|(name, _)| name.starts_with(VARIABLE_PREFIX))
    };
    let sections = keel().filter(|(name, _)| matches!(role_of(name), VariableRole::Section(_)));
    let keys = keel().filter(|(name, _)| !matches!(role_of(name), VariableRole::Section(_)));
    for (name, text) in conventional.chain(sections).chain(keys) {
        match role_of(name) {
            VariableRole::Setting(key) => {
                // Text stays text: the typed settings read a number, a boolean or (for a list) JSON out
                // of it, so `RUST_LOG='[request]=debug'` is never mistaken for a JSON list.
                let value = Value::new(Some(&origin(name)), ValueKind::String(text.to_owned()));
                layer.insert(&key, value);
            }
            VariableRole::Section(section) => {
                // A whole section as one JSON map, deep-merged key by key like a TOML table.
                if text.trim_start().starts_with('{') {
                    if let Some(value) = parse_json(text, &section, &origin(name), findings) {
                        layer.insert(&section, value);
                    }
                } else {
                    findings.problems.push(Problem::at_key(
                        section.clone(),
                        origin(name),
                        format!(
                            "sets the whole [{section}] section, so it must be a JSON map such as {{\"key\": true}}; to set one key use {VARIABLE_PREFIX}{}{VARIABLE_NESTING}<KEY>",
                            section.to_ascii_uppercase()
                        ),
                    ));
                }
            }
            VariableRole::Misnamed => findings.warnings.push(format!(
                "ignoring environment variable {name}: keel settings are named APP_<SECTION>__<KEY> (two underscores), e.g. APP_SERVER__PORT"
            )),
            VariableRole::SecretFile(_) | VariableRole::Loader | VariableRole::Unrelated => {}
        }
    }
    for name in variables.not_unicode() {
        let key = match role_of(name) {
            VariableRole::Setting(key)
            | VariableRole::Section(key)
            | VariableRole::SecretFile(key) => key,
            // The loader's own variables stop the load earlier (see `steering_not_unicode`).
            VariableRole::Loader | VariableRole::Misnamed | VariableRole::Unrelated => continue,
        };
        findings
            .problems
            .push(Problem::at_key(key, origin(name), NOT_UNICODE_MESSAGE));
    }
    layer
}

/// What a variable that is not valid UTF-8 is told.
const NOT_UNICODE_MESSAGE: &str = "is not valid UTF-8: set it to plain text";

/// The loader's own variables (`APP_ENV`, …) whose value is not valid UTF-8. They decide which files are
/// read, so the load cannot go on without them, nor treat them as unset.
pub(crate) fn steering_not_unicode(real: &Vars) -> Vec<Problem> {
    real.not_unicode()
        .filter(|name| LOADER_VARIABLES.contains(name))
        .map(|name| Problem::at_input(format!("environment variable {name}"), NOT_UNICODE_MESSAGE))
        .collect()
}

/// Secret files: first the well-known files in the secrets folder, then `<VARIABLE>_FILE` variables (which
/// name their file explicitly, so they win). Values are trimmed: files written by editors and `echo` end
/// with a newline that is never part of the secret.
pub(crate) fn secret_files_layer(real: &Vars, dotenv: &Vars, findings: &mut Findings) -> Layer {
    let mut layer = Layer::default();
    let secrets_dir = real
        .get("APP_SECRETS_DIR")
        .map_or_else(|| PathBuf::from(DEFAULT_SECRETS_DIR), PathBuf::from);
    for (file_name, key) in SECRET_FILES {
        let path = secrets_dir.join(file_name);
        if !path.is_file() {
            continue;
        }
        let origin = format!("secret file {}", path.display());
        if let Some(value) = read_secret_file(&path, key, &origin, &origin, findings) {
            layer.insert(key, value);
        }
    }
    for (name, path) in dotenv.iter().chain(real.iter()) {
        let VariableRole::SecretFile(key) = role_of(name) else {
            continue;
        };
        let variable = format!("environment variable {name}");
        let origin = format!("secret file {path} (named by {name})");
        if let Some(value) = read_secret_file(Path::new(path), &key, &variable, &origin, findings) {
            layer.insert(&key, value);
        }
    }
    layer
}

/// `--set` and test overrides, in order.
pub(crate) fn overrides_layer(overrides: &[Override]) -> Layer {
    let mut layer = Layer::default();
    for assignment in overrides {
        let origin = format!("override {}", assignment.key);
        let value = Value::new(Some(&origin), ValueKind::String(assignment.value.clone()));
        layer.insert(&assignment.key, value);
    }
    layer
}

/// What a variable name means to the loader.
#[derive(Debug, Clone, PartialEq, Eq)]
enum VariableRole {
    /// Sets this dotted key.
    Setting(String),
    /// Sets several keys of this section at once, from a JSON map (`APP_FEATURES='{"signup_v2": true}'`).
    Section(String),
    /// Names a file whose contents set this dotted key.
    SecretFile(String),
    /// Steers the loader (`APP_ENV`, …).
    Loader,
    /// Looks meant for keel but does not follow `APP_<SECTION>__<KEY>`.
    Misnamed,
    /// Not keel's.
    Unrelated,
}

fn role_of(name: &str) -> VariableRole {
    if let Some((_, key)) = CONVENTIONAL_VARIABLES
        .iter()
        .find(|(known, _)| *known == name)
    {
        return VariableRole::Setting((*key).to_owned());
    }
    if LOADER_VARIABLES.contains(&name) {
        return VariableRole::Loader;
    }
    if let Some(base) = name.strip_suffix(FILE_SUFFIX)
        && let VariableRole::Setting(key) = role_of(base)
    {
        return VariableRole::SecretFile(key);
    }
    match name.strip_prefix(VARIABLE_PREFIX) {
        Some(rest) if rest.contains(VARIABLE_NESTING) => {
            VariableRole::Setting(rest.to_ascii_lowercase().replace(VARIABLE_NESTING, "."))
        }
        Some(rest) if crate::settings::sections().contains(&rest.to_ascii_lowercase().as_str()) => {
            VariableRole::Section(rest.to_ascii_lowercase())
        }
        Some(_) => VariableRole::Misnamed,
        None => VariableRole::Unrelated,
    }
}

fn read_secret_file(
    path: &Path,
    key: &str,
    problem_origin: &str,
    value_origin: &str,
    findings: &mut Findings,
) -> Option<Value> {
    let problem = |message: String| Problem::at_key(key, problem_origin, message);
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => {
            findings.problems.push(problem(format!(
                "the file {} is empty: write the secret into it",
                path.display()
            )));
            None
        }
        Ok(text) => Some(Value::new(
            Some(&value_origin.to_owned()),
            ValueKind::String(text.trim().to_owned()),
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            findings.problems.push(problem(format!(
                "the file {} does not exist: create it or fix the path",
                path.display()
            )));
            None
        }
        Err(error) => {
            findings.problems.push(problem(format!(
                "the file {} {}",
                path.display(),
                unreadable(&error)
            )));
            None
        }
    }
}

/// A JSON map that sets a whole section. serde_json's message names the position, never the content.
fn parse_json(text: &str, key: &str, origin: &str, findings: &mut Findings) -> Option<Value> {
    match serde_json::from_str(text) {
        Ok(json) => Some(from_json(json, &origin.to_owned())),
        Err(error) => {
            findings.problems.push(Problem::at_key(
                key,
                origin,
                format!(
                    "starts like a JSON list or map but is not valid JSON ({error}): write e.g. [\"https://a.example\"] or {{\"key\": 1}}"
                ),
            ));
            None
        }
    }
}

pub(crate) fn from_json(value: serde_json::Value, origin: &String) -> Value {
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

pub(crate) fn from_toml(
    value: toml::Value,
    path: &str,
    origin_of: &impl Fn(&str) -> String,
) -> Value {
    let kind = match value {
        toml::Value::String(text) => ValueKind::String(text),
        toml::Value::Integer(number) => ValueKind::I64(number),
        toml::Value::Float(number) => ValueKind::Float(number),
        toml::Value::Boolean(flag) => ValueKind::Boolean(flag),
        toml::Value::Datetime(datetime) => ValueKind::String(datetime.to_string()),
        toml::Value::Array(items) => ValueKind::Array(
            items
                .into_iter()
                .map(|item| from_toml(item, path, origin_of))
                .collect(),
        ),
        toml::Value::Table(table) => ValueKind::Table(
            table
                .into_iter()
                .map(|(key, value)| {
                    let converted = from_toml(value, &format!("{path}.{key}"), origin_of);
                    (key, converted)
                })
                .collect(),
        ),
    };
    Value::new(Some(&origin_of(path)), kind)
}

/// The line on which each dotted key's value starts.
fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut lines = BTreeMap::new();
    if let Ok(document) = toml::de::DeTable::parse(text) {
        collect_key_lines(text, "", document.get_ref(), &mut lines);
    }
    lines
}

fn collect_key_lines(
    text: &str,
    prefix: &str,
    table: &toml::de::DeTable<'_>,
    lines: &mut BTreeMap<String, usize>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => collect_key_lines(text, &path, inner, lines),
            _ => {
                lines.insert(path, line_of(text, value.span().start));
            }
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_map_to_their_roles() {
        let setting = |key: &str| VariableRole::Setting(key.to_owned());
        let file = |key: &str| VariableRole::SecretFile(key.to_owned());
        let cases = [
            ("APP_SERVER__PORT", setting("server.port")),
            ("APP_SECURITY__SECRET_KEY", setting("security.secret_key")),
            ("PORT", setting("server.port")),
            ("DATABASE_URL", setting("database.url")),
            ("APP_SECURITY__SECRET_KEY_FILE", file("security.secret_key")),
            ("SECRET_KEY_FILE", file("security.secret_key")),
            ("DATABASE_URL_FILE", file("database.url")),
            ("APP_ENV", VariableRole::Loader),
            ("APP_SECRETS_DIR", VariableRole::Loader),
            ("APP_SERVER_PORT", VariableRole::Misnamed),
            ("HOME", VariableRole::Unrelated),
            ("SOME_FILE", VariableRole::Unrelated),
        ];
        for (name, role) in cases {
            assert_eq!(role_of(name), role, "{name}");
        }
    }

    #[test]
    fn toml_values_remember_their_line() {
        let text = "# comment\n[server]\nhost = \"a\"\n\nport = 1\n[database]\nurl = \"x\"\n";
        let lines = key_lines(text);
        assert_eq!(lines["server.host"], 3);
        assert_eq!(lines["server.port"], 5);
        assert_eq!(lines["database.url"], 7);
    }
}
