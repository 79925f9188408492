//! Where each setting came from: the layer behind every key of the merged tree.

use std::collections::BTreeMap;

use config::{Map, Value, ValueKind};

/// For every leaf key (dotted, e.g. `server.port`), the layer that set its final value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance(BTreeMap<String, String>);

impl Provenance {
    pub(crate) fn from_tree(tree: &Map<String, Value>) -> Self {
        let mut sources = BTreeMap::new();
        collect_sources("", tree, &mut sources);
        Provenance(sources)
    }

    /// The layer that set `key`, e.g. `environment variable APP_SERVER__PORT`.
    pub fn source_of(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The source of `key`, or when `key` names a table, of the first key inside it.
    pub(crate) fn source_of_key_or_table(&self, key: &str) -> Option<&str> {
        let table_prefix = format!("{key}.");
        self.0
            .iter()
            .find(|(candidate, _)| *candidate == key || candidate.starts_with(&table_prefix))
            .map(|(_, origin)| origin.as_str())
    }
}

fn collect_sources(
    prefix: &str,
    table: &Map<String, Value>,
    sources: &mut BTreeMap<String, String>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match &value.kind {
            ValueKind::Table(inner) => collect_sources(&path, inner, sources),
            _ => {
                let origin = value.origin().unwrap_or("unknown").to_owned();
                sources.insert(path, origin);
            }
        }
    }
}
