//! A real moto server (a local stand-in for AWS's APIs) on a free loopback port, for the SSM tests:
//! started from `TEST_MOTO` (the `moto_server` `.ci/secrets-setup` installs), set up through its SSM and
//! IAM APIs, and stopped when dropped.
//!
//! moto checks no signature unless told to, so the set-up sends plain requests whose `Authorization`
//! header only names the service and the region (moto routes by it). A server started with
//! [`Moto::start_enforcing_iam`] answers those set-up calls without checking, then checks every later
//! request against the IAM users and policies the set-up made, as AWS would (moto's
//! `INITIAL_NO_AUTH_ACTION_COUNT`).

use std::path::PathBuf;
use std::process::{Child, Command};

use crate::stores;

/// The region every test uses; moto accepts any.
pub(crate) const REGION: &str = "us-east-1";

/// A running moto server.
pub(crate) struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`, what keel gets as `AWS_ENDPOINT_URL_SSM`.
    pub(crate) endpoint: String,
    client: reqwest::blocking::Client,
    /// Holds the server's log.
    pub(crate) folder: tempfile::TempDir,
}

/// The `moto_server` binary from `TEST_MOTO`; `None` when it is unset or empty (the tests then do
/// nothing).
pub(crate) fn binary() -> Option<PathBuf> {
    std::env::var_os("TEST_MOTO")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

impl Moto {
    /// Starts a server that checks no credentials, and waits (at most 30 s) until it answers. Fails
    /// the test when `TEST_MOTO` is set but the server does not come up.
    pub(crate) fn start(binary: &PathBuf) -> Moto {
        Moto::spawn(binary, None)
    }

    /// Starts a server that answers the first `set_up_calls` API calls unchecked and checks every
    /// later one against IAM.
    pub(crate) fn start_enforcing_iam(binary: &PathBuf, set_up_calls: u32) -> Moto {
        Moto::spawn(binary, Some(set_up_calls))
    }

    fn spawn(binary: &PathBuf, set_up_calls: Option<u32>) -> Moto {
        let folder = tempfile::tempdir().unwrap();
        let port = stores::free_port();
        let mut command = Command::new(binary);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(count) = set_up_calls {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", count.to_string());
        }
        let child = stores::spawn_server(command, folder.path(), "moto", "TEST_MOTO");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            client: crate::http_client::blocking_client(),
            folder,
        };
        stores::wait_for_server(moto.folder.path(), "moto", || {
            let answer = moto
                .client
                .get(format!("{}/moto-api/", moto.endpoint))
                .send();
            matches!(&answer, Ok(response) if response.status() == 200)
        });
        moto
    }

    /// Writes a SecureString parameter (encrypted with the account's default SSM key).
    pub(crate) fn put_secure_string(&self, name: &str, value: &str) {
        let body = serde_json::json!({ "Name": name, "Value": value, "Type": "SecureString" });
        let response = self
            .client
            .post(format!("{}/", self.endpoint))
            .header("Authorization", set_up_authorization("ssm"))
            .header("X-Amz-Target", "AmazonSSM.PutParameter")
            .header("Content-Type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = response.status();
        assert_eq!(
            status,
            200,
            "PutParameter {name}: {}",
            response.text().unwrap()
        );
    }

    /// Makes IAM user `name` whose policy allows `actions` (and nothing else), and returns its access key
    /// id and secret. Three calls. moto checks the action of a call but matches every SSM call against
    /// the resource `*`, so a policy scoped to a path cannot be tested here (docs/secrets.md has one).
    pub(crate) fn user_allowed(&self, name: &str, actions: &[&str]) -> (String, String) {
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": "*" }],
        });
        self.iam(&[("Action", "CreateUser"), ("UserName", name)]);
        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", name),
            ("PolicyName", "keel-read"),
            ("PolicyDocument", &policy.to_string()),
        ]);
        let answer = self.iam(&[("Action", "CreateAccessKey"), ("UserName", name)]);
        (
            between(&answer, "AccessKeyId"),
            between(&answer, "SecretAccessKey"),
        )
    }

    /// One IAM call (the query protocol: a form); fails the test on any status but 200.
    fn iam(&self, parameters: &[(&str, &str)]) -> String {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(parameters.iter().chain(&[("Version", "2010-05-08")]))
            .finish();
        let response = self
            .client
            .post(format!("{}/", self.endpoint))
            .header("Authorization", set_up_authorization("iam"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap();
        let status = response.status();
        let text = response.text().unwrap();
        assert_eq!(status, 200, "IAM {parameters:?}: {text}");
        text
    }

    /// Stops the server and waits until it has exited, so its port refuses connections.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An `Authorization` header that names `service` and the region, which is all moto reads of it while
/// it checks nothing.
fn set_up_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=keel-tests/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// The text of the first `<tag>` element in `xml`.
fn between(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).map(|at| at + open.len());
    let end = xml.find(&format!("</{tag}>"));
    match (start, end) {
        (Some(start), Some(end)) if start <= end => xml[start..end].to_owned(),
        _ => panic!("no <{tag}> in the answer: {xml}"),
    }
}
