//! `keel healthcheck`: asks this instance's `/api/v1/health` whether it is alive, for container health
//! checks (the runtime image has no curl). Exit 0 when it answers 200 in time, 1 otherwise; one line says
//! what happened either way.

use std::time::{Duration, Instant};

use keel_config::ServerSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The liveness route the probe asks.
const HEALTH_PATH: &str = "/api/v1/health";

/// The most of the answer the probe reads: the status line and headers of a small JSON response.
const MAX_RESPONSE_HEAD_BYTES: usize = 8 * 1024;

/// Probes the instance that `server` describes; `Ok` holds the line to print for a healthy answer, `Err`
/// the line that says why it is not healthy.
pub(crate) async fn probe(server: &ServerSettings, timeout: Duration) -> Result<String, String> {
    if server.port == 0 {
        return Err(
            "server.port is 0 (a port picked at start-up), so there is no known port to probe: set server.port"
                .to_owned(),
        );
    }
    let host = local_host(&server.host);
    let url = format!("http://{host}:{}{HEALTH_PATH}", server.port);
    let started = Instant::now();
    let status = tokio::time::timeout(timeout, status_of(&host, server.port))
        .await
        .map_err(|_| format!("{url} did not answer within {} s", timeout.as_secs()))?
        .map_err(|reason| format!("{url}: {reason}"))?;
    let took_ms = started.elapsed().as_millis();
    match status {
        200 => Ok(format!("healthy: {url} answered 200 in {took_ms} ms")),
        other => Err(format!("{url} answered {other}, not 200")),
    }
}

/// The address to reach a server listening on `host` from the same machine: a wildcard address means
/// "every interface", so the loopback one of the same family is used.
fn local_host(host: &str) -> String {
    match host.trim_matches(['[', ']']) {
        "0.0.0.0" | "" => "127.0.0.1".to_owned(),
        "::" => "[::1]".to_owned(),
        other if other.contains(':') => format!("[{other}]"),
        other => other.to_owned(),
    }
}

/// Sends one HTTP/1.1 GET and returns the response's status code.
async fn status_of(host: &str, port: u16) -> Result<u16, String> {
    let mut stream = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|error| format!("cannot connect ({error})"))?;
    let request = format!(
        "GET {HEALTH_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: keel-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|error| format!("cannot send the request ({error})"))?;
    let mut head = Vec::new();
    let mut chunk = [0_u8; 1024];
    while !head.windows(2).any(|pair| pair == b"\r\n") && head.len() < MAX_RESPONSE_HEAD_BYTES {
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|error| format!("cannot read the answer ({error})"))?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    parse_status(&head).ok_or_else(|| "the answer is not an HTTP response".to_owned())
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&byte| byte == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    let code = parts.next()?;
    (version.starts_with("HTTP/1.") && code.len() == 3)
        .then(|| code.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_parsed_and_anything_else_is_not() {
        let cases: [(&[u8], Option<u16>); 6] = [
            (b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n", Some(200)),
            (b"HTTP/1.0 503 Service Unavailable\r\n", Some(503)),
            (b"HTTP/1.1 200\r\n", Some(200)),
            (b"SSH-2.0-OpenSSH_9.2\r\n", None),
            (b"HTTP/1.1 2000 OK\r\n", None),
            (b"", None),
        ];
        for (head, expected) in cases {
            assert_eq!(
                parse_status(head),
                expected,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn wildcard_hosts_are_probed_on_loopback() {
        let cases = [
            ("0.0.0.0", "127.0.0.1"),
            ("::", "[::1]"),
            ("[::]", "[::1]"),
            ("127.0.0.1", "127.0.0.1"),
            ("::1", "[::1]"),
            ("localhost", "localhost"),
        ];
        for (host, expected) in cases {
            assert_eq!(local_host(host), expected, "{host}");
        }
    }
}
