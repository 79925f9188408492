//! Secret stores read once at start-up: the AWS SSM Parameter Store (every parameter under one path, with
//! the official SDK) and HashiCorp Vault (or OpenBao), a KV version 2 secret read after an AppRole login.
//! What a store holds is handed back as `keel_config::StoreEntry` values, which the binary
//! passes to the settings loader as layer 5 (above secret files, below environment variables).
//!
//! This crate knows nothing of how settings are merged, validated or shown (that is `keel-config`'s),
//! nor of routes, databases or the exit codes a failure maps to: it reads what `[secrets]` names and
//! reports, per store, what it read (names, never values) or why it could not.

mod error;
mod ssm;
mod transport;
mod vault;

use std::time::Duration;

use keel_config::{SecretsSettings, StoreEntry};

pub use crate::error::Error;

/// What reading one store came to.
#[derive(Debug)]
pub struct StoreReport {
    /// `ssm` or `vault`.
    pub store: &'static str,
    /// Where it was read, without credentials: `/keel/production/ in eu-west-1`,
    /// `secret/keel/production at http://127.0.0.1:8200`.
    pub location: String,
    pub outcome: Result<Read, Error>,
}

/// A store that was read: how keel signed in and the names of the values it gave.
#[derive(Debug)]
pub struct Read {
    /// `AppRole login`, `token (VAULT_TOKEN)`, `access key (AWS_ACCESS_KEY_ID)` or
    /// `the AWS credential chain`.
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
    settings.ssm.enabled || settings.vault.addr.is_some()
}

/// Reads every configured store, each call bounded by `secrets.timeout_secs` and tried at most twice,
/// the whole by `secrets.startup_timeout_secs`. Never fails as a whole: each store's report says how it
/// went, and the caller applies the environment's policy.
///
/// SSM is read before Vault and its entries come first, so where both give a key, Vault's value wins
/// (the loader lets a later entry replace an earlier one), as docs/secrets.md says.
pub async fn read_stores(settings: &SecretsSettings) -> Outcome {
    let started = tokio::time::Instant::now();
    let mut outcome = Outcome::default();
    if settings.ssm.enabled {
        let ssm = &settings.ssm;
        let mut location = format!(
            "{} in {}",
            ssm.location(),
            ssm.region.as_deref().unwrap_or_default()
        );
        if let Some(endpoint) = &ssm.endpoint_url {
            location.push_str(&format!(" at {}", transport::shown_origin(endpoint)));
        }
        let read = within(settings.startup_timeout, ssm::read(ssm, settings.timeout)).await;
        outcome.record("ssm", location, read);
    }
    if let Some(addr) = &settings.vault.addr {
        let location = format!(
            "{} at {}",
            settings.vault.location(),
            transport::shown_origin(addr)
        );
        // The deadline covers every store together: Vault gets what SSM left of it.
        let left = settings.startup_timeout.saturating_sub(started.elapsed());
        let read = within(left, vault::read(addr, &settings.vault, settings.timeout))
            .await
            .map_err(|error| match error {
                Error::Deadline { .. } => Error::Deadline {
                    secs: settings.startup_timeout.as_secs(),
                },
                other => other,
            });
        outcome.record("vault", location, read);
    }
    outcome
}

impl Outcome {
    /// Keeps what one store gave and adds its report.
    fn record(
        &mut self,
        store: &'static str,
        location: String,
        read: Result<(&'static str, Vec<StoreEntry>), Error>,
    ) {
        let result = read.map(|(authenticated_by, entries)| {
            let mut names: Vec<String> = entries.iter().map(|entry| entry.name.clone()).collect();
            names.sort();
            self.entries.extend(entries);
            Read {
                authenticated_by,
                names,
            }
        });
        self.reports.push(StoreReport {
            store,
            location,
            outcome: result,
        });
    }
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
