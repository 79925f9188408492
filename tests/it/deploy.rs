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
    let cases: [Case; 3] = [
        (
            Some(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"),
            &[],
            "answered 503, not 200",
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

#[tokio::test]
async fn while_draining_every_response_closes_its_connection() {
    let keel = KeelProcess::start(&[("APP_SERVER__DRAIN_DELAY_SECS", "5")]).await;
    let client = reqwest::Client::new();
    let before = client
        .get(format!("{}/ping", keel.address))
        .send()
        .await
        .unwrap();
    assert_eq!(before.headers().get("connection"), None);

    keel.signal("TERM");
    keel.wait_for_log("shutting down", Duration::from_secs(10))
        .await;
    let during = client
        .get(format!("{}/ping", keel.address))
        .send()
        .await
        .unwrap();
    assert_eq!(during.status(), 200);
    assert_eq!(during.headers()["connection"], "close");
}
