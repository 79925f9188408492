//! keel's settings: environments, typed sections, layered loading with provenance, and masking.
//!
//! This crate is the only one that reads environment variables or files for settings. It knows nothing of
//! HTTP, databases or tracing: the other crates receive the typed [`Settings`] it produces.

mod environment;
mod error;
mod load;
mod provenance;
mod secret;
mod settings;

pub use crate::environment::{Environment, UnknownEnvironment};
pub use crate::error::{Error, SourcedProblem};
pub use crate::load::{DEFAULT_INSTANCE_DIR, LoadOptions, Loaded, Override, Vars, load};
pub use crate::provenance::{COMMON_KEYS, Entry, Provenance};
pub use crate::secret::{ConnectionUrl, Secret, mask};
pub use crate::settings::{
    AppSettings, DatabaseSettings, LogFormat, Problem, SecuritySettings, ServerSettings, Settings,
    StaticFilesSettings, TelemetrySettings,
};

#[cfg(test)]
mod tests;
