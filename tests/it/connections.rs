//! keel's own connection handling as a client sees it on the wire: a keep-alive connection is not held
//! back by Nagle's algorithm.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::KeelProcess;

/// How many requests go over the one connection.
const REQUESTS: usize = 10;

#[tokio::test]
async fn a_static_file_fetched_again_and_again_over_one_connection_never_waits_for_a_delayed_ack() {
    // A file's body is written after its headers; without TCP_NODELAY that second small write waits
    // for the client's delayed ACK, ~40 ms on Linux, on every request after the first few. The bound is
    // half that stall, on the median, so a slow or busy machine does not fail it but the stall does.
    let mut keel = KeelProcess::start(&[]).await;
    let address = keel.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let mut timings = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        stream
            .write_all(b"GET /static/css/app.css HTTP/1.1\r\nHost: keel\r\n\r\n")
            .await
            .unwrap();
        let (head, body) = read_response(&mut stream).await;
        timings.push(started.elapsed());
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            String::from_utf8_lossy(&body).contains('{'),
            "not the stylesheet: {body:?}"
        );
    }
    timings.sort();
    let median = timings[REQUESTS / 2];
    assert!(
        median < Duration::from_millis(20),
        "the median request over one keep-alive connection took {median:?} (all: {timings:?}); \
         ~40 ms each is Nagle's algorithm meeting delayed ACKs: is TCP_NODELAY set on accepted sockets?"
    );
    keel.stop_gracefully().await;
}

/// Reads one response with a `Content-Length` body from `stream`: its head as text, and its body.
async fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let deadline = Duration::from_secs(10);
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let read = tokio::time::timeout(deadline, stream.read(&mut chunk))
            .await
            .expect("no response head within 10 s")
            .unwrap();
        assert_ne!(read, 0, "the connection closed before the response head");
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no Content-Length in {head}"));
    while buffer.len() < head_end + length {
        let read = tokio::time::timeout(deadline, stream.read(&mut chunk))
            .await
            .expect("no response body within 10 s")
            .unwrap();
        assert_ne!(read, 0, "the connection closed inside the response body");
        buffer.extend_from_slice(&chunk[..read]);
    }
    (head, buffer[head_end..head_end + length].to_vec())
}
