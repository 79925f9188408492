//! What the harness reads from /proc: a process's CPU time and resident memory, the machine's load and
//! the CPU time everything on it used, so a run shared with other work can be told apart.

use std::time::Duration;

/// Clock ticks per second, the unit of CPU times in /proc (`getconf CLK_TCK`; 100 on Linux).
pub(crate) fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// The fields of /proc/PID/stat after the command name (which may hold spaces), from field 3 on.
fn stat_fields(pid: u32) -> Result<Vec<u64>, String> {
    let path = if pid == 0 {
        "/proc/self/stat".to_owned()
    } else {
        format!("/proc/{pid}/stat")
    };
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let after_name = text
        .rfind(')')
        .map(|end| &text[end + 1..])
        .ok_or_else(|| format!("{path} has no command name"))?;
    // Field 3 (state) is a letter; it reads as 0.
    Ok(after_name
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect())
}

/// CPU time (user + system, all threads) process `pid` has used so far, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let fields = stat_fields(pid)?;
    // utime and stime are fields 14 and 15, so 11 and 12 counted from field 3.
    Ok(fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0))
}

/// CPU time this harness and its waited-for children (`wrk`) used so far, in clock ticks.
pub(crate) fn own_and_children_ticks() -> Result<u64, String> {
    let fields = stat_fields(0)?;
    // utime, stime, cutime, cstime: fields 14 to 17.
    Ok(fields.iter().skip(11).take(4).sum())
}

/// Resident memory of process `pid`, in bytes (`VmRSS`).
pub(crate) fn resident_bytes(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("cannot read {path}: {error}"))?;
    kibibytes(&text, "VmRSS:")
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("{path} has no VmRSS"))
}

/// The value of the `key` line (`VmRSS:`, `MemTotal:`) in a /proc file that counts in kB.
fn kibibytes(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The one-minute load average.
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::MAX)
}

/// CPU time every process on the machine used so far (all CPUs, idle and I/O wait excluded), in ticks.
pub(crate) fn machine_busy_ticks() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/stat")
        .map_err(|error| format!("cannot read /proc/stat: {error}"))?;
    let line = text
        .lines()
        .find(|line| line.starts_with("cpu "))
        .ok_or("/proc/stat has no cpu line")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal …: everything but idle (3) and iowait (4).
    Ok(fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(index, _)| *index != 3 && *index != 4)
        .map(|(_, ticks)| ticks)
        .sum())
}

/// The number of CPUs.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Waits until the one-minute load average is under `threshold`, at most `patience`; says whether it got
/// there.
pub(crate) fn wait_for_quiet(threshold: f64, patience: Duration) -> bool {
    let started = std::time::Instant::now();
    loop {
        let load = load_average();
        if load < threshold {
            return true;
        }
        if started.elapsed() >= patience {
            return false;
        }
        eprintln!(
            "waiting for a quiet machine: load average {load:.2}, waiting for < {threshold:.2}"
        );
        std::thread::sleep(Duration::from_secs(10).min(patience.saturating_sub(started.elapsed())));
    }
}

/// A description of the machine, for the report.
pub(crate) fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_owned())
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| kibibytes(&text, "MemTotal:"))
        .map_or_else(String::new, |kib| {
            format!(", {} GiB RAM", kib / 1024 / 1024)
        });
    format!("{} × {model}{memory}, Linux {kernel}", cpus())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_cpu_time_and_a_resident_size() {
        let pid = std::process::id();
        let before = cpu_ticks(pid).unwrap();
        let spin = std::time::Instant::now();
        let mut sum = 0_u64;
        while spin.elapsed() < Duration::from_millis(50) {
            sum = sum.wrapping_add(std::hint::black_box(1));
        }
        assert!(sum > 0);
        assert!(cpu_ticks(pid).unwrap() >= before);
        assert!(resident_bytes(pid).unwrap() > 1024 * 1024);
        assert!(machine_busy_ticks().unwrap() > 0);
        assert!(own_and_children_ticks().unwrap() >= cpu_ticks(pid).unwrap().saturating_sub(1));
    }

    #[test]
    fn a_process_that_does_not_exist_is_a_clear_error() {
        let error = resident_bytes(u32::MAX).unwrap_err();
        assert!(
            error.starts_with("cannot read /proc/4294967295/status"),
            "{error}"
        );
    }
}
