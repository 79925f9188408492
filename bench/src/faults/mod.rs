//! `keel-bench faults [postgres|redis|sigterm]`: keel under load meets a fault and is judged by what its
//! clients saw. Without a name, all three run, one after the other:
//! - `postgres`: the harness's own PostgreSQL is stopped (`pg_ctl stop -m fast`) and started again under
//!   load; readiness must go 503 then back to 200, liveness stay 200, no request outlive its deadline,
//!   and keel keep running;
//! - `redis`: the harness's own Redis is stopped under load on a flag-gated page served by two keel
//!   instances; pages keep serving, a flag changed on one instance reaches the other through the periodic
//!   resync while Redis is down and through pub/sub once it is back;
//! - `sigterm`: SIGTERM in the middle of a load must end with exit 0, readiness 503 at once, pages
//!   answered through the drain delay, and no request cut.
//!
//! `--duration S` sets how long PostgreSQL stays down (the Redis run's resync interval is twice it, at
//! least 6 s), and a third of it the undisturbed load before and after each fault.

mod postgres;
mod redis;
mod sigterm;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::Options;
use crate::client::{Answer, Client};
use crate::servers;

/// The fault names, in the order `faults` runs them.
pub(crate) const NAMES: &[&str] = &["postgres", "redis", "sigterm"];

/// keel's request timeout in the fault runs (`server.request_timeout_secs`): no request may take longer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A client gives up on a request after keel's request timeout and this margin.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// The bearer token of keel's `/ops` routes in the fault runs.
const ADMIN_TOKEN: &str = "keel-bench-admin-token-not-a-real-one-0123456789";

pub(crate) fn run(options: &Options) -> Result<(), String> {
    let names: Vec<&str> = match options.fault.as_deref() {
        None => NAMES.to_vec(),
        Some(name) if NAMES.contains(&name) => vec![name],
        Some(other) => {
            return Err(format!(
                "unknown fault {other:?}: expected one of {}",
                NAMES.join(", ")
            ));
        }
    };
    let bin = servers::build(options.keel.as_deref())?;
    let mut failures = Vec::new();
    for name in names {
        eprintln!("fault: {name}");
        let result = match name {
            "postgres" => postgres::run(&bin, options),
            "redis" => redis::run(&bin, options),
            _ => sigterm::run(&bin, options),
        };
        if let Err(error) = result {
            eprintln!("fault {name} FAILED: {error}");
            failures.push(format!("{name}: {error}"));
        }
    }
    verdict(failures)
}

/// `Ok` without failures, else all of them in one error.
fn verdict(failures: Vec<String>) -> Result<(), String> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Poller threads per target: a sixteenth of `--connections` (4 at the default 64), at least one.
fn per_target(options: &Options) -> usize {
    usize::try_from(options.connections / 16)
        .unwrap_or(1)
        .max(1)
}

/// Each poller thread of the PostgreSQL and Redis runs sends at most one request per this: a steady
/// load (up to 500 requests/s a thread) that leaves the 2-CPU machine room for PostgreSQL, so a slow
/// answer is the fault's doing, not a starved CPU's. (Unpaced, 12 threads starved PostgreSQL until a
/// trivial readiness query took over 2 s, and readiness failed without any fault.)
const PACE: Duration = Duration::from_millis(2);

/// How long the load runs undisturbed before a fault and after recovery.
fn steady(options: &Options) -> Duration {
    (options.duration / 3).max(Duration::from_secs(1))
}

/// Polls `done` every 100 ms until it is true (returns `true`) or `limit` passes (`false`).
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if done() {
            return true;
        }
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` on keel at `port` over a fresh connection, or `None` when no answer came within 5 s.
fn answer(port: u16, path: &str) -> Option<Answer> {
    Client::new(port, Duration::from_secs(5)).get(path).ok()
}

/// Where keel's log of fault `name` (instance `instance`) is written; kept after the run to read.
fn log_path(name: &str, instance: &str) -> PathBuf {
    std::env::temp_dir().join(format!("keel-bench-faults-{name}-{instance}.log"))
}

/// A summary of a keel log written by a fault run: its lines, and the distinct messages at `WARN` or
/// above with how often each came, so a report can say what keel said without pasting thousands of lines.
fn log_summary(path: &std::path::Path) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return format!("{} could not be read", path.display());
    };
    let mut messages: Vec<(String, u64)> = Vec::new();
    for line in text.lines() {
        let Some(message) = json_string(line, "message") else {
            continue;
        };
        match messages.iter_mut().find(|(known, _)| *known == message) {
            Some((_, count)) => *count += 1,
            None => messages.push((message, 1)),
        }
    }
    let listed: Vec<String> = messages
        .iter()
        .map(|(message, count)| format!("{count} × \"{message}\""))
        .collect();
    format!(
        "{} lines in {}{}{}",
        text.lines().count(),
        path.display(),
        if listed.is_empty() { "" } else { ": " },
        listed.join("; ")
    )
}

/// The string value of `"key":"…"` in a line of JSON (escapes kept as written): enough for keel's own
/// flat log lines and readiness answers, without a JSON parser in the harness.
fn json_string(text: &str, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\":\"");
    let start = text.find(&pattern)? + pattern.len();
    let mut end = start;
    let bytes = text.as_bytes();
    while end < bytes.len() && bytes[end] != b'"' {
        end += if bytes[end] == b'\\' { 2 } else { 1 };
    }
    text.get(start..end.min(text.len())).map(str::to_owned)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `failures` are as many as `expected`, each starting with its counterpart.
    pub(crate) fn assert_failures(failures: &[String], expected: &[&str]) {
        assert_eq!(failures.len(), expected.len(), "{failures:#?}");
        for (failure, start) in failures.iter().zip(expected) {
            assert!(
                failure.starts_with(start),
                "{failure} should start with {start}"
            );
        }
    }

    #[test]
    fn a_string_is_read_from_a_json_line_with_its_escapes() {
        let line =
            r#"{"level":"WARN","fields":{"message":"readiness check: \"db\" down","error":"x"}}"#;
        assert_eq!(
            json_string(line, "message").as_deref(),
            Some(r#"readiness check: \"db\" down"#)
        );
        assert_eq!(json_string(line, "missing"), None);
    }

    #[test]
    fn a_log_is_summed_up_by_distinct_message() {
        let path = std::env::temp_dir().join(format!("keel-bench-log-{}.log", std::process::id()));
        std::fs::write(
            &path,
            "{\"fields\":{\"message\":\"a\"}}\n{\"fields\":{\"message\":\"b\"}}\n{\"fields\":{\"message\":\"a\"}}\nplain\n",
        )
        .unwrap();
        let summary = log_summary(&path);
        std::fs::remove_file(&path).unwrap();
        assert!(summary.starts_with("4 lines in "), "{summary}");
        assert!(summary.ends_with(": 2 × \"a\"; 1 × \"b\""), "{summary}");
    }
}
