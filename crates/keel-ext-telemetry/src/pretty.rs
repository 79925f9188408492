//! The development log format (`telemetry.log_format = "pretty"`): one short line per event, for a person.
//!
//! A request's access line reads `GET /notes/{id} → 200 in 0.4 ms  req 3f9a1c2e`; any other line inside a
//! request ends with the same short request id (the last eight characters of `X-Request-ID`, the random
//! part of a UUIDv7), so the request span's fields are shown once, in the access line, instead of on
//! every line. Colours are written only when the caller says so (a terminal, and `NO_COLOR` unset). JSON
//! logs are not affected: they keep every field.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The access line's message (see the app factory's `access_line`).
const ACCESS_LINE: &str = "request finished";

/// The fields of a request span that the format needs, kept in the span's extensions.
#[derive(Debug, Clone, Default)]
struct RequestFields {
    method: String,
    route: String,
    request_id: String,
}

impl Visit for RequestFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

impl RequestFields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "http.request.method" => self.method = value,
            "http.route" => self.route = value,
            "request_id" => self.request_id = value,
            _ => {}
        }
    }

    /// The last eight characters of the request id: enough to tell requests apart on a screen.
    fn short_id(&self) -> &str {
        let start = self
            .request_id
            .char_indices()
            .rev()
            .nth(7)
            .map_or(0, |(index, _)| index);
        &self.request_id[start..]
    }
}

/// Keeps each request span's method, route and id where [`DevFormat`] finds them.
pub(crate) struct RequestFieldsLayer;

impl<S> tracing_subscriber::Layer<S> for RequestFieldsLayer
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        if attributes.metadata().name() != "request" {
            return;
        }
        let mut fields = RequestFields::default();
        attributes.record(&mut fields);
        if let Some(span) = context.span(id) {
            span.extensions_mut().insert(fields);
        }
    }
}

/// An event's message and other fields, as text.
#[derive(Default)]
struct EventFields {
    message: String,
    others: Vec<(&'static str, String)>,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.others.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.others.push((field.name(), format!("{value:?}")));
        }
    }
}

impl EventFields {
    fn take(&mut self, name: &str) -> Option<String> {
        let position = self.others.iter().position(|(key, _)| *key == name)?;
        Some(self.others.remove(position).1)
    }
}

/// The format itself; `colours` decides whether ANSI colours are written.
pub(crate) struct DevFormat {
    pub(crate) colours: bool,
}

impl DevFormat {
    fn paint(&self, writer: &mut Writer<'_>, colour: &str, text: &str) -> fmt::Result {
        if self.colours {
            write!(writer, "\x1b[{colour}m{text}\x1b[0m")
        } else {
            writer.write_str(text)
        }
    }
}

impl<S, N> FormatEvent<S, N> for DevFormat
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut fields = EventFields::default();
        event.record(&mut fields);
        let request = context.event_scope().and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<RequestFields>().cloned())
        });
        write!(writer, "{} ", clock_time(SystemTime::now()))?;
        let (colour, name) = level_style(*metadata.level());
        self.paint(&mut writer, colour, name)?;
        writer.write_char(' ')?;
        let status = fields.take("status");
        let latency = fields.take("latency_ms");
        match (&request, status, latency) {
            (Some(request), Some(status), Some(latency)) if fields.message == ACCESS_LINE => {
                write!(writer, "{} {} → ", request.method, request.route)?;
                self.paint(&mut writer, status_colour(&status), &status)?;
                write!(writer, " in {}", milliseconds(&latency))?;
                fields.take("bytes");
            }
            (_, status, latency) => {
                self.paint(&mut writer, "2", metadata.target())?;
                write!(writer, ": {}", fields.message)?;
                // Not an access line after all: its fields are shown like any other.
                fields.others.extend(status.map(|value| ("status", value)));
                fields
                    .others
                    .extend(latency.map(|value| ("latency_ms", value)));
            }
        }
        for (name, value) in &fields.others {
            write!(writer, " ")?;
            self.paint(&mut writer, "3", name)?;
            write!(writer, "={value}")?;
        }
        if let Some(request) = &request {
            writer.write_str("  ")?;
            self.paint(&mut writer, "2", &format!("req {}", request.short_id()))?;
        }
        writeln!(writer)
    }
}

/// `HH:MM:SS.mmm` in UTC: enough to read a development log, with no time zone database.
fn clock_time(now: SystemTime) -> String {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        since_epoch.subsec_millis()
    )
}

fn level_style(level: Level) -> (&'static str, &'static str) {
    match level {
        Level::ERROR => ("31", "ERROR"),
        Level::WARN => ("33", " WARN"),
        Level::INFO => ("32", " INFO"),
        Level::DEBUG => ("34", "DEBUG"),
        Level::TRACE => ("35", "TRACE"),
    }
}

fn status_colour(status: &str) -> &'static str {
    match status.as_bytes().first() {
        Some(b'2') => "32",
        Some(b'3') => "36",
        Some(b'4') => "33",
        _ => "31",
    }
}

/// `0.4 ms`, `12 ms`: a tenth of a millisecond below ten, whole milliseconds above.
fn milliseconds(latency: &str) -> String {
    match latency.parse::<f64>() {
        Ok(value) if value < 10.0 => format!("{value:.1} ms"),
        Ok(value) => format!("{value:.0} ms"),
        Err(_) => format!("{latency} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_id_is_the_random_end_of_the_request_id() {
        let fields = RequestFields {
            request_id: "0192ab3c-7d4e-7f00-8a1b-3f9a1c2e5d6f".to_owned(),
            ..RequestFields::default()
        };
        assert_eq!(fields.short_id(), "1c2e5d6f");
        let short = RequestFields {
            request_id: "abc".to_owned(),
            ..RequestFields::default()
        };
        assert_eq!(short.short_id(), "abc");
    }

    #[test]
    fn latencies_read_as_people_write_them() {
        assert_eq!(milliseconds("0.4213"), "0.4 ms");
        assert_eq!(milliseconds("12.7"), "13 ms");
        assert_eq!(
            clock_time(UNIX_EPOCH + std::time::Duration::from_millis(3_723_004)),
            "01:02:03.004"
        );
    }
}
