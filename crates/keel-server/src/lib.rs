//! The `keel` command line: parses arguments, loads the settings, installs telemetry and runs a command.
//!
//! `main.rs` only calls [`main`], which hands the process's arguments, environment and standard streams to
//! the command line; keeping it in a library lets the black-box tests drive the exact same code with their own arguments and
//! variables. This is the only crate that installs a global subscriber, binds sockets and maps failures to
//! exit codes: library crates return errors, and here they become one clear message and a documented code.
//!
//! This crate knows no routes, handlers or SQL: it parses, loads, starts what the app factory builds and
//! stops it. Everything a request touches lives in the crates below it.

mod accept;
mod check;
mod cli;
mod failure;
mod flags;
mod healthcheck;
mod listener;
mod metrics_listener;
mod migrate;
mod secrets;
mod serve;
mod show_config;
mod stores;

use std::ffi::OsString;
use std::io::{IsTerminal as _, Write};

use clap::Parser;
use keel_config::{LoadOptions, Loaded, Override, Vars};

use crate::cli::{Cli, Command, FlagsCommand, SecretsCommand};
use crate::failure::Failure;

pub use crate::failure::{
    EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_REQUESTS_CUT, EXIT_SUCCESS, EXIT_UNAVAILABLE,
    EXIT_USAGE,
};

/// Routes to merge into the app next to the blueprints' (see `keel_app_factory::create_app_with`).
pub type ExtraRoutes = fn() -> axum::Router<keel_app_factory::AppState>;

/// The whole `keel` process: this process's arguments, environment and standard streams, and its exit code.
pub fn main() -> std::process::ExitCode {
    main_with(None)
}

/// [`main`], serving `extra_routes` too. The black-box tests' copy of the binary uses it.
pub fn main_with(extra_routes: Option<ExtraRoutes>) -> std::process::ExitCode {
    let embedding = Embedding {
        extra_routes,
        owns_process: true,
    };
    let code = run_embedded(
        std::env::args_os(),
        Vars::from_process(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        embedding,
    );
    std::process::ExitCode::from(code)
}

/// Runs `keel` with `args` (the first is the program name) and the environment `vars`, writing command
/// output to `out` and errors to `err`; returns the exit code.
///
/// This is the command line without the process-wide parts: it installs no global log subscriber and no
/// panic hook, so a test can call it many times. `serve` starts its own async runtime, so it must not be
/// called from inside one.
pub fn run<I, T>(args: I, vars: Vars, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let embedding = Embedding {
        extra_routes: None,
        owns_process: false,
    };
    run_embedded(args, vars, out, err, embedding)
}

/// How `keel` runs: as the process itself, or called from other code.
#[derive(Debug, Clone, Copy)]
struct Embedding {
    extra_routes: Option<ExtraRoutes>,
    /// Install the global subscriber and the panic hook (only the real process may).
    owns_process: bool,
}

fn run_embedded<I, T>(
    args: I,
    vars: Vars,
    out: &mut dyn Write,
    err: &mut dyn Write,
    embedding: Embedding,
) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            // `--help` and `--version` arrive here too, as "errors" that go to standard output.
            let rendered = cli::without_set_values(&error.render().to_string(), &args);
            if error.use_stderr() {
                let _ = err.write_all(rendered.as_bytes());
                return EXIT_USAGE;
            }
            let _ = out.write_all(rendered.as_bytes());
            return EXIT_SUCCESS;
        }
    };
    // Writing the secrets must not depend on the settings, which need those secrets in production.
    if let Some(Command::Secrets(SecretsCommand::Init { dir })) = &cli.command {
        let written = dir
            .clone()
            .or_else(|| vars.get("APP_SECRETS_DIR").map(std::path::PathBuf::from))
            .ok_or_else(|| {
                Failure::Usage(
                    "secrets init needs a folder: pass --dir DIR or set APP_SECRETS_DIR".to_owned(),
                )
            })
            .and_then(|dir| secrets::init(&dir).map_err(Failure::Failed))
            .and_then(|report| write_output(out, &report));
        return exit_code(written, err);
    }
    // Who runs a command, for the audit trail of `keel flags set`; not a setting.
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| vars.get(name).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    let options = match load_options(&cli, vars) {
        Ok(options) => options,
        Err(error) => return exit_code(Err(Failure::from(error)), err),
    };
    let command = cli.command.unwrap_or_default();
    // The container's health probe needs only [server]: it must not read the secret stores, nor fail
    // on settings that only they would give.
    if let Command::Healthcheck { timeout_secs } = command {
        let probed = keel_config::preload(&options)
            .map_err(Failure::from)
            .and_then(|preloaded| healthcheck(&preloaded.server, timeout_secs, out));
        return exit_code(probed, err);
    }
    let (loaded, store_reports) = match stores::load(options, matches!(command, Command::Check)) {
        Ok(loaded) => loaded,
        Err(failure) => return exit_code(Err(failure), err),
    };
    // The loader's warnings (an ignored `APP_SERVER_PORT`, …) reach the operator whatever the command:
    // through the log where one is installed, in the report of `check`, on standard error otherwise.
    let logs_warnings = embedding.owns_process && command.installs_telemetry();
    if !logs_warnings && !matches!(command, Command::Check) {
        for warning in &loaded.warnings {
            let _ = writeln!(err, "keel: warning: {warning}");
        }
    }
    let run = Run {
        loaded,
        store_reports,
        embedding,
        user: &user,
    };
    exit_code(execute(command, run, out), err)
}

/// What a command runs with, besides its arguments.
struct Run<'a> {
    loaded: Loaded,
    /// What reading each secret store came to, for `keel check`.
    store_reports: Vec<keel_ext_secrets::StoreReport>,
    embedding: Embedding,
    /// Who runs the command, for the audit trail of `keel flags set`.
    user: &'a str,
}

/// The exit code of a command's outcome, telling the operator why when it failed.
fn exit_code(outcome: Result<(), Failure>, err: &mut dyn Write) -> u8 {
    match outcome {
        Ok(()) => EXIT_SUCCESS,
        Err(failure) => {
            let _ = writeln!(err, "keel: {}", failure.message());
            failure.exit_code()
        }
    }
}

fn load_options(cli: &Cli, vars: Vars) -> Result<LoadOptions, keel_config::Error> {
    let overrides = cli
        .set
        .iter()
        .map(|assignment| Override::parse_assignment(assignment))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LoadOptions {
        environment: cli.env.clone(),
        instance_dir: cli.instance_dir.clone(),
        // Read from the working directory, like every dotenv tool; the loader ignores it outside
        // development and testing.
        dotenv_file: Some(".env".into()),
        vars,
        overrides,
        log_filter_check: Some(keel_ext_telemetry::check_log_filter),
        // Filled by `stores::load` once the first phase has said which stores to read.
        store_entries: Vec::new(),
    })
}

/// `keel healthcheck`: probes the local health endpoint.
fn healthcheck(
    server: &keel_config::ServerSettings,
    timeout_secs: u64,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let timeout = std::time::Duration::from_secs(timeout_secs);
    match runtime()?.block_on(healthcheck::probe(server, timeout)) {
        Ok(line) => write_output(out, &format!("{line}\n")),
        Err(reason) => Err(Failure::failed(format!("unhealthy: {reason}"))),
    }
}

fn execute(command: Command, run: Run<'_>, out: &mut dyn Write) -> Result<(), Failure> {
    let Run {
        loaded,
        store_reports,
        embedding,
        user,
    } = run;
    match command {
        Command::Serve => {
            // Before the runtime starts its threads: taking the socket edits this process's environment.
            let inherited = if embedding.owns_process {
                listener::inherited().map_err(Failure::Failed)?
            } else {
                None
            };
            let runtime = runtime()?;
            let telemetry = telemetry_for(&runtime, &loaded, embedding)?;
            // A process-wide limit: only the process itself changes it, never an embedding test.
            if embedding.owns_process {
                accept::raise_open_file_limit();
            }
            let serving = serve::serve(loaded, embedding.extra_routes, telemetry, inherited);
            runtime.block_on(serving)
        }
        Command::Check => {
            let report = runtime()?.block_on(check::check(&loaded, &store_reports));
            write_output(out, &report.text)?;
            match report.failed {
                0 => Ok(()),
                failed => Err(Failure::failed(format!(
                    "check failed: {failed} of the checks above did not pass"
                ))),
            }
        }
        Command::Migrate(command) => {
            let runtime = runtime()?;
            // Logs only: nothing is traced while migrating, so the exporter is shut down at once.
            let telemetry = telemetry_for(&runtime, &loaded, embedding)?;
            let report = runtime.block_on(migrate::run(command, &loaded.settings));
            if let Some(telemetry) = telemetry {
                telemetry.shutdown(std::time::Duration::from_secs(1));
            }
            write_output(out, &report?)
        }
        Command::ShowConfig(options) => write_output(out, &show_config::render(&loaded, &options)),
        Command::Flags(FlagsCommand::Check { date }) => {
            let today = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let report = flags::check(today);
            write_output(out, &report.text)?;
            match report.expired {
                0 => Ok(()),
                expired => Err(Failure::failed(format!(
                    "flags check failed: {expired} flag(s) past their expiry date (listed above)"
                ))),
            }
        }
        Command::Flags(command) => {
            let runtime = runtime()?;
            let telemetry = telemetry_for(&runtime, &loaded, embedding)?;
            let report = runtime.block_on(flags::run(command, &loaded.settings, user));
            if let Some(telemetry) = telemetry {
                telemetry.shutdown(std::time::Duration::from_secs(1));
            }
            write_output(out, &report?)
        }
        // Handled before the settings load, on [server] alone.
        Command::Healthcheck { .. } => Ok(()),
        // Handled before the settings load.
        Command::Secrets(SecretsCommand::Init { .. }) => Ok(()),
        Command::Hello { name } => {
            let greeting = format!(
                "Hello, {name}! This is {} ({}).\n",
                loaded.settings.app.name, loaded.settings.app.env
            );
            write_output(out, &greeting)
        }
    }
}

/// Installs telemetry when `keel` is the process itself (never when embedded, e.g. in tests). It is built
/// inside `runtime` because the gRPC exporter runs as a task on it.
fn telemetry_for(
    runtime: &tokio::runtime::Runtime,
    loaded: &Loaded,
    embedding: Embedding,
) -> Result<Option<keel_ext_telemetry::Telemetry>, Failure> {
    if !embedding.owns_process {
        return Ok(None);
    }
    let _inside = runtime.enter();
    install_telemetry(loaded).map(Some)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Runtime::new()
        .map_err(|error| Failure::failed(format!("cannot start the async runtime: {error}")))
}

fn write_output(out: &mut dyn Write, text: &str) -> Result<(), Failure> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|error| Failure::failed(format!("cannot write the output: {error}")))
}

/// Installs the global subscriber (and, through it, trace export) and reports the loader's warnings.
fn install_telemetry(loaded: &Loaded) -> Result<keel_ext_telemetry::Telemetry, Failure> {
    // Colours only for a person at a terminal, and never when NO_COLOR (https://no-color.org) is set: a
    // process-wide convention read here, where the process is owned, rather than a setting.
    let colours = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let (subscriber, telemetry) =
        keel_ext_telemetry::init(&loaded.settings, colours).map_err(Failure::config)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|error| Failure::failed(format!("cannot install the log subscriber: {error}")))?;
    // Before the app is built: its instruments and gauges register on the global meter provider.
    telemetry.install_global_meter_provider();
    // Panics go through the subscriber too (with the request's span, so its request id), instead of the
    // default hook's plain text, which would break a JSON log stream. A panic in a handler becomes a 500
    // in the app factory; this is the one place it is logged.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic without a message");
        let location = info
            .location()
            .map(|location| format!("{}:{}", location.file(), location.line()));
        tracing::error!(panic = message, location, "panicked");
    }));
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(telemetry)
}

#[cfg(test)]
mod linking_tests;
