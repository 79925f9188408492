//! The process's own resource use, read from `/proc/self` (Linux): resident memory, CPU time and open
//! file descriptors. Each reader answers `None` when the file cannot be read or parsed, so a gauge is
//! left out of a scrape rather than reported as zero.

use std::path::Path;

/// Clock ticks per second of the times in `/proc/self/stat`: Linux reports them in `USER_HZ`, which is
/// 100 on every architecture keel builds for (it is part of the kernel's user-space ABI).
const USER_HZ: f64 = 100.0;

/// Whether this system has `/proc/self` to read.
pub(crate) fn is_supported() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// Resident memory in bytes (`VmRSS` in `/proc/self/status`).
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_resident_bytes(&status)
}

fn parse_resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kilobytes.checked_mul(1024)
}

/// CPU time used so far, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CpuTimes {
    pub(crate) user: f64,
    pub(crate) system: f64,
}

/// User and system CPU time (fields 14 and 15 of `/proc/self/stat`).
pub(crate) fn cpu_times() -> Option<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_times(&stat)
}

fn parse_cpu_times(stat: &str) -> Option<CpuTimes> {
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself, so the
    // fields are counted from the last closing parenthesis: field 3 comes first after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // Tick counts stay far below 2^52, where f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    Some(CpuTimes {
        user: user as f64 / USER_HZ,
        system: system as f64 / USER_HZ,
    })
}

/// Open file descriptors (entries of `/proc/self/fd`, less the one reading it).
pub(crate) fn open_file_descriptors() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    let count = u64::try_from(entries.count()).ok()?;
    Some(count.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_the_status_file() {
        let status = "Name:\tkeel\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t4\n";
        assert_eq!(parse_resident_bytes(status), Some(2048 * 1024));
        assert_eq!(parse_resident_bytes("Name:\tkeel\n"), None);
    }

    #[test]
    fn cpu_times_are_counted_from_after_the_command_name() {
        // A command name with a space and a parenthesis must not shift the fields.
        let stat = "42 (ke el) R) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 1 2 3";
        assert_eq!(
            parse_cpu_times(stat),
            Some(CpuTimes {
                user: 2.5,
                system: 0.75
            })
        );
        assert_eq!(parse_cpu_times("garbage"), None);
    }

    #[test]
    fn this_process_reports_itself_on_linux() {
        if !is_supported() {
            return;
        }
        assert!(resident_bytes().is_some_and(|bytes| bytes > 0));
        assert!(cpu_times().is_some());
        // Standard input, output and error at least.
        assert!(open_file_descriptors().is_some_and(|count| count >= 3));
    }
}
