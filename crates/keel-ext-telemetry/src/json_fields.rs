//! The JSON span fields of the log output, written straight into the span's stored object.
//!
//! tracing-subscriber's `JsonFields` gathers a span's fields into a `BTreeMap` of `serde_json::Value`s
//! (an allocation per value, a `String` per `Debug` value), serialises the map, and for every field
//! recorded later parses the stored object back, adds the field and writes it all again. The request
//! span is made and recorded on every request, while its fields are read only when a line is logged
//! inside it: with JSON logs at `warn` that was about a quarter of a health request's instructions.
//! This formatter writes each field as a member of the object as it visits it, formatting and escaping
//! straight into the output; a record appends its members before the stored object's closing brace.
//!
//! The values are `JsonFields`'s, member for member (the tests compare the two): a string as a JSON
//! string, 64-bit integers and booleans as themselves, bytes as an array of numbers, a float as
//! `serde_json` writes it (`null` when it is not finite), and everything else (`Debug`, `Display`,
//! errors, 128-bit integers) as the string its `Debug` writes, under its name without an `r#` prefix.
//! Two things differ, and neither reaches the log line: members are stored in the order they were
//! written (`JsonFields` sorts them by name), and a field recorded twice is stored twice. The JSON
//! event format reads the stored object back into a `serde_json` map to write a line, where the later
//! value wins, as it did.
//!
//! Fields named `log.*` are kept, as `JsonFields` keeps them in this build: it skips them only with
//! tracing-subscriber's `tracing-log` feature, which keel does not enable (they are the metadata of
//! events from the `log` crate, and this formatter writes spans).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

use crate::json_text::{Escaping, with_scratch, write_string};

/// `JsonFields` writing each field straight into the stored object, and appending later records to it.
#[derive(Debug, Default)]
pub(crate) struct AppendingJsonFields;

impl<'writer> FormatFields<'writer> for AppendingJsonFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        with_scratch(|out| {
            out.push('{');
            let mut members = Members::new(&mut *out, true);
            fields.record(&mut members);
            members.result?;
            out.push('}');
            writer.write_str(out)
        })
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let stored = &mut current.fields;
        if stored.is_empty() {
            stored.push('{');
        } else if stored.ends_with('}') {
            stored.pop();
        } else {
            // Only `format_fields` writes the stored object, always whole; were it ever anything
            // else, appending to it would not make it an object.
            return Err(fmt::Error);
        }
        let first = stored.len() == 1;
        let mut members = Members::new(&mut *stored, first);
        fields.record(&mut members);
        let result = members.result;
        stored.push('}');
        result
    }
}

/// Writes each field it visits as a member of a JSON object (`"name":value`, a comma before all but
/// the object's first), its value as `JsonFields` maps it.
struct Members<W> {
    out: W,
    /// Whether no member has been written yet, so the next needs no comma.
    first: bool,
    /// The first write that failed (only a `Writer` over a fallible output can).
    result: fmt::Result,
}

impl<W: fmt::Write> Members<W> {
    fn new(out: W, first: bool) -> Self {
        Self {
            out,
            first,
            result: Ok(()),
        }
    }

    fn member(&mut self, name: &str, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.write_member(name, value);
        }
    }

    fn write_member(
        &mut self,
        name: &str,
        value: impl FnOnce(&mut W) -> fmt::Result,
    ) -> fmt::Result {
        if !self.first {
            self.out.write_char(',')?;
        }
        self.first = false;
        write_string(&mut self.out, name)?;
        self.out.write_char(':')?;
        value(&mut self.out)
    }
}

impl<W: fmt::Write> Visit for Members<W> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // `serde_json::Number` writes a float as `serde_json` serialises it, and does not take one
        // that is not finite, which `JsonFields` (through `serde_json::Value::from`) writes as null.
        self.member(field.name(), |out| {
            match serde_json::Number::from_f64(value) {
                Some(number) => write!(out, "{number}"),
                None => out.write_str("null"),
            }
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field.name(), |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field.name(), |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field.name(), |out| {
            out.write_str(if value { "true" } else { "false" })
        });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field.name(), |out| write_string(out, value));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.member(field.name(), |out| {
            out.write_char('[')?;
            for (index, byte) in value.iter().enumerate() {
                if index > 0 {
                    out.write_char(',')?;
                }
                write!(out, "{byte}")?;
            }
            out.write_char(']')
        });
    }

    /// Also what tracing sends `Display` values, errors and 128-bit integers to. `JsonFields` strips
    /// the raw-identifier prefix here only, so this does too.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.member(name, |out| {
            out.write_char('"')?;
            // A `Debug` implementation may fail part-way (`JsonFields` panics then). The output cannot
            // fail, being a `String`, so what the value wrote stays and the string is closed: the
            // object stays JSON. Escaping works on whole pieces, so a cut leaves no half escape.
            let _ = write!(Escaping(&mut *out), "{value:?}");
            out.write_char('"')
        });
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use serde_json::Value;
    use tracing::Span;
    use tracing::field::Empty;
    use tracing_subscriber::Registry;
    use tracing_subscriber::fmt::format::JsonFields;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::registry::LookupSpan as _;

    use super::*;
    use crate::tests::Captured;

    /// Quotes, backslashes, every short escape, control characters without one, and U+007F.
    const AWKWARD: &str = "quote \" backslash \\ slash / newline \n return \r tab \t backspace \u{8} \
        form feed \u{c} nul \0 bell \u{7} escape \u{1b} unit separator \u{1f} delete \u{7f} \\u0041";
    const NON_ASCII: &str = "zoë ✓ 😀 \u{2028} \u{feff}";

    /// What `stored_by` returns for ours, then for tracing-subscriber's `JsonFields`.
    fn written(make: impl Fn() -> Span, record: impl Fn(&Span)) -> [(String, Value); 2] {
        [
            stored_by(AppendingJsonFields, &make, &record),
            stored_by(JsonFields::new(), &make, &record),
        ]
    }

    /// Makes a span with `make` under a JSON output that stores span fields with `formatter`, runs
    /// `record` on it and logs a line inside it; returns the stored object and the line's `span`.
    fn stored_by<N>(
        formatter: N,
        make: impl Fn() -> Span,
        record: impl Fn(&Span),
    ) -> (String, Value)
    where
        N: for<'writer> FormatFields<'writer> + Send + Sync + 'static,
    {
        let _alone = crate::one_at_a_time();
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .fmt_fields(formatter)
                .with_writer(captured.clone()),
        );
        let stored = tracing::subscriber::with_default(subscriber, || {
            let span = make();
            record(&span);
            span.in_scope(|| tracing::info!("inside"));
            let id = span.id().expect("the span is enabled");
            tracing::dispatcher::get_default(|dispatch| {
                let registry = dispatch.downcast_ref::<Registry>().expect("a registry");
                let span = registry.span(&id).expect("the span is open");
                let extensions = span.extensions();
                let stored = extensions
                    .get::<FormattedFields<N>>()
                    .expect("stored fields");
                stored.fields.clone()
            })
        });
        let lines = captured.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        (stored, lines[0]["span"].clone())
    }

    fn parsed(stored: &str) -> Value {
        serde_json::from_str(stored).unwrap_or_else(|error| panic!("{error}: {stored}"))
    }

    #[test]
    fn fields_of_every_kind_are_stored_as_json_fields_stores_them() {
        let error = std::io::Error::other("disk \"full\"\n");
        let long = format!("{AWKWARD}{NON_ASCII}").repeat(20);
        let [(stored, our_line), (theirs, their_line)] = written(
            || {
                tracing::info_span!(
                    "every_kind",
                    plain = "plain",
                    awkward = AWKWARD,
                    non_ascii = NON_ASCII,
                    empty = "",
                    long = long.as_str(),
                    display = %AWKWARD,
                    debug = ?AWKWARD,
                    debug_struct = ?Some(("tuple", -1.5, NON_ASCII)),
                    negative = -42,
                    unsigned = u64::MAX,
                    yes = true,
                    no = false,
                    float = 1.5,
                    tiny = 1e-7,
                    huge = 1e300,
                    negative_zero = -0.0,
                    not_a_number = f64::NAN,
                    infinite = f64::NEG_INFINITY,
                    wide = i128::MIN,
                    wide_unsigned = u128::MAX,
                    error = &error as &(dyn Error + 'static),
                    bytes = &b"\0\x7f\xff"[..],
                    no_bytes = &b""[..],
                    // The macro strips a raw identifier's prefix; a name given as a string keeps it.
                    r#type = "raw str",
                    "r#str" = "raw str",
                    "r#raw_debug" = ?"raw debug",
                    log.target = "kept",
                    later_str = Empty,
                    later_number = Empty,
                    later_debug = Empty,
                    never = Empty,
                )
            },
            |span| {
                span.record("later_str", "first \"value\"");
                span.record("later_number", 7_u64);
                span.record("later_debug", tracing::field::debug(["a\tb", NON_ASCII]));
                span.record("later_str", AWKWARD);
            },
        );
        let ours = parsed(&stored);
        assert_eq!(ours, parsed(&theirs), "{stored}");
        assert_eq!(our_line, their_line);
        // The two agree, and agree with what was given.
        assert_eq!(ours["awkward"], AWKWARD);
        assert_eq!(ours["display"], AWKWARD);
        assert_eq!(ours["debug"], format!("{AWKWARD:?}"));
        assert_eq!(ours["non_ascii"], NON_ASCII);
        assert_eq!(ours["long"], long);
        assert_eq!(ours["later_str"], AWKWARD);
        assert_eq!(ours["unsigned"], u64::MAX);
        assert_eq!(ours["wide"], i128::MIN.to_string());
        assert_eq!(ours["not_a_number"], Value::Null);
        assert_eq!(ours["bytes"], serde_json::json!([0, 127, 255]));
        assert_eq!(ours["error"], "disk \"full\"\n");
        assert_eq!(ours.get("never"), None);
        assert_eq!(ours["r#str"], "raw str");
        assert_eq!(ours["raw_debug"], "\"raw debug\"");
        assert_eq!(ours["type"], "raw str");
        // Floats are written as serde_json writes them.
        for (name, value) in [
            ("float", 1.5),
            ("tiny", 1e-7),
            ("huge", 1e300),
            ("negative_zero", -0.0),
            ("infinite", f64::NEG_INFINITY),
        ] {
            let member = format!("\"{name}\":{}", serde_json::to_string(&value).unwrap());
            assert!(stored.contains(&member), "{member} in {stored}");
        }
    }

    #[test]
    fn a_field_recorded_twice_is_stored_twice_and_read_back_with_the_later_value() {
        let [(ours, our_line), (theirs, their_line)] = written(
            || tracing::info_span!("twice", status = Empty),
            |span| {
                span.record("status", 200);
                span.record("status", 503);
            },
        );
        assert_eq!(ours, "{\"status\":200,\"status\":503}");
        assert_eq!(parsed(&ours), parsed(&theirs));
        assert_eq!(our_line["status"], 503);
        assert_eq!(our_line, their_line);
    }

    #[test]
    fn records_are_appended_to_a_span_made_without_fields_or_with_none_given() {
        // (span, stored after the records)
        type MakeSpan = fn() -> Span;
        let cases: [(MakeSpan, &str); 3] = [
            (|| tracing::info_span!("bare"), "{}"),
            (
                || tracing::info_span!("unset", a = Empty, b = Empty),
                "{\"a\":1,\"b\":\"x\"}",
            ),
            (
                || tracing::info_span!("partly", given = true, a = Empty, b = Empty),
                "{\"given\":true,\"a\":1,\"b\":\"x\"}",
            ),
        ];
        for (make, expected) in cases {
            let [(ours, our_line), (theirs, their_line)] = written(make, |span| {
                span.record("a", 1);
                span.record("b", "x");
            });
            assert_eq!(ours, expected);
            assert_eq!(parsed(&ours), parsed(&theirs));
            assert_eq!(our_line, their_line);
        }
    }

    #[test]
    fn a_value_whose_debug_fails_part_way_keeps_what_it_wrote_and_the_object_json() {
        /// Writes part of itself, then fails.
        struct Failing;

        impl fmt::Debug for Failing {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("half \"written")?;
                Err(fmt::Error)
            }
        }

        let (stored, line) = stored_by(
            AppendingJsonFields,
            || tracing::info_span!("failing", at_first = ?Failing, later = Empty, after = 1),
            |span| {
                span.record("later", tracing::field::debug(Failing));
            },
        );
        let expected = serde_json::json!({
            "at_first": "half \"written",
            "after": 1,
            "later": "half \"written",
        });
        assert_eq!(parsed(&stored), expected);
        assert_eq!(line["after"], 1);
        assert_eq!(line["later"], "half \"written");
    }
}
