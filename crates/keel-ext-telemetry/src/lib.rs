//! The telemetry extension: the tracing subscriber keel logs through, pretty or JSON.
//!
//! This crate builds the subscriber but never installs it: only the binary (`keel-server`) sets the
//! global default, so tests and other embedders stay in control. It knows nothing about HTTP routes.

use keel_config::{LogFormat, TelemetrySettings};
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The settings cannot be turned into a subscriber.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "telemetry.log_level {filter:?} is not a valid log filter ({reason}): write e.g. info or info,sqlx=warn,keel=debug"
    )]
    InvalidFilter { filter: String, reason: String },
}

/// Builds the subscriber described by `settings`, writing to standard error.
pub fn subscriber(
    settings: &TelemetrySettings,
) -> Result<Box<dyn Subscriber + Send + Sync>, Error> {
    subscriber_with_writer(settings, std::io::stderr)
}

/// Builds the subscriber described by `settings`, writing to `writer` (tests capture the output with it).
pub fn subscriber_with_writer<W>(
    settings: &TelemetrySettings,
    writer: W,
) -> Result<Box<dyn Subscriber + Send + Sync>, Error>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::builder()
        .parse(&settings.log_level)
        .map_err(|error| Error::InvalidFilter {
            filter: settings.log_level.clone(),
            reason: error.to_string(),
        })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    Ok(match settings.log_format {
        LogFormat::Pretty => Box::new(builder.finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects everything the subscriber writes, for assertions.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("capture lock")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'writer> MakeWriter<'writer> for Captured {
        type Writer = Captured;

        fn make_writer(&'writer self) -> Self::Writer {
            self.clone()
        }
    }

    fn settings(format: LogFormat, level: &str) -> TelemetrySettings {
        TelemetrySettings {
            log_format: format,
            log_level: level.to_owned(),
        }
    }

    #[test]
    fn json_format_writes_one_parsable_object_per_line() {
        let captured = Captured::default();
        let subscriber =
            subscriber_with_writer(&settings(LogFormat::Json, "info"), captured.clone()).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "abc");
            let _entered = span.enter();
            tracing::info!(answer = 42, "computed");
            tracing::debug!("filtered out");
        });
        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = output
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{output}");
        assert_eq!(lines[0]["message"], "computed");
        assert_eq!(lines[0]["answer"], 42);
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["span"]["request_id"], "abc");
    }

    #[test]
    fn an_invalid_filter_is_a_clear_error() {
        let error = subscriber_with_writer(
            &settings(LogFormat::Pretty, "info,sqlx=loud"),
            std::io::sink,
        )
        .err()
        .unwrap();
        assert!(
            error
                .to_string()
                .starts_with("telemetry.log_level \"info,sqlx=loud\" is not a valid log filter"),
            "{error}"
        );
    }
}
