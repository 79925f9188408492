//! A small HTTP/1.1 client for the fault runs: keep-alive connections, a deadline per request, and an
//! outcome for every request (a status, a timeout or a failure), so a run can say what each client saw
//! second by second, which `wrk`'s totals cannot.
//!
//! It reads `Content-Length` and chunked bodies; it is not a general client (no TLS, no redirects).

use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What one request ended with, as a client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Outcome {
    /// An answer with this status.
    Status(u16),
    /// No complete answer within the deadline.
    TimedOut,
    /// The connection could not be opened (nothing listens: expected once a server has closed its
    /// listener).
    Refused,
    /// The connection was open and the request sent, then closed or reset before a complete answer.
    Cut,
    /// An answer that is not HTTP.
    Failed,
}

impl Outcome {
    /// `200`, `503`, `timeout`, `failed`: how reports name it.
    pub(crate) fn label(self) -> String {
        match self {
            Outcome::Status(status) => status.to_string(),
            Outcome::TimedOut => "timeout".to_owned(),
            Outcome::Refused => "refused".to_owned(),
            Outcome::Cut => "cut".to_owned(),
            Outcome::Failed => "failed".to_owned(),
        }
    }
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a request got no answer (any [`Outcome`] but a status), and the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoAnswer {
    pub(crate) outcome: Outcome,
    pub(crate) cause: String,
}

/// One keep-alive connection to 127.0.0.1:`port`, reopened when the server closes it.
pub(crate) struct Client {
    port: u16,
    deadline: Duration,
    connection: Option<BufReader<TcpStream>>,
}

impl Client {
    /// A client whose requests each end within `deadline` (a longer one counts as timed out).
    pub(crate) fn new(port: u16, deadline: Duration) -> Client {
        Client {
            port,
            deadline,
            connection: None,
        }
    }

    /// `GET path`.
    pub(crate) fn get(&mut self, path: &str) -> Result<Answer, NoAnswer> {
        self.send("GET", path, &[], b"")
    }

    /// `method path` with `headers` and `body` (a `Content-Length` is added). A kept-alive connection
    /// that the server closed before answering a byte is reopened once, as browsers and load balancers
    /// do (a server may close an idle connection just as a request is sent on it).
    pub(crate) fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer, NoAnswer> {
        let started = Instant::now();
        let reused = self.connection.is_some();
        let mut result = self.attempt(method, path, headers, body, started);
        if reused && matches!(&result, Err(Attempt::Closed(_))) {
            self.connection = None;
            result = self.attempt(method, path, headers, body, started);
        }
        let failed = |outcome, cause: String| NoAnswer { outcome, cause };
        match result {
            Ok((answer, keep)) => {
                if !keep {
                    self.connection = None;
                }
                if started.elapsed() > self.deadline {
                    return Err(failed(
                        Outcome::TimedOut,
                        format!("answered {} after the deadline", answer.status),
                    ));
                }
                Ok(answer)
            }
            Err(attempt) => {
                self.connection = None;
                Err(match attempt {
                    Attempt::TimedOut(cause) => failed(Outcome::TimedOut, cause),
                    Attempt::Refused(cause) => failed(Outcome::Refused, cause),
                    Attempt::Closed(cause) | Attempt::Cut(cause) => failed(Outcome::Cut, cause),
                    Attempt::Failed(cause) => failed(Outcome::Failed, cause),
                })
            }
        }
    }

    fn attempt(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        started: Instant,
    ) -> Result<(Answer, bool), Attempt> {
        let remaining = self
            .deadline
            .checked_sub(started.elapsed())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| Attempt::TimedOut("no time left to retry".to_owned()))?;
        if self.connection.is_none() {
            let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
            let stream =
                TcpStream::connect_timeout(&address, remaining).map_err(
                    |error| match Attempt::io(error) {
                        timed_out @ Attempt::TimedOut(_) => timed_out,
                        other => Attempt::Refused(other.to_string()),
                    },
                )?;
            stream.set_nodelay(true).map_err(Attempt::io)?;
            self.connection = Some(BufReader::new(stream));
        }
        let reader = self.connection.as_mut().ok_or_else(|| {
            Attempt::Failed("the connection vanished while it was opened".to_owned())
        })?;
        reader
            .get_ref()
            .set_read_timeout(Some(remaining))
            .map_err(Attempt::io)?;
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        reader.get_mut().write_all(&bytes).map_err(Attempt::io)?;
        read_response(reader)
    }
}

/// Why one attempt failed; `Closed` (nothing read before the server closed) may be retried, `Cut`
/// (closed in the middle of an answer) may not.
#[derive(Debug)]
enum Attempt {
    TimedOut(String),
    Refused(String),
    Closed(String),
    Cut(String),
    Failed(String),
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (Attempt::TimedOut(cause)
        | Attempt::Refused(cause)
        | Attempt::Closed(cause)
        | Attempt::Cut(cause)
        | Attempt::Failed(cause)) = self;
        formatter.write_str(cause)
    }
}

impl Attempt {
    /// Once part of an answer was read, a closed connection cut it.
    fn midway(self) -> Attempt {
        match self {
            Attempt::Closed(cause) => Attempt::Cut(cause),
            other => other,
        }
    }

    fn io(error: std::io::Error) -> Attempt {
        match error.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                Attempt::TimedOut(error.to_string())
            }
            std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::UnexpectedEof => Attempt::Closed(error.to_string()),
            _ => Attempt::Failed(error.to_string()),
        }
    }
}

/// Reads one response: the answer, and whether the connection may carry another request.
fn read_response(reader: &mut impl BufRead) -> Result<(Answer, bool), Attempt> {
    let mut line = String::new();
    if reader.read_line(&mut line).map_err(Attempt::io)? == 0 {
        return Err(Attempt::Closed(
            "the server closed the connection before answering".to_owned(),
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| Attempt::Failed(format!("no status in {:?}", line.trim_end())))?;
    read_rest(reader, status).map_err(Attempt::midway)
}

/// The rest of a response after its status line.
fn read_rest(reader: &mut impl BufRead, status: u16) -> Result<(Answer, bool), Attempt> {
    let mut line = String::new();
    let (mut length, mut chunked, mut keep) = (None, false, true);
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(Attempt::io)? == 0 {
            return Err(Attempt::Cut("the response head was cut".to_owned()));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| {
                Attempt::Failed(format!("a Content-Length that is no number: {value:?}"))
            })?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep = !value.eq_ignore_ascii_case("close");
        }
    }
    let body = if chunked {
        read_chunks(reader)?
    } else if let Some(length) = length {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(Attempt::io)?;
        body
    } else {
        // Neither length nor chunks: the body runs to the end of the connection.
        keep = false;
        let mut body = Vec::new();
        reader.read_to_end(&mut body).map_err(Attempt::io)?;
        body
    };
    Ok((Answer { status, body }, keep))
}

/// A chunked body (trailers, if any, are skipped).
fn read_chunks(reader: &mut impl BufRead) -> Result<Vec<u8>, Attempt> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(Attempt::io)? == 0 {
            return Err(Attempt::Cut("a chunked body was cut".to_owned()));
        }
        let size_text = line.trim_end().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text.trim(), 16)
            .map_err(|_| Attempt::Failed(format!("a chunk size that is no number: {line:?}")))?;
        if size == 0 {
            loop {
                line.clear();
                if reader.read_line(&mut line).map_err(Attempt::io)? == 0
                    || line.trim_end().is_empty()
                {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).map_err(Attempt::io)?;
        line.clear();
        reader.read_line(&mut line).map_err(Attempt::io)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(Answer, bool), Attempt> {
        read_response(&mut text.as_bytes())
    }

    #[test]
    fn a_response_is_read_by_length_by_chunks_or_to_the_end() {
        let (answer, keep) =
            read("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!(
            (answer.status, answer.text(), keep),
            (503, "{}".to_owned(), true)
        );
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let (answer, keep) = read(chunked).unwrap();
        assert_eq!((answer.text(), keep), ("abcde".to_owned(), true));
        let (answer, keep) = read("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it").unwrap();
        assert_eq!((answer.text(), keep), ("all of it".to_owned(), false));
    }

    #[test]
    fn a_closed_or_cut_response_is_told_apart() {
        // Closed before a byte: the one case a client may retry on a fresh connection.
        assert!(matches!(read(""), Err(Attempt::Closed(_))));
        assert!(matches!(
            read("HTTP/1.1 200 OK\r\nA: b"),
            Err(Attempt::Cut(_))
        ));
        assert!(matches!(read("garbage\r\n\r\n"), Err(Attempt::Failed(_))));
        assert!(matches!(
            read("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"),
            Err(Attempt::Cut(_))
        ));
        assert!(matches!(
            read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
            Err(Attempt::Cut(_))
        ));
    }

    #[test]
    fn a_refused_connection_is_a_failure_and_a_silent_server_a_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = Client::new(port, Duration::from_millis(200));
        // The listener accepts (the backlog does) but never answers.
        let error = client.get("/").unwrap_err();
        assert_eq!(error.outcome, Outcome::TimedOut, "{error:?}");
        drop(listener);
        let error = client.get("/").unwrap_err();
        assert_eq!(error.outcome, Outcome::Refused, "{error:?}");
    }
}
