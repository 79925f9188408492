//! The tests' HTTP clients: reqwest, after ring is installed as the process's rustls provider.

/// Makes ring the process's rustls provider. The workspace builds reqwest with `rustls-no-provider`, so a
/// reqwest client built without a preconfigured TLS config (every client of these tests, thirtyfour's
/// too) panics unless a process-wide provider is installed first.
pub(crate) fn install_crypto_provider() {
    // An error means a provider is installed already, which is all that is wanted.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `reqwest::Client::builder()`, after [`install_crypto_provider`].
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// `reqwest::blocking::Client::new()`, after [`install_crypto_provider`].
pub(crate) fn blocking_client() -> reqwest::blocking::Client {
    install_crypto_provider();
    reqwest::blocking::Client::new()
}

/// A client that opens a new connection per request, so each request sees the listener as it is now.
pub(crate) fn fresh_client() -> reqwest::Client {
    client_builder().pool_max_idle_per_host(0).build().unwrap()
}

/// reqwest's constructors, spelt as the code calls them.
const CONSTRUCTORS: [&str; 6] = [
    "reqwest::get(",
    "reqwest::blocking::get(",
    "reqwest::Client::new()",
    "reqwest::Client::builder()",
    "reqwest::blocking::Client::new()",
    "reqwest::blocking::Client::builder()",
];

#[test]
fn every_reqwest_client_is_built_where_it_cannot_miss_a_crypto_provider() {
    // A test file building its own client works or panics depending on which test ran first; keel's
    // code must hand every client its own rustls config (keel-ext-telemetry's tls.rs says why).
    let mut problems = Vec::new();
    for file in crate::tidy::rust_files() {
        let constructs = CONSTRUCTORS
            .iter()
            .any(|constructor| file.text.contains(constructor));
        if !constructs || file.relative == "tests/it/http_client.rs" {
            continue;
        }
        if file.relative.starts_with("tests/") {
            problems.push(format!(
                "{} builds a reqwest client: use crate::http_client::client_builder, blocking_client or fresh_client",
                file.relative
            ));
        } else if !file.text.contains(".tls_backend_preconfigured(") {
            problems.push(format!(
                "{} builds a reqwest client without .tls_backend_preconfigured(…): give it keel's rustls config",
                file.relative
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
