//! Feature flags: static defaults, a lock-free runtime store synced through the database and Redis,
//! percentage rollouts by visitor, and the guard that hides a page behind a flag.
//!
//! - [`catalog`]: the declared flags (description, owner, expiry); defaults come from `[features]`.
//! - [`FlagStore`]: effective states, read lock-free; changes are written with an audit row and announced.
//! - [`bucket`]: the rollout formula.
//! - [`visitor`]: the signed anonymous visitor cookie, and [`Flags`], the per-request evaluator.
//! - [`require_flag`]: a route layer answering 404 while a flag is off for the visitor.
//!
//! This crate knows nothing of routes or templates: blueprints use the extractor and the layer, and
//! the app factory installs the visitor middleware.

pub mod bucket;
pub mod catalog;
mod flag;
mod guard;
mod persist;
mod store;
mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod visitor;

pub use crate::flag::{
    ACTOR_MAX_CHARS, Announcement, Change, Changed, Flag, FlagState, Source, is_actor_char,
};
pub use crate::guard::{RequireFlag, RequireFlagLayer, require_flag};
pub use crate::persist::AuditEntry;
pub use crate::store::{FlagStore, Snapshot};
pub use crate::sync::probe_redis;
pub use crate::visitor::{Flags, VisitorCookies};

/// Everything the flag store can fail with. Messages name the flag or setting, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("there is no flag {name:?}: the flags are {known}")]
    UnknownFlag { name: String, known: String },
    #[error("rollout_percent is {0}: write a share from 0 to 100")]
    RolloutOutOfRange(u8),
    #[error(
        "the actor must be 1 to 128 letters, digits, spaces or . _ - @ + ' : / (no control or invisible characters)"
    )]
    InvalidActor,
    #[error("the flag catalogue and [features] disagree: {0}")]
    Catalog(String),
    #[error("redis.url {url} cannot be used: {reason}")]
    RedisUrl { url: String, reason: String },
    #[error("Redis at {url} fails: {reason}")]
    RedisUnavailable { url: String, reason: String },
    #[error(transparent)]
    Database(#[from] keel_ext_db::Error),
}

impl Error {
    pub(crate) fn unknown_flag(name: &str) -> Error {
        Error::UnknownFlag {
            name: name.to_owned(),
            known: catalog::CATALOG
                .iter()
                .map(|flag| flag.name)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    pub(crate) fn database(error: sea_orm::DbErr) -> Error {
        Error::Database(keel_ext_db::Error::Query(error))
    }
}

#[cfg(test)]
mod tests;
