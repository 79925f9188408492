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

/// A client that opens a new connection per request, so each request sees the listener as it is now.
pub(crate) fn fresh_client() -> reqwest::Client {
    client_builder().pool_max_idle_per_host(0).build().unwrap()
}
