//! keel as a real process (the test copy of the binary, with the test-only routes): start-up logs,
//! signals, draining shutdown and exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::helpers::static_dir;

const CANARY: &str = "canary-4b1d-process-secret-never-logged-0123456789";

/// A running `keel serve` whose standard error (JSON log lines) is collected as it arrives.
pub(crate) struct KeelProcess {
    child: Child,
    pub(crate) address: String,
    logs: Arc<Mutex<Vec<String>>>,
    _instance: tempfile::TempDir,
}

impl KeelProcess {
    /// Starts `keel serve` in the testing environment on a free port with `vars`, and waits until it says
    /// where it listens.
    pub(crate) async fn start(vars: &[(&str, &str)]) -> KeelProcess {
        KeelProcess::start_through(&[], 0, vars).await
    }

    /// [`KeelProcess::start`] on `port` (`0`: a free one), e.g. to restart an instance where a proxy
    /// expects it.
    pub(crate) async fn start_on(port: u16, vars: &[(&str, &str)]) -> KeelProcess {
        KeelProcess::spawn(&[], port, vars, Stdio::inherit()).await
    }

    /// [`KeelProcess::start_on`], run through `launcher` (a program and its arguments that runs the
    /// command after them, e.g. `prlimit --nofile=64:64 --`).
    pub(crate) async fn start_through(
        launcher: &[&str],
        port: u16,
        vars: &[(&str, &str)],
    ) -> KeelProcess {
        KeelProcess::spawn(launcher, port, vars, Stdio::inherit()).await
    }

    /// Starts `keel serve` as [`KeelProcess::start_on`] does, through `launcher` (empty: none) and with
    /// `stdin` as its standard input.
    pub(crate) async fn spawn(
        launcher: &[&str],
        port: u16,
        vars: &[(&str, &str)],
        stdin: Stdio,
    ) -> KeelProcess {
        let instance = tempfile::tempdir().unwrap();
        let binary = env!("CARGO_BIN_EXE_keel-test-binary");
        let mut command = match launcher.split_first() {
            Some((program, arguments)) => {
                let mut command = Command::new(program);
                command.args(arguments).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .arg(format!("--instance-dir={}", instance.path().display()))
            .arg(format!("--set=static_files.dir={}", static_dir().display()))
            .arg(format!("--set=server.port={port}"))
            .arg("serve")
            .env_clear()
            .env("APP_ENV", "testing")
            // Never the machine's /run/secrets.
            .env("APP_SECRETS_DIR", instance.path().join("secrets"))
            .env("APP_TELEMETRY__LOG_FORMAT", "json")
            .env("APP_TELEMETRY__LOG_LEVEL", "info,sqlx=warn")
            .envs(vars.iter().copied())
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the keel test binary");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let collected = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        let mut keel = KeelProcess {
            child,
            address: String::new(),
            logs,
            _instance: instance,
        };
        let line = keel
            .wait_for_log("listening on http://", Duration::from_secs(60))
            .await;
        // The address ends the message of a JSON line (at its closing quote) or is followed by the
        // fields of a pretty one (at a space).
        let address = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split(['"', ' ']).next())
            .unwrap_or_else(|| panic!("no address in {line}"));
        keel.address = address.to_owned();
        keel
    }

    /// Polls the collected log lines until one contains `needle`; fails the test after `deadline`.
    pub(crate) async fn wait_for_log(&self, needle: &str, deadline: Duration) -> String {
        let started = Instant::now();
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            if let Some(line) = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|line| line.contains(needle))
            {
                return line.clone();
            }
            assert!(
                started.elapsed() < deadline,
                "no log line with {needle:?} after {deadline:?}; logs:\n{}",
                self.logs.lock().unwrap().join("\n")
            );
        }
    }

    /// Polls readiness on fresh connections until it answers `status`; fails the test after `deadline`.
    /// Returns the body.
    pub(crate) async fn readiness(&self, status: u16, deadline: Duration) -> Value {
        let client = fresh_client();
        let started = Instant::now();
        let mut poll = tokio::time::interval(Duration::from_millis(50));
        loop {
            poll.tick().await;
            let response = client
                .get(format!("{}/api/v1/ready", self.address))
                .send()
                .await
                .unwrap();
            if response.status() == status {
                return response.json().await.unwrap();
            }
            assert!(
                started.elapsed() < deadline,
                "readiness still answered {} after {deadline:?}",
                response.status()
            );
        }
    }

    /// Waits for a log line with `needle` (see [`KeelProcess::wait_for_log`]) and asserts that it also
    /// holds `detail`.
    pub(crate) async fn assert_logged(&self, needle: &str, detail: &str) {
        let line = self.wait_for_log(needle, Duration::from_secs(5)).await;
        assert!(line.contains(detail), "{detail:?} is not in {line}");
    }

    /// The process id (the launcher's, which execs keel in its place).
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Polls until the process exits; fails the test after `deadline`.
    pub(crate) async fn exit_status(&mut self, deadline: Duration) -> ExitStatus {
        let started = Instant::now();
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < deadline,
                "keel still running after {deadline:?}"
            );
        }
    }

    /// Sends SIGTERM and asserts that keel exits 0 within 20 s.
    pub(crate) async fn stop_gracefully(&mut self) {
        self.signal("TERM");
        let status = self.exit_status(Duration::from_secs(20)).await;
        assert_eq!(status.code(), Some(0), "logs:\n{}", self.logs().join("\n"));
    }

    pub(crate) fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for KeelProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that opens a new connection per request, so each request sees the listener as it is now.
pub(crate) fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn sigterm_drains_readiness_finishes_in_flight_requests_then_refuses_connections_and_exits_0()
{
    let mut keel = KeelProcess::start(&[
        ("APP_SERVER__DRAIN_DELAY_SECS", "2"),
        ("APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "10"),
    ])
    .await;
    let client = fresh_client();
    let ready = client
        .get(format!("{}/api/v1/ready", keel.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let slow = tokio::spawn(
        client
            .get(format!("{}/test/slow?ms=4000", keel.address))
            .send(),
    );
    keel.wait_for_log("test: slow request started", Duration::from_secs(10))
        .await;
    keel.signal("TERM");

    // Readiness turns 503 at once, on connections that are still accepted during the drain delay.
    let draining = keel.readiness(503, Duration::from_secs(2)).await;
    assert_eq!(draining, json!({"status": "draining", "checks": {}}));

    // The request that was in flight completes normally.
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status(), 200);
    assert_eq!(slow.text().await.unwrap(), "done");

    // After the drain delay the listener is closed: new connections are refused.
    let port_address = keel.address.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    while tokio::net::TcpStream::connect(&port_address).await.is_ok() {
        poll.tick().await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still accepting connections"
        );
    }

    let status = keel.exit_status(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "logs:\n{}", keel.logs().join("\n"));
    keel.wait_for_log("\"stopped\"", Duration::from_secs(1))
        .await;
}

#[tokio::test]
async fn a_second_signal_exits_at_once_with_130() {
    let mut keel = KeelProcess::start(&[
        ("APP_SERVER__DRAIN_DELAY_SECS", "30"),
        ("APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "30"),
    ])
    .await;
    keel.signal("TERM");
    keel.wait_for_log("shutting down", Duration::from_secs(10))
        .await;
    keel.signal("INT");
    let status = keel.exit_status(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(130));
}

#[tokio::test]
async fn requests_cut_by_the_grace_period_exit_75_after_an_orderly_shutdown() {
    let mut keel = KeelProcess::start(&[("APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "1")]).await;
    let slow = tokio::spawn(
        fresh_client()
            .get(format!("{}/test/slow?ms=60000", keel.address))
            .send(),
    );
    keel.wait_for_log("test: slow request started", Duration::from_secs(10))
        .await;
    keel.signal("TERM");
    let status = keel.exit_status(Duration::from_secs(20)).await;
    assert_eq!(
        status.code(),
        Some(i32::from(keel_server::EXIT_REQUESTS_CUT)),
        "logs:\n{}",
        keel.logs().join("\n")
    );
    // The rest of the shutdown still happened, and the cut is said on standard error.
    keel.wait_for_log("\"stopped\"", Duration::from_secs(1))
        .await;
    keel.wait_for_log(
        "in-flight requests were still running after 1 s (server.graceful_shutdown_timeout_secs) and were cut",
        Duration::from_secs(1),
    )
    .await;
    assert!(slow.await.unwrap().is_err(), "the slow request was not cut");
}

#[tokio::test]
async fn every_log_line_is_json_and_no_secret_reaches_the_logs() {
    let database = tempfile::tempdir().unwrap();
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        database.path().join("keel.sqlite3").display()
    );
    let keel = KeelProcess::start(&[
        ("SECRET_KEY", CANARY),
        ("DATABASE_URL", &database_url),
        ("APP_TELEMETRY__LOG_LEVEL", "debug,sqlx=debug"),
    ])
    .await;
    let client = fresh_client();
    for path in ["/", "/api/v1/ready", "/nowhere", "/test/panic"] {
        client
            .get(format!("{}{path}", keel.address))
            .send()
            .await
            .unwrap();
    }
    let panic_line = keel
        .wait_for_log("test: this handler always panics", Duration::from_secs(10))
        .await;
    // The panic is logged once, as JSON, inside the request's span (so with its request id).
    let panic: Value = serde_json::from_str(&panic_line).unwrap();
    assert_eq!(panic["level"], "ERROR", "{panic_line}");
    assert!(panic["span"]["request_id"].is_string(), "{panic_line}");
    // The access line of /api/v1/ready: route template, status, latency, bytes, inside the request span
    // with its request, trace and span ids.
    let access = keel
        .wait_for_log("\"http.route\":\"/api/v1/ready\"", Duration::from_secs(10))
        .await;
    let access: Value = serde_json::from_str(&access).unwrap();
    assert_eq!(access["message"], "request finished", "{access}");
    assert_eq!(access["status"], 200, "{access}");
    assert!(access["latency_ms"].is_number(), "{access}");
    assert!(
        access["bytes"].as_u64().is_some_and(|bytes| bytes > 0),
        "{access}"
    );
    assert_eq!(access["span"]["http.request.method"], "GET", "{access}");
    assert!(access["span"]["request_id"].is_string(), "{access}");
    let trace_id = access["span"]["trace_id"].as_str().unwrap();
    let span_id = access["span"]["span_id"].as_str().unwrap();
    assert_eq!((trace_id.len(), span_id.len()), (32, 16), "{access}");
    // Unmatched paths are not logged raw.
    let unmatched = keel
        .wait_for_log("\"http.route\":\"unmatched\"", Duration::from_secs(10))
        .await;
    assert!(!unmatched.contains("/nowhere"), "{unmatched}");
    let logs = keel.logs();
    assert!(logs.len() > 5, "{logs:?}");
    for line in &logs {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not JSON: {line:?} in\n{}", logs.join("\n"));
        assert!(!line.contains(CANARY), "secret in the logs: {line}");
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let keel = KeelProcess::start(&[("APP_SERVER__HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let mut stream = tokio::net::TcpStream::connect(keel.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: keel\r\n")
        .await
        .unwrap();
    let mut received = vec![0; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut received))
        .await
        .expect("the connection was still open 10 s after a 1 s header read timeout");
    match read {
        // Closed, possibly after a 408: either way the slow client lost its connection.
        Ok(0) | Err(_) => {}
        Ok(length) => {
            let response = String::from_utf8_lossy(&received[..length]);
            assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        }
    }
}
