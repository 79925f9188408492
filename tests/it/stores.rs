//! What the secret-store tests (`vault.rs`, `ssm.rs`) share: a local server process on a free loopback
//! port waited for with a deadline, keel run with a store's variables, and the canary checks on its
//! output, its logs and `/ops/config`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Outcome, run_keel};
use crate::process::{KeelProcess, fresh_client};

/// A port that was free a moment ago, for a server that binds it itself.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `command` with `HOME` in `folder` and its output in `folder/<name>.log`; fails the test, naming
/// `variable`, when it cannot start.
pub(crate) fn spawn_server(
    mut command: Command,
    folder: &Path,
    name: &str,
    variable: &str,
) -> Child {
    let log = std::fs::File::create(folder.join(format!("{name}.log"))).unwrap();
    let program = command.get_program().to_owned();
    command
        .env("HOME", folder)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|error| panic!("{variable}={}: cannot start ({error})", program.display()))
}

/// Polls `ready` until it holds; fails the test after 30 s, showing the server's log
/// (`folder/<name>.log`).
pub(crate) fn wait_for_server(folder: &Path, name: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the {name} server did not answer within 30 s; its log:\n{}",
            std::fs::read_to_string(folder.join(format!("{name}.log"))).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A secrets folder in `folder` holding `secret_key` and `admin_token` files, and the variables that
/// point keel at it and set the admin token as a variable too: each store test shows the store's value
/// beating the file (secret key) and losing to the variable (admin token).
pub(crate) fn files_and_a_variable(folder: &Path) -> Vec<(String, String)> {
    let secrets = folder.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(
        secrets.join("admin_token"),
        "an-admin-token-from-a-file-0123456789",
    )
    .unwrap();
    std::fs::write(
        secrets.join("secret_key"),
        "a-secret-key-from-a-file-0123456789",
    )
    .unwrap();
    vec![
        ("APP_SECRETS_DIR".to_owned(), secrets.display().to_string()),
        (
            "APP_SECURITY__ADMIN_TOKEN".to_owned(),
            "an-admin-token-from-a-variable-0123456789".to_owned(),
        ),
    ]
}

/// Asserts what [`files_and_a_variable`] sets up, in `show-config --explain --json` output `shown`: the
/// secret key comes from the store (`store_source`), above its file; the admin token from the variable.
pub(crate) fn assert_store_between_files_and_variables(
    shown: &serde_json::Value,
    store_source: &str,
) {
    assert_eq!(shown["security.secret_key"]["source"], store_source);
    assert_eq!(
        shown["security.admin_token"]["source"],
        "environment variable APP_SECURITY__ADMIN_TOKEN"
    );
}

/// Runs keel in-process with a store's `vars` and then `extra` (which win).
pub(crate) fn keel(args: &[&str], vars: &[(String, String)], extra: &[(&str, &str)]) -> Outcome {
    let vars: Vec<(&str, &str)> = vars
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain(extra.iter().copied())
        .collect();
    run_keel(args, &vars, None)
}

/// Fails when any of `canaries` is in the output.
pub(crate) fn assert_no_canary(outcome: &Outcome, canaries: &[&str]) {
    for canary in canaries {
        assert!(!outcome.stdout.contains(canary), "{}", outcome.stdout);
        assert!(!outcome.stderr.contains(canary), "{}", outcome.stderr);
    }
}

/// Serves keel (a process, logging at debug) with a store's `vars`; checks that the store's
/// `admin_token` opens `/ops/config`, which names `source` as its provenance, and that no canary is in
/// that page or the logs.
pub(crate) fn served_app_keeps_canaries_out(
    vars: &[(String, String)],
    admin_token: &str,
    source: &str,
    canaries: &[&str],
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let vars: Vec<(&str, &str)> = vars
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .chain([("APP_TELEMETRY__LOG_LEVEL", "debug")])
            .collect();
        let mut keel = KeelProcess::start(&vars).await;
        let response = fresh_client()
            .get(format!("{}/ops/config", keel.address))
            .bearer_auth(admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "the admin token from the store opens /ops"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains(source), "{body}");
        keel.stop_gracefully().await;
        let logs = keel.logs().join("\n");
        for canary in canaries {
            assert!(!body.contains(canary), "{body}");
            assert!(!logs.contains(canary), "{logs}");
        }
    });
}
