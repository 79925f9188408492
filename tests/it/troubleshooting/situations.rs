//! The situations docs/troubleshooting.md describes, each run for real: keel started into it, and what
//! keel printed returned for the page's message to be checked against.

use std::process::Command;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::Value;

use crate::helpers::{Backend, run_keel, spawn_app};
use crate::process::KeelProcess;

/// An address where nothing listens: a port that was free a moment ago.
pub(super) fn closed_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

pub(super) fn port_in_use() -> String {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let set_port = format!("server.port={port}");
    run_keel(&["--set", &set_port, "serve"], &[], None).stderr
}

/// `keel flags set` while another connection holds SQLite's write lock.
pub(super) fn database_locked() -> String {
    let folder = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        folder.path().join("keel.sqlite3").display()
    );
    let set_url = format!("database.url={url}");
    let migrated = run_keel(&["--set", &set_url, "migrate", "up"], &[], None);
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (connection, writer) = runtime.block_on(async {
        let connection = Database::connect(url.as_str()).await.unwrap();
        let writer = connection.begin().await.unwrap();
        // A write takes the lock, which the open transaction keeps.
        writer
            .execute_unprepared("CREATE TABLE lock_holder (id INTEGER)")
            .await
            .unwrap();
        (connection, writer)
    });
    let outcome = run_keel(
        &["--set", &set_url, "flags", "set", "signup_v2", "on"],
        &[],
        None,
    );
    runtime.block_on(async {
        writer.rollback().await.unwrap();
        connection.close().await.unwrap();
    });
    outcome.stderr
}

pub(super) fn missing_static_file() -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let app = spawn_app(Backend::Sqlite).await;
        let response = app.get("/static/css/no-such-file.css").await;
        assert_eq!(response.status(), 404);
        response.text().await.unwrap()
    })
}

/// The messages of a keel exporting to a closed port (JSON lines: the `message` fields, one per line).
pub(super) fn collector_down_messages() -> String {
    let endpoint = format!("http://{}", closed_address());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut keel =
            KeelProcess::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())]).await;
        keel.stop_gracefully().await;
        keel.logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|parsed| parsed["message"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// The real binary (the metrics listener is not started in-process) with its metrics port taken.
pub(super) fn metrics_port_in_use() -> String {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let folder = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keel-test-binary"))
        .arg(format!("--instance-dir={}", folder.path().display()))
        .arg(format!(
            "--set=static_files.dir={}",
            crate::helpers::static_dir().display()
        ))
        .args(["--set=server.port=0", "serve"])
        .env_clear()
        .env("APP_ENV", "testing")
        .env("APP_SECRETS_DIR", folder.path().join("secrets"))
        .env("APP_SERVER__METRICS_PORT", &port)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(super) fn redis_unavailable_log() -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let redis_url = format!("redis://{}", closed_address());
        let keel = KeelProcess::start(&[("REDIS_URL", redis_url.as_str())]).await;
        let line = keel.wait_for_log("Redis", Duration::from_secs(10)).await;
        let logged: Value = serde_json::from_str(&line).unwrap();
        logged["message"].as_str().unwrap().to_owned()
    })
}
