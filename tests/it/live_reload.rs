//! `just dev`'s live reload, from keel's side: a listening socket passed in `LISTEN_FDS` (as systemfd
//! passes it) is served, and because the socket outlives each keel process, a request sent while keel
//! restarts waits in the socket's backlog and is answered by the next process instead of failing.

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::{KeelProcess, fresh_client};

/// Starts keel with `socket` passed as an inherited listening socket (`LISTEN_FDS`, as systemfd and
/// systemd pass it), on standard input so that no descriptor juggling is needed; `port` is what keel
/// would bind without it.
async fn start_inheriting(socket: std::net::TcpListener, port: u16) -> KeelProcess {
    let passing = [("LISTEN_FDS", "1"), ("LISTEN_FDS_FIRST_FD", "0")];
    let stdin = Stdio::from(std::os::fd::OwnedFd::from(socket));
    KeelProcess::spawn(&[], port, &passing, stdin).await
}

/// A port keel would bind without the inherited socket. It is held, so binding it would fail: a
/// served request proves the inherited socket was used.
fn taken_port() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

#[tokio::test]
async fn an_inherited_socket_is_served_and_holds_a_request_while_keel_restarts() {
    // Arrange: the socket systemfd would hold for the whole session.
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    let taken = taken_port();
    let port = taken.local_addr().unwrap().port();

    // Act and assert: the first process serves on the inherited socket.
    let mut first = start_inheriting(socket.try_clone().unwrap(), port).await;
    assert_eq!(first.address, format!("http://{address}"));
    first
        .wait_for_log("inherited (LISTEN_FDS)", Duration::from_secs(5))
        .await;
    let response = fresh_client()
        .get(format!("{}/ping", first.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    first.stop_gracefully().await;

    // Between two processes: the connection is accepted by the kernel and the request waits.
    let mut waiting = tokio::net::TcpStream::connect(address).await.unwrap();
    waiting
        .write_all(b"GET /ping HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut second = start_inheriting(socket.try_clone().unwrap(), port).await;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), waiting.read_to_string(&mut answer))
        .await
        .expect("the waiting request was not answered within 30 s")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("{\"pong\":true}"), "{answer}");
    second.stop_gracefully().await;
}

/// Runs `keel serve` with a regular file passed as its `LISTEN_FDS` descriptor: its exit code and
/// standard error.
pub(crate) fn serve_with_a_file_passed_as_socket() -> (Option<i32>, String) {
    let file = tempfile::tempfile().unwrap();
    let instance = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keel-test-binary"))
        .arg(format!("--instance-dir={}", instance.path().display()))
        .arg("serve")
        .env_clear()
        .env("APP_ENV", "testing")
        .env("APP_SECRETS_DIR", instance.path().join("secrets"))
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDS_FIRST_FD", "0")
        .stdin(Stdio::from(file))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn a_passed_descriptor_that_is_not_a_socket_is_a_clear_error() {
    let (code, stderr) = serve_with_a_file_passed_as_socket();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "keel: LISTEN_FDS passes a descriptor that is not a TCP socket; pass a TCP listener (systemfd -s http::PORT), or unset LISTEN_FDS so keel binds server.host and server.port: fd 0 is not a socket"
        ),
        "{stderr}"
    );
}
