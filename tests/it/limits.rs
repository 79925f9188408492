//! keel as a real process under a low open-file limit (set with `prlimit` from util-linux): the accept
//! loop backs off instead of spinning, logs the condition once with a count, keeps serving the open
//! connections and recovers by itself; the soft limit is raised to the hard one at start-up.

use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::helpers::status_line_after;
use crate::process::{KeelProcess, fresh_client};

/// A limit low enough to exhaust with a few dozen sockets; keel itself needs about twenty descriptors.
const OPEN_FILES: usize = 64;

/// Sends `GET /ping` on `stream`, kept alive, and returns the status line of the answer.
async fn ping_on(stream: &mut TcpStream) -> String {
    status_line_after(stream, b"GET /ping HTTP/1.1\r\nHost: keel\r\n\r\n").await
}

#[tokio::test]
async fn out_of_file_descriptors_keel_backs_off_logs_once_keeps_serving_and_recovers() {
    let limit = format!("--nofile={OPEN_FILES}:{OPEN_FILES}");
    // Idle connections must stay open until the test closes them.
    let keel = KeelProcess::start_through(
        &["prlimit", &limit, "--"],
        0,
        &[("APP_SERVER__HEADER_READ_TIMEOUT_SECS", "300")],
    )
    .await;
    let address = keel.address.trim_start_matches("http://").to_owned();
    let mut kept = TcpStream::connect(&address).await.unwrap();
    assert_eq!(ping_on(&mut kept).await, "HTTP/1.1 200 OK");

    // More idle clients than keel has descriptors: the kernel completes their handshakes (the listen
    // backlog is far larger), and keel's accept fails for the ones beyond its limit.
    let mut idle = Vec::new();
    for _ in 0..OPEN_FILES + 20 {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    keel.wait_for_log("cannot accept", Duration::from_secs(10))
        .await;

    // The connection keel already has is still served.
    assert_eq!(ping_on(&mut kept).await, "HTTP/1.1 200 OK");

    // Once descriptors free up, keel accepts new clients by itself.
    drop(idle);
    let client = fresh_client();
    let started = Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    loop {
        poll.tick().await;
        let answer = client.get(format!("{}/ping", keel.address)).send().await;
        if answer.is_ok_and(|response| response.status() == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "keel did not serve new clients again; logs:\n{}",
            keel.logs().join("\n")
        );
    }
    let complaints = keel
        .logs()
        .iter()
        .filter(|line| line.contains("cannot accept"))
        .count();
    assert!(
        (1..=3).contains(&complaints),
        "{complaints} lines about failed accepts (the first: {:?})",
        keel.logs()
            .iter()
            .find(|line| line.contains("cannot accept"))
    );
    let recovered = keel
        .wait_for_log("accepting connections again", Duration::from_secs(10))
        .await;
    let recovered: Value = serde_json::from_str(&recovered).unwrap();
    // Backing off, keel tried about once a second while it was out of descriptors; spinning, it would
    // have failed tens of thousands of times.
    let failures = recovered["failures"].as_u64().unwrap();
    assert!((1..=30).contains(&failures), "{recovered}");
}

#[tokio::test]
async fn the_soft_open_file_limit_is_raised_to_the_hard_limit_and_logged_once() {
    let mut keel = KeelProcess::start_through(&["prlimit", "--nofile=150:300", "--"], 0, &[]).await;
    let line = keel
        .wait_for_log("open file limit", Duration::from_secs(5))
        .await;
    let logged: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (
            &logged["open_files_limit"],
            &logged["hard_limit"],
            &logged["raised_from"]
        ),
        (
            &Value::from("300"),
            &Value::from("300"),
            &Value::from("150")
        ),
        "{line}"
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", keel.id())).unwrap();
    let open_files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>()[3..5],
        ["300", "300"],
        "{open_files}"
    );
    assert_eq!(
        keel.logs()
            .iter()
            .filter(|line| line.contains("open file limit"))
            .count(),
        1
    );
    keel.stop_gracefully().await;
}
