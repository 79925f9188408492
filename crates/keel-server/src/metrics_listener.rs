//! The metrics listener: `GET /metrics` on `server.metrics_host:server.metrics_port`, apart from the
//! public listener, so the public port never exposes metrics and a scraper's port can be firewalled
//! separately. It is bound before the public listener (a port already in use fails start-up, naming the
//! key) and stopped after the requests in flight have finished, so a scrape during draining still works.

use anyhow::Context as _;
use keel_config::ServerSettings;
use keel_ext_telemetry::MetricsScrape;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running metrics listener; [`MetricsListener::stop`] ends it.
pub(crate) struct MetricsListener {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Binds the metrics listener when `server.metrics_port` is set, and serves `scrape` on it.
pub(crate) async fn start(
    server: &ServerSettings,
    scrape: Option<MetricsScrape>,
) -> anyhow::Result<Option<MetricsListener>> {
    let Some(port) = server.metrics_port else {
        return Ok(None);
    };
    let Some(scrape) = scrape else {
        // Only an embedding (a test calling `keel_server::run`) has no telemetry of its own.
        tracing::warn!(
            "server.metrics_port is set, but metrics are recorded only by the keel process itself; no metrics listener"
        );
        return Ok(None);
    };
    let address = format!("{}:{port}", server.metrics_host);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| {
            format!("cannot listen for metrics on {address}; set server.metrics_host and server.metrics_port to a free address, or unset server.metrics_port")
        })?;
    let local_address = listener
        .local_addr()
        .context("cannot read the metrics listener's address")?;
    tracing::info!("metrics on http://{local_address}/metrics");
    let (stop, mut stopped) = watch::channel(false);
    let router = keel_app_factory::metrics_router(scrape);
    let task = tokio::spawn(async move {
        let serving = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        });
        if let Err(error) = serving.await {
            tracing::warn!(%error, "the metrics listener failed");
        }
    });
    Ok(Some(MetricsListener { stop, task }))
}

impl MetricsListener {
    /// Closes the listener and waits for scrapes in progress (they are short).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the metrics listener did not stop cleanly");
        }
    }
}
