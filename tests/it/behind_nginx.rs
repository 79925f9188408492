//! keel as deployed: Debian's nginx running the project's own `deploy/nginx/` files (only the lines
//! marked `# substitute:` changed: ports, paths, upstream addresses) in front of two keel processes on one
//! PostgreSQL database and one Redis.
//!
//! These tests run when `TEST_NGINX` names an nginx binary (`.ci/run` installs Debian's and sets it); they
//! then need `TEST_DATABASE_URL` and `TEST_REDIS_URL` too, and fail rather than skip without them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::helpers::{Backend, TestDatabase};
use crate::process::{KeelProcess, fresh_client};

const TOKEN: &str = "an-admin-token-for-the-nginx-tests-0123456789";

/// The repository's root folder.
fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What the tests need from outside: nginx, PostgreSQL and Redis. `None` when `TEST_NGINX` is unset.
struct Outside {
    nginx: PathBuf,
    redis_url: String,
}

fn outside() -> Option<Outside> {
    // Empty counts as unset, so `TEST_NGINX="$(command -v nginx)"` works where nginx is missing.
    let nginx = std::env::var_os("TEST_NGINX").filter(|path| !path.is_empty())?;
    let redis_url = std::env::var("TEST_REDIS_URL")
        .expect("TEST_NGINX is set, so TEST_REDIS_URL (and TEST_DATABASE_URL) must be too");
    assert!(
        std::env::var_os("TEST_DATABASE_URL").is_some(),
        "TEST_NGINX is set, so TEST_DATABASE_URL must be too"
    );
    Some(Outside {
        nginx: nginx.into(),
        redis_url,
    })
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two keel instances as compose runs them: production-like behind a proxy (keel's compression off, the
/// proxy trusted), one database, one Redis channel of their own.
struct Instances {
    vars: Vec<(String, String)>,
    ports: [u16; 2],
    processes: [Option<KeelProcess>; 2],
    /// Last, so it is dropped (with the PostgreSQL database) after the processes that use it.
    _database: TestDatabase,
}

impl Instances {
    async fn start(outside: &Outside) -> Instances {
        let database = TestDatabase::create(Backend::Postgres).await;
        let channel = format!("keel:flags:test:{}", uuid::Uuid::new_v4().simple());
        let vars = [
            ("DATABASE_URL", database.url.as_str()),
            ("REDIS_URL", outside.redis_url.as_str()),
            ("APP_FLAG_SYNC__REDIS_CHANNEL", channel.as_str()),
            ("APP_FLAG_SYNC__RESYNC_INTERVAL_SECS", "3600"),
            ("APP_SECURITY__ADMIN_TOKEN", TOKEN),
            ("APP_SERVER__COMPRESSION", "false"),
            ("APP_SERVER__TRUSTED_PROXIES", r#"["127.0.0.1/32"]"#),
            ("APP_SERVER__DRAIN_DELAY_SECS", "2"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .to_vec();
        let mut instances = Instances {
            vars,
            ports: [free_port(), free_port()],
            processes: [None, None],
            _database: database,
        };
        // One after the other: the first applies the migrations.
        for index in 0..2 {
            instances.restart(index).await;
        }
        instances
    }

    async fn restart(&mut self, index: usize) {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let keel = KeelProcess::start_on(self.ports[index], &vars).await;
        // Ready, and subscribed to flag announcements (readiness reports Redis once the listener is).
        let started = Instant::now();
        loop {
            let ready = eventually_ok(&format!("{}/api/v1/ready", keel.address)).await;
            let report: Value = serde_json::from_str(&ready).unwrap();
            if report["checks"]["redis"]["status"] == "ok" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "Redis still not ok after 10 s: {report}"
            );
        }
        self.processes[index] = Some(keel);
    }

    fn process(&self, index: usize) -> &KeelProcess {
        self.processes[index].as_ref().unwrap()
    }

    fn upstreams(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect()
    }

    /// The first log line, of either instance, that contains `needle`.
    async fn log_line(&self, needle: &str) -> String {
        let started = Instant::now();
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            let found = (0..2)
                .flat_map(|index| self.process(index).logs())
                .find(|line| line.contains(needle));
            if let Some(line) = found {
                return line;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no keel log line contains {needle:?}"
            );
        }
    }

    fn all_logs(&self) -> Vec<String> {
        (0..2)
            .flat_map(|index| self.process(index).logs())
            .collect()
    }
}

/// Polls `url` until it answers 200 (within 30 s) and returns the body.
async fn eventually_ok(url: &str) -> String {
    let client = fresh_client();
    let started = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    loop {
        poll.tick().await;
        if let Ok(response) = client.get(url).send().await
            && response.status() == 200
        {
            return response.text().await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} did not answer 200 within 30 s"
        );
    }
}

/// Debian's nginx with the project's configuration, on a loopback port of its own.
struct Nginx {
    child: Child,
    address: String,
    folder: tempfile::TempDir,
}

impl Nginx {
    async fn start(binary: &Path, upstreams: &[String]) -> Nginx {
        let folder = tempfile::tempdir().unwrap();
        // nginx's workers run as `nobody` when the master is root: they must reach the temporary folders.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let dir = folder.path();
        let port = free_port();
        let deploy = repository().join("deploy/nginx");
        let fingerprints = Command::new(deploy.join("static-fingerprints"))
            .arg(repository().join("web/static"))
            .output()
            .expect("cannot run deploy/nginx/static-fingerprints");
        assert!(fingerprints.status.success(), "{fingerprints:?}");
        std::fs::write(dir.join("static-fingerprints.map"), fingerprints.stdout).unwrap();

        let keel_conf = std::fs::read_to_string(deploy.join("keel.conf")).unwrap();
        let keel_conf = substitute(
            &keel_conf,
            &[
                (
                    "access log",
                    format!("access_log {}/access.log keel_json", dir.display()),
                ),
                (
                    "fingerprint map",
                    format!("include {}/static-fingerprints.map", dir.display()),
                ),
                ("port", format!("listen 127.0.0.1:{port}")),
                (
                    "static root",
                    format!("root {}", repository().join("web").display()),
                ),
            ],
        );
        std::fs::write(dir.join("keel.conf"), keel_conf).unwrap();
        let upstream_conf = std::fs::read_to_string(deploy.join("upstream.conf")).unwrap();
        std::fs::write(
            dir.join("upstream.conf"),
            substitute_instances(&upstream_conf, upstreams),
        )
        .unwrap();
        // The test's own main file: the image's nginx.conf holds only the container's paths.
        let main = format!(
            "pid {dir}/nginx.pid;\nerror_log {dir}/error.log;\nworker_processes 1;\nevents {{}}\n\
             http {{\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n\
             client_body_temp_path {dir}/client-body;\n    proxy_temp_path {dir}/proxy;\n\
             fastcgi_temp_path {dir}/fastcgi;\n    uwsgi_temp_path {dir}/uwsgi;\n\
             scgi_temp_path {dir}/scgi;\n    include {dir}/upstream.conf;\n    include {dir}/keel.conf;\n}}\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();

        let child = Command::new(binary)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("TEST_NGINX={} cannot start: {error}", binary.display())
            });
        let nginx = Nginx {
            child,
            address: format!("http://127.0.0.1:{port}"),
            folder,
        };
        let started = Instant::now();
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            poll.tick().await;
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen within 10 s; error.log:\n{}",
                nginx.error_log()
            );
        }
        nginx
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.folder.path().join("error.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` with the directive of each line marked `# substitute: <name>` replaced, indentation and marker
/// kept. Every marked line must be one of `replacements`, so a new marker cannot go unnoticed.
fn substitute(text: &str, replacements: &[(&str, String)]) -> String {
    text.lines()
        .map(|line| {
            let Some((_, marker)) = line.split_once("# substitute: ") else {
                return line.to_owned();
            };
            let (_, directive) = replacements
                .iter()
                .find(|(name, _)| *name == marker.trim())
                .unwrap_or_else(|| panic!("the test does not know how to substitute {line:?}"));
            let indent = &line[..line.len() - line.trim_start().len()];
            format!("{indent}{directive};  # substitute: {}", marker.trim())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `upstream.conf` with its `server` lines replaced by one per address in `upstreams`, keeping the
/// parameters (`max_fails`, `fail_timeout`) the project chose.
fn substitute_instances(text: &str, upstreams: &[String]) -> String {
    let mut lines = Vec::new();
    let mut written = false;
    for line in text.lines() {
        if !line.contains("# substitute: instance") {
            lines.push(line.to_owned());
            continue;
        }
        if written {
            continue;
        }
        let parameters: Vec<&str> = line
            .split(';')
            .next()
            .unwrap()
            .split_whitespace()
            .skip(2)
            .collect();
        for upstream in upstreams {
            lines.push(format!("    server {upstream} {};", parameters.join(" ")));
        }
        written = true;
    }
    assert!(
        written,
        "upstream.conf has no `# substitute: instance` line"
    );
    lines.join("\n")
}

/// The stylesheet URL the home page links, with its content hash.
async fn stylesheet_url(nginx: &Nginx) -> String {
    let page = crate::http_client::client_builder()
        .build()
        .unwrap()
        .get(nginx.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page
        .find("/static/css/app.css?v=")
        .expect("the page links the stylesheet");
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
}

#[tokio::test]
async fn nginx_serves_static_files_itself_and_proxies_the_rest_to_two_instances() {
    let Some(outside) = outside() else {
        return;
    };
    let instances = Instances::start(&outside).await;
    let nginx = Nginx::start(&outside.nginx, &instances.upstreams()).await;
    let client = crate::http_client::client_builder().build().unwrap();

    // Static files come from nginx, with the year-long cache only for the current content hash.
    let stylesheet = stylesheet_url(&nginx).await;
    let hashed = client
        .get(nginx.url(&stylesheet))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(hashed.status(), 200);
    let headers = hashed.headers();
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers.contains_key("content-security-policy"));
    let unhashed = client
        .get(nginx.url("/static/css/app.css?v=000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(unhashed.headers()["cache-control"], "public, max-age=300");
    let hidden = client
        .get(nginx.url("/static/.hidden"))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), 404);

    // The rest is proxied, with the client's request id passed on, or nginx's own.
    let page = client
        .get(nginx.url("/"))
        .header("x-request-id", "e2e-home-page")
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-request-id"], "e2e-home-page");
    assert_eq!(page.headers()["content-encoding"], "gzip");
    assert_eq!(page.headers()["x-app"], "keel");
    instances.log_line("\"request_id\":\"e2e-home-page\"").await;
    let generated = client.get(nginx.url("/ping")).send().await.unwrap();
    let generated_id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated_id.len(), 32, "{generated_id}");
    instances
        .log_line(&format!("\"request_id\":\"{generated_id}\""))
        .await;

    // No static request reached an instance: nginx answered them all.
    let logs = instances.all_logs();
    assert!(
        !logs
            .iter()
            .any(|line| line.contains("\"http.route\":\"/static")),
        "{}",
        logs.join("\n")
    );

    // The client address reaches the access line through the trusted proxy.
    let from_elsewhere = crate::http_client::client_builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap();
    let response = from_elsewhere
        .get(nginx.url("/ping"))
        .header("x-request-id", "e2e-client-address")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let access: Value = serde_json::from_str(
        &instances
            .log_line("\"request_id\":\"e2e-client-address\"")
            .await,
    )
    .unwrap();
    assert_eq!(access["span"]["client.address"], "127.0.0.2", "{access}");

    // A body over server.max_body_bytes is refused by nginx before any instance sees it.
    let too_large = client
        .post(nginx.url("/test/echo"))
        .header("content-type", "application/json")
        .body(vec![b' '; 16 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    // In keel's own error shape, with its headers, although nginx wrote it.
    assert_eq!(too_large.headers()["content-type"], "application/json");
    assert_eq!(too_large.headers()["x-content-type-options"], "nosniff");
    let request_id = too_large.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let error: Value = too_large.json().await.unwrap();
    assert_eq!(error["error"], "payload-too-large", "{error}");
    assert_eq!(error["request_id"], request_id.as_str(), "{error}");
    assert!(
        !instances
            .all_logs()
            .iter()
            .any(|line| line.contains("\"http.route\":\"/test/echo\"")),
        "an instance saw the refused body"
    );

    // A flag toggled through one instance is seen through the other within a second.
    let toggled = client
        .post(format!(
            "{}/ops/flags/signup_v2",
            instances.process(0).address
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"enabled": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(toggled.status(), 200);
    let started = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        poll.tick().await;
        let seen = client
            .get(format!("{}/signup-v2", instances.process(1).address))
            .send()
            .await
            .unwrap();
        if seen.status() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the other instance still hides /signup-v2 after 1 s"
        );
    }
}

/// Requests sent by the load loop, and those that did not get a 200.
#[derive(Default)]
struct Load {
    sent: AtomicU64,
    failed: AtomicU64,
    failures: std::sync::Mutex<Vec<String>>,
}

/// Requests through nginx from `workers` concurrent clients until `stop` is set: GETs of three pages and
/// a POST (which nginx never retries on another instance once sent), in turn.
fn spawn_load(nginx_address: &str, workers: usize, stop: Arc<AtomicBool>) -> Arc<Load> {
    let load = Arc::new(Load::default());
    for worker in 0..workers {
        let load = Arc::clone(&load);
        let stop = Arc::clone(&stop);
        let address = nginx_address.to_owned();
        tokio::spawn(async move {
            let client = crate::http_client::client_builder().build().unwrap();
            let paths = ["/", "/api/v1/health", "/ping", "/test/echo"];
            let mut round = worker;
            while !stop.load(Ordering::Relaxed) {
                let path = paths[round % paths.len()];
                round += 1;
                let url = format!("{address}{path}");
                let request = if path == "/test/echo" {
                    client
                        .post(url)
                        .header("content-type", "application/json")
                        .body(format!(r#"{{"round": {round}}}"#))
                } else {
                    client.get(url)
                };
                let outcome = request.send().await;
                load.sent.fetch_add(1, Ordering::Relaxed);
                let failure = match outcome {
                    Ok(response) if response.status() == 200 => None,
                    Ok(response) => Some(format!("{path}: {}", response.status())),
                    Err(error) => Some(format!("{path}: {error}")),
                };
                if let Some(failure) = failure {
                    load.failed.fetch_add(1, Ordering::Relaxed);
                    load.failures.lock().unwrap().push(failure);
                }
            }
        });
    }
    load
}

/// Waits until the load loop has sent `more` requests beyond what it had sent when called.
async fn until_sent(load: &Load, more: u64) {
    let target = load.sent.load(Ordering::Relaxed) + more;
    let started = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    while load.sent.load(Ordering::Relaxed) < target {
        poll.tick().await;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the load loop stalled"
        );
    }
}

/// Waits until `keel` has answered requests that came through nginx (the load's `GET /ping`).
async fn until_serving_through_nginx(keel: &KeelProcess) {
    let started = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    loop {
        poll.tick().await;
        let proxied = keel
            .logs()
            .iter()
            .filter(|line| line.contains("\"http.route\":\"/ping\""))
            .count();
        if proxied >= 10 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the restarted instance got no traffic from nginx within 30 s"
        );
    }
}

#[tokio::test]
async fn a_rolling_restart_behind_nginx_under_load_fails_no_request() {
    let Some(outside) = outside() else {
        return;
    };
    let mut instances = Instances::start(&outside).await;
    let nginx = Nginx::start(&outside.nginx, &instances.upstreams()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = spawn_load(&nginx.address, 8, Arc::clone(&stop));
    until_sent(&load, 200).await;

    for index in 0..2 {
        let mut keel = instances.processes[index].take().unwrap();
        keel.signal("TERM");
        let status = keel.exit_status(Duration::from_secs(30)).await;
        assert_eq!(status.code(), Some(0), "{}", keel.logs().join("\n"));
        until_sent(&load, 200).await;
        instances.restart(index).await;
        // As an operator would, restart the next instance only once this one is back in rotation: nginx
        // keeps an instance that refused connections out for `fail_timeout` before trying it again.
        until_serving_through_nginx(instances.process(index)).await;
    }
    stop.store(true, Ordering::Relaxed);

    let (sent, failed) = (
        load.sent.load(Ordering::Relaxed),
        load.failed.load(Ordering::Relaxed),
    );
    eprintln!(
        "rolling restart behind nginx: {sent} requests (a quarter of them POSTs), {failed} failed"
    );
    assert_eq!(
        failed,
        0,
        "{failed} of {sent} requests failed: {:?}\nnginx error.log:\n{}",
        load.failures.lock().unwrap(),
        nginx.error_log()
    );
}
