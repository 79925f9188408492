//! A real OpenBao dev server (it speaks Vault's HTTP API) on a free loopback port, for the secret-store
//! tests: started from `TEST_BAO` (the `bao` binary `.ci/secrets-setup` installs), set up through its HTTP
//! API with the root token, and stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command};

use serde_json::{Value, json};

use crate::stores;

/// The dev server's root token: only the tests' set-up uses it, never keel.
const ROOT_TOKEN: &str = "keel-tests-root";

/// A running dev server. Its KV version 2 engine is mounted at `secret/`, as in every dev server.
pub(crate) struct Bao {
    child: Child,
    pub(crate) addr: String,
    client: reqwest::blocking::Client,
    /// Its HOME (the dev server writes a token file there) and the tests' credential files.
    pub(crate) folder: tempfile::TempDir,
    /// The generated CA and certificate of a TLS server.
    _certificates: Option<tempfile::TempDir>,
}

/// The `bao` binary from `TEST_BAO`; `None` when it is unset or empty (the tests then do nothing).
pub(crate) fn binary() -> Option<PathBuf> {
    std::env::var_os("TEST_BAO")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

impl Bao {
    /// Starts a dev server and waits (at most 30 s) until it answers. Fails the test when `TEST_BAO` is
    /// set but the server does not come up.
    pub(crate) fn start(binary: &PathBuf) -> Bao {
        let bao = Bao::spawn(binary, &[]);
        bao.wait_until(|bao| {
            let health = bao.client.get(format!("{}/v1/sys/health", bao.addr)).send();
            matches!(&health, Ok(response) if response.status() == 200)
        });
        bao
    }

    /// A dev server that speaks only HTTPS, with a certificate from a CA of its own (which no client
    /// trusts), waited for (at most 30 s) until it accepts connections. Its API is not set up.
    pub(crate) fn start_tls(binary: &PathBuf) -> Bao {
        let certificates = tempfile::tempdir().unwrap();
        let mut bao = Bao::spawn(
            binary,
            &[
                "-dev-tls".to_owned(),
                format!("-dev-tls-cert-dir={}", certificates.path().display()),
            ],
        );
        bao.addr = bao.addr.replace("http://", "https://");
        let address = bao.addr.trim_start_matches("https://").to_owned();
        bao.wait_until(|_| std::net::TcpStream::connect(&address).is_ok());
        bao._certificates = Some(certificates);
        bao
    }

    fn spawn(binary: &PathBuf, extra: &[String]) -> Bao {
        let folder = tempfile::tempdir().unwrap();
        let port = stores::free_port();
        let mut command = Command::new(binary);
        command
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={ROOT_TOKEN}"),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .args(extra);
        let child = stores::spawn_server(command, folder.path(), "bao", "TEST_BAO");
        Bao {
            child,
            addr: format!("http://127.0.0.1:{port}"),
            client: crate::http_client::blocking_client(),
            folder,
            _certificates: None,
        }
    }

    /// Polls `ready` until it holds; fails the test after 30 s, showing the server's log.
    fn wait_until(&self, ready: impl Fn(&Bao) -> bool) {
        stores::wait_for_server(self.folder.path(), "bao", || ready(self));
    }

    /// Calls the API as root; fails the test on any status but 200 and 204.
    pub(crate) fn root(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .client
            .request(method, format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", ROOT_TOKEN)
            .json(&body)
            .send()
            .unwrap();
        let status = response.status();
        let text = response.text().unwrap();
        assert!(
            status == 200 || status == 204,
            "bao answered {status} to {path}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Writes the KV version 2 secret `secret/<path>`.
    pub(crate) fn put_secret(&self, path: &str, data: Value) {
        self.root(
            reqwest::Method::POST,
            &format!("secret/data/{path}"),
            json!({ "data": data }),
        );
    }

    /// Enables AppRole and makes role `keel` whose one policy may read only `secret/data/<readable>`.
    /// Returns (role id, secret id).
    pub(crate) fn approle_reading(&self, readable: &str) -> (String, String) {
        let policy = format!("path \"secret/data/{readable}\" {{ capabilities = [\"read\"] }}");
        self.root(
            reqwest::Method::POST,
            "sys/auth/approle",
            json!({ "type": "approle" }),
        );
        self.root(
            reqwest::Method::PUT,
            "sys/policies/acl/keel-read",
            json!({ "policy": policy }),
        );
        self.root(
            reqwest::Method::POST,
            "auth/approle/role/keel",
            json!({ "token_policies": ["keel-read"], "token_ttl": "5m" }),
        );
        let role = self.root(
            reqwest::Method::GET,
            "auth/approle/role/keel/role-id",
            Value::Null,
        );
        let secret = self.root(
            reqwest::Method::POST,
            "auth/approle/role/keel/secret-id",
            Value::Null,
        );
        let text = |value: &Value| value.as_str().unwrap().to_owned();
        (
            text(&role["data"]["role_id"]),
            text(&secret["data"]["secret_id"]),
        )
    }

    /// The PEM file of the CA that signed a TLS server's certificate.
    pub(crate) fn ca_file(&self) -> PathBuf {
        let certificates = self
            ._certificates
            .as_ref()
            .expect("only a TLS server has a CA");
        certificates.path().join("vault-ca.pem")
    }

    /// Stops the server and waits until it has exited, so its port refuses connections.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}
