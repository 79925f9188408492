//! keel's settings: environments, typed sections, layered loading with provenance, and masking.
//!
//! This crate is the only one that reads environment variables or files for settings. It knows nothing of
//! HTTP, databases or tracing: the other crates receive the typed [`Settings`] it produces.

mod bounds;
mod de;
mod environment;
mod error;
mod fields;
mod grammar;
mod kinds;
mod layers;
mod load;
mod merge;
mod otlp;
mod provenance;
mod read;
mod secret;
mod settings;
mod store_settings;
mod stores;
mod validate;
mod vars;
mod view;

pub use crate::environment::{Environment, UnknownEnvironment};
pub use crate::error::{Error, Problem};
pub use crate::load::{Loaded, load, preload};
pub use crate::merge::{DEFAULT_INSTANCE_DIR, LoadOptions, LogFilterCheck};
pub use crate::provenance::Provenance;
pub use crate::secret::{ConnectionUrl, Fingerprints, Secret};
pub use crate::settings::{
    AppSettings, DatabaseSettings, FeatureSettings, FlagSyncSettings, LogFormat, NotesSettings,
    OtlpProtocol, RedisSettings, STATEMENT_LOG_LEVELS, SameSite, SecuritySettings, ServerSettings,
    Settings, Signal, SignalExport, StaticFilesSettings, TelemetrySettings, TracesSampler,
    UrlScheme,
};
pub use crate::store_settings::{SecretsSettings, SsmSettings, StoreEntry, VaultSettings};
pub use crate::stores::Preloaded;
pub use crate::vars::{Override, Vars};
pub use crate::view::{COMMON_KEYS, Entry, entries_to_json};

#[cfg(test)]
mod stores_tests;
#[cfg(test)]
mod tests;
