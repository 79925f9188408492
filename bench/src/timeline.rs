//! What a fault run's clients saw, read back: counts by outcome, when an outcome first or last showed,
//! the slowest answer, and the run cut into phases (runs of seconds in which every target saw the same
//! kinds of outcome), which is the timeline a report shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use crate::client::Outcome;

/// One request as a client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// Which target (its index in the list given to [`crate::poller::start`]).
    pub(crate) target: usize,
    /// When the request was sent, from the run's origin.
    pub(crate) sent: Duration,
    pub(crate) latency: Duration,
    pub(crate) outcome: Outcome,
}

impl Event {
    /// When the client had its outcome, from the run's origin.
    pub(crate) fn ended(&self) -> Duration {
        self.sent + self.latency
    }
}

/// The events of one run and the names of its targets.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    names: Vec<String>,
    events: Vec<Event>,
}

/// Consecutive whole seconds (`from..to`, by when requests ended) in which each target saw the same
/// kinds of outcome, with the counts per target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Phase {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) counts: Vec<BTreeMap<Outcome, u64>>,
}

impl Timeline {
    pub(crate) fn new(names: Vec<String>, events: Vec<Event>) -> Timeline {
        Timeline { names, events }
    }

    fn of(&self, target: usize) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(move |event| event.target == target)
    }

    /// How many requests of `target` ended with each outcome.
    pub(crate) fn counts(&self, target: usize) -> BTreeMap<Outcome, u64> {
        let mut counts = BTreeMap::new();
        for event in self.of(target) {
            *counts.entry(event.outcome).or_insert(0) += 1;
        }
        counts
    }

    /// How many requests of `target` ended in a way `pick` accepts.
    pub(crate) fn count(&self, target: usize, pick: impl Fn(Outcome) -> bool) -> u64 {
        self.of(target).filter(|event| pick(event.outcome)).count() as u64
    }

    /// How many requests of `target` sent at or after `after` ended in a way `pick` accepts.
    pub(crate) fn count_sent_after(
        &self,
        target: usize,
        after: Duration,
        pick: impl Fn(Outcome) -> bool,
    ) -> u64 {
        self.of(target)
            .filter(|event| event.sent >= after && pick(event.outcome))
            .count() as u64
    }

    /// The name of `target`.
    pub(crate) fn name(&self, target: usize) -> &str {
        self.names.get(target).map_or("?", String::as_str)
    }

    /// How many targets there are.
    pub(crate) fn targets(&self) -> usize {
        self.names.len()
    }

    /// When the first request of `target` that ended after `after` with an outcome `pick` accepts ended.
    pub(crate) fn first_after(
        &self,
        target: usize,
        after: Duration,
        pick: impl Fn(Outcome) -> bool,
    ) -> Option<Duration> {
        self.of(target)
            .filter(|event| event.ended() >= after && pick(event.outcome))
            .map(Event::ended)
            .min()
    }

    /// When the last request of `target` with an outcome `pick` accepts ended.
    pub(crate) fn last(&self, target: usize, pick: impl Fn(Outcome) -> bool) -> Option<Duration> {
        self.of(target)
            .filter(|event| pick(event.outcome))
            .map(Event::ended)
            .max()
    }

    /// The longest a request of `target` took to be answered (timeouts and failures excluded).
    pub(crate) fn slowest_answer(&self, target: usize) -> Option<Duration> {
        self.of(target)
            .filter(|event| matches!(event.outcome, Outcome::Status(_)))
            .map(|event| event.latency)
            .max()
    }

    /// `200 ×5123, 503 ×40`.
    pub(crate) fn counts_text(&self, target: usize) -> String {
        counts_text(&self.counts(target))
    }

    /// The run cut into phases.
    pub(crate) fn phases(&self) -> Vec<Phase> {
        let mut seconds: BTreeMap<u64, Vec<BTreeMap<Outcome, u64>>> = BTreeMap::new();
        for event in &self.events {
            let counts = seconds
                .entry(event.ended().as_secs())
                .or_insert_with(|| vec![BTreeMap::new(); self.names.len()]);
            if let Some(target) = counts.get_mut(event.target) {
                *target.entry(event.outcome).or_insert(0) += 1;
            }
        }
        let kinds = |counts: &[BTreeMap<Outcome, u64>]| -> Vec<BTreeSet<Outcome>> {
            counts
                .iter()
                .map(|target| target.keys().copied().collect())
                .collect()
        };
        let mut phases: Vec<Phase> = Vec::new();
        for (second, counts) in seconds {
            match phases.last_mut() {
                Some(phase) if phase.to == second && kinds(&phase.counts) == kinds(&counts) => {
                    phase.to = second + 1;
                    for (sum, more) in phase.counts.iter_mut().zip(counts) {
                        for (outcome, count) in more {
                            *sum.entry(outcome).or_insert(0) += count;
                        }
                    }
                }
                _ => phases.push(Phase {
                    from: second,
                    to: second + 1,
                    counts,
                }),
            }
        }
        phases
    }

    /// The phases as a Markdown table, one column per target.
    pub(crate) fn phase_table(&self) -> String {
        let mut text = String::from("| seconds |");
        for name in &self.names {
            let _ = write!(text, " {name} |");
        }
        text.push_str("\n|---|");
        text.push_str(&"---|".repeat(self.names.len()));
        text.push('\n');
        for phase in self.phases() {
            let _ = write!(text, "| {}–{} |", phase.from, phase.to);
            for counts in &phase.counts {
                let _ = write!(text, " {} |", counts_text(counts));
            }
            text.push('\n');
        }
        text
    }
}

fn counts_text(counts: &BTreeMap<Outcome, u64>) -> String {
    if counts.is_empty() {
        return "—".to_owned();
    }
    counts
        .iter()
        .map(|(outcome, count)| format!("{} ×{count}", outcome.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats a moment of the run (`12.3 s`), or `never`.
pub(crate) fn at(moment: Option<Duration>) -> String {
    moment.map_or_else(
        || "never".to_owned(),
        |moment| format!("{:.1} s", moment.as_secs_f64()),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An event of `target` sent at `sent_ms` that took `latency_ms`.
    pub(crate) fn event(target: usize, sent_ms: u64, latency_ms: u64, outcome: Outcome) -> Event {
        Event {
            target,
            sent: Duration::from_millis(sent_ms),
            latency: Duration::from_millis(latency_ms),
            outcome,
        }
    }

    const OK: Outcome = Outcome::Status(200);
    const DOWN: Outcome = Outcome::Status(503);

    fn sample() -> Timeline {
        Timeline::new(
            vec!["ready".to_owned(), "health".to_owned()],
            vec![
                event(0, 100, 5, OK),
                event(1, 100, 1, OK),
                event(0, 1_100, 5, OK),
                event(1, 1_200, 1, OK),
                event(0, 2_000, 2_000, DOWN),
                event(1, 2_100, 1, OK),
                event(0, 4_100, 30, DOWN),
                event(1, 4_100, 1, OK),
                event(0, 5_500, 6_000, Outcome::TimedOut),
                event(0, 5_600, 10, OK),
            ],
        )
    }

    #[test]
    fn counts_firsts_lasts_and_the_slowest_answer() {
        let timeline = sample();
        assert_eq!(timeline.counts_text(0), "200 ×3, 503 ×2, timeout ×1");
        assert_eq!(timeline.count(1, |outcome| outcome != OK), 0);
        let first_down = timeline.first_after(0, Duration::from_secs(1), |outcome| outcome == DOWN);
        assert_eq!(first_down, Some(Duration::from_millis(4_000)));
        let back = timeline.first_after(0, Duration::from_secs(5), |outcome| outcome == OK);
        assert_eq!(back, Some(Duration::from_millis(5_610)));
        assert_eq!(
            timeline.last(0, |outcome| outcome == DOWN),
            Some(Duration::from_millis(4_130))
        );
        assert_eq!(
            timeline.first_after(1, Duration::ZERO, |outcome| outcome == DOWN),
            None
        );
        // The timeout is not an answer: the slowest answer is the 2 s 503.
        assert_eq!(timeline.slowest_answer(0), Some(Duration::from_secs(2)));
    }

    #[test]
    fn seconds_with_the_same_kinds_of_outcome_make_one_phase() {
        let phases = sample().phases();
        let spans: Vec<(u64, u64)> = phases.iter().map(|phase| (phase.from, phase.to)).collect();
        // 0–2: 200s only; 2 has no event; 4: 503 for ready; 5: 200 for ready only; 11: the timeout.
        assert_eq!(spans, vec![(0, 2), (2, 3), (4, 5), (5, 6), (11, 12)]);
        assert_eq!(phases[0].counts[0], BTreeMap::from([(OK, 2)]));
        assert_eq!(phases[1].counts[0], BTreeMap::new());
        let table = sample().phase_table();
        assert!(
            table.starts_with("| seconds | ready | health |\n|---|---|---|\n"),
            "{table}"
        );
        assert!(table.contains("| 4–5 | 503 ×2 | 200 ×1 |"), "{table}");
        assert!(table.contains("| 2–3 | — | 200 ×1 |"), "{table}");
    }

    #[test]
    fn a_moment_reads_in_seconds_or_never() {
        assert_eq!(at(Some(Duration::from_millis(12_345))), "12.3 s");
        assert_eq!(at(None), "never");
    }
}
