//! `keel-bench http` (and `smoke`): both servers on every route, interleaved, several repetitions; each
//! run's server CPU per request, and whether anything else on the machine used CPU meanwhile.

use std::time::{Duration, Instant};

use crate::Options;
use crate::measure;
use crate::report::{Report, Sample};
use crate::servers::{self, Server};
use crate::wrk::{self, Load};

/// Average CPU (in CPUs) used by other processes during a run above which the run is contaminated.
const FOREIGN_CPU_LIMIT: f64 = 0.15;

/// How often a contaminated run is retried (after waiting for a quiet machine again).
const RETRIES: usize = 2;

/// How long the warm-up run of each server and route lasts.
const WARM_UP: Duration = Duration::from_secs(1);

pub(crate) fn run(options: &Options, write: bool) -> Result<(), String> {
    let bin = servers::build(options.keel.as_deref())?;
    let mut keel = servers::start_keel(&bin, &[("APP_SERVER__DRAIN_DELAY_SECS", "0")])?;
    let (bodies, paths) = servers::write_bodies(&keel)?;
    let mut bare = servers::start_bare(&bin, &bodies.0)?;
    let idle = [
        measure::resident_bytes(keel.pid())?,
        measure::resident_bytes(bare.pid())?,
    ];
    let load = Load {
        threads: options.threads,
        connections: options.connections,
        duration: options.duration,
    };
    let quiet_load = measure::cpus() as f64 * 0.25;
    if write && !measure::wait_for_quiet(quiet_load, options.patience) {
        eprintln!(
            "the machine did not get quiet; measuring anyway, contaminated runs will be flagged"
        );
    }
    let warm_up = Load {
        duration: WARM_UP,
        ..load
    };
    for (_, path) in &paths {
        for server in [&keel, &bare] {
            wrk::finish(wrk::start(&server.url(path), warm_up)?)?;
        }
    }
    let mut report = Report::new(options, measure::machine(), servers::profile());
    for repetition in 0..options.repetitions {
        for (route, path) in &paths {
            // Alternate which server goes first, so neither always runs on the warmer machine.
            let order: [&Server; 2] = if repetition % 2 == 0 {
                [&keel, &bare]
            } else {
                [&bare, &keel]
            };
            for server in order {
                let sample = measure_one(server, route, path, load, options.patience)?;
                eprintln!("{}", sample.summary());
                report.samples.push(sample);
            }
        }
    }
    report.resident = vec![
        (keel.name, idle[0], measure::resident_bytes(keel.pid())?),
        (bare.name, idle[1], measure::resident_bytes(bare.pid())?),
    ];
    let exit = keel.terminate(Duration::from_secs(30))?;
    if !exit.success() {
        return Err(format!("keel exited with {exit} after the benchmark"));
    }
    bare.terminate(Duration::from_secs(10))?;
    let errors: u64 = report
        .samples
        .iter()
        .map(|sample| sample.wrk.errors())
        .sum();
    println!("{}", report.tables());
    if write {
        report.write_into(&options.output)?;
        eprintln!("wrote {}", options.output);
    }
    if errors > 0 {
        return Err(format!(
            "{errors} requests failed (socket errors or non-2xx answers)"
        ));
    }
    Ok(())
}

/// One `wrk` run of `server` on `path`, retried while other work contaminates it.
fn measure_one(
    server: &Server,
    route: &str,
    path: &str,
    load: Load,
    patience: Duration,
) -> Result<Sample, String> {
    let mut attempt = 0;
    loop {
        let sample = sample(server, route, path, load)?;
        if sample.foreign_cpus <= FOREIGN_CPU_LIMIT || attempt == RETRIES {
            return Ok(sample);
        }
        attempt += 1;
        eprintln!("{} — contaminated, retrying", sample.summary());
        measure::wait_for_quiet(
            measure::cpus() as f64 * 0.25,
            patience.min(Duration::from_secs(60)),
        );
    }
}

fn sample(server: &Server, route: &str, path: &str, load: Load) -> Result<Sample, String> {
    let ticks = measure::clock_ticks_per_second() as f64;
    let before = (
        measure::cpu_ticks(server.pid())?,
        measure::machine_busy_ticks()?,
        measure::own_and_children_ticks()?,
    );
    let started = Instant::now();
    let report = wrk::finish(wrk::start(&server.url(path), load)?)?;
    let elapsed = started.elapsed().as_secs_f64();
    let after = (
        measure::cpu_ticks(server.pid())?,
        measure::machine_busy_ticks()?,
        measure::own_and_children_ticks()?,
    );
    let server_ticks = after.0.saturating_sub(before.0);
    let foreign_ticks = after
        .1
        .saturating_sub(before.1)
        .saturating_sub(server_ticks)
        .saturating_sub(after.2.saturating_sub(before.2));
    Ok(Sample {
        server: server.name,
        route: route.to_owned(),
        cpu_us_per_request: server_ticks as f64 / ticks * 1e6 / report.requests.max(1) as f64,
        foreign_cpus: foreign_ticks as f64 / ticks / elapsed,
        wrk: report,
    })
}
