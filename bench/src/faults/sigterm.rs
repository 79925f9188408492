//! `keel-bench faults sigterm`: SIGTERM in the middle of a `wrk` load, which must end with exit 0 and no
//! request cut (a connection closed before its answer); refused connections after the listener closed
//! are expected and reported apart.

use std::time::{Duration, Instant};

use crate::Options;
use crate::servers::{self, Binaries};
use crate::wrk::{self, Load};

/// The drain delay keel runs with, as behind a load balancer.
const DRAIN_DELAY_SECS: &str = "2";

pub(crate) fn run(bin: &Binaries, options: &Options) -> Result<(), String> {
    let mut keel = servers::start_keel(bin, &[("APP_SERVER__DRAIN_DELAY_SECS", DRAIN_DELAY_SECS)])?;
    let load = Load {
        threads: options.threads,
        connections: options.connections,
        duration: options.duration,
    };
    let running = wrk::start(&keel.url("/"), load)?;
    // Not a synchronisation: SIGTERM is sent a third of the way into the load, on purpose.
    std::thread::sleep(load.duration / 3);
    let signalled = Instant::now();
    let exit = keel.terminate(Duration::from_secs(60))?;
    let stopped_after = signalled.elapsed();
    let report = wrk::finish(running)?;
    let [refused, read, write, timeout] = report.socket_errors;
    let cut = read + write + timeout;
    println!(
        "SIGTERM under load: keel exited with {exit} {stopped_after:.1?} after the signal; {} requests \
         answered, {} non-2xx; {refused} connections refused after the listener closed (expected); \
         {cut} requests cut (read {read}, write {write}, timeout {timeout})",
        report.requests, report.non_success
    );
    let mut failures = Vec::new();
    if !exit.success() {
        failures.push(format!("keel exited with {exit}, not 0"));
    }
    if cut > 0 {
        failures.push(format!("{cut} requests were cut"));
    }
    if report.non_success > 0 {
        failures.push(format!("{} answers were not 2xx", report.non_success));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
