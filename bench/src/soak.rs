//! `keel-bench soak`: keel under a long load at many connections (60 s at 256 by default): no request may
//! fail, and resident memory at the end must be within 10 % of what it was 10 s in.

use std::time::Duration;

use crate::Options;
use crate::measure;
use crate::servers;
use crate::wrk::{self, Load};

/// When the first resident-memory sample is taken, once the load has settled.
const SETTLED: Duration = Duration::from_secs(10);

/// How much resident memory may grow from the settled sample to the end.
const GROWTH_LIMIT: f64 = 0.10;

pub(crate) fn run(options: &Options) -> Result<(), String> {
    let bin = servers::build(options.keel.as_deref())?;
    let mut keel = servers::start_keel(&bin, &[("APP_SERVER__DRAIN_DELAY_SECS", "0")])?;
    let idle = measure::resident_bytes(keel.pid())?;
    let load = Load {
        threads: options.threads,
        connections: options.connections,
        duration: options.duration.max(SETTLED + Duration::from_secs(1)),
    };
    let mut running = wrk::start(&keel.url("/"), load)?;
    let started = std::time::Instant::now();
    // Resident memory every SETTLED (10 s) of the load, the first of them the reference.
    let mut samples = Vec::new();
    while matches!(running.try_wait(), Ok(None)) {
        // Not a synchronisation: samples are taken at points in the load's timeline.
        std::thread::sleep(Duration::from_millis(100));
        let due = SETTLED * u32::try_from(samples.len() + 1).unwrap_or(u32::MAX);
        if started.elapsed() >= due && due < load.duration {
            samples.push(measure::resident_bytes(keel.pid())?);
        }
    }
    let report = wrk::finish(running)?;
    let end = measure::resident_bytes(keel.pid())?;
    let settled = *samples
        .first()
        .ok_or("the load ended before its first resident-memory sample")?;
    let mib = |bytes: u64| bytes as f64 / 1024.0 / 1024.0;
    let series: Vec<String> = samples
        .iter()
        .map(|bytes| format!("{:.1}", mib(*bytes)))
        .collect();
    println!(
        "resident memory every {SETTLED:?} of the load: {} MiB",
        series.join(", ")
    );
    let exit = keel.terminate(Duration::from_secs(30))?;
    let growth = end as f64 / settled.max(1) as f64 - 1.0;
    println!(
        "soak: {} requests in {:?} at {} connections, {:.0} req/s, p99 {:.2?}; errors {} (socket {:?}, \
         non-2xx {}); RSS idle {:.1} MiB, at {SETTLED:?} {:.1} MiB, at the end {:.1} MiB ({:+.1} %); keel exited with {exit}",
        report.requests,
        load.duration,
        load.connections,
        report.requests_per_second,
        report.p99,
        report.errors(),
        report.socket_errors,
        report.non_success,
        mib(idle),
        mib(settled),
        mib(end),
        growth * 100.0
    );
    let mut failures = Vec::new();
    if report.errors() > 0 {
        failures.push(format!("{} requests failed", report.errors()));
    }
    if growth > GROWTH_LIMIT {
        failures.push(format!(
            "resident memory grew {:.1} % after the first {SETTLED:?} (limit {:.0} %)",
            growth * 100.0,
            GROWTH_LIMIT * 100.0
        ));
    }
    if !exit.success() {
        failures.push(format!("keel exited with {exit}"));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
