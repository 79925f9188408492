//! The two servers under test: keel (production profile, SQLite, JSON logs at `warn`, no OTLP) and the
//! bare axum baseline serving the bytes keel answered; how to build, start, probe and stop them.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::services::{TempDir, free_port, signal};

/// The benchmarked routes: a name (also the baseline's file name) and keel's path. The stylesheet's path
/// is read from `/`, since it carries the content hash.
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("health", "/api/v1/health"),
    ("index", "/"),
    ("stylesheet", ""),
    ("signup-v2", "/signup-v2"),
];

/// Each benchmarked route's name and the path it is fetched at.
pub(crate) type RoutePaths = Vec<(&'static str, String)>;

/// How long a server may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root (this package lives in `bench/`).
pub(crate) fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where the two servers' binaries are.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) keel: PathBuf,
    pub(crate) bare: PathBuf,
}

/// Builds `keel` (unless `keel` names a binary to measure instead, e.g. an older build) and `bare-axum`
/// with the harness's own profile, and says where they are.
pub(crate) fn build(keel: Option<&Path>) -> Result<Binaries, String> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command
        .current_dir(repository())
        .args(["build", "--locked"]);
    if keel.is_none() {
        command.args(["-p", "keel-server", "--bin", "keel"]);
    }
    command.args(["-p", "keel-bench", "--bin", "bare-axum"]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    eprintln!("building the servers ({})", profile());
    let status = command
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!("cargo build failed ({status})"));
    }
    let folder = std::env::current_exe()
        .map_err(|error| format!("cannot find the harness's own binary: {error}"))?
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "the harness's binary has no folder".to_owned())?;
    let keel = match keel {
        Some(path) if path.is_file() => path.to_path_buf(),
        Some(path) => return Err(format!("--keel {}: no such file", path.display())),
        None => folder.join("keel"),
    };
    Ok(Binaries {
        keel,
        bare: folder.join("bare-axum"),
    })
}

/// `release` or `debug`: the profile the harness (and so the servers) were built with.
pub(crate) fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// A running server, stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct Server {
    pub(crate) name: &'static str,
    pub(crate) child: Child,
    pub(crate) port: u16,
    _instance: Option<TempDir>,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs (it has not exited).
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends SIGTERM and waits for the exit status, at most `deadline`.
    pub(crate) fn terminate(
        &mut self,
        deadline: Duration,
    ) -> Result<std::process::ExitStatus, String> {
        signal(self.pid(), "TERM")?;
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|error| format!("cannot wait for {}: {error}", self.name))?
            {
                return Ok(status);
            }
            if started.elapsed() > deadline {
                return Err(format!(
                    "{} still runs {deadline:?} after SIGTERM",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.terminate(Duration::from_secs(30));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts keel from `bin` in the production profile on a fresh SQLite database, with `extra` variables.
pub(crate) fn start_keel(bin: &Binaries, extra: &[(&str, &str)]) -> Result<Server, String> {
    start_keel_logging(bin, extra, None)
}

/// [`start_keel`], with keel's log (standard error) written to `log` instead of the harness's own.
pub(crate) fn start_keel_logging(
    bin: &Binaries,
    extra: &[(&str, &str)],
    log: Option<&Path>,
) -> Result<Server, String> {
    let instance = TempDir::new("keel-bench-instance")?;
    let port = free_port()?;
    let keel = |arguments: &[&str]| {
        let mut command = Command::new(&bin.keel);
        command
            .arg(format!("--instance-dir={}", instance.0.display()))
            .args(arguments)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("APP_ENV", "production")
            .env("APP_SECRETS_DIR", instance.0.join("secrets"))
            .env(
                "APP_SECURITY__SECRET_KEY",
                "benchmark-secret-key-not-a-real-one-0123456789abcdef",
            )
            .env(
                "APP_STATIC_FILES__DIR",
                repository().join("web/static").display().to_string(),
            )
            .env("APP_SERVER__PORT", port.to_string())
            .env("APP_SERVER__HOST", "127.0.0.1")
            .env("APP_TELEMETRY__LOG_FORMAT", "json")
            .env("APP_TELEMETRY__LOG_LEVEL", "warn")
            .env("APP_FEATURES__SIGNUP_V2", "true")
            .envs(extra.iter().copied());
        command
    };
    // Production applies no migration by itself.
    let migrated = keel(&["migrate", "up"])
        .stdout(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run keel migrate up: {error}"))?;
    if !migrated.status.success() {
        return Err(format!(
            "keel migrate up failed: {}",
            String::from_utf8_lossy(&migrated.stderr)
        ));
    }
    let stderr = match log {
        Some(path) => std::fs::File::create(path)
            .map(Stdio::from)
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?,
        None => Stdio::inherit(),
    };
    let child = keel(&["serve"])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|error| format!("cannot start keel: {error}"))?;
    let server = Server {
        name: "keel",
        child,
        port,
        _instance: Some(instance),
    };
    wait_until_up(&server)?;
    Ok(server)
}

/// Starts the baseline from `bin`, serving the answers in `bodies` (see [`write_bodies`]).
pub(crate) fn start_bare(bin: &Binaries, bodies: &Path) -> Result<Server, String> {
    let port = free_port()?;
    let child = Command::new(&bin.bare)
        .arg(port.to_string())
        .arg(bodies)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| format!("cannot start bare-axum: {error}"))?;
    let server = Server {
        name: "bare axum",
        child,
        port,
        _instance: None,
    };
    wait_until_up(&server)?;
    Ok(server)
}

/// Fetches each route from keel, writes `NAME.body` and `NAME.type` into a new folder for the baseline,
/// and returns it with the benchmarked paths (the stylesheet's with its hash).
pub(crate) fn write_bodies(keel: &Server) -> Result<(TempDir, RoutePaths), String> {
    let dir = TempDir::new("keel-bench-bodies")?;
    let mut paths = Vec::new();
    let mut page = String::new();
    for (name, path) in ROUTES {
        let path = if path.is_empty() {
            stylesheet_path(&page)?
        } else {
            (*path).to_owned()
        };
        let response = get(keel.port, &path)?;
        if response.status != 200 {
            return Err(format!("keel answered {path} with {}", response.status));
        }
        if *name == "index" {
            page = String::from_utf8_lossy(&response.body).into_owned();
        }
        let content_type = response
            .header("content-type")
            .unwrap_or("application/octet-stream");
        let write = |extension: &str, bytes: &[u8]| {
            let file = dir.0.join(format!("{name}.{extension}"));
            std::fs::write(&file, bytes)
                .map_err(|error| format!("cannot write {}: {error}", file.display()))
        };
        write("body", &response.body)?;
        write("type", content_type.as_bytes())?;
        paths.push((*name, path));
    }
    Ok((dir, paths))
}

/// The hashed stylesheet URL the page links to.
fn stylesheet_path(page: &str) -> Result<String, String> {
    let start = page
        .find("/static/css/app.css")
        .ok_or("the page links no /static/css/app.css")?;
    let end = page[start..]
        .find('"')
        .map_or(page.len(), |offset| start + offset);
    Ok(page[start..end].replace("&amp;", "&"))
}

/// A response read by [`get`].
pub(crate) struct Response {
    pub(crate) status: u16,
    head: String,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }
}

/// `GET path` on 127.0.0.1:`port` over a fresh connection (`Connection: close`).
pub(crate) fn get(port: u16, path: &str) -> Result<Response, String> {
    let failed = |error: std::io::Error| format!("GET {path} on port {port}: {error}");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(failed)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(failed)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(failed)?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).map_err(failed)?;
    let end = bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: no complete response head"))?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("GET {path}: no status in {head:?}"))?;
    let response = Response {
        status,
        head,
        body: bytes[end + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|value| value.contains("chunked"))
    {
        return Err(format!(
            "GET {path}: a chunked body, which this client does not read"
        ));
    }
    Ok(response)
}

/// Polls `/api/v1/health` until it answers 200, or the process exits, or [`START_TIMEOUT`] passes.
fn wait_until_up(server: &Server) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok(response) = get(server.port, "/api/v1/health")
            && response.status == 200
        {
            return Ok(());
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(format!(
                "{} did not answer within {START_TIMEOUT:?}",
                server.name
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_link_is_read_with_its_hash() {
        let page = r#"<link rel="stylesheet" href="/static/css/app.css?v=0123abcd"><p>"#;
        assert_eq!(
            stylesheet_path(page).unwrap(),
            "/static/css/app.css?v=0123abcd"
        );
        assert!(stylesheet_path("<p>no link</p>").is_err());
    }
}
