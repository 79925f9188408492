//! `keel check`: is this configuration good to run? The settings were already validated when they loaded
//! (a problem there exits with the configuration code before this runs); here keel also reports each
//! secret store (read while loading) and reaches every service the settings point at — the database,
//! Redis, the OTLP endpoint — signing in with the
//! configured credentials as `serve` would, and reports each check on its own line.

use keel_config::Loaded;
use keel_ext_db::Db;

/// The printed report and how many checks failed.
pub(crate) struct Report {
    pub(crate) text: String,
    pub(crate) failed: usize,
}

pub(crate) async fn check(
    loaded: &Loaded,
    store_reports: &[keel_ext_secrets::StoreReport],
) -> Report {
    let settings = &loaded.settings;
    let mut report = Report {
        text: String::new(),
        failed: 0,
    };
    report.pass(format!(
        "configuration: valid for {} ({} warning{})",
        settings.app.env,
        loaded.warnings.len(),
        if loaded.warnings.len() == 1 { "" } else { "s" }
    ));
    for warning in &loaded.warnings {
        report.line(format!("  warning: {warning}"));
    }
    for line in crate::stores::report_lines(store_reports) {
        match line {
            Ok(line) => report.pass(line),
            Err(line) => report.fail(line),
        }
    }
    match listen_address(&settings.server).await {
        Ok(line) => report.pass(line),
        Err(line) => report.fail(line),
    }

    let database = settings.database.url.masked();
    match Db::connect(&settings.database).await {
        Ok(db) => {
            match db.pending_migrations().await {
                Ok(pending) if pending.is_empty() => {
                    report.pass(format!(
                        "database: {database} answers; no pending migrations"
                    ));
                }
                Ok(pending) => {
                    let line = format!(
                        "database: {database} answers; {} pending migration(s): {}",
                        pending.len(),
                        pending.join(", ")
                    );
                    // Where `serve` applies them itself this is fine; otherwise `serve` would refuse to start.
                    if settings.database.auto_migrate {
                        report.pass(line);
                    } else {
                        report.fail(format!(
                            "{line} (serve refuses to start: run `keel migrate up`)"
                        ));
                    }
                }
                Err(error) => report.fail(format!("database: {database} answers, but {error}")),
            }
            let _ = db.close().await;
        }
        Err(error) => report.fail(format!("database: {error}")),
    }
    match &settings.redis.url {
        None => report.pass("redis: not used (redis.url is not set)".to_owned()),
        Some(url) => match keel_ext_flags::probe_redis(url).await {
            Ok(()) => report.pass(format!("redis: {} answers", url.masked())),
            Err(error) => report.fail(format!("redis: {error}")),
        },
    }
    match settings.telemetry.export(keel_config::Signal::Traces) {
        None if settings.telemetry.sdk_disabled => {
            report.pass("traces: not exported (telemetry.sdk_disabled is on)".to_owned());
        }
        None => report.pass("traces: not exported (telemetry.otlp_endpoint is not set)".to_owned()),
        Some(traces) => {
            let endpoint = traces.endpoint;
            match keel_ext_telemetry::probe_endpoint(traces).await {
                Ok(()) => report.pass(format!(
                    "traces: the OTLP endpoint {} accepts an empty export",
                    endpoint.masked()
                )),
                Err(error) => report.fail(format!("traces: {error}")),
            }
        }
    }
    report
}

/// Whether `serve` could listen where the settings say: the host resolves to an address of this machine,
/// and the port is free. The socket is bound and released at once.
async fn listen_address(server: &keel_config::ServerSettings) -> Result<String, String> {
    let address = format!("{}:{}", server.host, server.port);
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host(&address)
        .await
        .map_err(|error| {
            format!("listen address: {address} does not resolve ({error}): set server.host to an address of this machine, e.g. 127.0.0.1 or 0.0.0.0")
        })?
        .collect();
    let Some(first) = resolved.first() else {
        return Err(format!(
            "listen address: {address} resolves to no address: set server.host to an address of this machine"
        ));
    };
    match tokio::net::TcpListener::bind(first).await {
        Ok(_released) => Ok(format!("listen address: {first} is free to listen on")),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
            "listen address: {first} is already in use (another keel?): stop it, or set server.port (or PORT)"
        )),
        Err(error) if error.kind() == std::io::ErrorKind::AddrNotAvailable => Err(format!(
            "listen address: {} is not an address of this machine: set server.host to one of its addresses, or 0.0.0.0",
            first.ip()
        )),
        Err(error) => Err(format!(
            "listen address: cannot listen on {first} ({error})"
        )),
    }
}

impl Report {
    fn pass(&mut self, line: String) {
        self.line(format!("ok    {line}"));
    }

    fn fail(&mut self, line: String) {
        self.failed += 1;
        self.line(format!("FAIL  {line}"));
    }

    fn line(&mut self, line: String) {
        self.text.push_str(&line);
        self.text.push('\n');
    }
}
