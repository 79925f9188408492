//! `keel-bench faults redis`: two keel instances on the harness's own PostgreSQL and Redis, under load on
//! the flag-gated `/signup-v2`; Redis is stopped (SIGTERM) and started again on the same port. Pages must
//! keep serving (every answer 200), readiness stay 200 while reporting Redis unavailable, a flag changed
//! through one instance's ops API while Redis is down must reach the other through the periodic resync
//! (within the resync interval, twice `--duration` and at least 6 s), and one changed after Redis is back must reach it through pub/sub
//! (within [`PUBSUB_LIMIT`], far below the resync interval).

use std::time::{Duration, Instant};

use super::{ADMIN_TOKEN, DEADLINE_MARGIN, REQUEST_TIMEOUT};
use crate::Options;
use crate::client::{Client, Outcome};
use crate::poller::{self, Target};
use crate::servers::{self, Binaries, Server};
use crate::services::{Postgres, Redis};
use crate::timeline::{Timeline, at};

/// `flag_sync.resync_interval_secs` in a run of `--duration`: long enough (three times [`PUBSUB_LIMIT`]
/// at least) that a change delivered by pub/sub is told apart from one the resync delivered.
fn resync_interval(options: &Options) -> Duration {
    (options.duration * 2).max(Duration::from_secs(6))
}

/// Once Redis is back, a change must reach the other instance within this (announcements take
/// milliseconds; the margin is for a loaded machine).
const PUBSUB_LIMIT: Duration = Duration::from_secs(2);

/// How long an instance may take to notice that Redis went away or came back (its listener's
/// reconnection backoff ends at 10 s).
const NOTICE_LIMIT: Duration = Duration::from_secs(20);

/// The flag toggled through the ops API (not `signup_v2`, which gates the page under load).
const FLAG: &str = "new_checkout";

/// What one run saw, to judge.
#[derive(Debug)]
struct Run {
    timeline: Timeline,
    /// How long the change made while Redis was down took to reach the other instance, if it did.
    during_outage: Option<Duration>,
    /// How long the change made after Redis came back took, if it did.
    after_return: Option<Duration>,
    /// How long the ops API took to answer the change made while Redis was down.
    change_took: Duration,
    /// The resync interval keel ran with.
    resync: Duration,
    running: bool,
}

pub(crate) fn run(bin: &Binaries, options: &Options) -> Result<(), String> {
    let postgres = Postgres::start()?;
    let mut redis = Redis::start()?;
    let (database, redis_url) = (postgres.url(), redis.url());
    let interval = resync_interval(options);
    let resync = interval.as_secs().to_string();
    let timeout = REQUEST_TIMEOUT.as_secs().to_string();
    let start = |instance: &str| {
        servers::start_keel_logging(
            bin,
            &[
                ("APP_DATABASE__URL", database.as_str()),
                ("APP_REDIS__URL", redis_url.as_str()),
                ("APP_SECURITY__ADMIN_TOKEN", ADMIN_TOKEN),
                ("APP_FLAG_SYNC__RESYNC_INTERVAL_SECS", resync.as_str()),
                ("APP_SERVER__REQUEST_TIMEOUT_SECS", timeout.as_str()),
                ("APP_SERVER__DRAIN_DELAY_SECS", "0"),
            ],
            Some(&super::log_path("redis", instance)),
        )
    };
    let (mut first, mut second) = (start("a")?, start("b")?);
    let target = |name: &str, server: &Server, path: &str| Target {
        name: name.to_owned(),
        port: server.port,
        path: path.to_owned(),
        threads: super::per_target(options),
    };
    let targets = [
        target("signup-v2 (a)", &first, "/signup-v2"),
        target("signup-v2 (b)", &second, "/signup-v2"),
        target("ready (a)", &first, "/api/v1/ready"),
    ];
    let origin = Instant::now();
    let load = poller::start(
        &targets,
        REQUEST_TIMEOUT + DEADLINE_MARGIN,
        super::PACE,
        origin,
    );
    let steady = super::steady(options);
    // Not a synchronisation: the load runs undisturbed for a while before the fault, on purpose.
    std::thread::sleep(steady);
    let mut timeline = vec![format!(
        "instances a (port {}) and b (port {}) serving; Redis stopped (SIGTERM) at {}",
        first.port,
        second.port,
        at(Some(origin.elapsed()))
    )];
    redis.stop()?;
    for (name, server) in [("a", &first), ("b", &second)] {
        let noticed = notice(server, "unavailable", origin)?;
        timeline.push(format!(
            "instance {name}'s readiness reported Redis unavailable at {noticed}"
        ));
    }
    let changed = origin.elapsed();
    let (during_outage, change_took) =
        change_and_follow(&first, &second, interval, "while Redis was down")?;
    timeline.push(format!(
        "{FLAG} changed through instance a's ops API (answered in {change_took:.2?}) at {}; instance b had it after {}",
        at(Some(changed)),
        delay(during_outage)
    ));
    redis.resume()?;
    timeline.push(format!(
        "Redis started again at {}",
        at(Some(origin.elapsed()))
    ));
    for (name, server) in [("a", &first), ("b", &second)] {
        let noticed = notice(server, "ok", origin)?;
        timeline.push(format!(
            "instance {name}'s readiness reported Redis ok again at {noticed}"
        ));
    }
    let changed = origin.elapsed();
    let (after_return, _) = change_and_follow(&first, &second, interval, "after Redis came back")?;
    timeline.push(format!(
        "{FLAG} changed back through instance a at {}; instance b had it after {}",
        at(Some(changed)),
        delay(after_return)
    ));
    std::thread::sleep(steady);
    let run = Run {
        timeline: load.timeline(&targets),
        during_outage,
        after_return,
        change_took,
        resync: interval,
        running: first.running() && second.running(),
    };
    first.terminate(Duration::from_secs(30))?;
    second.terminate(Duration::from_secs(30))?;
    println!("### Redis stopped under load\n");
    println!("Timeline (seconds from the start of the load, resync interval {interval:?}):\n");
    for line in &timeline {
        println!("- {line}");
    }
    println!();
    for target in 0..run.timeline.targets() {
        println!(
            "- `{}`: {}",
            run.timeline.name(target),
            run.timeline.counts_text(target)
        );
    }
    println!("\n{}", run.timeline.phase_table());
    for instance in ["a", "b"] {
        println!(
            "keel {instance}'s log: {}",
            super::log_summary(&super::log_path("redis", instance))
        );
    }
    println!();
    super::verdict(judge(&run))
}

/// Waits until `server`'s readiness reports Redis with `status`; says when, from `origin`.
fn notice(server: &Server, status: &str, origin: Instant) -> Result<String, String> {
    let reported = || {
        super::answer(server.port, "/api/v1/ready")
            .and_then(|answer| redis_status(&answer.text()))
            .is_some_and(|reported| reported == status)
    };
    if super::wait_until(NOTICE_LIMIT, reported) {
        Ok(at(Some(origin.elapsed())))
    } else {
        Err(format!(
            "keel on port {} did not report Redis {status} within {NOTICE_LIMIT:?}",
            server.port
        ))
    }
}

/// Flips [`FLAG`] through `first`'s ops API, checks `first` applied it at once, and measures how long
/// `second` takes to show it (`None`: not within the resync interval and a margin). Also returns how
/// long the ops API took to answer.
fn change_and_follow(
    first: &Server,
    second: &Server,
    interval: Duration,
    when: &str,
) -> Result<(Option<Duration>, Duration), String> {
    let read = |server: &Server| {
        super::answer(server.port, "/api/v1/flags")
            .and_then(|answer| flag_value(&answer.text(), FLAG))
    };
    let current = read(first).ok_or_else(|| format!("cannot read {FLAG} from /api/v1/flags"))?;
    let body = format!(r#"{{"enabled": {}, "actor": "keel-bench"}}"#, !current);
    let authorization = format!("Bearer {ADMIN_TOKEN}");
    let started = Instant::now();
    let answer = Client::new(first.port, REQUEST_TIMEOUT)
        .send(
            "POST",
            &format!("/ops/flags/{FLAG}"),
            &[
                ("Authorization", &authorization),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
        .map_err(|no_answer| format!("changing {FLAG} {when}: {}", no_answer.cause))?;
    let took = started.elapsed();
    if answer.status != 200 {
        return Err(format!(
            "changing {FLAG} {when}: the ops API answered {}: {}",
            answer.status,
            answer.text()
        ));
    }
    if read(first) != Some(!current) {
        return Err(format!(
            "the instance that changed {FLAG} {when} does not show the change"
        ));
    }
    let arrived = super::wait_until(interval + Duration::from_secs(5), || {
        read(second) == Some(!current)
    });
    Ok((arrived.then(|| started.elapsed()), took))
}

/// What went wrong in `run`; empty when it passed.
fn judge(run: &Run) -> Vec<String> {
    let timeline = &run.timeline;
    let mut failures = Vec::new();
    if !run.running {
        failures.push("a keel instance did not run throughout".to_owned());
    }
    for target in 0..timeline.targets() {
        let other = timeline.count(target, |outcome| outcome != Outcome::Status(200));
        if other > 0 {
            failures.push(format!(
                "{}: {other} requests not answered 200 ({})",
                timeline.name(target),
                timeline.counts_text(target)
            ));
        }
    }
    match run.during_outage {
        Some(delay) if delay <= run.resync + DEADLINE_MARGIN => {}
        other => failures.push(format!(
            "a change made while Redis was down reached the other instance after {} (the resync interval is {:?})",
            self::delay(other),
            run.resync
        )),
    }
    match run.after_return {
        Some(delay) if delay <= PUBSUB_LIMIT => {}
        other => failures.push(format!(
            "a change made after Redis came back reached the other instance after {} (pub/sub should take under {PUBSUB_LIMIT:?})",
            self::delay(other)
        )),
    }
    if run.change_took > PUBSUB_LIMIT {
        failures.push(format!(
            "the ops API took {:.2?} to answer a change while Redis was down (an announcement waits at most 1 s)",
            run.change_took
        ));
    }
    failures
}

fn delay(delay: Option<Duration>) -> String {
    delay.map_or_else(
        || "never (within the resync interval and 5 s)".to_owned(),
        |delay| format!("{delay:.2?}"),
    )
}

/// `"ok"` or `"unavailable"` from a readiness answer's `redis` check.
fn redis_status(readiness: &str) -> Option<String> {
    let check = &readiness[readiness.find("\"redis\":{")?..];
    super::json_string(check, "status")
}

/// A flag's value in `/api/v1/flags`'s answer (`{"flags": {"new_checkout": false, …}}`).
fn flag_value(flags: &str, name: &str) -> Option<bool> {
    let key = format!("\"{name}\":");
    let rest = flags[flags.find(&key)? + key.len()..].trim_start();
    if rest.starts_with("true") {
        Some(true)
    } else if rest.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::tests::event;

    fn run_with(outcome: Outcome, during: Option<u64>, after: Option<u64>) -> Run {
        let names = ["signup-v2 (a)", "signup-v2 (b)", "ready (a)"];
        Run {
            timeline: Timeline::new(
                names.iter().map(|name| (*name).to_owned()).collect(),
                vec![
                    event(0, 0, 1, Outcome::Status(200)),
                    event(1, 5, 1, outcome),
                ],
            ),
            during_outage: during.map(Duration::from_millis),
            after_return: after.map(Duration::from_millis),
            change_took: Duration::from_millis(3),
            resync: Duration::from_secs(20),
            running: true,
        }
    }

    #[test]
    fn a_run_passes_when_pages_serve_and_both_changes_arrive_in_time() {
        assert!(judge(&run_with(Outcome::Status(200), Some(12_000), Some(40))).is_empty());
    }

    #[test]
    fn a_failed_page_a_lost_change_or_a_slow_announcement_fails_it() {
        let failures = judge(&run_with(Outcome::Status(404), None, Some(9_000)));
        assert_eq!(failures.len(), 3, "{failures:#?}");
        assert!(failures[0].starts_with("signup-v2 (b): 1 requests not answered 200 (404 ×1)"));
        assert!(failures[1].contains("after never"), "{}", failures[1]);
        assert!(failures[2].contains("after 9.00s"), "{}", failures[2]);
    }

    #[test]
    fn readiness_and_flags_are_read_from_the_answers() {
        let ready = r#"{"status":"ok","checks":{"database":{"status":"ok","backend":"postgres"},"redis":{"status":"unavailable","backend":"redis"}}}"#;
        assert_eq!(redis_status(ready).as_deref(), Some("unavailable"));
        assert_eq!(redis_status(r#"{"status":"ok","checks":{}}"#), None);
        let flags = r#"{"flags":{"new_checkout": true,"signup_v2":false}}"#;
        assert_eq!(flag_value(flags, "new_checkout"), Some(true));
        assert_eq!(flag_value(flags, "signup_v2"), Some(false));
        assert_eq!(flag_value(flags, "other"), None);
    }
}
