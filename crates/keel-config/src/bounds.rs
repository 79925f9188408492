//! The range every whole-number setting accepts, written once as data.
//!
//! A duration or a size is used in arithmetic (a deadline is `now + timeout`), and a value its type can
//! hold but time cannot (`u64::MAX` seconds) would panic there. Every such setting therefore has an upper
//! bound as well as a lower one; `docs/configuration.md` states each range (a unit test compares them).

/// The inclusive range of one setting, and what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bound {
    pub(crate) key: &'static str,
    pub(crate) min: u64,
    pub(crate) max: u64,
    /// `seconds`, `bytes`, … or `None` for a plain number (a port).
    pub(crate) unit: Option<&'static str>,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// Every whole-number setting. A setting missing here would be unbounded, so a unit test checks that
/// each whole number in `profiles/default.toml` has its entry.
pub(crate) const BOUNDS: [Bound; 22] = [
    Bound::new("server.port", 0, 65535, None),
    Bound::new("server.metrics_port", 0, 65535, None),
    // A body is held in memory while a handler reads it; beyond a gigabyte, stream it instead.
    Bound::new("server.max_body_bytes", 1, 1 << 30, Some("bytes")),
    Bound::new("server.request_timeout_secs", 1, HOUR, Some("seconds")),
    Bound::new("server.header_read_timeout_secs", 1, 300, Some("seconds")),
    Bound::new("server.drain_delay_secs", 0, HOUR, Some("seconds")),
    Bound::new(
        "server.graceful_shutdown_timeout_secs",
        0,
        HOUR,
        Some("seconds"),
    ),
    Bound::new("database.min_connections", 0, 1000, Some("connections")),
    Bound::new("database.max_connections", 1, 1000, Some("connections")),
    Bound::new("database.connect_timeout_secs", 1, 300, Some("seconds")),
    Bound::new("database.acquire_timeout_secs", 1, 300, Some("seconds")),
    Bound::new("database.idle_timeout_secs", 1, DAY, Some("seconds")),
    Bound::new("database.startup_timeout_secs", 0, HOUR, Some("seconds")),
    // Browsers and caches treat more than a year as a year.
    Bound::new("static_files.max_age_secs", 0, 365 * DAY, Some("seconds")),
    // Held for the process's whole life; a folder larger than this belongs behind a proxy or a CDN.
    Bound::new(
        "static_files.memory_budget_bytes",
        0,
        1 << 30,
        Some("bytes"),
    ),
    Bound::new("flag_sync.resync_interval_secs", 1, DAY, Some("seconds")),
    // One page is read into memory and rendered whole.
    Bound::new("notes.page_size", 1, 100, Some("notes")),
    Bound::new("secrets.timeout_secs", 1, 300, Some("seconds")),
    Bound::new("secrets.startup_timeout_secs", 1, HOUR, Some("seconds")),
    // Ten minutes: an export that takes longer holds the batch queue hostage.
    Bound::new(
        "telemetry.otlp_timeout_ms",
        1,
        600_000,
        Some("milliseconds"),
    ),
    Bound::new(
        "telemetry.otlp_traces_timeout_ms",
        1,
        600_000,
        Some("milliseconds"),
    ),
    Bound::new(
        "telemetry.otlp_metrics_timeout_ms",
        1,
        600_000,
        Some("milliseconds"),
    ),
];

impl Bound {
    const fn new(key: &'static str, min: u64, max: u64, unit: Option<&'static str>) -> Bound {
        Bound {
            key,
            min,
            max,
            unit,
        }
    }

    /// What the setting must be, e.g. `a whole number of seconds from 1 to 3600`.
    pub(crate) fn describe(&self) -> String {
        match self.unit {
            Some(unit) => format!("a whole number of {unit} from {} to {}", self.min, self.max),
            None => format!("a whole number from {} to {}", self.min, self.max),
        }
    }
}

/// The bound of `key`, if it is a whole-number setting.
pub(crate) fn bound_of(key: &str) -> Option<&'static Bound> {
    BOUNDS.iter().find(|bound| bound.key == key)
}

/// `(key, message)` when `value` is outside the bound of `key`.
pub(crate) fn check(key: &'static str, value: impl Into<u64>) -> Option<(&'static str, String)> {
    let value = value.into();
    let bound = bound_of(key)?;
    (!(bound.min..=bound.max).contains(&value))
        .then(|| (key, format!("must be {}, not {value}", bound.describe())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whole_number_in_the_defaults_has_a_bound_that_contains_its_default() {
        let defaults: toml::Table =
            toml::from_str(include_str!("../profiles/default.toml")).unwrap();
        let mut whole_numbers = Vec::new();
        for (section, table) in &defaults {
            for (key, value) in table.as_table().unwrap() {
                if let toml::Value::Integer(number) = value {
                    whole_numbers.push((format!("{section}.{key}"), *number));
                }
            }
        }
        assert!(!whole_numbers.is_empty());
        for (key, default) in whole_numbers {
            let bound = bound_of(&key).unwrap_or_else(|| panic!("{key} has no bound"));
            let default = u64::try_from(default).unwrap();
            assert!(
                (bound.min..=bound.max).contains(&default),
                "{key}: {default}"
            );
        }
    }

    #[test]
    fn values_outside_a_bound_are_described_with_the_range() {
        assert_eq!(check("server.request_timeout_secs", 30_u64), None);
        assert_eq!(
            check("server.request_timeout_secs", u64::MAX),
            Some((
                "server.request_timeout_secs",
                "must be a whole number of seconds from 1 to 3600, not 18446744073709551615"
                    .to_owned()
            ))
        );
        assert_eq!(
            check("server.max_body_bytes", 0_u64).map(|(_, message)| message),
            Some("must be a whole number of bytes from 1 to 1073741824, not 0".to_owned())
        );
    }
}
