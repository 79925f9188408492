//! The load of a fault run, recorded: a few threads per target, each sending one request after another
//! over a keep-alive connection (at most one per `pace`) and recording when it was sent, how long it took
//! and how it ended (an [`Event`], read back by [`Timeline`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client::{Client, Outcome};
use crate::timeline::{Event, Timeline};

/// A target: a name for reports, the server's port, the path to GET and how many threads send to it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) path: String,
    pub(crate) threads: usize,
}

/// After a failed request (a refused connection answers at once), a thread waits this long, so it does
/// not spin; this paces the load, it synchronises nothing.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(20);

/// Threads sending requests until [`Poller::finish`].
pub(crate) struct Poller {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Event>>>,
}

/// Starts each target's threads; every request must end within `deadline`, and a thread sends at most
/// one request per `pace` (zero: as fast as answers come).
pub(crate) fn start(
    targets: &[Target],
    deadline: Duration,
    pace: Duration,
    origin: Instant,
) -> Poller {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        for _ in 0..target.threads.max(1) {
            let (stop, target) = (Arc::clone(&stop), target.clone());
            threads.push(std::thread::spawn(move || {
                let mut client = Client::new(target.port, deadline);
                let mut events = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let outcome = match client.get(&target.path) {
                        Ok(answer) => Outcome::Status(answer.status),
                        Err(no_answer) => no_answer.outcome,
                    };
                    events.push(Event {
                        target: index,
                        sent: started.duration_since(origin),
                        latency: started.elapsed(),
                        outcome,
                    });
                    let wait = if matches!(outcome, Outcome::Status(_)) {
                        pace
                    } else {
                        pace.max(PAUSE_AFTER_FAILURE)
                    };
                    if let Some(left) = wait.checked_sub(started.elapsed()) {
                        std::thread::sleep(left);
                    }
                }
                events
            }));
        }
    }
    Poller { stop, threads }
}

impl Poller {
    /// Stops every thread after its current request and returns all events, in the order they were sent.
    pub(crate) fn finish(mut self) -> Vec<Event> {
        self.stop.store(true, Ordering::Relaxed);
        let mut events: Vec<Event> = std::mem::take(&mut self.threads)
            .into_iter()
            .flat_map(|thread| thread.join().unwrap_or_default())
            .collect();
        events.sort_by_key(|event| event.sent);
        events
    }
}

impl Poller {
    /// [`Poller::finish`], read back as the timeline of `targets` (those given to [`start`]).
    pub(crate) fn timeline(self, targets: &[Target]) -> Timeline {
        let names = targets.iter().map(|target| target.name.clone()).collect();
        Timeline::new(names, self.finish())
    }
}

impl Drop for Poller {
    /// A run that fails half-way still stops its threads (they end after their current request).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
