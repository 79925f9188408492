//! Loading: deserialize each section of the merged layers (`merge.rs`), validate, and report every problem
//! at once.
//!
//! Layers, lowest to highest (a later layer wins): built-in defaults, the environment's profile, the
//! instance folder's `config.toml`, `.env` (development and testing only), secret files and then what the
//! binary read from secret stores, environment variables, explicit overrides. Every value carries its
//! layer as its `config::Value` origin, which is how [`Provenance`] answers "where did this come from?".
//!
//! Loading has two phases: [`preload`] reads the few sections needed to reach the secret stores, the
//! binary reads them, and [`load`] reads everything with the stores' values in layer 5.

use std::path::PathBuf;

use config::ValueKind;

use crate::error::{Error, Problem};
use crate::layers::Findings;
use crate::merge::{LoadOptions, Merged, merge};
use crate::provenance::Provenance;
use crate::read::Sections;
use crate::settings::{self, Settings, TelemetrySettings};
use crate::store_settings::SecretsSettings;
use crate::stores::{self, Preloaded};
use crate::validate::Context;

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
    let merged = merge(options)?;
    let Merged {
        tree,
        defaults,
        provenance,
        environment,
        instance_dir,
        stores,
        findings: Findings {
            mut problems,
            mut warnings,
        },
    } = merged;

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
    let context = Context {
        environment,
        development_secret_key: text_at(&defaults, "security", "secret_key"),
    };
    // One section at a time, so that a mistake in one section does not hide those in the others.
    let mut read = Sections {
        tree: &tree,
        defaults: &defaults,
        provenance: &provenance,
        context,
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
        read.section::<SecretsSettings>("secrets"),
    );
    if let (Some(telemetry), Some(check)) = (&sections.6, options.log_filter_check)
        && let Err(message) = check(&telemetry.log_level)
    {
        let origin = provenance
            .source_of("telemetry.log_level")
            .unwrap_or("unknown");
        problems.push(Problem::at_key("telemetry.log_level", origin, message));
    }
    if let Some(secrets) = &sections.10 {
        let mut required = Findings::default();
        stores::missing_required(secrets, &stores, &context, &mut required);
        problems.extend(required.problems);
        warnings.extend(required.warnings);
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
            Some(secrets),
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
            secrets,
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

/// The first of the two loading phases: the sections the binary needs before it can read the secret
/// stores (`[app]`, `[secrets]`) and the one `keel healthcheck` needs (`[server]`), from every layer
/// but the stores. Other sections are not read, so settings that a store is still to give (a production
/// secret key) do not stop it; [`load`] reads everything afterwards.
pub fn preload(options: &LoadOptions) -> Result<Preloaded, Error> {
    let Merged {
        tree,
        defaults,
        provenance,
        environment,
        findings: Findings { mut problems, .. },
        ..
    } = merge(options)?;
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
        read.section("secrets"),
    );
    match sections {
        (Some(app), Some(server), Some(secrets)) if problems.is_empty() => Ok(Preloaded {
            app,
            server,
            secrets,
        }),
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
