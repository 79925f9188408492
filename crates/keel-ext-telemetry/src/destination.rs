//! Where one signal's exporter sends: the resolved settings, the TLS roots, the HTTP client (with keel's
//! own rustls config) and the gRPC TLS config, shared by the span and the metric exporters and the probe.

use std::future::Future;
use std::pin::Pin;

use keel_config::{ConnectionUrl, SignalExport};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::WithTonicConfig;

use crate::Error;

/// How an exporter reaches its collector: the signal's resolved settings (URL, protocol, headers, time
/// limit) and the roots it trusts over TLS (the webpki roots plus the CA file, read once here).
pub(crate) struct Destination<'a> {
    pub(crate) export: SignalExport<'a>,
    roots: rustls::RootCertStore,
}

impl<'a> Destination<'a> {
    /// Fails when the CA file cannot be read or holds no usable certificate (validation checked the
    /// file at load, but it may have changed since).
    pub(crate) fn new(export: SignalExport<'a>) -> Result<Destination<'a>, Error> {
        let failed = |reason: String| Error::Exporter {
            endpoint: export.endpoint.masked(),
            reason,
        };
        let trusted = export.trusted_certificates().map_err(failed)?;
        let roots = crate::tls::trusted_roots(&trusted).map_err(|reason| {
            let key = export.certificate.map_or("", |(key, _)| key);
            failed(format!("{key}: {reason}"))
        })?;
        Ok(Destination { export, roots })
    }

    /// The HTTP URL of the signal: its own URL as it is, else `<endpoint>/v1/<signal>`; exposed (to send
    /// to) or masked (to show).
    pub(crate) fn http_url(&self, masked: bool) -> String {
        let endpoint = self.export.endpoint;
        let url = if masked {
            endpoint.masked()
        } else {
            endpoint.expose().to_owned()
        };
        if self.export.own_endpoint {
            url
        } else {
            signal_url(&url, self.export.signal.name())
        }
    }

    /// The rustls config of an HTTP client for this destination (ring, never the process default).
    pub(crate) fn rustls_config(&self) -> Result<rustls::ClientConfig, Error> {
        crate::tls::rustls_config(self.roots.clone()).map_err(|reason| Error::Exporter {
            endpoint: self.export.endpoint.masked(),
            reason,
        })
    }

    /// The headers as gRPC metadata; a header that cannot be one is named by position (its value may
    /// be a credential).
    pub(crate) fn metadata(&self) -> Result<tonic::metadata::MetadataMap, Error> {
        let mut metadata = tonic::metadata::MetadataMap::new();
        for (position, (key, value)) in self.export.headers.iter().enumerate() {
            let key = tonic::metadata::MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes());
            let value = tonic::metadata::MetadataValue::try_from(value.as_str());
            match (key, value) {
                (Ok(key), Ok(value)) => {
                    metadata.insert(key, value);
                }
                _ => {
                    return Err(Error::Exporter {
                        endpoint: self.export.endpoint.masked(),
                        reason: format!(
                            "header {} of the OTLP headers cannot be sent as gRPC metadata: use a lowercase name of letters, digits and - and a visible ASCII value",
                            position + 1
                        ),
                    });
                }
            }
        }
        Ok(metadata)
    }
}

/// `builder` with the destination's TLS config when its endpoint is `https://` (a plain `http://`
/// endpoint keeps a plain channel).
pub(crate) fn with_grpc_tls<B: WithTonicConfig>(builder: B, destination: &Destination<'_>) -> B {
    if destination.export.endpoint.scheme() == Some("https") {
        builder.with_tls_config(crate::tls::tonic_config(destination.roots.clone()))
    } else {
        builder
    }
}

/// The URL of one signal (`traces`, `metrics`) for a collector's base URL: `<base>/v1/<signal>`, unless
/// it already ends so.
fn signal_url(endpoint: &str, signal: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    let path = format!("/v1/{signal}");
    if base.ends_with(&path) {
        base.to_owned()
    } else {
        format!("{base}{path}")
    }
}

/// A blocking HTTP client owns a runtime of its own, which must not be created on a runtime thread, so it
/// is built on a short-lived one. Its timeout is set here because the exporter's does not apply to a
/// client passed in; its TLS config is keel's own (`tls.rs` says why).
pub(crate) fn blocking_client(destination: &Destination<'_>) -> Result<ReportingClient, Error> {
    let failed = |reason: String| Error::Exporter {
        endpoint: destination.http_url(true),
        reason,
    };
    let tls = destination.rustls_config()?;
    let timeout = destination.export.timeout;
    let client = std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(timeout)
            .tls_backend_preconfigured(tls)
            .build()
    })
    .join()
    .map_err(|_| failed("building the HTTP client panicked".to_owned()))?
    .map_err(|error| failed(error.to_string()))?;
    Ok(ReportingClient {
        client,
        url: destination.http_url(true),
        endpoint: destination.export.endpoint.clone(),
    })
}

/// The exporter's HTTP client, logging why a send failed: the exporter turns every such failure into
/// "network error", losing what to fix (a refused connection, an untrusted certificate). The line has
/// the exporter diagnostics' rate limit ([`FAILURE_TARGET`]), and names the masked URL only.
#[derive(Debug)]
pub(crate) struct ReportingClient {
    client: reqwest::blocking::Client,
    url: String,
    endpoint: ConnectionUrl,
}

/// The target of [`ReportingClient`]'s lines, limited with the exporter's own diagnostics.
pub(crate) const FAILURE_TARGET: &str = "keel_ext_telemetry::export";

impl HttpClient for ReportingClient {
    fn send_bytes<'client, 'future>(
        &'client self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'future>>
    where
        'client: 'future,
        Self: 'future,
    {
        Box::pin(async move {
            let sent = self.client.send_bytes(request).await;
            if let Err(error) = &sent {
                // reqwest's own message ("error sending request for url (…)") repeats the URL,
                // password included: the causes under it say what went wrong.
                let reason = match error
                    .downcast_ref::<reqwest::Error>()
                    .and_then(std::error::Error::source)
                {
                    Some(cause) => error_chain(cause),
                    None => error_chain(error.as_ref()),
                };
                tracing::error!(
                    target: FAILURE_TARGET,
                    "OTLP export to {} failed: {}",
                    self.url,
                    self.endpoint.redact(&reason)
                );
            }
            sent
        })
    }
}

/// An error and its sources, `outer: inner: …`: reqwest's own message ("error sending request") hides
/// the cause that says what to fix (a refused connection, an untrusted certificate).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use keel_config::{LoadOptions, Settings, Signal, Vars};

    use super::*;

    /// The testing environment's settings with `vars` as its environment variables.
    pub(crate) fn settings_with(vars: &[(&str, &str)]) -> Settings {
        let vars: Vars = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let options = LoadOptions {
            environment: Some("testing".to_owned()),
            vars,
            ..LoadOptions::default()
        };
        keel_config::load(&options).unwrap().settings
    }

    #[test]
    fn a_signal_endpoint_is_used_as_it_is_and_the_shared_one_gets_the_signal_path() {
        let settings = settings_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces.example/custom",
            ),
        ]);
        let telemetry = &settings.telemetry;
        let traces = Destination::new(telemetry.export(Signal::Traces).unwrap()).unwrap();
        assert_eq!(traces.http_url(false), "http://traces.example/custom");
        let metrics = Destination::new(telemetry.export(Signal::Metrics).unwrap()).unwrap();
        assert_eq!(metrics.http_url(false), "http://collector:4318/v1/metrics");
    }

    #[test]
    fn the_traces_path_is_appended_once() {
        let cases = [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            (
                "http://collector:4318/v1/traces",
                "http://collector:4318/v1/traces",
            ),
        ];
        for (endpoint, expected) in cases {
            assert_eq!(signal_url(endpoint, "traces"), expected);
        }
    }

    #[test]
    fn the_https_clients_build_in_a_process_that_installed_no_crypto_provider() {
        // reqwest is built with `rustls-no-provider`: a client that asked for the process default would
        // panic here, where nothing installed one.
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        let settings = settings_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")]);
        let destination =
            Destination::new(settings.telemetry.export(Signal::Traces).unwrap()).unwrap();
        blocking_client(&destination).unwrap();
        reqwest::Client::builder()
            .tls_backend_preconfigured(destination.rustls_config().unwrap())
            .build()
            .unwrap();
    }
}
