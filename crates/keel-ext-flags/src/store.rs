//! The runtime store: every flag's effective state, read without a lock on every request.
//!
//! Invariants:
//! - The effective state of a flag is its database row when one exists (a runtime change), else its
//!   static default from `[features]` (enabled or not, rolled out to 100 %, salted with its name).
//! - Readers `load` the current [`Snapshot`] from an [`ArcSwap`]: no lock, no allocation, no await. Writers
//!   (a change, a resync) build a whole new snapshot from the database and swap it in, so a reader sees
//!   either the old state or the new one, never half of each.
//! - The database is the source of truth across instances; Redis messages and the periodic resync only
//!   tell an instance *when* to reload it, so a lost message delays a change but never loses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use chrono::{DateTime, NaiveDate, Utc};
use keel_config::Settings;
use keel_ext_db::Db;
use keel_ext_db::entities::feature_flag;
use serde::Serialize;
use tokio::task::AbortHandle;
use tracing::Instrument as _;

use crate::Error;
use crate::bucket;
use crate::catalog::{self, FlagDefinition};
use crate::persist::{self, AuditEntry};
use crate::sync::{Announcer, Outage, RedisStatus};

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

/// Every flag at one moment; replaced whole, never changed in place.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    flags: HashMap<&'static str, Flag>,
    /// Whether any flag's answer depends on the visitor right now (see [`Flag::depends_on_subject`]).
    any_partial: bool,
}

impl Snapshot {
    /// Effective states: the static defaults, with the database rows laid over them. Rows for flags no
    /// longer declared are left out (the row stays, so its history survives a flag's removal).
    fn build(declared: &[Declared], rows: Vec<feature_flag::Model>) -> Snapshot {
        let mut rows: HashMap<String, feature_flag::Model> = rows
            .into_iter()
            .map(|row| (row.name.clone(), row))
            .collect();
        let flags: HashMap<&'static str, Flag> = declared
            .iter()
            .map(|declared| {
                let flag = match rows.remove(declared.definition.name) {
                    Some(row) => declared.flag_from_row(row),
                    None => declared.default_flag(),
                };
                (declared.definition.name, flag)
            })
            .collect();
        let any_partial = flags.values().any(Flag::depends_on_subject);
        Snapshot { flags, any_partial }
    }

    /// Whether any flag is rolled out to some visitors but not all: then every new visitor needs an id.
    pub fn any_partial_rollout(&self) -> bool {
        self.any_partial
    }

    pub fn get(&self, name: &str) -> Option<&Flag> {
        self.flags.get(name)
    }

    /// Every flag, in catalogue order.
    pub fn flags(&self) -> Vec<&Flag> {
        catalog::CATALOG
            .iter()
            .filter_map(|definition| self.flags.get(definition.name))
            .collect()
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
    fn all(settings: &Settings) -> Result<Vec<Declared>, Error> {
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

/// A cheap-to-clone handle on the flags. Clones share one snapshot and one set of background tasks; the
/// tasks stop when the last clone is dropped (or at [`FlagStore::stop_sync`]).
#[derive(Debug, Clone)]
pub struct FlagStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) declared: Vec<Declared>,
    pub(crate) snapshot: ArcSwap<Snapshot>,
    /// Held from a resync's query until its snapshot is stored, so a slow resync can never store an
    /// older state over a newer one.
    pub(crate) resync_lock: tokio::sync::Mutex<()>,
    pub(crate) db: Db,
    pub(crate) announcer: Option<Announcer>,
    /// Resyncs from the database failing (logged once per outage).
    pub(crate) database_outage: Outage,
    pub(crate) redis_status: RedisStatus,
    pub(crate) tasks: Mutex<Vec<AbortHandle>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

impl FlagStore {
    /// Loads every flag from the database over its static default. No background task is started: the
    /// CLI uses the store like this; `serve` also calls [`FlagStore::spawn_sync`].
    pub async fn open(settings: &Settings, db: Db) -> Result<FlagStore, Error> {
        let declared = Declared::all(settings)?;
        let rows = persist::load_rows(&db).await?;
        let snapshot = Snapshot::build(&declared, rows);
        let announcer = match &settings.redis.url {
            Some(url) => Some(Announcer::new(url, &settings.flag_sync.redis_channel)?),
            None => None,
        };
        let redis_status = RedisStatus::default();
        Ok(FlagStore {
            shared: Arc::new(Shared {
                declared,
                snapshot: ArcSwap::from_pointee(snapshot),
                resync_lock: tokio::sync::Mutex::new(()),
                db,
                announcer,
                database_outage: Outage::default(),
                redis_status,
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Starts the periodic resync (every `flag_sync.resync_interval_secs`) and, when `redis.url` is set,
    /// the listener that resyncs as soon as any instance announces a change.
    pub fn spawn_sync(&self, settings: &Settings) {
        let mut tasks = Vec::new();
        let weak = Arc::downgrade(&self.shared);
        tasks.push(
            tokio::spawn(crate::sync::resync_every(
                weak.clone(),
                settings.flag_sync.resync_interval(),
            ))
            .abort_handle(),
        );
        if let Some(announcer) = &self.shared.announcer {
            tasks.push(tokio::spawn(crate::sync::listen(weak, announcer.clone())).abort_handle());
        }
        self.shared
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(tasks);
    }

    /// Stops the background tasks; the store keeps answering from its last snapshot.
    pub fn stop_sync(&self) {
        for task in self
            .shared
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }

    /// Whether `name` is on for `subject`. An undeclared flag is off. Lock-free: one atomic load and a
    /// hash lookup, plus one SHA-256 when the flag is partly rolled out.
    pub fn is_enabled(&self, name: &str, subject: Option<&str>) -> bool {
        self.load()
            .get(name)
            .is_some_and(|flag| flag.is_on_for(subject))
    }

    /// The current snapshot, to read several flags consistently.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// The current snapshot for a short read on the request path: no reference count is touched.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.shared.snapshot.load()
    }

    /// One flag, or [`Error::UnknownFlag`].
    pub fn flag(&self, name: &str) -> Result<Flag, Error> {
        self.shared
            .snapshot
            .load()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::unknown_flag(name))
    }

    /// Changes a flag: the new state and an audit row (`actor`, old → new) are written in one
    /// transaction, this instance applies it at once, and it is announced to the others on Redis (when
    /// configured; otherwise, or when Redis fails, they pick it up at their next resync). Once the
    /// transaction has committed, nothing fails the change.
    pub async fn set(&self, name: &str, change: Change, actor: &str) -> Result<Changed, Error> {
        if let Some(percent) = change.rollout_percent.filter(|percent| *percent > 100) {
            return Err(Error::RolloutOutOfRange(percent));
        }
        if actor.is_empty()
            || actor.chars().count() > ACTOR_MAX_CHARS
            || !actor.chars().all(is_actor_char)
        {
            return Err(Error::InvalidActor);
        }
        let declared = self
            .shared
            .declared
            .iter()
            .find(|declared| declared.definition.name == name)
            .ok_or_else(|| Error::unknown_flag(name))?;
        let span = tracing::info_span!(
            "flags.set",
            flag.name = name,
            flag.enabled = change.enabled,
            // As i64: OpenTelemetry has no small integers, and a u8 would be exported as text.
            flag.rollout_percent = change.rollout_percent.map(i64::from),
            flag.actor = actor
        );
        async {
            let (before, written) =
                persist::write_change(&self.shared.db, declared, change, actor).await?;
            let flag = declared.flag_from_row(written);
            tracing::info!(
                flag = name,
                enabled = flag.state.enabled,
                rollout_percent = flag.state.rollout_percent,
                actor,
                "flag changed"
            );
            self.shared.resync_logged().await;
            let announcement = match &self.shared.announcer {
                None => Announcement::NotConfigured,
                Some(announcer) => announcer.announce(name).await,
            };
            Ok(Changed {
                before,
                flag,
                announcement,
            })
        }
        .instrument(span)
        .await
    }

    /// The newest `limit` changes of `name`, newest first.
    pub async fn audit(&self, name: &str, limit: u64) -> Result<Vec<AuditEntry>, Error> {
        self.flag(name)?;
        persist::audit(&self.shared.db, name, limit).await
    }

    /// Reloads every flag from the database now.
    pub async fn resync(&self) -> Result<(), Error> {
        self.shared.resync().await
    }

    /// Whether this instance hears Redis announcements: `None` when `redis.url` is not set.
    pub fn redis_connected(&self) -> Option<bool> {
        self.shared
            .announcer
            .as_ref()
            .map(|_| self.shared.redis_status.connected())
    }
}

impl Shared {
    pub(crate) async fn resync(&self) -> Result<(), Error> {
        let _one_at_a_time = self.resync_lock.lock().await;
        let rows = persist::load_rows(&self.db)
            .instrument(tracing::debug_span!("flags.resync"))
            .await?;
        self.snapshot
            .store(Arc::new(Snapshot::build(&self.declared, rows)));
        Ok(())
    }

    /// [`Shared::resync`] for background tasks: a failure keeps the last snapshot and is logged once
    /// per outage, not once per attempt.
    pub(crate) async fn resync_logged(&self) {
        match self.resync().await {
            Ok(()) => {
                self.database_outage
                    .recovered("flag resync from the database works again");
            }
            Err(error) => {
                self.database_outage.failed(
                    &error,
                    "cannot reload flags from the database; serving their last known state",
                );
            }
        }
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
