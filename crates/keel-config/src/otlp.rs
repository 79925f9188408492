//! The reading of the CA certificate file an https OTLP endpoint may need (`telemetry.otlp_certificate`).
//!
//! The file is read here, not by the exporter's crate, because this crate is the one that reads files for
//! settings: validation and the exporter share one reading and one set of messages.

use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// The certificates in the PEM file at `path`: at least one, or why not and how to fix it (without the
/// key, which the caller knows).
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let fix = "point it at the PEM file (-----BEGIN CERTIFICATE-----) of the CA that signed the collector's certificate";
    let pem = std::fs::read(path)
        .map_err(|error| format!("cannot read {} ({error}): {fix}", path.display()))?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("{} is not valid PEM ({error}): {fix}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("{} holds no certificate: {fix}", path.display()));
    }
    Ok(certificates)
}
