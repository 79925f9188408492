//! What a flag is: its declaration joined with its static default, its effective state, and the changes
//! operators make to it.
//!
//! A leaf of the crate: the store, the database rows (`persist.rs`) and the sync (`sync.rs`) all speak
//! these types, and this module needs none of them.

use chrono::{DateTime, NaiveDate, Utc};
use keel_config::Settings;
use keel_ext_db::entities::feature_flag;
use serde::Serialize;

use crate::Error;
use crate::bucket;
use crate::catalog::{self, FlagDefinition};

/// The longest actor name an audit row records.
pub const ACTOR_MAX_CHARS: usize = 128;

/// Whether `c` may appear in an actor name: a letter or digit of any script, a space, or one of
/// `. _ - @ + ' : /`. A list of what is allowed rather than of what is not: control characters, and the
/// invisible ones that reorder or hide text (bidi overrides such as U+202E, zero-width joiners, byte
/// order marks), would make the audit trail say something else than what it holds.
pub fn is_actor_char(c: char) -> bool {
    c.is_alphanumeric() || " ._-@+':/".contains(c)
}

/// What an operator sets: on or off, and for which share of visitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FlagState {
    pub enabled: bool,
    /// 0–100: the share of visitors (by bucket) for whom an enabled flag is on.
    pub rollout_percent: u8,
}

/// A change an operator asks for: on or off, and optionally a new rollout (else the current one stays,
/// so turning a 10 % rollout off and on again does not widen it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub enabled: bool,
    pub rollout_percent: Option<u8>,
}

/// Whether a change was announced to the other instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// `redis.url` is not set: the others apply it at their next resync.
    NotConfigured,
    Sent,
    /// Redis did not take it in time; the others apply it at their next resync.
    Failed,
}

/// A change as it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub before: FlagState,
    pub flag: Flag,
    pub announcement: Announcement,
}

/// Where a flag's effective state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// No runtime change: the static default from `[features]`.
    Default,
    /// A runtime change stored in the database, made at this time.
    Runtime { updated_at: DateTime<Utc> },
}

/// One flag as the store knows it: its declaration, its static default and its effective state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub definition: &'static FlagDefinition,
    pub default_enabled: bool,
    pub state: FlagState,
    pub salt: String,
    pub source: Source,
}

impl Flag {
    pub fn name(&self) -> &'static str {
        self.definition.name
    }

    /// Whether the answer depends on who asks: enabled, and rolled out to some visitors but not all.
    pub fn depends_on_subject(&self) -> bool {
        self.state.enabled && (1..100).contains(&self.state.rollout_percent)
    }

    /// Whether the flag is on for `subject`. Without a subject a partial rollout counts as off: nobody
    /// can be placed in a bucket.
    pub fn is_on_for(&self, subject: Option<&str>) -> bool {
        if !self.state.enabled || self.state.rollout_percent == 0 {
            return false;
        }
        if self.state.rollout_percent >= 100 {
            return true;
        }
        subject.is_some_and(|subject| {
            bucket::in_rollout(&self.salt, subject, self.state.rollout_percent)
        })
    }

    /// Whether the flag's expiry date has passed on `today`.
    pub fn is_expired(&self, today: NaiveDate) -> bool {
        self.definition
            .expires
            .is_some_and(|expires| today > expires)
    }
}

/// A declared flag and its static default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Declared {
    pub(crate) definition: &'static FlagDefinition,
    pub(crate) default_enabled: bool,
}

impl Declared {
    pub(crate) fn default_flag(&self) -> Flag {
        Flag {
            definition: self.definition,
            default_enabled: self.default_enabled,
            state: FlagState {
                enabled: self.default_enabled,
                rollout_percent: 100,
            },
            // The flag's name, which is also the salt its first database row gets: a flag keeps its
            // buckets when it moves from its default to a runtime change.
            salt: self.definition.name.to_owned(),
            source: Source::Default,
        }
    }

    /// The flag as its database row says.
    pub(crate) fn flag_from_row(&self, row: feature_flag::Model) -> Flag {
        Flag {
            definition: self.definition,
            default_enabled: self.default_enabled,
            state: FlagState {
                enabled: row.enabled,
                // The table's check constraint keeps it within 0–100.
                rollout_percent: u8::try_from(row.rollout_percent.clamp(0, 100)).unwrap_or(100),
            },
            salt: row.salt,
            source: Source::Runtime {
                updated_at: row.updated_at.with_timezone(&Utc),
            },
        }
    }

    /// The catalogue joined with `[features]`; both must declare the same flags.
    pub(crate) fn all(settings: &Settings) -> Result<Vec<Declared>, Error> {
        let defaults = &settings.features;
        let mut declared = Vec::with_capacity(catalog::CATALOG.len());
        for definition in catalog::CATALOG {
            let default_enabled = defaults.default_of(definition.name).ok_or_else(|| {
                Error::Catalog(format!(
                    "{} is declared in catalog.rs but has no default in [features] of profiles/default.toml",
                    definition.name
                ))
            })?;
            declared.push(Declared {
                definition,
                default_enabled,
            });
        }
        if let Some(extra) = defaults
            .0
            .keys()
            .find(|name| catalog::definition(name).is_none())
        {
            return Err(Error::Catalog(format!(
                "{extra} has a default in [features] but is not declared in catalog.rs"
            )));
        }
        Ok(declared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(default_enabled: bool) -> Declared {
        Declared {
            definition: &catalog::CATALOG[0],
            default_enabled,
        }
    }

    fn flag(enabled: bool, rollout_percent: u8) -> Flag {
        Flag {
            state: FlagState {
                enabled,
                rollout_percent,
            },
            ..declared(false).default_flag()
        }
    }

    #[test]
    fn evaluation_follows_enabled_then_rollout_then_bucket() {
        // (enabled, rollout, subject, on?) — signup_v2:visitor-1 is bucket 93 (see bucket.rs).
        let cases = [
            (false, 100, Some("visitor-1"), false),
            (true, 100, Some("visitor-1"), true),
            (true, 100, None, true),
            (true, 0, Some("visitor-1"), false),
            (true, 93, Some("visitor-1"), false),
            (true, 94, Some("visitor-1"), true),
            (true, 50, None, false),
            (false, 94, Some("visitor-1"), false),
        ];
        for (enabled, rollout, subject, expected) in cases {
            assert_eq!(
                flag(enabled, rollout).is_on_for(subject),
                expected,
                "enabled={enabled} rollout={rollout} subject={subject:?}"
            );
        }
    }

    #[test]
    fn only_partial_rollouts_depend_on_the_subject() {
        assert!(!flag(false, 50).depends_on_subject());
        assert!(!flag(true, 100).depends_on_subject());
        assert!(!flag(true, 0).depends_on_subject());
        assert!(flag(true, 1).depends_on_subject());
        assert!(flag(true, 99).depends_on_subject());
    }

    #[test]
    fn a_default_is_fully_on_or_off_salted_with_the_name() {
        let on = declared(true).default_flag();
        assert_eq!(
            on.state,
            FlagState {
                enabled: true,
                rollout_percent: 100
            }
        );
        assert_eq!(on.salt, on.name());
        assert_eq!(on.source, Source::Default);
        assert!(!declared(false).default_flag().is_on_for(Some("anyone")));
    }

    #[test]
    fn a_flag_expires_the_day_after_its_date() {
        let flag = declared(false).default_flag();
        let Some(expires) = flag.definition.expires else {
            panic!("the first catalogue flag has an expiry date");
        };
        assert!(!flag.is_expired(expires));
        assert!(flag.is_expired(expires.succ_opt().unwrap()));
    }
}
