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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use keel_config::Settings;
use keel_ext_db::Db;
use keel_ext_db::entities::feature_flag;
use tokio::task::AbortHandle;
use tracing::Instrument as _;

use crate::Error;
use crate::catalog;
use crate::flag::{ACTOR_MAX_CHARS, Announcement, Change, Changed, Declared, Flag, is_actor_char};
use crate::persist::{self, AuditEntry};
use crate::sync::{Announcer, Outage, RedisStatus, Resync};

/// Every flag at one moment; replaced whole, never changed in place.
#[derive(Debug, Clone)]
pub struct Snapshot {
    flags: HashMap<&'static str, Flag>,
    /// Whether any flag's answer depends on the visitor right now (see [`Flag::depends_on_subject`]).
    any_partial: bool,
    /// When the rows behind this snapshot were read from the database.
    loaded_at: Instant,
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
        Snapshot {
            flags,
            any_partial,
            loaded_at: Instant::now(),
        }
    }

    /// How long ago this snapshot was read from the database: it grows past
    /// `flag_sync.resync_interval_secs` only while resyncs fail.
    pub fn age(&self) -> Duration {
        self.loaded_at.elapsed()
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
    /// Background resyncs that failed since the store opened (every one, not once per outage).
    pub(crate) resync_failures: AtomicU64,
    /// Shared with the Redis listener, which alone changes it.
    pub(crate) redis_status: Arc<RedisStatus>,
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
        let redis_status = Arc::default();
        Ok(FlagStore {
            shared: Arc::new(Shared {
                declared,
                snapshot: ArcSwap::from_pointee(snapshot),
                resync_lock: tokio::sync::Mutex::new(()),
                db,
                announcer,
                database_outage: Outage::default(),
                resync_failures: AtomicU64::new(0),
                redis_status,
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Starts the periodic resync (every `flag_sync.resync_interval_secs`) and, when `redis.url` is set,
    /// the listener that resyncs as soon as any instance announces a change.
    pub fn spawn_sync(&self, settings: &Settings) {
        let mut tasks = Vec::new();
        tasks.push(
            tokio::spawn(crate::sync::resync_every(
                self.resync_callback(),
                settings.flag_sync.resync_interval,
            ))
            .abort_handle(),
        );
        if let Some(announcer) = &self.shared.announcer {
            let listener = crate::sync::listen(
                self.resync_callback(),
                announcer.clone(),
                Arc::clone(&self.shared.redis_status),
            );
            tasks.push(tokio::spawn(listener).abort_handle());
        }
        self.shared
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(tasks);
    }

    /// What the background tasks call to reload the flags. It holds the store weakly, so the tasks never
    /// keep it alive: once the last clone is dropped it answers `false` and the task ends.
    fn resync_callback(&self) -> Resync {
        let store = Arc::downgrade(&self.shared);
        Arc::new(move || {
            let store = store.clone();
            Box::pin(async move {
                let Some(shared) = store.upgrade() else {
                    return false;
                };
                shared.resync_logged().await;
                true
            })
        })
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

    /// How many background resyncs failed since the store opened (for the metrics).
    pub fn resync_failures(&self) -> u64 {
        self.shared.resync_failures.load(Ordering::Relaxed)
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
                self.resync_failures.fetch_add(1, Ordering::Relaxed);
                self.database_outage.failed(
                    &error,
                    "cannot reload flags from the database; serving their last known state",
                );
            }
        }
    }
}
