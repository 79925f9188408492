//! Keeping every instance's store in step: a periodic resync from the database, and Redis pub/sub
//! announcements that make other instances resync at once.
//!
//! A message carries only the flag's name; receivers reload everything from the database, the source
//! of truth, so a message can be lost, duplicated or reordered without harm. While Redis is down the
//! store keeps serving its last snapshot and changes still arrive through the periodic resync; the
//! outage is logged once when it begins and once when it ends, never per request or per attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use keel_config::ConnectionUrl;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

use crate::Error;
use crate::flag::Announcement;

/// How long connecting to Redis (or publishing) may take before it counts as down.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a change waits for its announcement before leaving it to the resync.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the listener checks that its connection is alive.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// The listener's reconnection backoff: from the first to the last value, doubling.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// Reloads the store's flags from the database (a failure is the store's to log); answers `false` once
/// the store is gone, which ends the task that called it. The store hands one to each background task,
/// so this module knows nothing of the store's insides.
pub(crate) type Resync = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// Reloads the flags every `interval` until the store is dropped.
pub(crate) async fn resync_every(resync: Resync, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate, and the store has just been loaded.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if !resync().await {
            return;
        }
    }
}

/// Subscribes to the announcement channel and resyncs on every message, reconnecting with backoff for
/// as long as the store lives. A PING every [`KEEPALIVE`] notices a connection that died silently (a
/// failover without a reset, an idle NAT entry dropped), which would otherwise never deliver again.
/// `status` is the store's view of whether announcements are heard (readiness reports it).
pub(crate) async fn listen(resync: Resync, announcer: Announcer, status: Arc<RedisStatus>) {
    let mut backoff = RECONNECT_FIRST;
    loop {
        let subscribed = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut pubsub = announcer.client.get_async_pubsub().await?;
            pubsub.subscribe(&announcer.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let lost = match subscribed {
            Ok(Ok(pubsub)) => {
                backoff = RECONNECT_FIRST;
                status.set_connected(true);
                status
                    .outage
                    .recovered("Redis flag announcements are heard again");
                // Changes announced while this instance was not listening are in the database.
                if !resync().await {
                    return;
                }
                match receive(&resync, pubsub).await {
                    Some(reason) => reason,
                    None => return,
                }
            }
            Ok(Err(error)) => error.to_string(),
            Err(_elapsed) => format!("no answer within {REDIS_TIMEOUT:?}"),
        };
        status.set_connected(false);
        status.outage.failed(
            &lost,
            "cannot hear Redis flag announcements; flags keep their last known state and changes arrive through the periodic resync (flag_sync.resync_interval_secs)",
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}

/// Resyncs on every message until the connection is lost (returns why) or the store is gone (`None`).
async fn receive(resync: &Resync, pubsub: redis::aio::PubSub) -> Option<String> {
    let (mut sink, mut messages) = pubsub.split();
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    loop {
        tokio::select! {
            message = messages.next() => {
                if message.is_none() {
                    return Some("the subscription connection closed".to_owned());
                }
                if !resync().await {
                    return None;
                }
            }
            _ = keepalive.tick() => {
                match tokio::time::timeout(REDIS_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return Some(error.to_string()),
                    Err(_elapsed) => return Some(format!("no answer to PING within {REDIS_TIMEOUT:?}")),
                }
            }
        }
    }
}

/// Connects to Redis at `url` (authenticating with the URL's credentials) and sends a PING, each step
/// within [`REDIS_TIMEOUT`]: what `keel check` reports. The error never holds the password.
pub async fn probe_redis(url: &ConnectionUrl) -> Result<(), Error> {
    let unavailable = |reason: String| Error::RedisUnavailable {
        url: url.masked(),
        reason: url.redact(&reason),
    };
    let client = redis::Client::open(url.expose()).map_err(|error| Error::RedisUrl {
        url: url.masked(),
        reason: url.redact(&error.to_string()),
    })?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT));
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|error| unavailable(error.to_string()))?;
    redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await
        .map(drop)
        .map_err(|error| unavailable(error.to_string()))
}

/// Publishes flag changes. Cheap to clone; the publishing connection is opened on first use and
/// reopened after a failure.
#[derive(Clone)]
pub(crate) struct Announcer {
    client: redis::Client,
    channel: String,
    connection: Arc<tokio::sync::Mutex<Option<MultiplexedConnection>>>,
    /// Publishing failing, logged once per outage (apart from the listener's, which readiness reports).
    outage: Arc<Outage>,
}

impl std::fmt::Debug for Announcer {
    // The client holds the URL and its password.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Announcer")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Announcer {
    pub(crate) fn new(url: &ConnectionUrl, channel: &str) -> Result<Announcer, Error> {
        let client = redis::Client::open(url.expose()).map_err(|error| Error::RedisUrl {
            url: url.masked(),
            reason: url.redact(&error.to_string()),
        })?;
        Ok(Announcer {
            client,
            channel: channel.to_owned(),
            connection: Arc::default(),
            outage: Arc::default(),
        })
    }

    /// Tells every instance that `flag` changed, waiting at most [`ANNOUNCE_TIMEOUT`] (a change is
    /// often made inside a request). A failure is logged once per outage and otherwise ignored: the
    /// change is already in the database, and the resync delivers it.
    pub(crate) async fn announce(&self, flag: &str) -> Announcement {
        let published = tokio::time::timeout(ANNOUNCE_TIMEOUT, self.publish(flag)).await;
        let failure = match published {
            Ok(Ok(())) => {
                self.outage
                    .recovered("flag changes are announced on Redis again");
                return Announcement::Sent;
            }
            Ok(Err(reason)) => reason,
            Err(_elapsed) => format!("no answer within {ANNOUNCE_TIMEOUT:?}"),
        };
        self.outage.failed(
            &failure,
            "cannot announce flag changes on Redis; other instances apply them at their next resync (flag_sync.resync_interval_secs)",
        );
        Announcement::Failed
    }

    async fn publish(&self, flag: &str) -> Result<(), String> {
        let mut connection = self.connection.lock().await;
        if connection.is_none() {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(REDIS_TIMEOUT))
                .set_response_timeout(Some(REDIS_TIMEOUT));
            let opened = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|error| error.to_string())?;
            *connection = Some(opened);
        }
        let Some(open) = connection.as_mut() else {
            return Err("no connection".to_owned());
        };
        let published = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(flag)
            .query_async::<i64>(open)
            .await;
        if let Err(error) = published {
            *connection = None;
            return Err(error.to_string());
        }
        Ok(())
    }
}

/// Whether this instance hears announcements, for readiness; changed by the listener only.
#[derive(Debug, Default)]
pub(crate) struct RedisStatus {
    connected: AtomicBool,
    /// The listener's outage, logged once when it begins and once when it ends.
    pub(crate) outage: Outage,
}

impl RedisStatus {
    pub(crate) fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }
}

/// Logs the start and the end of an outage, once each, however many attempts fail in between.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    ongoing: AtomicBool,
}

impl Outage {
    /// Records a failure; logs (and returns true) only for the first one of an outage.
    pub(crate) fn failed(&self, reason: &dyn std::fmt::Display, message: &str) -> bool {
        let starts = !self.ongoing.swap(true, Ordering::Relaxed);
        if starts {
            tracing::warn!(reason = %reason, "{message}");
        }
        starts
    }

    /// Records a success; logs (and returns true) only when it ends an outage.
    pub(crate) fn recovered(&self, message: &str) -> bool {
        let ends = self.ongoing.swap(false, Ordering::Relaxed);
        if ends {
            tracing::info!("{message}");
        }
        ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_logged_when_it_begins_and_when_it_ends_only() {
        let outage = Outage::default();
        // (event, logged?)
        let events = [
            ("ok", false),
            ("fail", true),
            ("fail", false),
            ("fail", false),
            ("ok", true),
            ("ok", false),
            ("fail", true),
        ];
        for (index, (event, logged)) in events.into_iter().enumerate() {
            let reported = match event {
                "fail" => outage.failed(&"refused", "down"),
                _ => outage.recovered("up"),
            };
            assert_eq!(reported, logged, "event {index} ({event})");
        }
    }
}
