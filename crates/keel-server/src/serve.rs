//! `keel serve`: bind, serve until SIGINT/SIGTERM, then shut down within the configured time.

use std::future::IntoFuture;

use anyhow::Context;
use keel_config::Settings;
use tokio::net::TcpListener;

/// Serves the app described by `settings` until a shutdown signal, then lets in-flight requests finish for
/// at most `server.graceful_shutdown_timeout_secs` and closes the database pool.
pub(crate) async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = keel_app_factory::create_app(&settings)
        .await
        .context("cannot start the app")?;
    let address = format!("{}:{}", settings.server.host, settings.server.port);
    let listener = TcpListener::bind(&address).await.with_context(|| {
        format!("cannot listen on {address}; set server.host and server.port (or PORT) to a free address")
    })?;
    let local_address = listener
        .local_addr()
        .context("cannot read the bound address")?;
    tracing::info!(
        environment = %settings.app.env,
        database = settings.database.url.scheme().unwrap_or("unknown"),
        "listening on http://{local_address}"
    );

    let (stop_accepting, stopped) = tokio::sync::watch::channel(());
    let mut server = tokio::spawn(
        axum::serve(listener, app.router)
            .with_graceful_shutdown(async move {
                let mut stopped = stopped;
                // An error means the sender is gone, which also means: stop.
                let _ = stopped.changed().await;
            })
            .into_future(),
    );

    tokio::select! {
        finished = &mut server => {
            // The server only ends by itself when accepting connections fails.
            finished.context("the server task failed")?.context("the server stopped unexpectedly")?;
            return Ok(());
        }
        signal = shutdown_signal() => {
            tracing::info!(signal, "shutting down: no new connections, waiting for in-flight requests");
        }
    }
    let _ = stop_accepting.send(());

    let grace = settings.server.graceful_shutdown_timeout();
    match tokio::time::timeout(grace, server).await {
        Ok(finished) => finished
            .context("the server task failed")?
            .context("the server failed while draining")?,
        Err(_elapsed) => tracing::warn!(
            "in-flight requests did not finish within {} s (server.graceful_shutdown_timeout_secs); exiting anyway",
            grace.as_secs()
        ),
    }
    app.state
        .db
        .close()
        .await
        .context("cannot close the database pool")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves with the signal's name on SIGINT (Ctrl-C) or, on Unix, SIGTERM (what orchestrators send).
async fn shutdown_signal() -> &'static str {
    let interrupt = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGINT");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
                "SIGTERM"
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&'static str>();

    tokio::select! {
        name = interrupt => name,
        name = terminate => name,
    }
}
