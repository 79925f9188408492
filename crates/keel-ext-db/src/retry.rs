//! Start-up connection with retries: exponential backoff, one log line per failed attempt, and one clear
//! error when the deadline (`database.startup_timeout_secs`) has passed.

use std::time::Duration;

use keel_config::DatabaseSettings;
use tokio::time::Instant;

use crate::{Db, Error};

/// The first pause between attempts; each pause doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A deadline that never comes (a hundred years ahead).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

pub(crate) async fn connect(settings: &DatabaseSettings) -> Result<Db, Error> {
    // The setting is bounded, so this cannot overflow; were it not, the deadline would be "never".
    let deadline = Instant::now()
        .checked_add(settings.startup_timeout)
        .unwrap_or_else(far_future);
    let started = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0;
    loop {
        attempts += 1;
        // An attempt never runs past the deadline (each is also bounded by connect_timeout_secs); with a
        // zero timeout there is exactly one attempt, bounded by that alone.
        let attempt = if settings.startup_timeout.is_zero() {
            Db::connect(settings).await
        } else {
            tokio::time::timeout_at(deadline, Db::connect(settings))
                .await
                .unwrap_or_else(|_| {
                    Err(Error::StartupDeadline {
                        url: settings.url.masked(),
                    })
                })
        };
        let error = match attempt {
            Ok(db) => return Ok(db),
            // A folder that cannot be created or a file that is not a database will not change by waiting.
            Err(error) if error.is_permanent() => return Err(error),
            Err(error) => error,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Unreachable {
                url: settings.url.masked(),
                attempts,
                waited_secs: now.duration_since(started).as_secs_f64().round() as u64,
                last: Box::new(error),
            });
        }
        let pause = backoff.min(deadline - now);
        tracing::warn!(
            attempt = attempts,
            retry_in_ms = pause.as_millis(),
            error = %error,
            "database not reachable yet; retrying"
        );
        // Waiting between attempts is the point of a backoff; the deadline above bounds it.
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
