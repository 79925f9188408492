//! OTLP collectors for the tests: receivers of spans and metrics over HTTP/protobuf (port 4318's
//! protocol) and gRPC (4317's), in plain text or over TLS with a certificate a test CA signed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio::time::Instant;

/// A span as the collector received it, with its resource's attributes.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) resource: Vec<KeyValue>,
    pub(crate) span: Span,
}

/// What a collector received, shared with its handlers.
#[derive(Debug, Default)]
struct Inbox {
    spans: Mutex<Vec<Received>>,
    metrics: Mutex<Vec<Metric>>,
}

/// An OTLP receiver on `127.0.0.1:0` that decodes every export with the OTLP protobuf types.
pub(crate) struct Collector {
    pub(crate) address: SocketAddr,
    inbox: Arc<Inbox>,
}

/// A test CA and a certificate it signed for `127.0.0.1` and `localhost`; the CA's PEM file is written
/// to [`TestTls::ca_file`] for `OTEL_EXPORTER_OTLP_CERTIFICATE`.
pub(crate) struct TestTls {
    pub(crate) ca_file: std::path::PathBuf,
    server_pem: String,
    server_key_pem: String,
    _folder: tempfile::TempDir,
}

impl TestTls {
    pub(crate) fn new() -> TestTls {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "keel test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let folder = tempfile::tempdir().unwrap();
        let ca_file = folder.path().join("collector-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        TestTls {
            ca_file,
            server_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
            _folder: folder,
        }
    }

    fn server_config(&self) -> tokio_rustls::rustls::ServerConfig {
        use tokio_rustls::rustls::pki_types::pem::PemObject as _;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certificate = CertificateDer::from_pem_slice(self.server_pem.as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).unwrap();
        tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], key)
        .unwrap()
    }
}

impl Collector {
    /// A receiver of OTLP over HTTP/protobuf (the collector's port 4318 protocol).
    pub(crate) async fn start() -> Collector {
        let (listener, collector) = Collector::bind().await;
        let router = collector.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        collector
    }

    /// A receiver of OTLP over HTTP/protobuf on `https://`, with the certificate `tls` signed.
    pub(crate) async fn start_https(tls: &TestTls) -> Collector {
        let (listener, collector) = Collector::bind().await;
        let router = collector.router();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server_config()));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends the handshake: nothing to serve.
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(
                            hyper_util::rt::TokioIo::new(stream),
                            hyper_util::service::TowerToHyperService::new(router),
                        )
                        .await;
                });
            }
        });
        collector
    }

    /// A receiver of OTLP over gRPC (the collector's port 4317 protocol); over TLS with `tls`.
    pub(crate) async fn start_grpc(tls: Option<&TestTls>) -> Collector {
        let (listener, collector) = Collector::bind().await;
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            let identity =
                tonic::transport::Identity::from_pem(&tls.server_pem, &tls.server_key_pem);
            server = server
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .unwrap();
        }
        let router = server
            .add_service(TraceServiceServer::new(GrpcReceiver(Arc::clone(
                &collector.inbox,
            ))))
            .add_service(MetricsServiceServer::new(GrpcReceiver(Arc::clone(
                &collector.inbox,
            ))));
        tokio::spawn(
            router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        collector
    }

    async fn bind() -> (tokio::net::TcpListener, Collector) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let inbox = Arc::new(Inbox::default());
        (listener, Collector { address, inbox })
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/v1/traces", post(receive_traces))
            .route("/v1/metrics", post(receive_metrics))
            .with_state(Arc::clone(&self.inbox))
    }

    /// Polls until a span named `name` arrived; fails the test after `deadline`.
    pub(crate) async fn span_named(&self, name: &str, deadline: Duration) -> Received {
        let found = poll(deadline, || {
            let spans = self.inbox.spans.lock().unwrap();
            let names: Vec<String> = spans.iter().map(|r| r.span.name.clone()).collect();
            let found = spans.iter().find(|received| received.span.name == name);
            (
                found.cloned(),
                format!("no span {name:?}; received {names:?}"),
            )
        });
        found.await
    }

    /// Polls until a metric named `name` arrived; fails the test after `deadline`. Returns every
    /// received copy of it (one per export).
    pub(crate) async fn metric_named(&self, name: &str, deadline: Duration) -> Vec<Metric> {
        poll(deadline, || {
            let metrics = self.inbox.metrics.lock().unwrap();
            let names: Vec<&str> = metrics.iter().map(|metric| metric.name.as_str()).collect();
            let found: Vec<Metric> = metrics
                .iter()
                .filter(|metric| metric.name == name)
                .cloned()
                .collect();
            let message = format!("no metric {name:?}; received {names:?}");
            ((!found.is_empty()).then_some(found), message)
        })
        .await
    }
}

/// Calls `look` every 50 ms until it finds something; fails with its message after `deadline`.
async fn poll<T>(deadline: Duration, look: impl Fn() -> (Option<T>, String)) -> T {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let (found, message) = look();
        if let Some(found) = found {
            return found;
        }
        assert!(
            started.elapsed() < deadline,
            "after {deadline:?}: {message}"
        );
    }
}

/// The attributes of every data point of a histogram metric.
pub(crate) fn histogram_points(metric: &Metric) -> Vec<Vec<KeyValue>> {
    match &metric.data {
        Some(metric::Data::Histogram(histogram)) => histogram
            .data_points
            .iter()
            .map(|point| point.attributes.clone())
            .collect(),
        _ => Vec::new(),
    }
}

async fn receive_traces(State(inbox): State<Arc<Inbox>>, body: Bytes) -> Vec<u8> {
    keep_spans(
        &inbox,
        ExportTraceServiceRequest::decode(body).expect("an OTLP export"),
    );
    // An empty Export…ServiceResponse encodes to no bytes.
    Vec::new()
}

async fn receive_metrics(State(inbox): State<Arc<Inbox>>, body: Bytes) -> Vec<u8> {
    keep_metrics(
        &inbox,
        ExportMetricsServiceRequest::decode(body).expect("an OTLP export"),
    );
    Vec::new()
}

struct GrpcReceiver(Arc<Inbox>);

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        keep_spans(&self.0, request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        keep_metrics(&self.0, request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

fn keep_spans(inbox: &Inbox, request: ExportTraceServiceRequest) {
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|resource| resource.attributes)
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                inbox.spans.lock().unwrap().push(Received {
                    resource: resource.clone(),
                    span,
                });
            }
        }
    }
}

fn keep_metrics(inbox: &Inbox, request: ExportMetricsServiceRequest) {
    for resource_metrics in request.resource_metrics {
        for scope_metrics in resource_metrics.scope_metrics {
            inbox.metrics.lock().unwrap().extend(scope_metrics.metrics);
        }
    }
}
