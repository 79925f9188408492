//! Secret stores read once at start-up: HashiCorp Vault (or OpenBao), a KV version 2 secret read after an
//! AppRole login. What a store holds is handed back as `keel_config::StoreEntry` values, which the binary
//! passes to the settings loader as layer 5 (above secret files, below environment variables).
//!
//! This crate knows nothing of how settings are merged, validated or shown (that is `keel-config`'s),
//! nor of routes, databases or the exit codes a failure maps to: it reads what `[secrets]` names and
//! reports, per store, what it read (names, never values) or why it could not.

mod error;
mod transport;
mod vault;

use std::time::Duration;

use keel_config::{SecretsSettings, StoreEntry};

pub use crate::error::Error;

/// What reading one store came to.
#[derive(Debug)]
pub struct StoreReport {
    /// `vault`.
    pub store: &'static str,
    /// Where it was read, without credentials: `secret/keel/production at http://127.0.0.1:8200`.
    pub location: String,
    pub outcome: Result<Read, Error>,
}

/// A store that was read: how keel signed in and the names of the values it gave.
#[derive(Debug)]
pub struct Read {
    /// `AppRole login` or `token (VAULT_TOKEN)`.
    pub authenticated_by: &'static str,
    /// The store's names of the values read, sorted.
    pub names: Vec<String>,
}

/// Everything read from every configured store, and a report for each store.
#[derive(Debug, Default)]
pub struct Outcome {
    pub entries: Vec<StoreEntry>,
    pub reports: Vec<StoreReport>,
}

/// Whether any store is configured, so the caller can skip starting a runtime for nothing.
pub fn any_configured(settings: &SecretsSettings) -> bool {
    settings.vault.addr.is_some()
}

/// Reads every configured store, each call bounded by `secrets.timeout_secs` and tried at most twice,
/// the whole by `secrets.startup_timeout_secs`. Never fails as a whole: each store's report says how it
/// went, and the caller applies the environment's policy.
pub async fn read_stores(settings: &SecretsSettings) -> Outcome {
    let mut outcome = Outcome::default();
    if let Some(addr) = &settings.vault.addr {
        let location = format!(
            "{} at {}",
            settings.vault.location(),
            transport::shown_origin(addr)
        );
        let read = within(
            settings.startup_timeout,
            vault::read(addr, &settings.vault, settings.timeout),
        )
        .await;
        let result = read.map(|(authenticated_by, entries)| {
            let mut names: Vec<String> = entries.iter().map(|entry| entry.name.clone()).collect();
            names.sort();
            outcome.entries.extend(entries);
            Read {
                authenticated_by,
                names,
            }
        });
        outcome.reports.push(StoreReport {
            store: "vault",
            location,
            outcome: result,
        });
    }
    outcome
}

/// `reading`, given up when `deadline` passes.
async fn within<T>(
    deadline: Duration,
    reading: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(deadline, reading)
        .await
        .unwrap_or(Err(Error::Deadline {
            secs: deadline.as_secs(),
        }))
}
