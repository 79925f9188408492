//! Validation: what each section's types alone cannot say — ranges, URL schemes, header-safe text, the
//! CORS, CSP and host grammars, and what staging and production refuse.
//!
//! The loader validates each section that deserialized, even when another section did not, so one run
//! reports every problem.

mod telemetry;

use crate::bounds;
use crate::environment::Environment;
use crate::grammar::{check_csp, check_origin, is_host, parse_network};
use crate::settings::{
    AppSettings, DatabaseSettings, FeatureSettings, FlagSyncSettings, NotesSettings, RedisSettings,
    STATEMENT_LOG_LEVELS, SameSite, SecuritySettings, ServerSettings, StaticFilesSettings,
};

/// What validation knows besides a section's own values.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// Known before any section is read.
    pub(crate) environment: Environment,
    /// The secret key the built-in defaults ship (`profiles/default.toml`, the one place it is written),
    /// which only development and testing accept.
    pub(crate) development_secret_key: Option<&'a str>,
}

/// The shortest secret key that staging and production accept.
pub(crate) const MIN_SECRET_KEY_BYTES: usize = 32;

/// A section of `Settings` that can check what its types alone cannot say.
pub(crate) trait Section: serde::de::DeserializeOwned {
    /// `(key, what is wrong and how to fix it)` for every problem. Messages never contain a secret.
    fn problems(&self, context: &Context<'_>) -> Vec<(&'static str, String)>;
}

impl Section for AppSettings {
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
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
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        problems.extend(host_problems("server.host", &self.host));
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
        problems.extend(host_problems("server.metrics_host", &self.metrics_host));
        if let Some(metrics_port) = self.metrics_port
            && metrics_port != 0
            && metrics_port == self.port
        {
            // The public listener must never answer /metrics, and one port cannot be bound twice.
            problems.push((
                "server.metrics_port",
                format!(
                    "is {metrics_port}, the same as server.port: give the metrics listener a port of its own (e.g. 9464), or unset it"
                ),
            ));
        }
        problems.extend(
            [
                bounds::check("server.max_body_bytes", as_u64(self.max_body_bytes)),
                bounds::check(
                    "server.request_timeout_secs",
                    self.request_timeout.as_secs(),
                ),
                bounds::check(
                    "server.header_read_timeout_secs",
                    self.header_read_timeout.as_secs(),
                ),
                bounds::check("server.drain_delay_secs", self.drain_delay.as_secs()),
                bounds::check(
                    "server.graceful_shutdown_timeout_secs",
                    self.graceful_shutdown_timeout.as_secs(),
                ),
            ]
            .into_iter()
            .flatten(),
        );
        problems
    }
}

/// What is wrong with `host`, the interface a listener binds (`server.host`, `server.metrics_host`).
fn host_problems(key: &'static str, host: &str) -> Option<(&'static str, String)> {
    if host.trim().is_empty() {
        Some((
            key,
            "must not be empty: use 127.0.0.1 or 0.0.0.0".to_owned(),
        ))
    } else if !is_host(host) {
        Some((
            key,
            format!(
                "is {host:?}, which is not an IP address or a host name: use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or a host name"
            ),
        ))
    } else {
        None
    }
}

/// A `usize` setting as the `u64` its bound is written in (on every platform keel builds for, it fits).
fn as_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

impl Section for SecuritySettings {
    fn problems(&self, context: &Context<'_>) -> Vec<(&'static str, String)> {
        let environment = context.environment;
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
        if Some(secret_key) == context.development_secret_key {
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
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
        let mut problems: Vec<(&'static str, String)> = [
            bounds::check("database.min_connections", self.min_connections),
            bounds::check("database.max_connections", self.max_connections),
            bounds::check(
                "database.connect_timeout_secs",
                self.connect_timeout.as_secs(),
            ),
            bounds::check(
                "database.acquire_timeout_secs",
                self.acquire_timeout.as_secs(),
            ),
            bounds::check("database.idle_timeout_secs", self.idle_timeout.as_secs()),
            bounds::check(
                "database.startup_timeout_secs",
                self.startup_timeout.as_secs(),
            ),
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
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
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
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

impl Section for FlagSyncSettings {
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
        let mut problems: Vec<(&'static str, String)> = bounds::check(
            "flag_sync.resync_interval_secs",
            self.resync_interval.as_secs(),
        )
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

impl Section for NotesSettings {
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
        Vec::from_iter(bounds::check("notes.page_size", self.page_size))
    }
}

impl Section for StaticFilesSettings {
    fn problems(&self, _context: &Context<'_>) -> Vec<(&'static str, String)> {
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
        problems.extend(bounds::check(
            "static_files.memory_budget_bytes",
            self.memory_budget_bytes,
        ));
        problems
    }
}
