//! `keel healthcheck`: asks this instance's `/api/v1/health` whether it is alive, for container health
//! checks (the runtime image has no curl). Exit 0 when it answers 200 in time, 1 otherwise; one line says
//! what happened either way.

use std::time::{Duration, Instant};

use keel_config::ServerSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The liveness route the probe asks.
const HEALTH_PATH: &str = "/api/v1/health";

/// The most of the answer the probe reads: keel's liveness answer is a few hundred bytes.
const MAX_RESPONSE_BYTES: usize = 8 * 1024;

/// What keel's liveness body says, so a stranger answering 200 on the port does not count as healthy.
const HEALTHY_BODY: &str = r#""status":"ok""#;

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
    let answer = tokio::time::timeout(timeout, fetch(&host, server.port))
        .await
        .map_err(|_| format!("{url} did not answer within {} s", timeout.as_secs()))?
        .map_err(|reason| format!("{url}: {reason}"))?;
    let took_ms = started.elapsed().as_millis();
    let (status, body) = parse_answer(&answer)
        .ok_or_else(|| format!("{url}: the answer is not an HTTP response"))?;
    match status {
        200 if body.contains(HEALTHY_BODY) => {
            Ok(format!("healthy: {url} answered 200 in {took_ms} ms"))
        }
        200 => Err(format!(
            "{url} answered 200, but not with keel's liveness report: is another program on this port?"
        )),
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

/// Sends one HTTP/1.1 GET (asking the server to close the connection after it) and returns the whole
/// answer, at most [`MAX_RESPONSE_BYTES`] of it.
async fn fetch(host: &str, port: u16) -> Result<Vec<u8>, String> {
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
    let mut answer = Vec::new();
    (&mut stream)
        .take(MAX_RESPONSE_BYTES as u64 + 1)
        .read_to_end(&mut answer)
        .await
        .map_err(|error| format!("cannot read the answer ({error})"))?;
    if answer.len() > MAX_RESPONSE_BYTES {
        return Err(format!(
            "the answer is longer than {MAX_RESPONSE_BYTES} bytes, which keel's never is"
        ));
    }
    Ok(answer)
}

/// The status code and the body of an HTTP/1.0 or HTTP/1.1 answer whose status line and headers are
/// complete and printable; `None` for anything else.
fn parse_answer(answer: &[u8]) -> Option<(u16, String)> {
    let end_of_head = answer.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..end_of_head]).ok()?;
    if !head
        .chars()
        .all(|c| c == '\r' || c == '\n' || c == '\t' || (' '..='~').contains(&c))
    {
        return None;
    }
    let status_line = head.split("\r\n").next()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1")
        || code.len() != 3
        || !code.bytes().all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    let body = String::from_utf8_lossy(&answer[end_of_head + 4..]).into_owned();
    Some((code.parse().ok()?, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_and_anything_else_is_not() {
        let ok = Some((200, r#"{"status":"ok"}"#.to_owned()));
        // (the answer, its status and body when it is one keel's probe accepts as HTTP)
        type Case = (&'static [u8], Option<(u16, String)>);
        let cases: [Case; 9] = [
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}",
                ok.clone(),
            ),
            (b"HTTP/1.0 200 OK\r\n\r\n{\"status\":\"ok\"}", ok),
            (
                b"HTTP/1.0 503 Service Unavailable\r\n\r\n",
                Some((503, String::new())),
            ),
            (b"SSH-2.0-OpenSSH_9.2\r\n", None),
            (b"HTTP/1.1 2000 OK\r\n\r\n", None),
            (b"HTTP/1.9 200 OK\r\n\r\n", None),
            (b"HTTP/1.1 200 O\x00K\r\n\r\n", None),
            (b"HTTP/1.1 200 \x1b[31mOK\r\n\r\n", None),
            // The head never ends.
            (b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n", None),
        ];
        for (answer, expected) in cases {
            assert_eq!(
                parse_answer(answer),
                expected,
                "{:?}",
                String::from_utf8_lossy(answer)
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
