//! `keel-bench faults postgres`: keel on the harness's own PostgreSQL, under load on readiness, liveness
//! and a database route; PostgreSQL is stopped (`pg_ctl stop -m fast`), stays down for `--duration`, and
//! is started again on the same port. Readiness must answer 503 while it is down and 200 again within
//! [`RECOVERY_LIMIT`] of the restart, liveness 200 throughout, every request within its deadline, and
//! keel must keep running (no restart: the same process from start to end).

use std::time::{Duration, Instant};

use super::{DEADLINE_MARGIN, REQUEST_TIMEOUT};
use crate::Options;
use crate::client::Outcome;
use crate::poller::{self, Target};
use crate::servers::{self, Binaries};
use crate::services::Postgres;
use crate::timeline::{Timeline, at};

/// Readiness must answer 200 again within this of PostgreSQL accepting connections again.
const RECOVERY_LIMIT: Duration = Duration::from_secs(10);

/// The targets, in this order.
const READY: usize = 0;
const HEALTH: usize = 1;
const NOTES: usize = 2;
const PATHS: [(&str, &str); 3] = [
    ("ready", "/api/v1/ready"),
    ("health", "/api/v1/health"),
    ("notes", "/api/v1/notes"),
];

/// What one run saw, to judge.
#[derive(Debug)]
struct Run {
    timeline: Timeline,
    /// When `pg_ctl stop` was called, and when PostgreSQL accepted connections again.
    stopped: Duration,
    restarted: Duration,
    /// Whether keel's process still ran at the end.
    running: bool,
}

pub(crate) fn run(bin: &Binaries, options: &Options) -> Result<(), String> {
    let postgres = Postgres::start()?;
    let log = super::log_path("postgres", "keel");
    let timeout = REQUEST_TIMEOUT.as_secs().to_string();
    let mut keel = servers::start_keel_logging(
        bin,
        &[
            ("APP_DATABASE__URL", postgres.url().as_str()),
            ("APP_SERVER__REQUEST_TIMEOUT_SECS", timeout.as_str()),
            ("APP_SERVER__DRAIN_DELAY_SECS", "0"),
        ],
        Some(&log),
    )?;
    let pid = keel.pid();
    let targets: Vec<Target> = PATHS
        .iter()
        .map(|(name, path)| Target {
            name: (*name).to_owned(),
            port: keel.port,
            path: (*path).to_owned(),
            threads: super::per_target(options),
        })
        .collect();
    let deadline = REQUEST_TIMEOUT + DEADLINE_MARGIN;
    let origin = Instant::now();
    let load = poller::start(&targets, deadline, super::PACE, origin);
    let steady = super::steady(options);
    // Not a synchronisation: the load runs undisturbed for a while before the fault, on purpose.
    std::thread::sleep(steady);
    let stopped = origin.elapsed();
    postgres.stop()?;
    let stop_took = origin.elapsed() - stopped;
    // Not a synchronisation: the fault lasts this long, on purpose.
    std::thread::sleep(options.duration);
    let restarting = origin.elapsed();
    postgres.resume()?;
    let restarted = origin.elapsed();
    // Ends the fault phase as soon as readiness is back (or the limit passes; the judge says so).
    super::wait_until(RECOVERY_LIMIT, || {
        super::answer(keel.port, "/api/v1/ready").is_some_and(|answer| answer.status == 200)
    });
    std::thread::sleep(steady);
    let run = Run {
        timeline: load.timeline(&targets),
        stopped,
        restarted,
        running: keel.running() && keel.pid() == pid,
    };
    let exit = keel.terminate(Duration::from_secs(30))?;
    println!("{}", report(&run, stop_took, restarting, pid, exit));
    println!("keel's log: {}\n", super::log_summary(&log));
    super::verdict(judge(&run))
}

/// The report of a run, in Markdown.
fn report(
    run: &Run,
    stop_took: Duration,
    restarting: Duration,
    pid: u32,
    exit: std::process::ExitStatus,
) -> String {
    let timeline = &run.timeline;
    let is = |status: u16| move |outcome: Outcome| outcome == Outcome::Status(status);
    let first_503 = timeline.first_after(READY, run.stopped, is(503));
    let first_200 = timeline.first_after(READY, run.restarted, is(200));
    let since = |moment: Option<Duration>, base: Duration| {
        moment.map_or_else(String::new, |moment| {
            format!(" (+{:.1} s)", moment.saturating_sub(base).as_secs_f64())
        })
    };
    let mut text = format!(
        "### PostgreSQL stopped and restarted under load\n\n\
         Timeline (seconds from the start of the load): `pg_ctl stop -m fast` at {} (returned after {:.1} s); \
         readiness's first 503 at {}{}; `pg_ctl start` at {}, accepting connections at {}; readiness's first \
         200 after that at {}{}; the last 503s of readiness and of `/api/v1/notes` at {} and {}. keel (pid \
         {pid}) {} and exited with {exit} when stopped afterwards.\n\n",
        at(Some(run.stopped)),
        stop_took.as_secs_f64(),
        at(first_503),
        since(first_503, run.stopped),
        at(Some(restarting)),
        at(Some(run.restarted)),
        at(first_200),
        since(first_200, run.restarted),
        at(timeline.last(READY, is(503))),
        at(timeline.last(NOTES, is(503))),
        if run.running {
            "ran throughout, same process"
        } else {
            "DID NOT run throughout"
        },
    );
    for (target, (_, path)) in PATHS.iter().enumerate() {
        text.push_str(&format!(
            "- `{path}`: {}; slowest answer {}\n",
            timeline.counts_text(target),
            timeline
                .slowest_answer(target)
                .map_or_else(|| "none".to_owned(), |slowest| format!("{slowest:.2?}")),
        ));
    }
    text.push('\n');
    text.push_str(&timeline.phase_table());
    text
}

/// What went wrong in `run`; empty when it passed.
fn judge(run: &Run) -> Vec<String> {
    let timeline = &run.timeline;
    let is = |status: u16| move |outcome: Outcome| outcome == Outcome::Status(status);
    let mut failures = Vec::new();
    if !run.running {
        failures
            .push("keel's process did not run throughout (it exited or was replaced)".to_owned());
    }
    let unhealthy = timeline.count(HEALTH, |outcome| outcome != Outcome::Status(200));
    if unhealthy > 0 {
        failures.push(format!(
            "liveness answered other than 200 {unhealthy} times ({})",
            timeline.counts_text(HEALTH)
        ));
    }
    match timeline.first_after(READY, run.stopped, is(503)) {
        Some(first) if first <= run.restarted => {}
        _ => failures.push("readiness never answered 503 while PostgreSQL was down".to_owned()),
    }
    let recovered = timeline.first_after(READY, run.restarted, is(200));
    match recovered {
        Some(first) if first <= run.restarted + RECOVERY_LIMIT => {}
        _ => failures.push(format!(
            "readiness did not answer 200 within {RECOVERY_LIMIT:?} of PostgreSQL's restart (first 200 at {})",
            at(recovered)
        )),
    }
    for target in 0..timeline.targets() {
        let name = timeline.name(target);
        let timed_out = timeline.count(target, |outcome| outcome == Outcome::TimedOut);
        if timed_out > 0 {
            failures.push(format!(
                "{name}: {timed_out} requests got no answer within {:?}",
                REQUEST_TIMEOUT + DEADLINE_MARGIN
            ));
        }
        let failed = timeline.count(target, |outcome| {
            matches!(outcome, Outcome::Refused | Outcome::Cut | Outcome::Failed)
        });
        if failed > 0 {
            failures.push(format!(
                "{name}: {failed} requests refused, cut or unreadable ({})",
                timeline.counts_text(target)
            ));
        }
        let odd = timeline.count(
            target,
            |outcome| matches!(outcome, Outcome::Status(status) if status != 200 && status != 503),
        );
        if odd > 0 {
            failures.push(format!(
                "{name}: {odd} answers neither 200 nor 503 ({})",
                timeline.counts_text(target)
            ));
        }
        if let Some(recovered) = recovered {
            let late = timeline
                .count_sent_after(target, recovered, |outcome| outcome != Outcome::Status(200));
            if late > 0 {
                failures.push(format!(
                    "{name}: {late} requests sent after readiness recovered at {} were not answered 200",
                    at(Some(recovered))
                ));
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Event;
    use crate::timeline::tests::event;

    const OK: Outcome = Outcome::Status(200);
    const DOWN: Outcome = Outcome::Status(503);

    /// A run: PostgreSQL stopped at 2 s, back at 5 s; `extra` events added to a clean one.
    fn run_with(extra: &[Event], running: bool) -> Run {
        let mut events = vec![
            event(READY, 1_000, 5, OK),
            event(HEALTH, 1_000, 1, OK),
            event(NOTES, 1_000, 5, OK),
            event(READY, 2_100, 2_000, DOWN),
            event(NOTES, 2_100, 5_000, DOWN),
            event(HEALTH, 3_000, 1, OK),
            event(READY, 5_100, 10, OK),
            event(NOTES, 5_200, 10, OK),
            event(HEALTH, 5_200, 1, OK),
        ];
        events.extend_from_slice(extra);
        Run {
            timeline: Timeline::new(
                PATHS.iter().map(|(name, _)| (*name).to_owned()).collect(),
                events,
            ),
            stopped: Duration::from_secs(2),
            restarted: Duration::from_secs(5),
            running,
        }
    }

    #[test]
    fn a_clean_outage_and_recovery_passes() {
        assert_eq!(judge(&run_with(&[], true)), Vec::<String>::new());
        let report = report(
            &run_with(&[], true),
            Duration::from_millis(200),
            Duration::from_millis(4_500),
            42,
            std::process::ExitStatus::default(),
        );
        assert!(
            report.contains("readiness's first 503 at 4.1 s (+2.1 s)"),
            "{report}"
        );
        assert!(
            report.contains("first 200 after that at 5.1 s (+0.1 s)"),
            "{report}"
        );
    }

    #[test]
    fn each_misbehaviour_is_named() {
        let failures = judge(&run_with(
            &[
                event(HEALTH, 3_000, 1, DOWN),
                event(NOTES, 3_000, 11_000, Outcome::TimedOut),
                event(NOTES, 3_000, 10, Outcome::Status(500)),
                event(NOTES, 6_000, 10, DOWN),
            ],
            false,
        ));
        let expected = [
            "keel's process did not run throughout",
            "liveness answered other than 200 1 times",
            "notes: 1 requests got no answer within 11s",
            "notes: 1 answers neither 200 nor 503",
            "notes: 1 requests sent after readiness recovered at 5.1 s were not answered 200",
        ];
        crate::faults::tests::assert_failures(&failures, &expected);
    }

    #[test]
    fn readiness_that_never_fails_or_never_recovers_fails_the_run() {
        let mut run = run_with(&[], true);
        run.stopped = Duration::from_secs(5);
        run.restarted = Duration::from_secs(6);
        let failures = judge(&run);
        assert!(
            failures[0].starts_with("readiness never answered 503"),
            "{failures:?}"
        );
        assert!(
            failures[1].starts_with("readiness did not answer 200 within 10s"),
            "{failures:?}"
        );
    }
}
