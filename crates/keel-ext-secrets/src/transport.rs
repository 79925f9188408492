//! One HTTP/1.1 exchange with a store's server: a fresh connection (TLS for `https`, with rustls on the
//! ring provider and the webpki roots, plus a private CA when one is given), one request, the whole answer, each call bounded by a timeout
//! and tried once more when it failed in a way that trying again may fix.
//!
//! A store is read a few times per start, so a pooled client buys nothing; hyper's connection half
//! keeps the TLS stack the one the workspace already builds for sqlx (see docs/secrets.md for the
//! build-cost argument against a Vault client crate).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::error::Error;

/// A request to send: method, path below the server's address, headers and an optional JSON body.
pub(crate) struct Call<'a> {
    /// What the call does, for messages: `login`, `read`.
    pub(crate) name: &'static str,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: Vec<(&'static str, &'a str)>,
    pub(crate) body: Option<Vec<u8>>,
}

/// A server to call: its address and the TLS configuration that verifies it.
pub(crate) struct Server<'a> {
    addr: &'a str,
    tls: Arc<ClientConfig>,
}

impl<'a> Server<'a> {
    /// `addr`, verified against the webpki roots plus, when `cacert` names a PEM file, the CA
    /// certificates in it (a private CA, `VAULT_CACERT`).
    pub(crate) fn new(addr: &'a str, cacert: Option<&str>) -> Result<Server<'a>, Error> {
        let tls = match cacert {
            None => public_roots_config()?,
            Some(path) => with_private_ca(path)?,
        };
        Ok(Server { addr, tls })
    }
}

/// Sends `call` to `server`; a transient failure is tried once more. Each try is bounded by `timeout`.
pub(crate) async fn send(
    server: &Server<'_>,
    call: &Call<'_>,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), Error> {
    match attempt(server, call, timeout).await {
        Err(error) if error.is_transient() => attempt(server, call, timeout).await,
        answer => answer,
    }
}

/// The scheme, host and port of `addr`, safe to print (no user, password, path or query).
pub(crate) fn shown_origin(addr: &str) -> String {
    match url::Url::parse(addr) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            url.origin().ascii_serialization()
        }
        _ => "an address that is not an http(s) URL".to_owned(),
    }
}

async fn attempt(
    server: &Server<'_>,
    call: &Call<'_>,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), Error> {
    let answer = tokio::time::timeout(timeout, exchange(server, call)).await;
    match answer {
        Ok(Ok((status, _))) if status.is_server_error() => Err(Error::Status {
            call: call.name,
            status: status.as_u16(),
        }),
        Ok(answer) => answer,
        Err(_elapsed) => Err(Error::TimedOut {
            secs: timeout.as_secs(),
        }),
    }
}

async fn exchange(server: &Server<'_>, call: &Call<'_>) -> Result<(StatusCode, Bytes), Error> {
    let unreachable = |cause: String| Error::Unreachable { cause };
    // The settings loader checked that the address is an http(s) URL with a host.
    let url = url::Url::parse(server.addr).map_err(|error| unreachable(error.to_string()))?;
    let host = url
        .host_str()
        .ok_or_else(|| unreachable("the address has no host".to_owned()))?
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| unreachable("the address has no port".to_owned()))?;
    let base = url.path().trim_end_matches('/');
    let request = build_request(call, &format!("{base}{}", call.path), &host, port)?;
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|error| unreachable(error.to_string()))?;
    if url.scheme() == "https" {
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|error| unreachable(format!("{host} is not a TLS server name ({error})")))?;
        let tls = TlsConnector::from(Arc::clone(&server.tls))
            .connect(name, tcp)
            .await
            .map_err(|error| unreachable(format!("TLS: {error}")))?;
        over(tls, request).await
    } else {
        over(tcp, request).await
    }
}

fn build_request(
    call: &Call<'_>,
    path: &str,
    host: &str,
    port: u16,
) -> Result<Request<Full<Bytes>>, Error> {
    let mut builder = Request::builder()
        .method(call.method.clone())
        .uri(path)
        .header(http::header::HOST, format!("{host}:{port}"));
    for (name, value) in &call.headers {
        builder = builder.header(*name, *value);
    }
    if call.body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    let body = Full::new(Bytes::from(call.body.clone().unwrap_or_default()));
    // A header value with a control character (a token pasted with a newline) lands here; the
    // message names the call, not the value.
    builder
        .body(body)
        .map_err(|_| Error::InvalidHeader { call: call.name })
}

async fn over<S>(stream: S, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let unreachable = |error: hyper::Error| Error::Unreachable {
        cause: error.to_string(),
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(unreachable)?;
    // The connection runs until the answer is read and the sender dropped.
    tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(unreachable)?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(unreachable)?
        .to_bytes();
    Ok((status, body))
}

/// rustls on the ring provider, trusting the webpki roots, built once.
fn public_roots_config() -> Result<Arc<ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| config_trusting(webpki_roots()).map_err(|error| error.to_string()))
        .clone()
        .map_err(|cause| Error::Unreachable {
            cause: format!("TLS set-up: {cause}"),
        })
}

/// [`public_roots_config`] plus the CA certificates of the PEM file at `path`.
fn with_private_ca(path: &str) -> Result<Arc<ClientConfig>, Error> {
    let unusable = |cause: String| Error::CaCertificate {
        path: path.to_owned(),
        cause,
    };
    let pem = std::fs::read(path).map_err(|error| unusable(error.to_string()))?;
    let mut roots = webpki_roots();
    let mut added = 0;
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|error| unusable(format!("not PEM ({error})")))?;
        roots
            .add(certificate)
            .map_err(|error| unusable(format!("not a CA certificate ({error})")))?;
        added += 1;
    }
    if added == 0 {
        return Err(unusable("it holds no CERTIFICATE block".to_owned()));
    }
    config_trusting(roots).map_err(|error| unusable(error.to_string()))
}

fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

fn config_trusting(roots: RootCertStore) -> Result<Arc<ClientConfig>, rustls::Error> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_origin_drops_credentials_paths_and_queries() {
        let cases = [
            (
                "https://user:pass@vault.internal:8200/ui?token=x",
                "https://vault.internal:8200",
            ),
            ("http://127.0.0.1:8200", "http://127.0.0.1:8200"),
            ("https://vault.internal", "https://vault.internal"),
            (
                "vault.internal:8200",
                "an address that is not an http(s) URL",
            ),
        ];
        for (addr, shown) in cases {
            assert_eq!(shown_origin(addr), shown, "{addr}");
        }
    }

    #[test]
    fn only_failures_that_waiting_may_fix_are_tried_again() {
        let call = "the secret's read";
        let transient = [
            Error::Unreachable {
                cause: "refused".to_owned(),
            },
            Error::TimedOut { secs: 5 },
            Error::Status { call, status: 503 },
        ];
        let permanent = [
            Error::NoCredentials,
            Error::LoginRefused { status: 400 },
            Error::Denied {
                policy_path: "secret/data/keel/production".to_owned(),
            },
            Error::Missing {
                mount: "secret".to_owned(),
                path: "keel/production".to_owned(),
            },
            Error::Status { call, status: 429 },
            Error::Deadline { secs: 20 },
        ];
        assert!(transient.iter().all(Error::is_transient));
        assert!(!permanent.iter().any(Error::is_transient));
    }

    #[test]
    fn a_header_value_with_a_newline_is_refused_without_showing_it() {
        let call = Call {
            name: "the secret's read",
            method: Method::GET,
            path: "/v1/secret/data/keel/testing".to_owned(),
            headers: vec![("x-vault-token", "a-token\nwith-a-newline-canary")],
            body: None,
        };
        let error = build_request(&call, &call.path, "127.0.0.1", 8200)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(
            error.starts_with("the secret's read cannot be sent: a value keel was given"),
            "{error}"
        );
        assert!(!error.contains("canary"), "{error}");
    }
}
