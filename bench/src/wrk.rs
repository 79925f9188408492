//! Runs `wrk` and reads its report: requests, requests per second, latency percentiles and errors.

use std::process::{Command, Stdio};
use std::time::Duration;

/// What one `wrk` run reported.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WrkReport {
    pub(crate) requests: u64,
    pub(crate) requests_per_second: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    /// Connect, read, write and timeout errors, in that order.
    pub(crate) socket_errors: [u64; 4],
    pub(crate) non_success: u64,
}

impl WrkReport {
    pub(crate) fn errors(&self) -> u64 {
        self.socket_errors.iter().sum::<u64>() + self.non_success
    }
}

/// How to drive one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) threads: u32,
    pub(crate) connections: u32,
    pub(crate) duration: Duration,
}

/// Starts `wrk` against `url`; the caller waits for it with [`finish`].
pub(crate) fn start(url: &str, load: Load) -> Result<std::process::Child, String> {
    Command::new("wrk")
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration.as_secs().max(1)))
        .arg("--latency")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            format!("cannot run wrk ({error}): install it (apt-get install wrk) and retry")
        })
}

/// Waits for a `wrk` started by [`start`] and parses its report.
pub(crate) fn finish(child: std::process::Child) -> Result<WrkReport, String> {
    let output = child
        .wait_with_output()
        .map_err(|error| format!("wrk failed: {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("wrk exited with {}: {stderr}{text}", output.status));
    }
    parse(&text).ok_or_else(|| format!("cannot read wrk's report:\n{text}"))
}

/// Parses the text `wrk --latency` prints.
pub(crate) fn parse(text: &str) -> Option<WrkReport> {
    let mut requests = None;
    let mut requests_per_second = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut socket_errors = [0; 4];
    let mut non_success = 0;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", value] => p50 = duration(value),
            ["99%", value] => p99 = duration(value),
            [count, "requests", "in", ..] => requests = count.parse().ok(),
            ["Requests/sec:", value] => requests_per_second = value.parse().ok(),
            ["Non-2xx", "or", "3xx", "responses:", count] => non_success = count.parse().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                let numbers: Vec<u64> = rest
                    .iter()
                    .filter_map(|word| word.trim_end_matches(',').parse().ok())
                    .collect();
                socket_errors = numbers.try_into().ok()?;
            }
            _ => {}
        }
    }
    Some(WrkReport {
        requests: requests?,
        requests_per_second: requests_per_second?,
        p50: p50?,
        p99: p99?,
        socket_errors,
        non_success,
    })
}

/// `wrk`'s durations: `812.00us`, `1.23ms`, `2.01s`, `1.50m`.
fn duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 10s test @ http://127.0.0.1:8080/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.90ms    1.20ms  25.31ms   80.00%
    Req/Sec     8.20k   412.00     9.10k    70.00%
  Latency Distribution
     50%  812.00us
     75%    4.10ms
     90%    5.00ms
     99%    1.20s
  163210 requests in 10.00s, 40.12MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:  16318.52
Transfer/sec:      4.01MB
";

    #[test]
    fn a_report_is_read_whole() {
        let report = parse(REPORT).unwrap();
        assert_eq!(report.requests, 163_210);
        assert!((report.requests_per_second - 16_318.52).abs() < 1e-9);
        assert_eq!(report.p50, Duration::from_micros(812));
        assert_eq!(report.p99, Duration::from_millis(1200));
        assert_eq!(report.socket_errors, [1, 2, 3, 4]);
        assert_eq!(report.non_success, 5);
        assert_eq!(report.errors(), 15);
    }

    #[test]
    fn a_report_without_errors_has_none_and_a_truncated_one_is_refused() {
        let clean: String = REPORT
            .lines()
            .filter(|line| !line.contains("errors") && !line.contains("Non-2xx"))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(parse(&clean).unwrap().errors(), 0);
        let truncated: String = REPORT.lines().take(8).collect::<Vec<_>>().join("\n");
        assert_eq!(parse(&truncated), None);
    }

    #[test]
    fn durations_in_every_unit_wrk_prints() {
        assert_eq!(duration("1.50m"), Some(Duration::from_secs(90)));
        assert_eq!(duration("2.00s"), Some(Duration::from_secs(2)));
        assert_eq!(duration("12"), None);
        assert_eq!(duration("3.0xs"), None);
    }
}
