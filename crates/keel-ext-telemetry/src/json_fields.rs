//! The JSON span fields of the log output, added to without reading them back.
//!
//! tracing-subscriber's `JsonFields` stores a span's fields as one JSON object and, for every field
//! recorded later, parses that object, adds the field and writes it again. The request span records
//! fields after it is made (its ids, then the status), so with JSON logs every request paid a parse and
//! a serialization of its span per record, logged or not (four records, half of a request's
//! instructions, before the ids were recorded together and the client address given up front). This formatter writes
//! the new fields as an object of their own and splices its members into the stored one. A field
//! recorded twice appears twice; the JSON event format reads the object back with `serde_json`, where
//! the later value wins, as it did.

use std::fmt;

use tracing::span::Record;
use tracing_subscriber::field::{RecordFields, VisitOutput as _};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::{JsonVisitor, Writer};

/// `JsonFields` whose `add_fields` appends instead of parsing and rewriting.
#[derive(Debug, Default)]
pub(crate) struct AppendingJsonFields;

impl<'writer> FormatFields<'writer> for AppendingJsonFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = JsonVisitor::new(&mut writer);
        fields.record(&mut visitor);
        visitor.finish()
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let mut added = String::new();
        let mut visitor = JsonVisitor::new(&mut added);
        fields.record(&mut visitor);
        visitor.finish()?;
        append_members(&mut current.fields, &added);
        Ok(())
    }
}

/// Adds the members of the JSON object `added` to the JSON object `current` (either may be empty).
fn append_members(current: &mut String, added: &str) {
    let members = added
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_default();
    if members.is_empty() {
        return;
    }
    if current.is_empty() || current == "{}" {
        current.clear();
        current.push_str(added);
        return;
    }
    if !current.ends_with('}') {
        return;
    }
    current.pop();
    current.push(',');
    current.push_str(members);
    current.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_spliced_into_the_stored_object() {
        // (stored, added, expected)
        let cases = [
            ("", "{\"a\":1}", "{\"a\":1}"),
            ("{}", "{\"a\":1}", "{\"a\":1}"),
            ("{\"a\":1}", "{}", "{\"a\":1}"),
            (
                "{\"a\":1}",
                "{\"b\":\"x,}\",\"c\":2}",
                "{\"a\":1,\"b\":\"x,}\",\"c\":2}",
            ),
        ];
        for (stored, added, expected) in cases {
            let mut current = stored.to_owned();
            append_members(&mut current, added);
            assert_eq!(current, expected, "{stored} + {added}");
        }
    }
}
