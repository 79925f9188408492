//! The typed settings: one struct per section, deserialized from the merged layers. What the types alone
//! cannot say (ranges, URL schemes, the production guards) is checked in `validate.rs`.
//!
//! Defaults live in `profiles/*.toml`, not here: a field with no value in any layer is a loading error,
//! so there is exactly one place where each default is written.

mod telemetry;

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::fields;
use crate::grammar::parse_network;
use crate::kinds::Choice;
use crate::secret::{ConnectionUrl, Secret};
use crate::store_settings::SecretsSettings;

pub use self::telemetry::{
    LogFormat, OtlpProtocol, Signal, SignalExport, TelemetrySettings, TracesSampler,
};

/// Every setting keel reads. Unknown keys in any layer are an error (see `docs/configuration.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub app: AppSettings,
    pub server: ServerSettings,
    pub security: SecuritySettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub static_files: StaticFilesSettings,
    pub telemetry: TelemetrySettings,
    pub features: FeatureSettings,
    pub flag_sync: FlagSyncSettings,
    pub notes: NotesSettings,
    pub secrets: SecretsSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    /// The service name: page titles, the `X-App` header, `/api/v1/version`, and (as its
    /// [`AppSettings::token`]) the runtime identifiers that must differ between services: the visitor cookie, the default Redis
    /// channel, the tracer, the default SQLite file.
    pub name: String,
    /// Set by the loader from `--env` / `APP_ENV`; files cannot change it.
    pub env: Environment,
}

impl AppSettings {
    /// The name as a token for identifiers: lowercase letters and digits, other characters turned into
    /// `-` (`"My Shop"` → `my-shop`; `keel` stays `keel`).
    pub fn token(&self) -> String {
        name_token(&self.name)
    }
}

/// `name` as a token that fits a cookie name, a file name and a channel name: lowercase ASCII letters
/// and digits, with every other run of characters turned into one `-` (`"My Shop"` → `my-shop`).
/// `keel` stays `keel`, so the default name keeps its identifiers.
pub(crate) fn name_token(name: &str) -> String {
    let lowercase = name.to_ascii_lowercase();
    let words: Vec<&str> = lowercase
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect();
    if words.is_empty() {
        // Only for a name of punctuation alone; `app.name` must not be empty.
        "app".to_owned()
    } else {
        words.join("-")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    /// `0` asks the operating system for a free port; the start-up log line says which one it got.
    pub port: u16,
    pub max_body_bytes: usize,
    /// How long a request may take before it is answered 504 (or 408 while its body is still arriving).
    #[serde(rename = "request_timeout_secs", with = "crate::kinds::seconds")]
    pub request_timeout: Duration,
    /// How long a client may take to send a request's headers before the connection is closed, so slow
    /// clients cannot hold connections open.
    #[serde(rename = "header_read_timeout_secs", with = "crate::kinds::seconds")]
    pub header_read_timeout: Duration,
    /// After SIGTERM/SIGINT, how long readiness answers 503 while new connections are still accepted, so
    /// a load balancer notices before the listener closes.
    #[serde(rename = "drain_delay_secs", with = "crate::kinds::seconds")]
    pub drain_delay: Duration,
    /// How long in-flight requests may take to finish once the listener has closed.
    #[serde(
        rename = "graceful_shutdown_timeout_secs",
        with = "crate::kinds::seconds"
    )]
    pub graceful_shutdown_timeout: Duration,
    /// Compress responses with gzip for clients that accept it. Turn off when a proxy in front compresses.
    pub compression: bool,
    /// The proxies (CIDRs such as `10.0.0.0/8`, or single addresses) whose `X-Forwarded-For` keel believes.
    /// A request from any other peer is logged with the peer's own address, so a client cannot pick the
    /// address it is logged under. Empty (the default) trusts no one.
    pub trusted_proxies: Vec<String>,
    /// The interface of the metrics listener (`GET /metrics`). Loopback by default, so only a scraper on
    /// the same machine (or pod) reaches it; `0.0.0.0` lets a Prometheus elsewhere scrape it.
    pub metrics_host: String,
    /// The port of the separate metrics listener. Unset (the default): no metrics listener. `0` asks the
    /// operating system for a free port; the start-up log line says which one it got.
    pub metrics_port: Option<u16>,
}

impl ServerSettings {
    /// `trusted_proxies` as networks; a single address is a network of one. Entries that do not parse
    /// were refused when the settings loaded, so none is dropped here.
    pub fn trusted_proxy_networks(&self) -> Vec<IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|entry| parse_network(entry))
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// Signs cookies. Staging and production refuse the built-in development key and keys under 32 bytes.
    pub secret_key: Secret,
    /// Origins allowed to call the app from a browser (CORS), e.g. `["https://app.example"]`. Empty means
    /// no cross-origin access; `*` means any origin, which staging and production refuse.
    pub cors_origins: Vec<String>,
    /// Methods a cross-origin request may use (when origins are allowed).
    pub cors_methods: Vec<String>,
    /// Request headers a cross-origin request may send.
    pub cors_headers: Vec<String>,
    /// Whether cross-origin requests may carry cookies and credentials; never with the `*` origin.
    pub cors_allow_credentials: bool,
    /// The `Content-Security-Policy` header sent with every response.
    pub csp: String,
    /// The scheme clients reach the app by (behind a TLS proxy that is `https`); `https` turns HSTS on.
    #[serde(with = "crate::kinds::choice")]
    pub preferred_url_scheme: UrlScheme,
    /// The bearer token of the `/ops` endpoints. Unset (the default) disables them: they answer 404.
    pub admin_token: Option<Secret>,
    /// Cookies keel sets (the visitor id) are sent only over HTTPS. On in staging and production.
    pub cookie_secure: bool,
    /// Cookies keel sets are hidden from page scripts.
    pub cookie_http_only: bool,
    /// Whether browsers send keel's cookies on cross-site requests: `strict`, `lax` or `none` (which
    /// browsers accept only with `cookie_secure`).
    #[serde(with = "crate::kinds::choice")]
    pub cookie_same_site: SameSite,
}

/// The `SameSite` attribute of the cookies keel sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

impl SameSite {
    /// The attribute value as it is written in a `Set-Cookie` header.
    pub fn as_attribute(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

impl Choice for SameSite {
    const WHAT: &'static str = "SameSite value";
    const NAMES: &'static [(&'static str, SameSite)] = &[
        ("strict", SameSite::Strict),
        ("lax", SameSite::Lax),
        ("none", SameSite::None),
    ];
}

/// How clients reach the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    Http,
    Https,
}

impl Choice for UrlScheme {
    const WHAT: &'static str = "scheme";
    const NAMES: &'static [(&'static str, UrlScheme)] =
        &[("http", UrlScheme::Http), ("https", UrlScheme::Https)];
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`. Defaults to a SQLite file in the instance folder.
    pub url: ConnectionUrl,
    /// Replaces the password of `url` when set, so the URL can live in plain configuration while the
    /// password comes from a secret file (`database_password`) or `DATABASE_PASSWORD`. The loader merges it
    /// into `url`, so every user of the URL gets it. A SQLite URL has no password: it is then ignored
    /// with a warning (`keel secrets init` writes one for PostgreSQL whatever the URL).
    pub password: Option<Secret>,
    /// The pool keeps at least this many connections open.
    pub min_connections: u32,
    pub max_connections: u32,
    /// How long opening one connection may take.
    #[serde(rename = "connect_timeout_secs", with = "crate::kinds::seconds")]
    pub connect_timeout: Duration,
    /// How long a query waits for a free connection before failing (so requests never hang on the pool).
    #[serde(rename = "acquire_timeout_secs", with = "crate::kinds::seconds")]
    pub acquire_timeout: Duration,
    /// How long an unused connection stays open.
    #[serde(rename = "idle_timeout_secs", with = "crate::kinds::seconds")]
    pub idle_timeout: Duration,
    /// At start-up, how long keel keeps retrying an unreachable database before giving up.
    #[serde(rename = "startup_timeout_secs", with = "crate::kinds::seconds")]
    pub startup_timeout: Duration,
    /// The level at which every SQL statement is logged (`off`, `error`, … `trace`), under the `sqlx`
    /// target, which the default log filter keeps at `warn`.
    pub log_statements: String,
    /// Apply pending migrations when `serve` starts (development and testing).
    pub auto_migrate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[:password@]host[:port][/db]`. Unset (the default): flag changes
    /// reach other instances only through the periodic resync. `REDIS_URL` sets it too.
    pub url: Option<ConnectionUrl>,
}

/// The static defaults of the feature flags: `flag name = on or off`. Only flags that
/// `profiles/default.toml` declares exist; the runtime store (and its database rows) can change them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FeatureSettings(pub BTreeMap<String, bool>);

impl FeatureSettings {
    /// Whether `flag` is on by default; `None` when no such flag is declared.
    pub fn default_of(&self, flag: &str) -> Option<bool> {
        self.0.get(flag).copied()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSyncSettings {
    /// Every instance reloads the flags from the database this often, which covers lost Redis messages
    /// and keeps instances in step when Redis is not configured.
    #[serde(rename = "resync_interval_secs", with = "crate::kinds::seconds")]
    pub resync_interval: Duration,
    /// The Redis pub/sub channel on which flag changes are announced. Apps sharing one Redis need
    /// different channels.
    pub redis_channel: String,
}

/// The worked example resource (`/notes` and `/api/v1/notes`); it also shows how a fork adds a section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotesSettings {
    /// How many notes a page of `/notes` lists, and how many `/api/v1/notes` returns when the request
    /// names no `limit` (a `limit` may not exceed it either).
    pub page_size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticFilesSettings {
    /// The folder served under `/static`, relative to the working directory.
    pub dir: String,
    /// How long browsers may cache a static file fetched without its current content hash.
    pub max_age_secs: u64,
    /// How many bytes of static files (with their gzip copies) are held in memory and answered from
    /// there; the rest, and every file when this is 0, is read from disk on each request.
    pub memory_budget_bytes: u64,
}

/// The sections of [`Settings`], in order: the keys its derived `Deserialize` reads. A top-level key that
/// is not one of them is an error.
pub(crate) fn sections() -> &'static [&'static str] {
    fields::field_names::<Settings>()
}

/// Keys whose values are never shown, not even in an error message. (`database.url` is shown with its
/// password masked, so a type error on it does not show the value either.)
pub(crate) fn is_secret(key: &str) -> bool {
    matches!(
        key,
        "security.secret_key"
            | "security.admin_token"
            | "database.url"
            | "database.password"
            | "redis.url"
            | "telemetry.otlp_endpoint"
            | "secrets.vault.role_id"
            | "secrets.vault.secret_id"
            | "secrets.vault.token"
            | "secrets.ssm.access_key_id"
            | "secrets.ssm.secret_access_key"
            | "secrets.ssm.session_token"
            | "telemetry.otlp_traces_endpoint"
            | "telemetry.otlp_metrics_endpoint"
            | "telemetry.otlp_headers"
            | "telemetry.otlp_traces_headers"
            | "telemetry.otlp_metrics_headers"
    )
}

/// The levels `database.log_statements` accepts.
pub const STATEMENT_LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

#[cfg(test)]
mod tests {
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error, StrDeserializer};

    use super::*;
    use crate::kinds::choice;

    fn read<T: Choice>(text: &str) -> Result<T, String> {
        let deserializer: StrDeserializer<'_, Error> = text.into_deserializer();
        choice::deserialize(deserializer).map_err(|error| error.to_string())
    }

    fn round_trips<T: Choice + std::fmt::Debug>() {
        for (name, value) in T::NAMES {
            assert_eq!(value.name(), *name);
            assert_eq!(read::<T>(&format!(" {} ", name.to_uppercase())), Ok(*value));
        }
    }

    #[test]
    fn every_name_reads_back_whatever_its_case_and_others_are_refused_with_the_list() {
        round_trips::<SameSite>();
        round_trips::<UrlScheme>();
        round_trips::<LogFormat>();
        round_trips::<OtlpProtocol>();
        round_trips::<TracesSampler>();
        assert_eq!(
            read::<SameSite>("relaxed"),
            Err("unknown SameSite value \"relaxed\": use strict, lax or none".to_owned())
        );
        assert_eq!(
            read::<OtlpProtocol>("http"),
            Err("unknown OTLP protocol \"http\": use http/protobuf or grpc".to_owned())
        );
    }
}
