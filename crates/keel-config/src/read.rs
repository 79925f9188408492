//! Reading the merged tree into the typed sections, reporting every bad value of every section.
//!
//! serde stops at the first error of a struct. So a section is read again after each error, with the key
//! at fault set aside (an unknown key dropped, a bad value replaced by its built-in default), until it
//! reads: one run names every bad value, not one per start.

use config::{Value, ValueKind};
use serde_path_to_error::Segment;

use crate::bounds;
use crate::de::{DeError, ValueDeserializer};
use crate::error::Problem;
use crate::provenance::Provenance;
use crate::settings;
use crate::validate::{Context, Section};

/// Reads sections out of the merged tree, collecting every problem.
pub(crate) struct Sections<'a> {
    pub(crate) tree: &'a config::Map<String, Value>,
    /// The built-in defaults' layer (`profiles/default.toml`, as the loader read it), whose values stand in
    /// for bad ones while the rest of a section is read.
    pub(crate) defaults: &'a config::Map<String, Value>,
    pub(crate) provenance: &'a Provenance,
    pub(crate) context: Context<'a>,
    pub(crate) problems: &'a mut Vec<Problem>,
}

impl Sections<'_> {
    /// Deserializes and validates one section, recording each problem with its key and the layer that set
    /// it. `None` when the section has a problem.
    pub(crate) fn section<T: Section>(&mut self, name: &str) -> Option<T> {
        let Some(value) = self.tree.get(name) else {
            self.problems.push(missing(name.to_owned()));
            return None;
        };
        let mut value = value.clone();
        // Keys already reported: a second error on one of them means no progress, so reading stops.
        let mut set_aside: Vec<String> = Vec::new();
        let section = loop {
            let error =
                match serde_path_to_error::deserialize::<_, T>(ValueDeserializer(value.clone())) {
                    Ok(section) => break section,
                    Err(error) => error,
                };
            let path = table_path(error.path());
            let key = dotted(name, &path);
            match error.into_inner() {
                DeError::MissingField(field) => {
                    let missing_key = format!("{key}.{field}");
                    // A key set aside without a default to stand in: its problem is already reported.
                    if !set_aside.contains(&missing_key) {
                        self.problems.push(missing(missing_key));
                    }
                    return None;
                }
                _ if set_aside.contains(&key) => return None,
                problem => {
                    let message = describe(&key, problem);
                    let origin = self.origin_of(&key);
                    self.problems
                        .push(Problem::at_key(key.clone(), origin, message));
                }
            }
            // The section itself is bad (not a table): nothing inside it can be read.
            let stand_in = default_of(self.defaults, &key);
            if path.is_empty() || !replace(&mut value, &path, stand_in) {
                return None;
            }
            set_aside.push(key);
        };
        for (key, message) in section.problems(&self.context) {
            // A value that stood in for a bad one is not the operator's: its problem was reported.
            if set_aside.iter().any(|bad| bad == key) {
                continue;
            }
            let origin = self.origin_of(key);
            self.problems.push(Problem::at_key(key, origin, message));
        }
        set_aside.is_empty().then_some(section)
    }

    fn origin_of(&self, key: &str) -> String {
        self.provenance
            .source_of_key_or_table(key)
            .unwrap_or("unknown")
            .to_owned()
    }
}

/// The problem in keel's words: the range a number must be in, the keys a table has. A secret's value
/// is never shown.
fn describe(key: &str, problem: DeError) -> String {
    match problem {
        DeError::Mismatch { expected, found } => {
            let expected = bounds::bound_of(key)
                .map_or_else(|| expected.into_owned(), bounds::Bound::describe);
            let found = if settings::is_secret(key) {
                "a value of another type".to_owned()
            } else {
                found.to_string()
            };
            format!("must be {expected}, not {found}")
        }
        DeError::UnknownField { known, .. } => {
            let table = key.rsplit_once('.').map_or(key, |(table, _)| table);
            format!(
                "is not a setting: [{table}] has {} (see docs/configuration.md)",
                known.join(", ")
            )
        }
        DeError::MissingField(field) => format!("{field} is missing"),
        DeError::Invalid(message) => message,
    }
}

fn missing(key: String) -> Problem {
    Problem::at_key(
        key,
        "no layer",
        "is missing: a built-in profile should set it, so this is a bug in keel",
    )
}

/// The keys from the section's root to the value at fault. A position inside a list stops the path: the
/// whole list is the setting.
fn table_path(path: &serde_path_to_error::Path) -> Vec<String> {
    path.iter()
        .map_while(|segment| match segment {
            Segment::Map { key } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

fn dotted(section: &str, path: &[String]) -> String {
    std::iter::once(section)
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(".")
}

/// The built-in default of `key`, to stand in for a bad value.
fn default_of(defaults: &config::Map<String, Value>, key: &str) -> Option<Value> {
    let mut parts = key.split('.');
    let mut value = defaults.get(parts.next()?)?;
    for part in parts {
        let ValueKind::Table(table) = &value.kind else {
            return None;
        };
        value = table.get(part)?;
    }
    Some(value.clone())
}

/// Puts `stand_in` at `path` inside `section` (or removes the key when there is none). `false` when the
/// path does not lead to a key of a table.
fn replace(section: &mut Value, path: &[String], stand_in: Option<Value>) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut table = section;
    for part in parents {
        let ValueKind::Table(inner) = &mut table.kind else {
            return false;
        };
        let Some(next) = inner.get_mut(part) else {
            return false;
        };
        table = next;
    }
    let ValueKind::Table(inner) = &mut table.kind else {
        return false;
    };
    match stand_in {
        Some(value) => inner.insert(last.clone(), value),
        None => inner.remove(last),
    };
    true
}
