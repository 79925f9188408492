//! The fault runs' own PostgreSQL and Redis: started in a temporary folder on a free port, stopped and
//! started again on that port on purpose, and removed afterwards. The machine's own servers are never
//! touched (tests use them). Also what every server of the harness uses: temporary folders, free ports,
//! signals.
//!
//! PostgreSQL refuses to run as root; when the harness is root it runs PostgreSQL's programs as the
//! `postgres` user (`runuser -u postgres --`) in a folder that user owns.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long PostgreSQL or Redis may take to start or stop.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL cluster of the harness's own.
pub(crate) struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    pub(crate) port: u16,
    as_postgres_user: bool,
}

impl Postgres {
    /// `initdb` (trust authentication) in a temporary folder, then starts it on a free port.
    pub(crate) fn start() -> Result<Postgres, String> {
        let bin = postgres_bin()?;
        let dir = TempDir::new("keel-bench-postgres")?;
        let as_postgres_user = is_root();
        if as_postgres_user {
            run(Command::new("chown").args(["postgres:", &dir.0.display().to_string()])).map_err(
                |error| format!("{error} (running as root, PostgreSQL needs a `postgres` user)"),
            )?;
        }
        let postgres = Postgres {
            dir,
            bin,
            port: free_port()?,
            as_postgres_user,
        };
        postgres.run(
            "initdb",
            &[
                "-D",
                &postgres.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        postgres.resume()?;
        Ok(postgres)
    }

    /// The URL keel connects with.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m fast`: connections are ended, the server exits.
    pub(crate) fn stop(&self) -> Result<(), String> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
    }

    /// `pg_ctl start` on the same port, waiting until it accepts connections.
    pub(crate) fn resume(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.0.display()
        );
        let log = self.dir.0.join("postgres.log").display().to_string();
        let timeout = START_TIMEOUT.as_secs().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-t",
                &timeout,
                "-w",
                "start",
            ],
        )
    }

    fn data(&self) -> String {
        self.dir.0.join("data").display().to_string()
    }

    /// Runs one of PostgreSQL's programs (as the `postgres` user when the harness is root).
    fn run(&self, program: &str, arguments: &[&str]) -> Result<(), String> {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        // The programs must not start in a folder the `postgres` user cannot read (root's home).
        command.args(arguments).current_dir(&self.dir.0);
        run(&mut command)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

/// A Redis server of the harness's own: no persistence, on a free port.
pub(crate) struct Redis {
    pub(crate) port: u16,
    child: Option<Child>,
}

impl Redis {
    pub(crate) fn start() -> Result<Redis, String> {
        let mut redis = Redis {
            port: free_port()?,
            child: None,
        };
        redis.resume()?;
        Ok(redis)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts `redis-server` on the same port and waits until it answers PING.
    pub(crate) fn resume(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| {
                format!("cannot run redis-server ({error}): install it (apt-get install redis-server) and retry")
            })?;
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers_ping() {
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "redis-server did not answer PING within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// SIGTERM, then waits for the exit.
    pub(crate) fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        signal(child.id(), "TERM")?;
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if started.elapsed() < START_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    return Err(format!(
                        "redis-server still runs {START_TIMEOUT:?} after SIGTERM"
                    ));
                }
                Err(error) => return Err(format!("cannot wait for redis-server: {error}")),
            }
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut line = String::new();
        stream.write_all(b"PING\r\n").is_ok()
            && BufReader::new(stream).read_line(&mut line).is_ok()
            && line.starts_with("+PONG")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The folder of `initdb` and `pg_ctl`: from `PATH`, else Debian's newest `/usr/lib/postgresql/*/bin`.
fn postgres_bin() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    debian.sort_by_key(|path| version_of(path));
    debian.reverse();
    on_path
        .into_iter()
        .chain(debian)
        .find(|folder| folder.join("initdb").is_file() && folder.join("pg_ctl").is_file())
        .ok_or_else(|| {
            "cannot find initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL's \
             server (apt-get install postgresql) and retry"
                .to_owned()
        })
}

/// `15` for `/usr/lib/postgresql/15/bin`, so `9` sorts before `15`.
fn version_of(bin: &Path) -> u32 {
    bin.parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .and_then(|name| name.split('.').next()?.parse().ok())
        .unwrap_or(0)
}

/// Whether the harness runs as root (effective user id 0, from /proc).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("Uid:"))?;
            line.split_whitespace()
                .nth(2)
                .map(|effective| effective == "0")
        })
        .unwrap_or(false)
}

/// Runs `command` to completion; a failure carries its output.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {:?}: {error}", command.get_program()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{:?} failed ({}): {}{}",
        command.get_program(),
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// Sends signal `name` (`TERM`, `INT`) to `pid`.
pub(crate) fn signal(pid: u32, name: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .map_err(|error| format!("cannot run kill: {error}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("kill -s {name} {pid} failed"))
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("cannot find a free port: {error}"))
}

/// A folder under the system's temporary folder, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(prefix: &str) -> Result<TempDir, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_debian_postgres_version_is_read_from_its_folder() {
        assert_eq!(version_of(Path::new("/usr/lib/postgresql/15/bin")), 15);
        assert!(version_of(Path::new("/usr/lib/postgresql/9.6/bin")) < 15);
        assert_eq!(version_of(Path::new("/usr/local/bin")), 0);
    }
}
