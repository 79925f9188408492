//! Why a store could not be read. Messages name the store's address and path and what to do; they never
//! hold a credential, a token or a value (a server's error text is not quoted either, since it is not
//! ours to vouch for).

/// Everything reading a store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the server ({cause}): check the address and that the server is up")]
    Unreachable { cause: String },
    #[error(
        "no answer within {secs} s (secrets.timeout_secs), twice: check the address, or raise the timeout"
    )]
    TimedOut { secs: u64 },
    #[error(
        "no credentials: set VAULT_ROLE_ID and VAULT_SECRET_ID (or their _FILE variants), or VAULT_TOKEN"
    )]
    NoCredentials,
    #[error(
        "the AppRole login was refused (HTTP {status}): check VAULT_ROLE_ID and VAULT_SECRET_ID, and that the secret id has not expired"
    )]
    LoginRefused { status: u16 },
    #[error(
        "the token may not read it (HTTP 403): give the role a policy with read on {policy_path}, or check VAULT_TOKEN"
    )]
    Denied { policy_path: String },
    #[error(
        "no secret there (HTTP 404): write it (bao kv put -mount={mount} {path} secret_key=…), or set secrets.vault.path"
    )]
    Missing { mount: String, path: String },
    #[error(
        "{call} cannot be sent: a value keel was given (a token, the namespace) holds a character HTTP headers cannot carry, such as a newline"
    )]
    InvalidHeader { call: &'static str },
    #[error(
        "cannot use the CA certificate {path} (VAULT_CACERT, secrets.vault.cacert): {cause}: give the PEM file of the CA that signed the server's certificate"
    )]
    CaCertificate { path: String, cause: String },
    #[error("the server answered HTTP {status} to {call}: check its log")]
    Status { call: &'static str, status: u16 },
    #[error("the server's answer to {call} is not what Vault sends ({what})")]
    Unexpected { call: &'static str, what: String },
    #[error(
        "reading took longer than {secs} s (secrets.startup_timeout_secs): check the server, or raise it"
    )]
    Deadline { secs: u64 },
    #[error(
        "access denied ({code}): allow ssm:GetParametersByPath on the parameters under {path} (arn:aws:ssm:REGION:ACCOUNT:parameter{path}*) and kms:Decrypt on their key"
    )]
    SsmDenied { code: String, path: String },
    #[error(
        "AWS refused the credentials ({code}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or the role keel runs with"
    )]
    SsmSignInRefused { code: String },
    #[error("SSM refused the read ({code}, HTTP {status}): check the path and the region")]
    SsmRefused { code: String, status: u16 },
    #[error(
        "the request was not sent ({cause}): without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY keel uses the AWS credential chain; give the process a role or set the key"
    )]
    SsmNotSent { cause: String },
}

impl Error {
    /// Whether trying again may help: the server was not reached, was too slow, or failed on its side.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::TimedOut { .. } => true,
            Error::Status { status, .. } => *status >= 500,
            Error::NoCredentials
            | Error::InvalidHeader { .. }
            | Error::LoginRefused { .. }
            | Error::Denied { .. }
            | Error::Missing { .. }
            | Error::Unexpected { .. }
            | Error::Deadline { .. }
            | Error::CaCertificate { .. }
            | Error::SsmDenied { .. }
            | Error::SsmSignInRefused { .. }
            | Error::SsmRefused { .. }
            | Error::SsmNotSent { .. } => false,
        }
    }
}
