//! Shutdown as a proxy in front sees it: no connection closed under a client that may be writing to it,
//! and exit 75 only when requests were really cut.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::KeelProcess;

#[tokio::test]
async fn after_the_listener_closes_an_open_connection_still_gets_its_answer_then_closes() {
    let mut keel = KeelProcess::start(&[("APP_SERVER__DRAIN_DELAY_SECS", "1")]).await;
    // One keep-alive connection, as a proxy holds them.
    let client = crate::http_client::client_builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let ping = || client.get(format!("{}/ping", keel.address)).send();
    let before = ping().await.unwrap();
    assert_eq!(before.headers().get("connection"), None);

    keel.signal("TERM");
    keel.wait_for_log("shutting down", Duration::from_secs(10))
        .await;
    // Draining: served as usual, the connection kept alive.
    let during = ping().await.unwrap();
    assert_eq!(during.status(), 200);
    assert_eq!(during.headers().get("connection"), None);

    // The listener is closed, but the idle connection was left open: a request written into it (as a
    // proxy might at that very moment) is answered, and the answer closes it.
    keel.wait_for_log("listener closed", Duration::from_secs(10))
        .await;
    let after = ping().await.unwrap();
    assert_eq!(after.status(), 200);
    assert_eq!(after.headers()["connection"], "close");
    // Nothing was in flight when the process stopped, so nothing was cut.
    let status = keel.exit_status(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(0), "{}", keel.logs().join("\n"));
}

#[tokio::test]
async fn connections_without_a_request_in_flight_at_the_deadline_cut_nothing() {
    // With a drain delay keel leaves idle connections to close themselves, so the deadline passes with
    // one still open; without one it closes them, and a client stuck in its headers outlives the deadline.
    for drain_delay in ["1", "0"] {
        let mut keel = KeelProcess::start(&[
            ("APP_SERVER__DRAIN_DELAY_SECS", drain_delay),
            ("APP_SERVER__GRACEFUL_SHUTDOWN_TIMEOUT_SECS", "1"),
        ])
        .await;
        let address = keel.address.trim_start_matches("http://").to_owned();
        let mut idle = tokio::net::TcpStream::connect(&address).await.unwrap();
        idle.write_all(b"GET /ping HTTP/1.1\r\nHost: keel\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0_u8; 512];
        let read = idle.read(&mut answer).await.unwrap();
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
        let mut half_sent = tokio::net::TcpStream::connect(&address).await.unwrap();
        half_sent
            .write_all(b"GET /ping HTTP/1.1\r\nHost: keel\r\n")
            .await
            .unwrap();

        keel.signal("TERM");
        let status = keel.exit_status(Duration::from_secs(20)).await;
        assert_eq!(
            status.code(),
            Some(0),
            "drain {drain_delay}: logs:\n{}",
            keel.logs().join("\n")
        );
    }
}
