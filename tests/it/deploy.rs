//! What a deployment relies on: `keel healthcheck` (the image's HEALTHCHECK), `keel secrets init` (the
//! compose stack's first start), the client address behind a trusted proxy, and a clear error for a
//! missing static folder.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::run_keel;
use crate::process::{KeelProcess, fresh_client};
use keel_server::{EXIT_CONFIG, EXIT_FAILURE, EXIT_SUCCESS};

/// Runs `keel healthcheck` in-process against `port`, from a thread of its own (the command starts its own
/// runtime, which cannot happen inside the test's).
async fn healthcheck(port: u16, extra: &[&'static str]) -> crate::helpers::Outcome {
    let port_setting = format!("--set=server.port={port}");
    let extra: Vec<&'static str> = extra.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut args = vec![port_setting.as_str(), "healthcheck"];
        args.extend(extra);
        run_keel(&args, &[], None)
    })
    .await
    .unwrap()
}

fn port_of(address: &str) -> u16 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn healthcheck_exits_0_against_a_live_keel_and_1_once_it_is_gone() {
    let mut keel = KeelProcess::start(&[]).await;
    let port = port_of(&keel.address);

    let healthy = healthcheck(port, &[]).await;
    assert_eq!(healthy.code, EXIT_SUCCESS, "{}", healthy.stderr);
    assert!(
        healthy.stdout.starts_with(&format!(
            "healthy: http://127.0.0.1:{port}/api/v1/health answered 200 in "
        )),
        "{}",
        healthy.stdout
    );

    keel.stop_gracefully().await;
    let down = healthcheck(port, &[]).await;
    assert_eq!(down.code, EXIT_FAILURE);
    assert!(
        down.stderr.starts_with(&format!(
            "keel: unhealthy: http://127.0.0.1:{port}/api/v1/health: cannot connect ("
        )),
        "{}",
        down.stderr
    );
    assert_eq!(down.stderr.lines().count(), 1, "{}", down.stderr);
}

/// A server on a free port that answers each connection with `answer` (or never answers when `None`).
async fn fake_server(answer: Option<&'static [u8]>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0_u8; 1024];
            let _ = stream.read(&mut request).await;
            match answer {
                Some(answer) => {
                    let _ = stream.write_all(answer).await;
                }
                // Keep the connection open and silent.
                None => held.push(stream),
            }
        }
    });
    port
}

#[tokio::test]
async fn healthcheck_fails_on_an_unhealthy_answer_a_silent_server_and_a_stranger() {
    // (what the server answers, extra arguments, how the failure line ends)
    type Case = (Option<&'static [u8]>, &'static [&'static str], &'static str);
    let endless_status_line: &'static [u8] = Box::leak(
        [b"HTTP/1.1 200 OK".as_slice(), &[b'K'; 20_000]]
            .concat()
            .into_boxed_slice(),
    );
    let cases: [Case; 5] = [
        (
            Some(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"),
            &[],
            "answered 503, not 200",
        ),
        (
            Some(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"),
            &[],
            "answered 200, but not with keel's liveness report: is another program on this port?",
        ),
        (
            Some(endless_status_line),
            &[],
            "the answer is longer than 8192 bytes, which keel's never is",
        ),
        (None, &["--timeout-secs=1"], "did not answer within 1 s"),
        (
            Some(b"SSH-2.0-OpenSSH_9.2\r\n"),
            &[],
            "the answer is not an HTTP response",
        ),
    ];
    for (answer, extra, reason) in cases {
        let port = fake_server(answer).await;
        let outcome = healthcheck(port, extra).await;
        assert_eq!(outcome.code, EXIT_FAILURE, "{reason}");
        assert!(
            outcome.stderr.trim_end().ends_with(reason),
            "{reason}: {}",
            outcome.stderr
        );
    }
}

#[test]
fn secrets_init_needs_no_settings_writes_each_secret_once_and_keel_reads_them() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().join("secrets");
    let dir_arg = format!("--dir={}", dir.display());
    // Production with no secret key at all: settings would not load, and init must not need them.
    let production = [("APP_ENV", "production")];
    let first = run_keel(&["secrets", "init", &dir_arg], &production, None);
    assert_eq!(first.code, EXIT_SUCCESS, "{}", first.stderr);
    for name in ["secret_key", "admin_token", "database_password"] {
        assert!(
            first
                .stdout
                .contains(&format!("wrote {}", dir.join(name).display())),
            "{}",
            first.stdout
        );
    }
    let secret_key = std::fs::read_to_string(dir.join("secret_key")).unwrap();

    let second = run_keel(&["secrets", "init", &dir_arg], &production, None);
    assert_eq!(second.code, EXIT_SUCCESS, "{}", second.stderr);
    assert_eq!(
        second.stdout.matches("(already there)").count(),
        3,
        "{}",
        second.stdout
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("secret_key")).unwrap(),
        secret_key
    );

    // The folder then satisfies production's checks, with the values masked.
    let secrets_dir = dir.display().to_string();
    let shown = run_keel(
        &["show-config", "--all", "--explain", "--json"],
        &[
            ("APP_ENV", "production"),
            ("APP_SECRETS_DIR", &secrets_dir),
            ("DATABASE_URL", "postgres://keel@db:5432/keel"),
        ],
        None,
    );
    assert_eq!(shown.code, EXIT_SUCCESS, "{}", shown.stderr);
    let config: Value = serde_json::from_str(&shown.stdout).unwrap();
    let secret_file = format!("secret file {}", dir.join("secret_key").display());
    assert_eq!(
        config["security.secret_key"]["source"],
        secret_file.as_str()
    );
    assert!(
        config["database.url"]["value"]
            .as_str()
            .unwrap()
            .starts_with("postgres://keel:***"),
        "{}",
        config["database.url"]
    );
    assert!(
        !shown.stdout.contains(secret_key.trim()),
        "{}",
        shown.stdout
    );
}

#[test]
fn secrets_init_writes_into_app_secrets_dir_and_without_a_folder_says_how_to_name_one() {
    let folder = tempfile::tempdir().unwrap();
    let secrets_dir = folder.path().display().to_string();
    let outcome = run_keel(
        &["secrets", "init"],
        &[("APP_SECRETS_DIR", &secrets_dir)],
        None,
    );
    assert_eq!(outcome.code, EXIT_SUCCESS, "{}", outcome.stderr);
    assert!(folder.path().join("admin_token").is_file());

    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let vars = keel_config::Vars::default();
    let code = keel_server::run(["keel", "secrets", "init"], vars, &mut stdout, &mut stderr);
    assert_eq!(code, keel_server::EXIT_USAGE);
    assert_eq!(
        String::from_utf8(stderr).unwrap(),
        "keel: secrets init needs a folder: pass --dir DIR or set APP_SECRETS_DIR\n"
    );
}

#[test]
fn a_missing_static_folder_stops_start_up_with_a_configuration_error_naming_it() {
    let outcome = run_keel(
        &["--set=static_files.dir=/nonexistent/keel-static", "serve"],
        &[],
        None,
    );
    assert_eq!(outcome.code, EXIT_CONFIG, "{}", outcome.stderr);
    assert_eq!(
        outcome.stderr,
        "keel: cannot start the app: cannot read the static folder /nonexistent/keel-static (static_files.dir = \"/nonexistent/keel-static\"); set static_files.dir (APP_STATIC_FILES__DIR) to the folder holding the assets, e.g. an absolute path: No such file or directory (os error 2)\n"
    );
}

/// The `client.address` of the access line for one request with `X-Forwarded-For: forwarded_for`.
async fn logged_client_address(trusted_proxies: &str, forwarded_for: &str) -> Value {
    let keel = KeelProcess::start(&[("APP_SERVER__TRUSTED_PROXIES", trusted_proxies)]).await;
    let response = fresh_client()
        .get(format!("{}/ping", keel.address))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let line = keel
        .wait_for_log("\"http.route\":\"/ping\"", Duration::from_secs(10))
        .await;
    let access: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(access["message"], "request finished", "{line}");
    access["span"]["client.address"].clone()
}

#[tokio::test]
async fn the_access_line_names_the_forwarded_client_only_behind_a_trusted_proxy() {
    // The test client connects from 127.0.0.1.
    let trusted = logged_client_address(r#"["127.0.0.0/8"]"#, "6.6.6.6, 198.51.100.7").await;
    assert_eq!(trusted, "198.51.100.7");
    let untrusted = logged_client_address("[]", "198.51.100.7").await;
    assert_eq!(untrusted, "127.0.0.1");
}

/// The runtime stage of `deploy/Dockerfile`: its `WORKDIR` and the variables its `ENV` sets.
struct RuntimeImage {
    workdir: String,
    env: Vec<(String, String)>,
}

fn runtime_image() -> RuntimeImage {
    let dockerfile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/Dockerfile"),
    )
    .unwrap();
    // Instructions with their continuation lines joined, comments dropped.
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let stage_start = instructions
        .iter()
        .position(|instruction| {
            instruction.starts_with("FROM") && instruction.ends_with("AS runtime")
        })
        .expect("deploy/Dockerfile has a stage named runtime");
    let stage = &instructions[stage_start + 1..];
    let workdir = stage
        .iter()
        .find_map(|instruction| instruction.strip_prefix("WORKDIR "))
        .expect("the runtime stage sets a WORKDIR")
        .trim()
        .to_owned();
    let env = stage
        .iter()
        .filter_map(|instruction| instruction.strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("ENV NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect();
    RuntimeImage { workdir, env }
}

/// Runs the test copy of the binary as the image would: in `root` + the image's WORKDIR, with the image's
/// environment (its paths moved under `root`) plus `extra`, and nothing else.
fn as_in_the_image(
    root: &std::path::Path,
    image: &RuntimeImage,
    extra: &[(&str, String)],
) -> std::process::Command {
    let moved = |value: &str| match value.strip_prefix('/') {
        Some(absolute) => root.join(absolute).display().to_string(),
        None => value.to_owned(),
    };
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_keel-test-binary"));
    command
        .current_dir(moved(&image.workdir))
        .env_clear()
        .envs(
            image
                .env
                .iter()
                .map(|(name, value)| (name.clone(), moved(value))),
        )
        .envs(extra.iter().map(|(name, value)| (*name, value.clone())));
    command
}

#[tokio::test]
async fn the_binary_runs_as_in_the_image_with_only_the_static_folder_and_generated_secrets() {
    let image = runtime_image();
    assert!(
        image
            .env
            .iter()
            .any(|(name, value)| name == "APP_ENV" && value == "production"),
        "{:?}",
        image.env
    );
    // The image's file system: the static folder under the WORKDIR, and nothing else of the checkout.
    let root = tempfile::tempdir().unwrap();
    let static_dir = image
        .env
        .iter()
        .find(|(name, _)| name == "APP_STATIC_FILES__DIR")
        .map(|(_, value)| root.path().join(value.trim_start_matches('/')))
        .expect("the image names its static folder");
    copy_folder(&crate::helpers::static_dir(), &static_dir);
    std::fs::create_dir_all(root.path().join(image.workdir.trim_start_matches('/'))).unwrap();
    let secrets = root.path().join("run/secrets").display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = [
        ("APP_SECRETS_DIR", secrets.clone()),
        ("PORT", port.to_string()),
        // Tests do not wait for a load balancer.
        ("APP_SERVER__DRAIN_DELAY_SECS", "0".to_owned()),
    ];
    let run = |args: &[&str]| {
        let output = as_in_the_image(root.path(), &image, &extra)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    // The compose stack's first start: secrets, then migrations as a release step.
    assert_eq!(run(&["secrets", "init", "--dir", &secrets]).0, Some(0));
    let (code, stderr) = run(&["migrate", "up"]);
    assert_eq!(code, Some(0), "{stderr}");

    let mut server = as_in_the_image(root.path(), &image, &extra)
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    loop {
        poll.tick().await;
        let (code, stderr) = run(&["healthcheck"]);
        if code == Some(0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "healthcheck still failing after 30 s: {stderr}"
        );
    }
    let response = fresh_client()
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let stylesheet = &page[page.find("/static/css/app.css?v=").unwrap()..];
    let stylesheet = &stylesheet[..stylesheet.find('"').unwrap()];
    let css = fresh_client()
        .get(format!("http://127.0.0.1:{port}{stylesheet}"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);

    let pid = server.id().to_string();
    std::process::Command::new("kill")
        .args(["-s", "TERM", &pid])
        .status()
        .unwrap();
    let started = tokio::time::Instant::now();
    while server.try_wait().unwrap().is_none() {
        poll.tick().await;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "keel did not stop"
        );
    }
    let (code, stderr) = run(&["healthcheck"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
