//! Accepting connections without spinning, and the open-file limit that bounds how many can be open.
//!
//! `accept` fails when the process is out of file descriptors, and keeps failing until one is freed.
//! Retrying at once would burn a core and write tens of thousands of log lines a second, so the
//! [`Acceptor`] pauses after a failure (a second when out of descriptors or memory, as hyper's and axum's
//! own loops do; briefly otherwise), logs the condition at most once per [`LOG_INTERVAL`] with the number
//! of failures, keeps serving the connections already open, and says when it accepts again.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// How long to wait after running out of file descriptors (or memory): one of the open connections has
/// to close first, which is not a matter of microseconds.
const EXHAUSTED_PAUSE: Duration = Duration::from_secs(1);
/// How long to wait after any other failure that is not the client's.
const OTHER_PAUSE: Duration = Duration::from_millis(100);
/// At most one log line per this interval while accepting fails.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A listener whose `accept` never fails: it backs off and retries until a connection comes.
pub(crate) struct Acceptor {
    listener: TcpListener,
    failures: Failures,
}

impl Acceptor {
    pub(crate) fn new(listener: TcpListener) -> Acceptor {
        Acceptor {
            listener,
            failures: Failures::default(),
        }
    }

    /// A connection that has already arrived, without waiting for one: called until `None` before the
    /// listener is dropped, so connections the kernel completed are served instead of reset.
    pub(crate) fn accept_arrived(&mut self) -> Option<(TcpStream, SocketAddr)> {
        loop {
            match self.listener.accept().now_or_never()? {
                Ok(accepted) => return Some(accepted),
                // Out of descriptors (or a client that gave up): nothing more can be taken now.
                Err(error) if !pause_after(&error).is_zero() => return None,
                Err(_) => {}
            }
        }
    }

    /// The next connection and its peer's address. Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok(accepted) => {
                    self.failures.recovered();
                    return accepted;
                }
                Err(error) => {
                    let pause = pause_after(&error);
                    if !pause.is_zero() {
                        self.failures.failed(&error, pause);
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
    }
}

/// How long to wait before the next `accept` after `error`.
fn pause_after(error: &io::Error) -> Duration {
    use rustix::io::Errno;
    match error.kind() {
        // The client gave up while its connection waited in the backlog: the listener is fine.
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused => Duration::ZERO,
        _ => match Errno::from_io_error(error) {
            Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => EXHAUSTED_PAUSE,
            _ => OTHER_PAUSE,
        },
    }
}

/// Failed accepts since the last success, logged at most once per [`LOG_INTERVAL`].
#[derive(Debug, Default)]
struct Failures {
    /// Every failure since accepting last worked.
    total: u64,
    /// Failures not yet counted in a log line.
    unlogged: u64,
    last_logged: Option<Instant>,
}

impl Failures {
    fn failed(&mut self, error: &io::Error, pause: Duration) {
        self.total += 1;
        self.unlogged += 1;
        let due = self
            .last_logged
            .is_none_or(|logged| logged.elapsed() >= LOG_INTERVAL);
        if due {
            tracing::warn!(
                %error,
                failures = self.unlogged,
                retry_in_ms = pause.as_millis(),
                "cannot accept connections (at most one line every {} s); the open ones are still served",
                LOG_INTERVAL.as_secs()
            );
            self.unlogged = 0;
            self.last_logged = Some(Instant::now());
        }
    }

    fn recovered(&mut self) {
        if self.total > 0 {
            tracing::info!(failures = self.total, "accepting connections again");
            *self = Failures::default();
        }
    }
}

/// Raises this process's soft limit of open files to its hard limit, as many servers do (each connection
/// is a file descriptor, and soft limits are often as low as 1024), then logs the limit once.
#[cfg(unix)]
pub(crate) fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    if before.current != before.maximum {
        let raised = Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, "cannot raise the open file limit (RLIMIT_NOFILE) to its hard limit");
        }
    }
    let after = getrlimit(Resource::Nofile);
    let shown =
        |limit: Option<u64>| limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    tracing::info!(
        open_files_limit = shown(after.current),
        hard_limit = shown(after.maximum),
        raised_from = shown(before.current),
        "open file limit (RLIMIT_NOFILE): each connection takes one"
    );
}

#[cfg(not(unix))]
pub(crate) fn raise_open_file_limit() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_pauses_a_second_and_a_client_giving_up_not_at_all() {
        use rustix::io::Errno;
        let cases = [
            (
                io::Error::from_raw_os_error(Errno::MFILE.raw_os_error()),
                EXHAUSTED_PAUSE,
            ),
            (
                io::Error::from_raw_os_error(Errno::NFILE.raw_os_error()),
                EXHAUSTED_PAUSE,
            ),
            (
                io::Error::from(io::ErrorKind::ConnectionAborted),
                Duration::ZERO,
            ),
            (io::Error::other("something else"), OTHER_PAUSE),
        ];
        for (error, pause) in cases {
            assert_eq!(pause_after(&error), pause, "{error}");
        }
    }
}
