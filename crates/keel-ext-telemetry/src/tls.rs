//! TLS for OTLP export to `https://` endpoints: rustls with the ring provider (the workspace's one TLS
//! stack), trusting the public webpki roots plus the CA file of `telemetry.otlp_certificate`.
//!
//! Why reqwest gets a preconfigured rustls config instead of relying on a process-wide provider: reqwest
//! is built with `rustls-no-provider` (its `rustls` feature would pull aws-lc-rs), and such a client,
//! unless given a config, asks rustls for the process's default `CryptoProvider` and panics when none was
//! installed. Installing one is a global side effect that only a binary's `main` can promise to do first;
//! this crate's exporters are also built by tests and by `keel check` in-process, where nobody promises
//! it. A config built here with `builder_with_provider(ring)` never consults the global default, so
//! building these clients cannot panic whatever the process did or did not install (a unit test builds
//! them in a process with no default provider). tonic needs no such care: with `tls-ring` it falls back
//! to ring itself when no default is installed.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use tonic::transport::ClientTlsConfig;

/// The roots an exporter trusts: the webpki roots and `trusted` (the CA file's certificates). Fails when
/// a certificate in `trusted` is not a usable CA certificate.
pub(crate) fn trusted_roots(trusted: &[CertificateDer<'static>]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (position, certificate) in trusted.iter().enumerate() {
        roots.add(certificate.clone()).map_err(|error| {
            format!(
                "certificate {} of the CA file cannot be trusted ({error}): use the CA's certificate in PEM",
                position + 1
            )
        })?;
    }
    Ok(roots)
}

/// The rustls client config for the HTTP exporters: ring, safe protocol versions, `roots`.
pub(crate) fn rustls_config(roots: RootCertStore) -> Result<rustls::ClientConfig, String> {
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| format!("the TLS protocol versions cannot be set: {error}"))?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// The tonic TLS config for the gRPC exporters, trusting `roots`. Without one, an `https://` endpoint
/// would get tonic's empty root store and trust nothing.
pub(crate) fn tonic_config(roots: RootCertStore) -> ClientTlsConfig {
    ClientTlsConfig::new().trust_anchors(roots.roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_roots_are_always_trusted_and_a_ca_file_adds_to_them() {
        let public = webpki_roots::TLS_SERVER_ROOTS.len();
        assert_eq!(trusted_roots(&[]).unwrap().len(), public);
        // Not a certificate at all: refused by position, before any connection is tried.
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let message = trusted_roots(&[garbage]).unwrap_err();
        assert!(
            message.starts_with("certificate 1 of the CA file cannot be trusted"),
            "{message}"
        );
    }
}
