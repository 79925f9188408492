//! What the loader takes from secret stores: the `[secrets]` section's validation, the first phase's
//! settings, a store's names mapped to keys, layer 5's store half and `secrets.required`.
//!
//! This crate reads no store itself (it knows nothing of the network): the binary reads the stores that
//! `[secrets]` names (with `keel-ext-secrets`) and passes what it read as `StoreEntry` values in
//! `LoadOptions::store_entries`. Here a store's name for a value becomes a setting key, so the mapping
//! is written once, next to the secret files' (`layers::SECRET_FILES`).

use config::ValueKind;

use crate::bounds;
use crate::error::Problem;
use crate::layers::{Findings, Layer, SECRET_FILES};
use crate::settings::{AppSettings, ServerSettings};
use crate::store_settings::{SecretsSettings, SsmSettings, StoreEntry};
use crate::validate::{Context, Section};

/// The settings the binary needs before the whole load: enough to read the secret stores (and, for
/// `keel healthcheck`, to find the server), without the secrets those stores hold.
#[derive(Debug, Clone)]
pub struct Preloaded {
    pub app: AppSettings,
    pub server: ServerSettings,
    pub secrets: SecretsSettings,
}

impl Section for SecretsSettings {
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
        let mut problems: Vec<(&'static str, String)> = [
            bounds::check("secrets.timeout_secs", self.timeout.as_secs()),
            bounds::check(
                "secrets.startup_timeout_secs",
                self.startup_timeout.as_secs(),
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        for key in &self.required {
            if !STORE_KEYS.contains(&key.as_str()) {
                problems.push((
                    "secrets.required",
                    format!(
                        "lists {key:?}, which is not a secret setting: list keys such as {}",
                        STORE_KEYS.join(", ")
                    ),
                ));
            }
        }
        let vault = &self.vault;
        if let Some(addr) = &vault.addr {
            match url::Url::parse(addr) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
                _ => problems.push((
                    "secrets.vault.addr",
                    format!(
                        "{addr:?} is not an http(s) URL: write e.g. https://vault.internal:8200, or unset VAULT_ADDR"
                    ),
                )),
            }
            if vault.token.is_none() && (vault.role_id.is_none() || vault.secret_id.is_none()) {
                problems.push((
                    "secrets.vault.addr",
                    "Vault is set but keel cannot log in: set VAULT_ROLE_ID and VAULT_SECRET_ID (or their _FILE variants) for AppRole, or VAULT_TOKEN in development".to_owned(),
                ));
            }
        }
        for (key, part) in [
            ("secrets.vault.mount", &vault.mount),
            ("secrets.vault.path", &vault.path),
            ("secrets.vault.auth_mount", &vault.auth_mount),
        ] {
            if part.trim_matches('/').is_empty() || !part.chars().all(is_path_character) {
                problems.push((
                    key,
                    format!("{part:?} must be a Vault path of letters, digits, -, _, . and /"),
                ));
            }
        }
        problems.extend(ssm_problems(&self.ssm));
        problems
    }
}

fn ssm_problems(ssm: &SsmSettings) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if ssm.enabled && ssm.region.is_none() {
        problems.push((
            "secrets.ssm.region",
            "SSM is enabled but no region is set: set AWS_REGION (or secrets.ssm.region), e.g. eu-west-1".to_owned(),
        ));
    }
    let path = &ssm.path;
    if !path.starts_with('/') || !path.chars().all(is_path_character) || path.contains("//") {
        problems.push((
            "secrets.ssm.path",
            format!(
                "{path:?} must be a parameter path that starts with / and holds letters, digits, -, _, . and /, such as /keel/production/"
            ),
        ));
    }
    if let Some(endpoint) = &ssm.endpoint_url {
        match url::Url::parse(endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => problems.push((
                "secrets.ssm.endpoint_url",
                format!(
                    "{endpoint:?} is not an http(s) URL: write e.g. http://127.0.0.1:5000, or unset AWS_ENDPOINT_URL_SSM and AWS_ENDPOINT_URL"
                ),
            )),
        }
    }
    if let Some(region) = &ssm.region
        && (region.is_empty()
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        problems.push((
            "secrets.ssm.region",
            format!("{region:?} is not an AWS region name: write e.g. eu-west-1 (AWS_REGION)"),
        ));
    }
    match (&ssm.access_key_id, &ssm.secret_access_key) {
        (Some(_), None) | (None, Some(_)) => problems.push((
            "secrets.ssm.access_key_id",
            "an access key needs both halves: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither to use the AWS credential chain".to_owned(),
        )),
        (None, None) if ssm.session_token.is_some() => problems.push((
            "secrets.ssm.session_token",
            "a session token goes with an access key: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY too, or unset AWS_SESSION_TOKEN".to_owned(),
        )),
        _ => {}
    }
    problems
}

/// Characters a Vault path may hold in keel's settings: none that would need escaping in a URL.
fn is_path_character(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

/// The setting keys a store may set: the secret ones (a store's values are never shown, so a store that
/// set `server.port` would hide a plain setting from `show-config`).
const STORE_KEYS: [&str; 6] = [
    "security.secret_key",
    "security.admin_token",
    "database.url",
    "database.password",
    "redis.url",
    "telemetry.otlp_endpoint",
];

/// The setting key a store's name stands for: a secret file's name in any case (`secret_key`,
/// `SECRET_KEY`, `database_url`) or a secret setting's dotted key (`security.admin_token`).
pub(crate) fn store_key(name: &str) -> Option<&'static str> {
    let lowercase = name.trim().to_ascii_lowercase();
    if lowercase.contains('.') {
        return STORE_KEYS.iter().copied().find(|key| *key == lowercase);
    }
    SECRET_FILES
        .iter()
        .find(|(file, _)| *file == lowercase)
        .map(|(_, key)| *key)
}

/// Layer 5's store half: every entry under the key its name stands for. A name that stands for no key,
/// or an empty value, is a problem naming the store's name and where it was read (never the value).
pub(crate) fn store_entries_layer(entries: &[StoreEntry], findings: &mut Findings) -> Layer {
    let mut layer = Layer::default();
    for entry in entries {
        let Some(key) = store_key(&entry.name) else {
            findings.problems.push(Problem::at_input(
                &entry.origin,
                format!(
                    "{:?} names no setting keel reads from a secret store: name it after a secret file ({}) in any case, or a secret setting's key ({})",
                    entry.name,
                    SECRET_FILES.map(|(file, _)| file).join(", "),
                    STORE_KEYS.join(", ")
                ),
            ));
            continue;
        };
        let value = entry.value.expose().trim();
        if value.is_empty() {
            findings.problems.push(Problem::at_key(
                key,
                &entry.origin,
                "is empty: write the secret into the store",
            ));
            continue;
        }
        layer.set(
            key,
            ValueKind::String(value.to_owned()),
            entry.origin.clone(),
        );
    }
    layer
}

/// Each key of `secrets.required` that no store gave: a problem in staging and production, a warning in
/// development and testing (where a store that cannot be read only warns too).
pub(crate) fn missing_required(
    secrets: &SecretsSettings,
    stores: &Layer,
    context: &Context<'_>,
    findings: &mut Findings,
) {
    for key in secrets
        .required
        .iter()
        .filter(|key| stores.origin_of(key).is_none())
    {
        let message = "is listed in secrets.required but no secret store gave it: add it to the store (a Vault field or an SSM parameter named after the key, e.g. secret_key), or remove it from the list";
        if context.environment.is_local() {
            findings.warnings.push(format!("{key} {message}"));
        } else {
            findings
                .problems
                .push(Problem::at_key(key.clone(), "secrets.required", message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_map_to_secret_keys_and_nothing_else() {
        let cases = [
            ("secret_key", Some("security.secret_key")),
            ("SECRET_KEY", Some("security.secret_key")),
            ("admin_token", Some("security.admin_token")),
            ("DATABASE_URL", Some("database.url")),
            ("redis_url", Some("redis.url")),
            ("security.admin_token", Some("security.admin_token")),
            ("telemetry.otlp_endpoint", Some("telemetry.otlp_endpoint")),
            ("server.port", None),
            ("secret-key", None),
            ("PORT", None),
            ("", None),
        ];
        for (name, key) in cases {
            assert_eq!(store_key(name), key, "{name}");
        }
        for key in STORE_KEYS {
            assert!(crate::settings::is_secret(key), "{key}");
        }
    }
}
