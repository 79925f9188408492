//! The telemetry extension: the tracing subscriber keel logs through (pretty or JSON), OpenTelemetry
//! traces exported over OTLP, the request span that ties logs and traces together, and the metrics
//! (instruments, a Prometheus text rendering for `/metrics`, OTLP export).
//!
//! This crate builds the subscriber but never installs it: only the binary (`keel-server`) sets the
//! global default, so tests and other embedders stay in control. It knows nothing about routes or
//! handlers: the app factory hands it a request's method, route template, request id and headers.

mod destination;
mod export;
mod filter;
mod instruments;
mod json_fields;
mod json_text;
mod metrics;
mod pool_wait;
mod pretty;
mod probe;
mod process;
mod prometheus;
mod request;
mod tls;

use std::time::Duration;

use keel_config::{LogFormat, Settings, Signal};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer as _};

pub use crate::filter::check_log_filter;
pub use crate::instruments::{
    ActiveRequest, FlagSyncState, HttpMetrics, PoolUsage, UNMATCHED_ROUTE, observe_flags,
    observe_pool,
};
pub use crate::metrics::MetricsScrape;
pub use crate::probe::probe_endpoint;
pub use crate::prometheus::CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE;
pub use crate::request::{RequestSpan, record_status, request_span};

/// The subscriber or the exporter cannot be built from the settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "telemetry.log_level {filter:?} is not a valid log filter ({reason}): write e.g. info or info,sqlx=warn,keel=debug"
    )]
    InvalidFilter { filter: String, reason: String },
    #[error("cannot build the OTLP exporter for {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
    #[error("the OTLP endpoint {endpoint} is not reachable: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("the OTLP endpoint {endpoint} answers, but {reason}")]
    Refused { endpoint: String, reason: String },
    #[error("cannot collect the metrics: {0}")]
    Metrics(String),
}

/// The running telemetry: owns the tracer provider, whose batch processor exports spans off the request
/// path, and the meter provider. Call [`Telemetry::shutdown`] before exiting so spans still queued and
/// the last metrics are sent.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    scrape: MetricsScrape,
}

impl Telemetry {
    /// What `/metrics` renders.
    pub fn scrape(&self) -> MetricsScrape {
        self.scrape.clone()
    }

    /// Makes this meter provider the process's global one, where [`HttpMetrics::new`],
    /// [`observe_pool`] and [`observe_flags`] register. Only the binary calls it, before building the
    /// app.
    pub fn install_global_meter_provider(&self) {
        opentelemetry::global::set_meter_provider(self.meter_provider.clone());
    }

    /// Flushes queued spans and the last metrics and stops the exporters, waiting at most `timeout`
    /// for each. This blocks the calling thread; from async code run it with `spawn_blocking`.
    pub fn shutdown(self, timeout: Duration) {
        if let Err(error) = self.provider.shutdown_with_timeout(timeout) {
            tracing::warn!(%error, "telemetry shutdown did not complete; some spans may be lost");
        }
        if let Err(error) = self.meter_provider.shutdown_with_timeout(timeout) {
            tracing::warn!(%error, "metrics shutdown did not complete; the last export may be lost");
        }
    }
}

/// The subscriber for `settings`, writing to standard error, and the telemetry that feeds it. `colours`:
/// whether the pretty format may write ANSI colours (the binary says yes only on a terminal, and never
/// with `NO_COLOR` set); JSON is never coloured.
pub fn init(
    settings: &Settings,
    colours: bool,
) -> Result<(Box<dyn Subscriber + Send + Sync>, Telemetry), Error> {
    build(settings, std::io::stderr, colours)
}

/// [`init`], writing to `writer` without colours (tests capture the output with it).
pub fn init_with_writer<W>(
    settings: &Settings,
    writer: W,
) -> Result<(Box<dyn Subscriber + Send + Sync>, Telemetry), Error>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    build(settings, writer, false)
}

fn build<W>(
    settings: &Settings,
    writer: W,
    colours: bool,
) -> Result<(Box<dyn Subscriber + Send + Sync>, Telemetry), Error>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let telemetry = &settings.telemetry;
    let filter = EnvFilter::builder()
        .parse(&telemetry.log_level)
        .map_err(|error| Error::InvalidFilter {
            filter: telemetry.log_level.clone(),
            reason: error.to_string(),
        })?;
    let resource = export::resource(settings);
    let provider = export::provider(settings, resource.clone())?;
    let (meter_provider, scrape) = metrics::provider(settings, resource)?;
    // Every request gets a trace id, exported or not, so logs can be correlated either way. The log
    // filter applies to the log output only: with `warn` logs, request spans (info) still exist, so
    // traces, `X-Trace-ID` and the ids in warning lines do not depend on how verbose the logs are.
    // Without an exporter the OpenTelemetry layer would build every span only to drop it, and record
    // every info event on it: it is left out, and `request_span` makes the ids itself.
    let meter = meter_provider.meter(instruments::SCOPE);
    let output = Output {
        format: telemetry.log_format,
        filter,
        colours,
    };
    let subscriber = if telemetry.export(Signal::Traces).is_some() {
        let traces = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(settings.app.token()))
            .with_filter(request::ExportedSpans);
        output.over(
            tracing_subscriber::registry()
                .with(traces)
                .with(pool_wait::layer(&meter)),
            writer,
        )
    } else {
        output.over(
            tracing_subscriber::registry().with(pool_wait::layer(&meter)),
            writer,
        )
    };
    Ok((
        subscriber,
        Telemetry {
            provider,
            meter_provider,
            scrape,
        },
    ))
}

/// The log output: its format, its filter (`telemetry.log_level`) and whether it may use colours.
struct Output {
    format: LogFormat,
    filter: EnvFilter,
    colours: bool,
}

impl Output {
    /// The subscriber: `registry` (with its exporting and metrics layers) and the log output over it.
    ///
    /// Every layer has a filter of its own, so the subscriber knows at each callsite whether anything
    /// wants it: an event no layer wants (the access line at `warn`) costs a check of a cached answer. (A
    /// layer without one, an `Option` that is `None` included, would want every callsite.) The output
    /// must see info spans even when it writes only warnings, or a warning inside a request would lose
    /// the request's ids: its filter is the log filter or [`filter::InfoSpans`].
    fn over<S, W>(self, registry: S, writer: W) -> Box<dyn Subscriber + Send + Sync>
    where
        S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync + 'static,
        W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
    {
        // The exporter reports its own failures as events under `opentelemetry*` targets, once per
        // batch; they are let through once a minute, so a collector that is down costs one warning,
        // not a flood.
        let quiet_exporter = export::rate_limit_exporter_events(export::EXPORTER_EVENT_INTERVAL);
        match self.format {
            // The pretty format keeps each request span's method, route and id for its access line;
            // JSON needs nothing of the kind (it writes the span's fields), so the request path pays for
            // it only in development.
            LogFormat::Pretty => Box::new(
                registry
                    .with(pretty::RequestFieldsLayer.with_filter(filter::InfoSpans))
                    .with(
                        tracing_subscriber::fmt::layer()
                            .event_format(pretty::DevFormat {
                                colours: self.colours,
                            })
                            .with_writer(writer)
                            .with_filter(quiet_exporter)
                            .with_filter(self.filter.or(filter::InfoSpans)),
                    ),
            ),
            LogFormat::Json => Box::new(
                registry.with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_current_span(true)
                        .with_span_list(false)
                        .fmt_fields(json_fields::AppendingJsonFields)
                        .with_writer(writer)
                        .with_filter(quiet_exporter)
                        .with_filter(self.filter.or(filter::InfoSpans)),
                ),
            ),
        }
    }
}

/// Tests in this crate that build a subscriber or a provider run one at a time. tracing's callsite
/// registry and dispatcher list are process-wide: a provider dropped on one thread logs (registering a
/// callsite) while another thread installs a scoped subscriber, and the two can deadlock (tracing issue
/// #3269). Holding this lock for the whole test, shutdown included, keeps them apart.
#[cfg(test)]
pub(crate) fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
