//! `keel-bench`: keel beside a bare axum baseline under `wrk`, and keel alone under a long load or a
//! fault. `just bench-http` runs `keel-bench http`; see BENCHMARKS.md for what it measures and why.
//!
//! Subcommands (each builds keel and the baseline first, with the harness's own profile):
//! - `http [--duration S] [--repetitions N] [--connections C] [--output FILE]`: interleaved runs of both
//!   servers on every route; writes the tables into FILE (default BENCHMARKS.md) between its markers;
//! - `soak [--duration S] [--connections C]`: keel at 256 connections for 60 s: no error, RSS flat;
//! - `faults [postgres|redis|sigterm]`: PostgreSQL stopped and restarted, Redis stopped, SIGTERM, each
//!   under load and judged by what the clients saw (all three without a name; see `faults/mod.rs`);
//! - `smoke`: one short pass of `http` that writes nothing, for CI on a debug build.
//!
//! `--keel BINARY` measures that keel binary instead of building one, e.g. a copy of an older build, to
//! see what a change bought.
//!
//! It is written in Rust rather than shell so that wrk's report, /proc and the statistics are parsed and
//! tested as code (`cargo test -p keel-bench`), not as `awk` one-liners.

mod client;
mod faults;
mod http;
mod measure;
mod poller;
mod report;
mod servers;
mod services;
mod soak;
mod timeline;
mod wrk;

use std::process::ExitCode;
use std::time::Duration;

/// The options every subcommand shares.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) duration: Duration,
    pub(crate) repetitions: usize,
    pub(crate) connections: u32,
    pub(crate) threads: u32,
    pub(crate) output: String,
    /// A keel binary to measure instead of building one (an older build, to compare).
    pub(crate) keel: Option<std::path::PathBuf>,
    /// How long to wait for a quiet machine before measuring anyway (and flagging what is contaminated).
    pub(crate) patience: Duration,
    /// `faults`: the one fault to run (`postgres`, `redis`, `sigterm`); all of them when unset.
    pub(crate) fault: Option<String>,
}

const USAGE: &str = "usage: keel-bench http|soak|faults [postgres|redis|sigterm]|smoke [--duration SECONDS] \
                     [--repetitions N] [--connections N] [--threads N] [--patience SECONDS] [--output FILE] \
                     [--keel BINARY]";

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(&arguments).and_then(|(command, options)| match command.as_str() {
        "http" => http::run(&options, true),
        "smoke" => http::run(&options, false),
        "soak" => soak::run(&options),
        "faults" => faults::run(&options),
        other => Err(format!("unknown subcommand {other:?}; {USAGE}")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keel-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The subcommand and its options, with each subcommand's defaults.
fn parse(arguments: &[String]) -> Result<(String, Options), String> {
    let (command, mut rest) = match arguments.split_first() {
        Some((command, rest)) => (command.clone(), rest),
        None => ("http".to_owned(), arguments),
    };
    let (seconds, repetitions, connections) = match command.as_str() {
        "smoke" => (1, 1, 4),
        "soak" => (60, 1, 256),
        "faults" => (10, 1, 64),
        _ => (10, 3, 64),
    };
    let mut options = Options {
        duration: Duration::from_secs(seconds),
        repetitions,
        connections,
        threads: 2,
        keel: None,
        output: servers::repository()
            .join("BENCHMARKS.md")
            .display()
            .to_string(),
        patience: Duration::from_secs(if command == "smoke" { 0 } else { 300 }),
        fault: None,
    };
    if command == "faults"
        && let Some((name, after)) = rest.split_first()
        && !name.starts_with("--")
    {
        options.fault = Some(name.clone());
        rest = after;
    }
    while let Some((flag, after)) = rest.split_first() {
        let (value, after) = after
            .split_first()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .ok()
                .filter(|number| *number > 0)
                .ok_or_else(|| format!("{flag} {value:?}: expected a whole number above 0"))
        };
        match flag.as_str() {
            "--duration" => options.duration = Duration::from_secs(number()?),
            "--repetitions" => options.repetitions = usize::try_from(number()?).unwrap_or(1),
            "--connections" => options.connections = u32::try_from(number()?).unwrap_or(64),
            "--threads" => options.threads = u32::try_from(number()?).unwrap_or(2),
            "--patience" => options.patience = Duration::from_secs(number()?),
            "--output" => options.output.clone_from(value),
            "--keel" => options.keel = Some(value.into()),
            other => return Err(format!("unknown option {other:?}; {USAGE}")),
        }
        rest = after;
    }
    Ok((command, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn each_subcommand_has_its_defaults_and_options_override_them() {
        let (command, options) = parse(&[]).unwrap();
        assert_eq!(command, "http");
        assert_eq!(options.repetitions, 3);
        let (_, soak) = parse(&strings(&["soak"])).unwrap();
        assert_eq!((soak.duration.as_secs(), soak.connections), (60, 256));
        let (_, http) =
            parse(&strings(&["http", "--duration", "5", "--repetitions", "2"])).unwrap();
        assert_eq!((http.duration.as_secs(), http.repetitions), (5, 2));
        let (_, all) = parse(&strings(&["faults", "--duration", "4"])).unwrap();
        assert_eq!((all.fault, all.duration.as_secs()), (None, 4));
        let (_, one) = parse(&strings(&["faults", "redis", "--duration", "4"])).unwrap();
        assert_eq!(one.fault.as_deref(), Some("redis"));
    }

    #[test]
    fn a_bad_option_names_itself() {
        let error = parse(&strings(&["http", "--duration", "ten"])).unwrap_err();
        assert!(
            error.starts_with("--duration \"ten\": expected a whole number"),
            "{error}"
        );
        let error = parse(&strings(&["http", "--duration"])).unwrap_err();
        assert!(error.starts_with("--duration needs a value"), "{error}");
        let error = parse(&strings(&["http", "--fast", "1"])).unwrap_err();
        assert!(error.starts_with("unknown option \"--fast\""), "{error}");
    }
}
