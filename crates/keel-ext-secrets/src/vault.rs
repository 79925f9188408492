//! Vault's HTTP API, the three calls keel needs: an AppRole login (`POST /v1/auth/<auth_mount>/login`),
//! the read of one KV version 2 secret (`GET /v1/<mount>/data/<path>`) and, for a token keel made
//! itself, its revocation (`POST /v1/auth/token/revoke-self`), so no live token outlives the start.
//! OpenBao speaks the same API.

use std::time::Duration;

use http::{Method, StatusCode};
use keel_config::{Secret, StoreEntry, VaultSettings};
use serde::Deserialize;

use crate::error::Error;
use crate::transport::{self, Call, Server};

/// How keel signs in with a token given to it.
const BY_TOKEN: &str = "token (VAULT_TOKEN)";
/// How keel signs in with AppRole.
const BY_APPROLE: &str = "AppRole login";

/// Logs in (or uses the given token), reads the secret and returns its fields as entries.
pub(crate) async fn read(
    addr: &str,
    vault: &VaultSettings,
    timeout: Duration,
) -> Result<(&'static str, Vec<StoreEntry>), Error> {
    let server = &Server::new(addr, vault.cacert.as_deref())?;
    let (token, authenticated_by) = match (&vault.token, &vault.role_id, &vault.secret_id) {
        (Some(token), _, _) => (token.clone(), BY_TOKEN),
        (None, Some(role_id), Some(secret_id)) => (
            login(server, vault, role_id, secret_id, timeout).await?,
            BY_APPROLE,
        ),
        // The settings loader refuses an address without credentials; this only repeats it.
        _ => return Err(Error::NoCredentials),
    };
    let read = read_secret(server, vault, &token, timeout).await;
    if authenticated_by == BY_APPROLE {
        // Best effort: the token expires by itself (its TTL is the role's), so a failed revocation is
        // not a reason to fail the start.
        let _ = revoke(server, vault, &token, timeout).await;
    }
    read.map(|entries| (authenticated_by, entries))
}

#[derive(Deserialize)]
struct LoginAnswer {
    auth: LoginAuth,
}

#[derive(Deserialize)]
struct LoginAuth {
    client_token: String,
}

async fn login(
    server: &Server<'_>,
    vault: &VaultSettings,
    role_id: &Secret,
    secret_id: &Secret,
    timeout: Duration,
) -> Result<Secret, Error> {
    let body = serde_json::json!({
        "role_id": role_id.expose(),
        "secret_id": secret_id.expose(),
    });
    let call = Call {
        name: "the AppRole login",
        method: Method::POST,
        path: format!("/v1/auth/{}/login", vault.auth_mount.trim_matches('/')),
        headers: namespace_header(vault),
        body: Some(body.to_string().into_bytes()),
    };
    let (status, answer) = transport::send(server, &call, timeout).await?;
    match status {
        StatusCode::OK => {
            let answer: LoginAnswer = parse(call.name, &answer)?;
            Ok(Secret::new(answer.auth.client_token))
        }
        // Vault answers 400 to a wrong role or secret id, 403 when the auth method refuses it.
        StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
            Err(Error::LoginRefused {
                status: status.as_u16(),
            })
        }
        StatusCode::NOT_FOUND => Err(Error::Unexpected {
            call: call.name,
            what: format!(
                "HTTP 404: is AppRole enabled at auth/{}? (secrets.vault.auth_mount)",
                vault.auth_mount.trim_matches('/')
            ),
        }),
        other => Err(Error::Status {
            call: call.name,
            status: other.as_u16(),
        }),
    }
}

#[derive(Deserialize)]
struct ReadAnswer {
    data: ReadData,
}

#[derive(Deserialize)]
struct ReadData {
    data: serde_json::Map<String, serde_json::Value>,
}

async fn read_secret(
    server: &Server<'_>,
    vault: &VaultSettings,
    token: &Secret,
    timeout: Duration,
) -> Result<Vec<StoreEntry>, Error> {
    let mount = vault.mount.trim_matches('/');
    let path = vault.path.trim_matches('/');
    let mut headers = namespace_header(vault);
    headers.push(("x-vault-token", token.expose()));
    let call = Call {
        name: "the secret's read",
        method: Method::GET,
        path: format!("/v1/{mount}/data/{path}"),
        headers,
        body: None,
    };
    let (status, answer) = transport::send(server, &call, timeout).await?;
    match status {
        StatusCode::OK => {}
        StatusCode::FORBIDDEN => {
            return Err(Error::Denied {
                policy_path: format!("{mount}/data/{path}"),
            });
        }
        StatusCode::NOT_FOUND => {
            return Err(Error::Missing {
                mount: mount.to_owned(),
                path: path.to_owned(),
            });
        }
        other => {
            return Err(Error::Status {
                call: call.name,
                status: other.as_u16(),
            });
        }
    }
    let answer: ReadAnswer = parse(call.name, &answer)?;
    let location = vault.location();
    answer
        .data
        .data
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Number(number) => number.to_string(),
                serde_json::Value::Bool(flag) => flag.to_string(),
                _ => {
                    return Err(Error::Unexpected {
                        call: "the secret's read",
                        what: format!("field {name:?} is not text: store each secret as a string"),
                    });
                }
            };
            Ok(StoreEntry {
                origin: format!("vault:{location}#{name}"),
                name,
                value: Secret::new(text),
            })
        })
        .collect()
}

async fn revoke(
    server: &Server<'_>,
    vault: &VaultSettings,
    token: &Secret,
    timeout: Duration,
) -> Result<(), Error> {
    let mut headers = namespace_header(vault);
    headers.push(("x-vault-token", token.expose()));
    let call = Call {
        name: "the token's revocation",
        method: Method::POST,
        path: "/v1/auth/token/revoke-self".to_owned(),
        headers,
        body: None,
    };
    transport::send(server, &call, timeout).await.map(|_| ())
}

fn namespace_header(vault: &VaultSettings) -> Vec<(&'static str, &str)> {
    vault
        .namespace
        .as_deref()
        .map(|namespace| ("x-vault-namespace", namespace))
        .into_iter()
        .collect()
}

/// The JSON answer to `call`.
fn parse<'a, T: Deserialize<'a>>(call: &'static str, body: &'a [u8]) -> Result<T, Error> {
    // serde_json's message may quote a value of the wrong type, so only its category and position.
    serde_json::from_slice(body).map_err(|error| Error::Unexpected {
        call,
        what: format!(
            "{:?} JSON at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_of_the_wrong_shape_is_described_without_its_values() {
        let answer = br#"{"auth": {"client_token": ["canary-token-value"]}}"#;
        let error = parse::<LoginAnswer>("the AppRole login", answer)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert_eq!(
            error,
            "the server's answer to the AppRole login is not what Vault sends (Data JSON at line 1 column 26)"
        );
        let error = parse::<ReadAnswer>("the secret's read", b"<html>")
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("(Syntax JSON at line 1 column 1)"),
            "{error}"
        );
    }
}
