//! The masked view of the settings that `show-config` prints and `GET /ops/config` returns: every key,
//! its value with secrets masked, and the layer that set it.

use serde::Serialize;

use crate::load::Loaded;
use crate::provenance::Provenance;
use crate::secret::{ConnectionUrl, Fingerprints, Secret};

/// The keys `show-config` prints without `--all`: what an operator checks first.
pub const COMMON_KEYS: &[&str] = &[
    "app.name",
    "app.env",
    "server.host",
    "server.port",
    "database.url",
    "telemetry.log_format",
    "telemetry.log_level",
];

/// One line of the masked view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Dotted key, e.g. `server.port`.
    pub key: String,
    /// The value, with secrets and URL passwords masked.
    pub value: serde_json::Value,
    /// The layer that set it.
    pub source: String,
}

/// The masked view as JSON, the shape `show-config --json` prints and `GET /ops/config` returns: an object
/// keyed by dotted key whose values are `{"value": …}`, plus `"source"` when `explain` is set.
pub fn entries_to_json(entries: &[Entry], explain: bool) -> serde_json::Value {
    let object: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|entry| {
            let mut described = serde_json::Map::new();
            described.insert("value".to_owned(), entry.value.clone());
            if explain {
                described.insert("source".to_owned(), entry.source.clone().into());
            }
            (entry.key.clone(), serde_json::Value::Object(described))
        })
        .collect();
    serde_json::Value::Object(object)
}

/// The source `--explain` shows for a setting no layer sets (an optional one left unset).
const NOT_SET: &str = "not set by any layer";

impl Loaded {
    /// Every setting, masked, with its source, sorted by key. Secrets show `***` and a fingerprint keyed
    /// by the secret key (see [`Fingerprints`]).
    pub fn masked_entries(&self) -> Vec<Entry> {
        // Serializing masks secrets: `Secret` and `ConnectionUrl` serialize as `***`.
        let tree = serde_json::to_value(&self.settings).unwrap_or(serde_json::Value::Null);
        let mut entries = Vec::new();
        flatten("", &tree, &mut entries, &self.provenance);
        let fingerprinted = self.fingerprinted();
        for entry in &mut entries {
            if let Some((_, Some(value))) = fingerprinted.iter().find(|(key, _)| *key == entry.key)
            {
                entry.value = serde_json::Value::String(value.clone());
            }
        }
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        entries
    }

    /// The masked value with its fingerprint of every secret setting that is set. A secret missing here
    /// still shows `***`, only without a fingerprint.
    fn fingerprinted(&self) -> [(&'static str, Option<String>); 6] {
        let settings = &self.settings;
        let fingerprints = Fingerprints::new(&settings.security.secret_key);
        let secret = |secret: &Secret| fingerprints.mask(secret.expose());
        let url = |url: &ConnectionUrl| fingerprints.mask_url(url);
        [
            // The fingerprint key is derived from the secret key, so a fingerprint of the key itself would
            // let anyone holding a screenshot confirm a guessed key: it is shown as plain `***`.
            ("security.secret_key", None),
            (
                "security.admin_token",
                settings.security.admin_token.as_ref().map(secret),
            ),
            ("database.url", Some(url(&settings.database.url))),
            (
                "database.password",
                settings.database.password.as_ref().map(secret),
            ),
            ("redis.url", settings.redis.url.as_ref().map(url)),
            (
                "telemetry.otlp_endpoint",
                settings.telemetry.otlp_endpoint.as_ref().map(url),
            ),
        ]
    }
}

fn flatten(
    prefix: &str,
    value: &serde_json::Value,
    entries: &mut Vec<Entry>,
    provenance: &Provenance,
) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, entries, provenance);
            }
        }
        leaf => entries.push(Entry {
            key: prefix.to_owned(),
            value: leaf.clone(),
            source: provenance
                .source_of(prefix)
                .unwrap_or(if leaf.is_null() { NOT_SET } else { "unknown" })
                .to_owned(),
        }),
    }
}
