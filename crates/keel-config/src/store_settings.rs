//! The `[secrets]` section's types, and what a secret store hands the loader: a leaf that the settings
//! and the loader both use (its validation and the loading are in `stores.rs`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Where secrets come from besides files and variables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// Setting keys (`security.secret_key`) that a secret store must give. Staging and production refuse
    /// to start without them; development and testing warn.
    pub required: Vec<String>,
    /// How long one call to a store may take; a call that fails or times out is tried once more.
    #[serde(rename = "timeout_secs", with = "crate::kinds::seconds")]
    pub timeout: Duration,
    /// How long reading every store may take at start-up, retries included.
    #[serde(rename = "startup_timeout_secs", with = "crate::kinds::seconds")]
    pub startup_timeout: Duration,
    pub ssm: SsmSettings,
    pub vault: VaultSettings,
}

/// AWS Systems Manager Parameter Store: every parameter under one path per environment, read recursively
/// and decrypted. Region, endpoint and credentials come from the standard AWS variables (see
/// docs/secrets.md for exactly what is read from where).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsmSettings {
    /// Whether the Parameter Store is read (`APP_SECRETS__SSM__ENABLED=true`).
    pub enabled: bool,
    /// The path whose parameters are read; by default `/<app.name>/<environment>/`.
    pub path: String,
    /// The AWS region (`AWS_REGION`, or `AWS_DEFAULT_REGION`); needed when SSM is enabled. ECS and EKS
    /// set `AWS_REGION` in every container.
    pub region: Option<String>,
    /// An endpoint instead of AWS's own (`AWS_ENDPOINT_URL_SSM`, or `AWS_ENDPOINT_URL`), for a local
    /// stand-in such as moto.
    pub endpoint_url: Option<String>,
    /// A static access key (`AWS_ACCESS_KEY_ID`). Unset: the SDK's credential chain (web identity,
    /// the ECS task role, the shared files' profile, the instance profile).
    pub access_key_id: Option<Secret>,
    /// The access key's secret (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret>,
    /// A session token for temporary credentials (`AWS_SESSION_TOKEN`).
    pub session_token: Option<Secret>,
}

impl SsmSettings {
    /// The path with one trailing slash: `/keel/production/`, as provenance and messages show it.
    pub fn location(&self) -> String {
        format!("{}/", self.path.trim_end_matches('/'))
    }
}

/// HashiCorp Vault (or OpenBao): one KV version 2 secret per environment, read after an AppRole login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSettings {
    /// The server, e.g. `https://vault.internal:8200`. Unset (the default): Vault is not read.
    /// `VAULT_ADDR` sets it too.
    pub addr: Option<String>,
    /// The KV version 2 secrets engine's mount.
    pub mount: String,
    /// The secret inside the mount; by default `<app.name>/<environment>`.
    pub path: String,
    /// Where the AppRole auth method is mounted.
    pub auth_mount: String,
    /// AppRole role id (`VAULT_ROLE_ID`, or `VAULT_ROLE_ID_FILE`).
    pub role_id: Option<Secret>,
    /// AppRole secret id (`VAULT_SECRET_ID`, or `VAULT_SECRET_ID_FILE`).
    pub secret_id: Option<Secret>,
    /// A token used instead of an AppRole login, for development (`VAULT_TOKEN`).
    pub token: Option<Secret>,
    /// Vault Enterprise namespace (`VAULT_NAMESPACE`), sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// A PEM file of the private CA that signed Vault's certificate (`VAULT_CACERT`), trusted besides
    /// the public roots.
    pub cacert: Option<String>,
}

impl VaultSettings {
    /// `mount/path`, as the operator writes it and as provenance shows it.
    pub fn location(&self) -> String {
        format!(
            "{}/{}",
            self.mount.trim_matches('/'),
            self.path.trim_matches('/')
        )
    }
}

/// One value read from a secret store, as the binary hands it to the loader.
#[derive(Debug, Clone)]
pub struct StoreEntry {
    /// The store's name for it: a Vault field (`secret_key`, `security.admin_token`), or a parameter's
    /// name below the SSM path, `/` read as `.` (`SECRET_KEY`, `security.admin_token`).
    pub name: String,
    pub value: Secret,
    /// Where it was read, shown as its provenance: `vault:secret/keel/production#secret_key`,
    /// `ssm:/keel/production/SECRET_KEY`.
    pub origin: String,
}
