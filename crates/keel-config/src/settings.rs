//! The typed settings: one struct per section, deserialized from the merged layers, then validated.
//!
//! Defaults live in `profiles/*.toml`, not here: a field with no value in any layer is a loading error,
//! so there is exactly one place where each default is written.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::bounds;
use crate::environment::Environment;
use crate::secret::{ConnectionUrl, Secret};

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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    /// The service name: page titles, the `X-App` header, `/api/v1/version`.
    pub name: String,
    /// Set by the loader from `--env` / `APP_ENV`; files cannot change it.
    pub env: Environment,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    /// `0` asks the operating system for a free port; the start-up log line says which one it got.
    pub port: u16,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    /// How long a client may take to send a request's headers before the connection is closed, so slow
    /// clients cannot hold connections open.
    pub header_read_timeout_secs: u64,
    /// After SIGTERM/SIGINT, how long readiness answers 503 while new connections are still accepted, so
    /// a load balancer notices before the listener closes.
    pub drain_delay_secs: u64,
    pub graceful_shutdown_timeout_secs: u64,
    /// Compress responses with gzip for clients that accept it. Turn off when a proxy in front compresses.
    pub compression: bool,
    /// The proxies (CIDRs such as `10.0.0.0/8`, or single addresses) whose `X-Forwarded-For` keel believes.
    /// A request from any other peer is logged with the peer's own address, so a client cannot pick the
    /// address it is logged under. Empty (the default) trusts no one.
    pub trusted_proxies: Vec<String>,
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

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn drain_delay(&self) -> Duration {
        Duration::from_secs(self.drain_delay_secs)
    }

    pub fn graceful_shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.graceful_shutdown_timeout_secs)
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
    pub preferred_url_scheme: UrlScheme,
    /// The bearer token of the `/ops` endpoints. Unset (the default) disables them: they answer 404.
    pub admin_token: Option<Secret>,
    /// Cookies keel sets (the visitor id) are sent only over HTTPS. On in staging and production.
    pub cookie_secure: bool,
    /// Cookies keel sets are hidden from page scripts.
    pub cookie_http_only: bool,
    /// Whether browsers send keel's cookies on cross-site requests: `strict`, `lax` or `none` (which
    /// browsers accept only with `cookie_secure`).
    pub cookie_same_site: SameSite,
}

/// The `SameSite` attribute of the cookies keel sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
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

impl TryFrom<String> for SameSite {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "strict" => Ok(SameSite::Strict),
            "lax" => Ok(SameSite::Lax),
            "none" => Ok(SameSite::None),
            _ => Err(format!(
                "unknown SameSite value {text:?}: use strict, lax or none"
            )),
        }
    }
}

/// How clients reach the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum UrlScheme {
    Http,
    Https,
}

impl TryFrom<String> for UrlScheme {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "http" => Ok(UrlScheme::Http),
            "https" => Ok(UrlScheme::Https),
            _ => Err(format!("unknown scheme {text:?}: use http or https")),
        }
    }
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
    pub connect_timeout_secs: u64,
    /// How long a query waits for a free connection before failing (so requests never hang on the pool).
    pub acquire_timeout_secs: u64,
    /// How long an unused connection stays open.
    pub idle_timeout_secs: u64,
    /// At start-up, how long keel keeps retrying an unreachable database before giving up.
    pub startup_timeout_secs: u64,
    /// The level at which every SQL statement is logged (`off`, `error`, … `trace`), under the `sqlx`
    /// target, which the default log filter keeps at `warn`.
    pub log_statements: String,
    /// Apply pending migrations when `serve` starts (development and testing).
    pub auto_migrate: bool,
}

impl DatabaseSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.acquire_timeout_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn startup_timeout(&self) -> Duration {
        Duration::from_secs(self.startup_timeout_secs)
    }
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
    pub resync_interval_secs: u64,
    /// The Redis pub/sub channel on which flag changes are announced. Apps sharing one Redis need
    /// different channels.
    pub redis_channel: String,
}

impl FlagSyncSettings {
    pub fn resync_interval(&self) -> Duration {
        Duration::from_secs(self.resync_interval_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticFilesSettings {
    /// The folder served under `/static`, relative to the working directory.
    pub dir: String,
    /// How long browsers may cache a static file fetched without its current content hash.
    pub max_age_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LogFormat {
    /// Human-readable, coloured when the terminal supports it.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The OTLP transport, named as in the OpenTelemetry environment variable specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub enum OtlpProtocol {
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    #[serde(rename = "grpc")]
    Grpc,
}

impl TryFrom<String> for OtlpProtocol {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
            "grpc" => Ok(OtlpProtocol::Grpc),
            _ => Err(format!(
                "unknown OTLP protocol {text:?}: use http/protobuf or grpc"
            )),
        }
    }
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("unknown log format {text:?}: use pretty or json")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info,sqlx=warn`; `RUST_LOG` sets it too.
    pub log_level: String,
    /// The OTLP/HTTP collector's base URL (e.g. `http://collector:4318`); traces go to `<url>/v1/traces`.
    /// Unset: no export (trace ids are still made, for log correlation). `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// sets it too.
    /// Shown with any password masked, like the other connection URLs.
    pub otlp_endpoint: Option<ConnectionUrl>,
    /// How spans travel to the collector: `http/protobuf` (port 4318) or `grpc` (port 4317).
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` sets it too.
    pub otlp_protocol: OtlpProtocol,
    /// The share of new traces to sample, 0.0–1.0; requests that arrive with a sampled parent follow
    /// their parent. `OTEL_TRACES_SAMPLER_ARG` sets it too.
    pub sample_ratio: f64,
}

/// The sections of [`Settings`], in order. A top-level key that is not one of them is an error.
pub(crate) const SECTIONS: [&str; 9] = [
    "app",
    "server",
    "security",
    "database",
    "redis",
    "static_files",
    "telemetry",
    "features",
    "flag_sync",
];

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
    )
}

/// The levels `database.log_statements` accepts.
pub const STATEMENT_LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The secret key shipped in `profiles/default.toml`; only development and testing accept it.
pub(crate) const DEVELOPMENT_SECRET_KEY: &str =
    "keel-development-secret-key-do-not-use-in-production";

/// The shortest secret key that staging and production accept.
pub(crate) const MIN_SECRET_KEY_BYTES: usize = 32;

/// A section of [`Settings`] that can check what its types alone cannot say.
///
/// The loader validates each section that deserialized, even when another section did not, so one run
/// reports every problem. `environment` is known before any section is read.
pub(crate) trait Section: serde::de::DeserializeOwned {
    /// `(key, what is wrong and how to fix it)` for every problem. Messages never contain a secret.
    fn problems(&self, environment: Environment) -> Vec<(&'static str, String)>;
}

impl Section for AppSettings {
    fn problems(&self, _environment: Environment) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(("app.name", "must not be empty".to_owned()));
        } else if !self.name.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            // It is sent in the `X-App` header, which only carries visible ASCII.
            problems.push((
                "app.name",
                format!(
                    "is {:?}, which cannot be sent in the X-App header: use ASCII letters, digits and punctuation",
                    self.name
                ),
            ));
        }
        problems
    }
}

impl Section for ServerSettings {
    fn problems(&self, _environment: Environment) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.host.trim().is_empty() {
            problems.push((
                "server.host",
                "must not be empty: use 127.0.0.1 or 0.0.0.0".to_owned(),
            ));
        } else if !is_host(&self.host) {
            problems.push((
                "server.host",
                format!(
                    "is {:?}, which is not an IP address or a host name: use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or a host name",
                    self.host
                ),
            ));
        }
        for entry in &self.trusted_proxies {
            if parse_network(entry).is_none() {
                problems.push((
                    "server.trusted_proxies",
                    format!(
                        "contains {entry:?}, which is neither an IP address nor a network: write e.g. [\"10.0.0.0/8\", \"192.168.1.7\"]"
                    ),
                ));
            }
        }
        problems.extend(
            [
                bounds::check("server.max_body_bytes", as_u64(self.max_body_bytes)),
                bounds::check("server.request_timeout_secs", self.request_timeout_secs),
                bounds::check(
                    "server.header_read_timeout_secs",
                    self.header_read_timeout_secs,
                ),
                bounds::check("server.drain_delay_secs", self.drain_delay_secs),
                bounds::check(
                    "server.graceful_shutdown_timeout_secs",
                    self.graceful_shutdown_timeout_secs,
                ),
            ]
            .into_iter()
            .flatten(),
        );
        problems
    }
}

/// A `usize` setting as the `u64` its bound is written in (on every platform keel builds for, it fits).
fn as_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// An IP address (IPv6 with or without brackets) or a host name of letters, digits, `-`, `_` and dots,
/// which is what the listener can bind.
fn is_host(host: &str) -> bool {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    if unbracketed.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl Section for SecuritySettings {
    fn problems(&self, environment: Environment) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        for origin in &self.cors_origins {
            if origin == "*" {
                if !environment.is_local() {
                    problems.push((
                        "security.cors_origins",
                        format!(
                            "contains \"*\", which {environment} refuses: list the exact origins, e.g. [\"https://app.example\"]"
                        ),
                    ));
                }
            } else if let Err(reason) = check_origin(origin) {
                problems.push((
                    "security.cors_origins",
                    format!(
                        "contains {origin:?}, which {reason}: write scheme://host[:port], e.g. https://app.example"
                    ),
                ));
            }
        }
        for method in &self.cors_methods {
            if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
                problems.push((
                    "security.cors_methods",
                    format!("contains {method:?}, which is not an HTTP method: write e.g. [\"GET\", \"POST\"]"),
                ));
            }
        }
        for name in &self.cors_headers {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                problems.push((
                    "security.cors_headers",
                    format!("contains {name:?}, which is not a header name: write e.g. [\"content-type\"]"),
                ));
            }
        }
        if self.cors_allow_credentials && self.cors_origins.iter().any(|origin| origin == "*") {
            problems.push((
                "security.cors_allow_credentials",
                "cannot be true while security.cors_origins contains \"*\" (browsers refuse it): list the exact origins".to_owned(),
            ));
        }
        if let Err(reason) = check_csp(&self.csp) {
            problems.push((
                "security.csp",
                format!(
                    "{reason}: write directives separated by `;`, e.g. default-src 'self'; img-src 'self' data:"
                ),
            ));
        }
        if let Some(token) = &self.admin_token
            && token.expose().len() < MIN_SECRET_KEY_BYTES
        {
            problems.push((
                "security.admin_token",
                format!(
                    "is {} bytes long; an admin token needs at least {MIN_SECRET_KEY_BYTES} (e.g. `openssl rand -hex 32`), or leave it unset to disable /ops",
                    token.expose().len()
                ),
            ));
        }
        if self.cookie_same_site == SameSite::None && !self.cookie_secure {
            problems.push((
                "security.cookie_same_site",
                "is none while security.cookie_secure is false, and browsers drop such cookies: set cookie_secure = true or use lax".to_owned(),
            ));
        }
        if environment.is_local() {
            return problems;
        }
        let secret_key = self.secret_key.expose();
        if secret_key == DEVELOPMENT_SECRET_KEY {
            problems.push((
                "security.secret_key",
                format!(
                    "is the built-in development key, which {environment} refuses: set SECRET_KEY or APP_SECURITY__SECRET_KEY to a random value of at least {MIN_SECRET_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)"
                ),
            ));
        } else if secret_key.len() < MIN_SECRET_KEY_BYTES {
            problems.push((
                "security.secret_key",
                format!(
                    "is {} bytes long; {environment} needs at least {MIN_SECRET_KEY_BYTES} (e.g. `openssl rand -hex 32`)",
                    secret_key.len()
                ),
            ));
        }
        problems
    }
}

impl Section for DatabaseSettings {
    fn problems(&self, _environment: Environment) -> Vec<(&'static str, String)> {
        let mut problems: Vec<(&'static str, String)> = [
            bounds::check("database.min_connections", self.min_connections),
            bounds::check("database.max_connections", self.max_connections),
            bounds::check("database.connect_timeout_secs", self.connect_timeout_secs),
            bounds::check("database.acquire_timeout_secs", self.acquire_timeout_secs),
            bounds::check("database.idle_timeout_secs", self.idle_timeout_secs),
            bounds::check("database.startup_timeout_secs", self.startup_timeout_secs),
        ]
        .into_iter()
        .flatten()
        .collect();
        // With either out of range, that is the problem, already reported above.
        let counts_in_range = !problems
            .iter()
            .any(|(key, _)| key.ends_with("_connections"));
        if counts_in_range && self.min_connections > self.max_connections {
            problems.push((
                "database.min_connections",
                format!(
                    "is {}, more than database.max_connections ({}): lower it or raise the maximum",
                    self.min_connections, self.max_connections
                ),
            ));
        }
        if !STATEMENT_LOG_LEVELS.contains(&self.log_statements.as_str()) {
            problems.push((
                "database.log_statements",
                format!(
                    "is {:?}: use one of {}",
                    self.log_statements,
                    STATEMENT_LOG_LEVELS.join(", ")
                ),
            ));
        }
        if let Some(password) = &self.password
            && password.expose().is_empty()
        {
            problems.push((
                "database.password",
                "is empty: set the password, or unset it to use the one in database.url".to_owned(),
            ));
        }
        match url::Url::parse(self.url.expose()) {
            Err(_) => problems.push((
                "database.url",
                "is not a valid URL: write sqlite://path/to/file.sqlite3?mode=rwc or postgres://user:password@host/database, percent-encoding any / # ? @ % in the password (e.g. / as %2F)".to_owned(),
            )),
            Ok(parsed) => match parsed.scheme() {
                "sqlite" => {}
                "postgres" | "postgresql" => {
                    // A host may also come as a `host=` parameter (a Unix socket folder).
                    let names_host = parsed.host_str().is_some_and(|host| !host.is_empty())
                        || parsed.query_pairs().any(|(name, _)| name == "host");
                    if !names_host {
                        problems.push((
                            "database.url",
                            format!(
                                "{} names no host: write postgres://user:password@host/database",
                                self.url.masked()
                            ),
                        ));
                    }
                }
                _ => problems.push((
                    "database.url",
                    format!(
                        "{} is not a database URL keel supports: use sqlite://path/to/file.sqlite3?mode=rwc or postgres://user:password@host/database",
                        self.url.masked()
                    ),
                )),
            },
        }
        problems
    }
}

impl Section for RedisSettings {
    fn problems(&self, _environment: Environment) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(url) = &self.url {
            if url::Url::parse(url.expose()).is_err() {
                problems.push((
                    "redis.url",
                    "is not a valid URL: write redis://host:6379 or redis://:password@host:6379/0, percent-encoding any / # ? @ % in the password, or unset it to run without Redis".to_owned(),
                ));
            } else if url.scheme() == Some("rediss") {
                // keel builds the Redis client without TLS, to keep the build lean.
                problems.push((
                    "redis.url",
                    format!(
                        "{} asks for TLS (rediss://), which this build of keel does not support: use redis:// on a private network, or enable the redis crate's tokio-rustls-comp feature",
                        url.masked()
                    ),
                ));
            } else if url.scheme() != Some("redis") {
                problems.push((
                    "redis.url",
                    format!(
                        "{} is not a Redis URL: write redis://host:6379",
                        url.masked()
                    ),
                ));
            }
        }
        problems
    }
}

impl Section for FeatureSettings {
    /// Which flags exist is checked by the loader against `profiles/default.toml`, where they are declared.
    fn problems(&self, _environment: Environment) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

impl Section for FlagSyncSettings {
    fn problems(&self, _environment: Environment) -> Vec<(&'static str, String)> {
        let mut problems: Vec<(&'static str, String)> =
            bounds::check("flag_sync.resync_interval_secs", self.resync_interval_secs)
                .into_iter()
                .collect();
        if self.redis_channel.trim().is_empty() {
            problems.push((
                "flag_sync.redis_channel",
                "must not be empty: name a channel, e.g. keel:flags".to_owned(),
            ));
        }
        problems
    }
}

impl Section for StaticFilesSettings {
    fn problems(&self, _environment: Environment) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.dir.trim().is_empty() {
            problems.push((
                "static_files.dir",
                "must not be empty: name the folder to serve under /static, e.g. web/static"
                    .to_owned(),
            ));
        }
        problems.extend(bounds::check(
            "static_files.max_age_secs",
            self.max_age_secs,
        ));
        problems
    }
}

impl Section for TelemetrySettings {
    fn problems(&self, _environment: Environment) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(endpoint) = &self.otlp_endpoint
            && !matches!(endpoint.scheme(), Some("http" | "https"))
        {
            problems.push((
                "telemetry.otlp_endpoint",
                format!(
                    "{} is not an http(s) URL: write the collector's OTLP address, e.g. http://otel-collector:4318",
                    endpoint.masked()
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            problems.push((
                "telemetry.sample_ratio",
                format!(
                    "is {}: write a share between 0.0 (no new traces) and 1.0 (every trace)",
                    self.sample_ratio
                ),
            ));
        }
        // The filter's grammar belongs to the log subscriber, which this crate does not know: the loader
        // checks `log_level` with the parser its caller passes (`LoadOptions::log_filter_check`).
        problems
    }
}

/// A CORS origin is exactly `scheme://host[:port]`: browsers send it that way, and anything more (a path,
/// a trailing slash) would never match.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    let parsed = url::Url::parse(origin).map_err(|_| "is not a URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("is not http or https");
    }
    if parsed.host_str().is_none() {
        return Err("has no host");
    }
    if origin.trim_end_matches('/').len() != origin.len()
        || parsed.path() != "/"
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
    {
        return Err("has more than scheme, host and port");
    }
    Ok(())
}

/// A policy is one or more `;`-separated directives, each a lowercase name and its sources, on one line
/// (it is sent as a header).
fn check_csp(policy: &str) -> Result<(), String> {
    if policy.trim().is_empty() {
        return Err("is empty".to_owned());
    }
    if policy.chars().any(|c| c.is_control()) {
        return Err("contains a control character or line break".to_owned());
    }
    for directive in policy
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let name = directive.split_whitespace().next().unwrap_or_default();
        if !name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            return Err(format!(
                "has the directive {name:?}, which is not a directive name"
            ));
        }
    }
    Ok(())
}

/// A network (`10.0.0.0/8`) or a single address (`10.1.2.3`, a network of one).
fn parse_network(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}
