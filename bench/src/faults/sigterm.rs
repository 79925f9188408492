//! `keel-bench faults sigterm`: SIGTERM in the middle of a load on `/` (and on readiness). keel must
//! answer readiness 503 at once, keep answering pages through its drain delay, then close its listener,
//! finish what is in flight and exit 0: no request cut or timed out, every page answered 200. Connections
//! refused once the listener is closed are expected and reported apart; refused before the drain delay
//! ends, they are a failure (the listener closed early).
//!
//! The load is the harness's recording client, not `wrk`: `wrk` counts a refused reconnection as a write
//! error, so after keel exits it reports every attempt until the end of its run as an error, and a cut
//! request cannot be told from a refused connection.

use std::time::{Duration, Instant};

use super::{DEADLINE_MARGIN, REQUEST_TIMEOUT};
use crate::Options;
use crate::client::Outcome;
use crate::poller::{self, Target};
use crate::servers::{self, Binaries};
use crate::timeline::{Timeline, at};

/// The drain delay keel runs with, as behind a load balancer.
const DRAIN_DELAY: Duration = Duration::from_secs(2);

/// Readiness must answer 503 within this of the signal.
const NOTICE_LIMIT: Duration = Duration::from_secs(1);

/// The targets, in this order.
const PAGE: usize = 0;
const READY: usize = 1;

/// What one run saw, to judge.
#[derive(Debug)]
struct Run {
    timeline: Timeline,
    signalled: Duration,
    exited: Duration,
    exit: std::process::ExitStatus,
}

pub(crate) fn run(bin: &Binaries, options: &Options) -> Result<(), String> {
    let drain = DRAIN_DELAY.as_secs().to_string();
    let timeout = REQUEST_TIMEOUT.as_secs().to_string();
    let mut keel = servers::start_keel(
        bin,
        &[
            ("APP_SERVER__DRAIN_DELAY_SECS", drain.as_str()),
            ("APP_SERVER__REQUEST_TIMEOUT_SECS", timeout.as_str()),
        ],
    )?;
    let target = |name: &str, path: &str, threads: usize| Target {
        name: name.to_owned(),
        port: keel.port,
        path: path.to_owned(),
        threads,
    };
    let targets = [
        target(
            "/",
            "/",
            usize::try_from(options.connections / 4).unwrap_or(1),
        ),
        target("ready", "/api/v1/ready", super::per_target(options)),
    ];
    let origin = Instant::now();
    // Unpaced: as many requests as keel answers, so many are in flight when the listener closes.
    let load = poller::start(
        &targets,
        REQUEST_TIMEOUT + DEADLINE_MARGIN,
        Duration::ZERO,
        origin,
    );
    // Not a synchronisation: SIGTERM comes after a while of undisturbed load, on purpose.
    std::thread::sleep(super::steady(options));
    let signalled = origin.elapsed();
    let exit = keel.terminate(Duration::from_secs(60))?;
    let exited = origin.elapsed();
    let run = Run {
        timeline: load.timeline(&targets),
        signalled,
        exited,
        exit,
    };
    println!("{}", report(&run));
    super::verdict(judge(&run))
}

/// The report of a run, in Markdown.
fn report(run: &Run) -> String {
    let timeline = &run.timeline;
    let since = |moment: Option<Duration>| {
        moment.map_or_else(
            || "never".to_owned(),
            |moment| {
                format!(
                    "+{:.2} s",
                    moment.saturating_sub(run.signalled).as_secs_f64()
                )
            },
        )
    };
    let mut text = format!(
        "### SIGTERM under load\n\nTimeline (from the signal, sent {} into the load; drain delay {DRAIN_DELAY:?}): \
         readiness's first 503 {}; the last page answered {}; the first connection refused {}; keel exited \
         {} with {}.\n\n",
        at(Some(run.signalled)),
        since(timeline.first_after(READY, run.signalled, |outcome| outcome
            == Outcome::Status(503))),
        since(timeline.last(PAGE, |outcome| matches!(outcome, Outcome::Status(_)))),
        since(timeline.first_after(PAGE, Duration::ZERO, |outcome| outcome == Outcome::Refused)),
        since(Some(run.exited)),
        run.exit,
    );
    for target in 0..timeline.targets() {
        text.push_str(&format!(
            "- `{}`: {}\n",
            timeline.name(target),
            timeline.counts_text(target)
        ));
    }
    text
}

/// What went wrong in `run`; empty when it passed.
fn judge(run: &Run) -> Vec<String> {
    let timeline = &run.timeline;
    let mut failures = Vec::new();
    if !run.exit.success() {
        failures.push(format!("keel exited with {}, not 0", run.exit));
    }
    for target in 0..timeline.targets() {
        let lost = timeline.count(target, |outcome| {
            matches!(outcome, Outcome::Cut | Outcome::TimedOut | Outcome::Failed)
        });
        if lost > 0 {
            failures.push(format!(
                "{}: {lost} requests cut, timed out or unreadable ({})",
                timeline.name(target),
                timeline.counts_text(target)
            ));
        }
    }
    let other = timeline.count(
        PAGE,
        |outcome| matches!(outcome, Outcome::Status(status) if status != 200),
    );
    if other > 0 {
        failures.push(format!(
            "{other} pages answered other than 200 ({})",
            timeline.counts_text(PAGE)
        ));
    }
    let draining = timeline.first_after(READY, run.signalled, |outcome| {
        outcome == Outcome::Status(503)
    });
    if draining.is_none_or(|first| first > run.signalled + NOTICE_LIMIT) {
        failures.push(format!(
            "readiness did not answer 503 within {NOTICE_LIMIT:?} of SIGTERM (first 503 at {})",
            at(draining)
        ));
    }
    let early_503 = timeline.count_sent_after(READY, Duration::ZERO, |outcome| {
        outcome == Outcome::Status(503)
    }) - timeline.count_sent_after(READY, run.signalled, |outcome| {
        outcome == Outcome::Status(503)
    });
    if early_503 > 0 {
        failures.push(format!(
            "readiness answered 503 {early_503} times before SIGTERM"
        ));
    }
    for target in 0..timeline.targets() {
        let refused = timeline.first_after(target, Duration::ZERO, |outcome| {
            outcome == Outcome::Refused
        });
        if let Some(refused) = refused.filter(|refused| *refused < run.signalled + DRAIN_DELAY) {
            failures.push(format!(
                "{}: a connection was refused at {}, before the drain delay ended at {}",
                timeline.name(target),
                at(Some(refused)),
                at(Some(run.signalled + DRAIN_DELAY))
            ));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Event;
    use crate::timeline::tests::event;
    use std::os::unix::process::ExitStatusExt as _;

    const OK: Outcome = Outcome::Status(200);

    /// SIGTERM at 1 s, exit at 3.5 s, with `extra` events added to a clean run.
    fn run_with(extra: &[Event], code: i32) -> Run {
        let mut events = vec![
            event(PAGE, 500, 5, OK),
            event(READY, 500, 5, OK),
            event(READY, 1_100, 5, Outcome::Status(503)),
            event(PAGE, 2_900, 5, OK),
            event(PAGE, 3_200, 1, Outcome::Refused),
        ];
        events.extend_from_slice(extra);
        Run {
            timeline: Timeline::new(vec!["/".to_owned(), "ready".to_owned()], events),
            signalled: Duration::from_secs(1),
            exited: Duration::from_millis(3_500),
            exit: std::process::ExitStatus::from_raw(code << 8),
        }
    }

    #[test]
    fn a_drain_then_refusals_after_the_delay_pass() {
        let run = run_with(&[], 0);
        assert_eq!(judge(&run), Vec::<String>::new());
        let report = report(&run);
        assert!(report.contains("readiness's first 503 +0.10 s"), "{report}");
        assert!(
            report.contains("the first connection refused +2.20 s"),
            "{report}"
        );
    }

    #[test]
    fn a_cut_an_early_refusal_a_late_drain_or_a_bad_exit_fails() {
        let failures = judge(&run_with(
            &[
                event(PAGE, 1_500, 5, Outcome::Cut),
                event(READY, 200, 5, Outcome::Status(503)),
                event(READY, 1_600, 1, Outcome::Refused),
            ],
            75,
        ));
        let expected = [
            "keel exited with exit status: 75, not 0",
            "/: 1 requests cut, timed out or unreadable",
            "readiness answered 503 1 times before SIGTERM",
            "ready: a connection was refused at 1.6 s, before the drain delay ended at 3.0 s",
        ];
        crate::faults::tests::assert_failures(&failures, &expected);
    }
}
