//! The settings load with the secret stores read between its two phases, and the environment's policy
//! for a store that cannot be read: development and testing warn and go on without its values; staging
//! and production refuse to start (exit 78) naming the store, the path and the cause.
//!
//! A store that was read but gave nothing (an SSM path with no parameter under it) only warns, in every
//! environment: an empty path is a valid answer, and `secrets.required` is how a deployment says which
//! keys must come from a store.
//!
//! `keel check` goes on past a store that cannot be read, so it can report it next to every other check.

use keel_config::{LoadOptions, Loaded};
use keel_ext_secrets::StoreReport;

use crate::failure::Failure;

/// Loads the settings, first reading the stores that `[secrets]` names. With `report_only`, a store
/// that cannot be read is left to the caller to report (`keel check`).
pub(crate) fn load(
    mut options: LoadOptions,
    report_only: bool,
) -> Result<(Loaded, Vec<StoreReport>), Failure> {
    let preloaded = match keel_config::preload(&options) {
        Ok(preloaded) => preloaded,
        // The whole load reports every problem, those of the sections the first phase skips too.
        Err(error) => return Err(keel_config::load(&options).err().unwrap_or(error).into()),
    };
    if !keel_ext_secrets::any_configured(&preloaded.secrets) {
        return Ok((keel_config::load(&options)?, Vec::new()));
    }
    let outcome = crate::runtime()?.block_on(keel_ext_secrets::read_stores(&preloaded.secrets));
    let failures: Vec<String> = outcome
        .reports
        .iter()
        .filter_map(|report| {
            let error = report.outcome.as_ref().err()?;
            Some(format!(
                "secret store {} ({}): {error}",
                report.store, report.location
            ))
        })
        .collect();
    let local = preloaded.app.env.is_local();
    if !failures.is_empty() && !local && !report_only {
        return Err(Failure::config(failures.join("; ")));
    }
    options.store_entries = outcome.entries;
    let mut loaded = match keel_config::load(&options) {
        Ok(loaded) => loaded,
        // The store that could not be read is likely why a setting is missing: say both.
        Err(error) if !failures.is_empty() => {
            return Err(Failure::config(format!("{}\n{error}", failures.join("\n"))));
        }
        Err(error) => return Err(error.into()),
    };
    if !report_only {
        loaded.warnings.extend(
            failures
                .into_iter()
                .map(|failure| format!("{failure}; going on without its values")),
        );
    }
    loaded.warnings.extend(outcome.reports.iter().filter_map(|report| {
        let read = report.outcome.as_ref().ok()?;
        read.names.is_empty().then(|| {
            format!(
                "secret store {} ({}): it holds nothing there, so it gave no value: write the secrets into it, or check the path",
                report.store, report.location
            )
        })
    }));
    Ok((loaded, outcome.reports))
}

/// `keel check`'s line for each store: reachable, signed in, the names it gave (never the values).
pub(crate) fn report_lines(reports: &[StoreReport]) -> Vec<Result<String, String>> {
    if reports.is_empty() {
        return vec![Ok(
            "secret stores: none configured (secrets.ssm.enabled is false, and secrets.vault.addr, or VAULT_ADDR, is not set)"
                .to_owned(),
        )];
    }
    reports
        .iter()
        .map(|report| {
            let store = format!("secret store {}: {}", report.store, report.location);
            match &report.outcome {
                Ok(read) if read.names.is_empty() => Ok(format!(
                    "{store}: reachable, signed in by {}, but it holds nothing there",
                    read.authenticated_by
                )),
                Ok(read) => Ok(format!(
                    "{store}: reachable, signed in by {}, {} key(s) read: {}",
                    read.authenticated_by,
                    read.names.len(),
                    read.names.join(", ")
                )),
                Err(error) => Err(format!("{store}: {error}")),
            }
        })
        .collect()
}
