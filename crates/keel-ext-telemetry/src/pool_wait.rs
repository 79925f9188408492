//! `db.client.connection.wait_time`: how long each query waited for a database connection, read from
//! the event sqlx's pool emits after every acquire.
//!
//! sqlx has no hook around its acquire, and keel never acquires a connection itself (sea-orm does, inside
//! each query), but the pool reports every acquire as an event under [`ACQUIRE_TARGET`] with the wait in
//! `acquired_after_secs` once `keel-ext-db` sets its `acquire_time_level`. This layer turns those events
//! into a histogram; the log output never sees them (its filter stops at `trace`), except the pool's own
//! slow-acquire warning, which it keeps.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::instruments::SCOPE;

/// The target of sqlx's acquire events.
const ACQUIRE_TARGET: &str = "sqlx::pool::acquire";

/// The field that carries the wait, in seconds.
const WAIT_FIELD: &str = "acquired_after_secs";

/// Bucket bounds in seconds: a healthy pool answers in microseconds, a starved one up to
/// `database.acquire_timeout_secs`.
const WAIT_BUCKETS: [f64; 12] = [
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The layer recording each acquire's wait, with a filter that lets through only the pool's acquire
/// events: every other callsite is never asked again, so the layer costs the rest of the app nothing.
pub(crate) fn layer<S>(meter: &Meter) -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let wait_time = meter
        .f64_histogram("db.client.connection.wait_time")
        .with_unit("s")
        .with_description("The time it took to obtain a connection from the database pool")
        .with_boundaries(WAIT_BUCKETS.to_vec())
        .build();
    PoolWaitLayer {
        wait_time,
        attributes: [KeyValue::new("db.client.connection.pool.name", SCOPE)],
    }
    .with_filter(Targets::new().with_target(ACQUIRE_TARGET, Level::TRACE))
}

struct PoolWaitLayer {
    wait_time: Histogram<f64>,
    attributes: [KeyValue; 1],
}

impl<S: Subscriber> Layer<S> for PoolWaitLayer {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let mut wait = WaitField(None);
        event.record(&mut wait);
        if let Some(seconds) = wait.0 {
            self.wait_time.record(seconds, &self.attributes);
        }
    }
}

/// Finds [`WAIT_FIELD`] among an event's fields.
struct WaitField(Option<f64>);

impl Visit for WaitField {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == WAIT_FIELD {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use opentelemetry::metrics::MeterProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::destination::tests::settings_with;

    #[test]
    fn each_acquire_event_becomes_one_recorded_wait_and_other_events_none() {
        let settings = settings_with(&[]);
        let resource = crate::export::resource(&settings);
        let (provider, scrape) = crate::metrics::provider(&settings, resource).unwrap();
        let subscriber = tracing_subscriber::registry().with(layer(&provider.meter(SCOPE)));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "sqlx::pool::acquire", acquired_after_secs = 0.25_f64, "acquired connection");
            tracing::warn!(
                target: "sqlx::pool::acquire",
                acquired_after_secs = 3.0_f64,
                "acquired connection, but time to acquire exceeded slow threshold"
            );
            tracing::trace!(target: "sqlx::query", acquired_after_secs = 9.0_f64, "another target");
            tracing::trace!(target: "sqlx::pool::acquire", "no wait field");
        });
        let text = scrape.render().unwrap();
        let series = "db_client_connection_wait_time_seconds";
        let labels = "{db_client_connection_pool_name=\"keel\"}";
        assert!(
            text.contains(&format!("{series}_count{labels} 2\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{series}_sum{labels} 3.25\n")),
            "{text}"
        );
    }
}
