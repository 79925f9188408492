//! The benchmark's statistics (medians with ranges, over the runs nothing else disturbed) and the
//! Markdown tables it writes into BENCHMARKS.md.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Options;
use crate::wrk::WrkReport;

/// The markers between which `keel-bench http` writes its tables; the rest of the file is prose.
const START_MARKER: &str = "<!-- keel-bench http: start -->";
const END_MARKER: &str = "<!-- keel-bench http: end -->";

/// One `wrk` run of one server on one route.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) server: &'static str,
    pub(crate) route: String,
    pub(crate) wrk: WrkReport,
    pub(crate) cpu_us_per_request: f64,
    /// CPUs other processes used on average during the run.
    pub(crate) foreign_cpus: f64,
}

impl Sample {
    pub(crate) fn contaminated(&self) -> bool {
        self.foreign_cpus > 0.15
    }

    pub(crate) fn summary(&self) -> String {
        format!(
            "{:<10} {:<11} {:>9.0} req/s  p50 {:>9.2?}  p99 {:>9.2?}  {:>6.1} µs CPU/req  other work {:.2} CPUs",
            self.server,
            self.route,
            self.wrk.requests_per_second,
            self.wrk.p50,
            self.wrk.p99,
            self.cpu_us_per_request,
            self.foreign_cpus
        )
    }
}

/// Everything one `keel-bench http` run measured.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) samples: Vec<Sample>,
    /// Per server: idle and after-load resident memory, in bytes.
    pub(crate) resident: Vec<(&'static str, u64, u64)>,
    command: String,
    machine: String,
    profile: &'static str,
}

impl Report {
    pub(crate) fn new(options: &Options, machine: String, profile: &'static str) -> Report {
        Report {
            samples: Vec::new(),
            resident: Vec::new(),
            command: format!(
                "wrk -t{} -c{} -d{}s --latency, {} interleaved repetitions",
                options.threads,
                options.connections,
                options.duration.as_secs(),
                options.repetitions
            ),
            machine,
            profile,
        }
    }

    /// The Markdown tables.
    pub(crate) fn tables(&self) -> String {
        let mut routes: Vec<&str> = Vec::new();
        for sample in &self.samples {
            if !routes.contains(&sample.route.as_str()) {
                routes.push(&sample.route);
            }
        }
        let mut text = String::new();
        let _ = writeln!(
            text,
            "Measured {} ({} build), {}.",
            now(),
            self.profile,
            self.command
        );
        let _ = writeln!(text, "Machine: {}.\n", self.machine);
        text.push_str("| route | server | req/s | p50 | p99 | server CPU µs/req | keel ÷ bare CPU | clean runs |\n");
        text.push_str("|---|---|---|---|---|---|---|---|\n");
        for route in &routes {
            let cpu_of = |server: &str| {
                median(&self.clean(route, server), |sample| {
                    sample.cpu_us_per_request
                })
            };
            let ratio = match (cpu_of("keel"), cpu_of("bare axum")) {
                (Some(keel), Some(bare)) if bare > 0.0 => format!("{:.2}×", keel / bare),
                _ => "—".to_owned(),
            };
            for server in ["keel", "bare axum"] {
                let all: Vec<&Sample> = self
                    .samples
                    .iter()
                    .filter(|sample| sample.route == *route && sample.server == server)
                    .collect();
                let clean = self.clean(route, server);
                let cell = |value: &dyn Fn(&Sample) -> f64, format: &dyn Fn(f64) -> String| match (
                    median(&clean, value),
                    range(&clean, value),
                ) {
                    (Some(middle), Some((low, high))) => {
                        format!("{} ({}–{})", format(middle), format(low), format(high))
                    }
                    _ => "contaminated".to_owned(),
                };
                let millis = |sample: &Sample, pick: fn(&WrkReport) -> Duration| {
                    pick(&sample.wrk).as_secs_f64() * 1e3
                };
                let _ = writeln!(
                    text,
                    "| `{route}` | {server} | {} | {} | {} | {} | {} | {}/{} |",
                    cell(&|sample| sample.wrk.requests_per_second, &|value| format!(
                        "{value:.0}"
                    )),
                    cell(&|sample| millis(sample, |wrk| wrk.p50), &|value| format!(
                        "{value:.2} ms"
                    )),
                    cell(&|sample| millis(sample, |wrk| wrk.p99), &|value| format!(
                        "{value:.2} ms"
                    )),
                    cell(&|sample| sample.cpu_us_per_request, &|value| format!(
                        "{value:.1}"
                    )),
                    if server == "keel" { ratio.as_str() } else { "" },
                    clean.len(),
                    all.len()
                );
            }
        }
        text.push_str("\n| server | idle RSS | RSS after the load |\n|---|---|---|\n");
        for (server, idle, after) in &self.resident {
            let _ = writeln!(
                text,
                "| {server} | {} | {} |",
                mebibytes(*idle),
                mebibytes(*after)
            );
        }
        let contaminated: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|sample| sample.contaminated())
            .collect();
        if !contaminated.is_empty() {
            text.push_str("\nRuns left out because other processes used the CPU meanwhile:\n\n");
            for sample in contaminated {
                let _ = writeln!(text, "- `{}`", sample.summary());
            }
        }
        let errors: u64 = self.samples.iter().map(|sample| sample.wrk.errors()).sum();
        let _ = writeln!(
            text,
            "\nFailed requests (socket errors, non-2xx): {errors}."
        );
        text
    }

    /// Writes the tables into `path` between the markers, keeping the text around them (or creating the
    /// file with just the markers and the tables).
    pub(crate) fn write_into(&self, path: &str) -> Result<(), String> {
        let existing = std::fs::read_to_string(path).unwrap_or_default();
        let updated = replace_between_markers(&existing, &self.tables());
        std::fs::write(path, updated).map_err(|error| format!("cannot write {path}: {error}"))
    }

    fn clean(&self, route: &str, server: &str) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|sample| {
                sample.route == route && sample.server == server && !sample.contaminated()
            })
            .collect()
    }
}

/// `text` with what lies between the markers replaced by `tables` (markers appended when missing).
fn replace_between_markers(text: &str, tables: &str) -> String {
    let block = format!("{START_MARKER}\n{tables}{END_MARKER}");
    match (text.find(START_MARKER), text.find(END_MARKER)) {
        (Some(start), Some(end)) if start < end => {
            format!(
                "{}{block}{}",
                &text[..start],
                &text[end + END_MARKER.len()..]
            )
        }
        _ => format!("{text}\n{block}\n"),
    }
}

/// The median of `value` over `samples` (the mean of the middle two for an even count).
fn median(samples: &[&Sample], value: impl Fn(&Sample) -> f64) -> Option<f64> {
    let mut values: Vec<f64> = samples.iter().map(|sample| value(sample)).collect();
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        count if count % 2 == 1 => Some(values[middle]),
        _ => Some((values[middle - 1] + values[middle]) / 2.0),
    }
}

fn range(samples: &[&Sample], value: impl Fn(&Sample) -> f64) -> Option<(f64, f64)> {
    let values = samples.iter().map(|sample| value(sample));
    let low = values.clone().min_by(f64::total_cmp)?;
    let high = values.max_by(f64::total_cmp)?;
    Some((low, high))
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

/// The current UTC time, from `date` (the standard library has no calendar).
fn now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map_or_else(
            || "at an unknown time".to_owned(),
            |text| text.trim().to_owned(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(server: &'static str, cpu: f64, foreign: f64) -> Sample {
        Sample {
            server,
            route: "/".to_owned(),
            wrk: WrkReport {
                requests: 1000,
                requests_per_second: 100.0,
                p50: Duration::from_millis(1),
                p99: Duration::from_millis(2),
                socket_errors: [0; 4],
                non_success: 0,
            },
            cpu_us_per_request: cpu,
            foreign_cpus: foreign,
        }
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        let samples = [
            sample("keel", 3.0, 0.0),
            sample("keel", 1.0, 0.0),
            sample("keel", 2.0, 0.0),
        ];
        let refs: Vec<&Sample> = samples.iter().collect();
        assert_eq!(median(&refs, |sample| sample.cpu_us_per_request), Some(2.0));
        assert_eq!(
            median(&refs[..2], |sample| sample.cpu_us_per_request),
            Some(2.0)
        );
        assert_eq!(median(&[], |sample| sample.cpu_us_per_request), None);
        assert_eq!(
            range(&refs, |sample| sample.cpu_us_per_request),
            Some((1.0, 3.0))
        );
    }

    #[test]
    fn contaminated_runs_are_left_out_of_the_medians_and_listed() {
        let options = crate::parse(&[]).unwrap().1;
        let mut report = Report::new(&options, "test machine".to_owned(), "release");
        report.samples = vec![
            sample("keel", 20.0, 0.0),
            sample("keel", 900.0, 1.5),
            sample("bare axum", 10.0, 0.0),
        ];
        let tables = report.tables();
        assert!(
            tables.contains("| 20.0 (20.0–20.0) | 2.00× | 1/2 |"),
            "{tables}"
        );
        assert!(tables.contains("Runs left out"), "{tables}");
        assert!(tables.contains("900.0 µs CPU/req"), "{tables}");
    }

    #[test]
    fn the_tables_replace_the_previous_ones_and_keep_the_prose() {
        let first = replace_between_markers("# Benchmarks\n\nProse.\n", "old\n");
        assert!(first.starts_with("# Benchmarks\n\nProse.\n"));
        let second = replace_between_markers(&(first.clone() + "\nMore prose.\n"), "new\n");
        assert!(
            second.contains("new\n") && !second.contains("old\n"),
            "{second}"
        );
        assert!(second.ends_with("\nMore prose.\n"), "{second}");
    }
}
