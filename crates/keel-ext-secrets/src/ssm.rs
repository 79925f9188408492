//! AWS Systems Manager Parameter Store through the official SDK: every parameter under the environment's
//! path (`GetParametersByPath`, recursive, decrypted, page after page), each named after what follows
//! the path, with `/` read as `.` (`/keel/production/SECRET_KEY` gives `SECRET_KEY`,
//! `/keel/production/security/admin_token` gives `security.admin_token`).
//!
//! The SDK is given everything it needs from keel's settings (region, endpoint, an access key), so it
//! reads no variable of its own for them and the tests, which pass their own variables, stay hermetic.
//! Only without an access key in the settings does it fall back on the AWS credential chain, which
//! reads the process environment, the shared files and the instance metadata itself.

use std::time::Duration;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::provider_config::ProviderConfig;
use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::config::timeout::TimeoutConfig;
use aws_sdk_ssm::config::{
    BehaviorVersion, Credentials, Region, SharedCredentialsProvider, SharedHttpClient,
};
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathError;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use keel_config::{Secret, SsmSettings, StoreEntry};

use crate::error::Error;

/// How keel signed in with a static access key from the settings.
const BY_ACCESS_KEY: &str = "access key (AWS_ACCESS_KEY_ID)";
/// How keel signed in without one.
const BY_CHAIN: &str = "the AWS credential chain";

/// Reads every parameter under `ssm.path`. Each call is bounded by `timeout` and tried once more when
/// the SDK judges it transient (a network failure, a timeout, a 5xx, throttling).
pub(crate) async fn read(
    ssm: &SsmSettings,
    timeout: Duration,
) -> Result<(&'static str, Vec<StoreEntry>), Error> {
    // The settings loader refuses an enabled store without a region.
    let region = Region::new(ssm.region.clone().unwrap_or_default());
    let http_client = https_client();
    let (credentials, authenticated_by) = credentials(ssm, &region, &http_client).await;
    let mut config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
        .http_client(http_client)
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeout)
                .operation_attempt_timeout(timeout)
                .build(),
        );
    if let Some(endpoint) = &ssm.endpoint_url {
        config = config.endpoint_url(endpoint);
    }
    let client = aws_sdk_ssm::Client::from_conf(config.build());
    let location = ssm.location();
    // SSM takes the path without its trailing slash, except the root itself.
    let path = match location.trim_end_matches('/') {
        "" => "/",
        path => path,
    };
    let mut pages = client
        .get_parameters_by_path()
        .path(path)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    let mut entries = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| error_of(&error, &location, timeout))?;
        for parameter in page.parameters() {
            let full_name = parameter.name().unwrap_or_default();
            entries.push(StoreEntry {
                name: name_below(&location, full_name),
                value: Secret::new(parameter.value().unwrap_or_default().to_owned()),
                origin: format!("ssm:{full_name}"),
            });
        }
    }
    Ok((authenticated_by, entries))
}

/// The store's name of a parameter: what follows the path, `/` read as `.`.
fn name_below(location: &str, full_name: &str) -> String {
    full_name
        .strip_prefix(location)
        .unwrap_or(full_name)
        .trim_matches('/')
        .replace('/', ".")
}

/// The SDK's HTTPS client on rustls with the ring provider (the TLS stack the workspace already builds),
/// trusting the system's root certificates. It uses no proxy.
fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The access key of the settings, or the AWS credential chain.
async fn credentials(
    ssm: &SsmSettings,
    region: &Region,
    http_client: &SharedHttpClient,
) -> (SharedCredentialsProvider, &'static str) {
    if let (Some(id), Some(secret)) = (&ssm.access_key_id, &ssm.secret_access_key) {
        let credentials = Credentials::new(
            id.expose(),
            secret.expose(),
            ssm.session_token
                .as_ref()
                .map(|token| token.expose().to_owned()),
            None,
            "keel settings",
        );
        return (SharedCredentialsProvider::new(credentials), BY_ACCESS_KEY);
    }
    let chain = DefaultCredentialsChain::builder()
        .region(region.clone())
        .configure(ProviderConfig::default().with_http_client(http_client.clone()))
        .build()
        .await;
    (SharedCredentialsProvider::new(chain), BY_CHAIN)
}

/// What a failed page read means, in keel's words. A service's own message is not quoted (it is not
/// ours to vouch for); its error code is.
fn error_of(
    error: &SdkError<GetParametersByPathError>,
    location: &str,
    timeout: Duration,
) -> Error {
    match error {
        SdkError::TimeoutError(_) => Error::TimedOut {
            secs: timeout.as_secs(),
        },
        SdkError::DispatchFailure(failure) if failure.is_timeout() => Error::TimedOut {
            secs: timeout.as_secs(),
        },
        SdkError::DispatchFailure(failure) if failure.is_io() => Error::Unreachable {
            cause: DisplayErrorContext(error).to_string(),
        },
        SdkError::ServiceError(service) => {
            let code = service
                .err()
                .code()
                .map(str::to_owned)
                .or_else(|| service.raw().body().bytes().and_then(xml_error_code))
                .unwrap_or_else(|| "no error code".to_owned());
            match code.as_str() {
                "AccessDeniedException" | "AccessDenied" => Error::SsmDenied {
                    code,
                    path: location.to_owned(),
                },
                "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "ExpiredTokenException" => Error::SsmSignInRefused { code },
                _ => Error::SsmRefused {
                    code,
                    status: service.raw().status().as_u16(),
                },
            }
        }
        SdkError::ResponseError(_) => Error::Unexpected {
            call: "GetParametersByPath",
            what: "an answer the SDK cannot read".to_owned(),
        },
        // Not sent at all: most often no credentials were found. The SDK's own account of it names the
        // providers it tried, never a key.
        _ => Error::SsmNotSent {
            cause: DisplayErrorContext(error).to_string(),
        },
    }
}

/// The `<Code>` of an XML error document. SSM speaks JSON, but an answer refused before the service
/// (moto's IAM check, and AWS front ends) can come as the query protocol's XML, where the SDK's JSON
/// parser finds no code. Only a plain identifier is taken, never other text of the answer.
fn xml_error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let length = text[start..].find("</Code>")?;
    let code = &text[start..start + length];
    let plain = !code.is_empty()
        && code.len() <= 64
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    plain.then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_is_named_after_what_follows_the_path() {
        let cases = [
            ("/keel/production/SECRET_KEY", "SECRET_KEY"),
            (
                "/keel/production/security/admin_token",
                "security.admin_token",
            ),
            (
                "/keel/production/security.admin_token",
                "security.admin_token",
            ),
            ("/elsewhere/x", "elsewhere.x"),
        ];
        for (full_name, name) in cases {
            assert_eq!(
                name_below("/keel/production/", full_name),
                name,
                "{full_name}"
            );
        }
    }

    #[test]
    fn an_xml_error_code_is_taken_only_when_it_is_a_plain_identifier() {
        let cases: [(&[u8], Option<&str>); 4] = [
            (
                b"<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: x</Message></Error></Errors></ErrorResponse>",
                Some("AccessDenied"),
            ),
            (b"<Error><Code>a canary value</Code></Error>", None),
            (b"{\"__type\": \"AccessDeniedException\"}", None),
            (b"<Code></Code>", None),
        ];
        for (body, code) in cases {
            assert_eq!(xml_error_code(body).as_deref(), code);
        }
    }
}
