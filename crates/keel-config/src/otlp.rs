//! One signal's OTLP export as the settings resolve it (a per-signal key replaces the shared one), and
//! the reading of the CA certificate file an https endpoint may need.
//!
//! The certificate file is read here, not by the exporter's crate, because this crate is the one that
//! reads files for settings: validation and the exporter share one reading and one set of messages.

use std::path::Path;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use crate::secret::ConnectionUrl;
use crate::settings::OtlpProtocol;

/// The two signals keel exports over OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    /// The signal's name in OTLP paths (`/v1/traces`) and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }
}

/// Where and how one signal is exported ([`crate::TelemetrySettings::export`]).
#[derive(Debug, Clone)]
pub struct SignalExport<'a> {
    pub signal: Signal,
    /// The signal's own URL (`own_endpoint`, used as it is) or the shared base URL.
    pub endpoint: &'a ConnectionUrl,
    pub own_endpoint: bool,
    pub protocol: OtlpProtocol,
    /// Header pairs, values percent-decoded (often a credential: never log them).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// The key that names the trusted CA file, and the file.
    pub certificate: Option<(&'static str, &'a Path)>,
}

impl SignalExport<'_> {
    /// The certificates of the CA file, if one is set, as DER: what an https client adds to the public
    /// roots. The message names the key, the file and the fix.
    pub fn trusted_certificates(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        match self.certificate {
            None => Ok(Vec::new()),
            Some((key, path)) => {
                read_certificates(path).map_err(|reason| format!("{key}: {reason}"))
            }
        }
    }
}

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
