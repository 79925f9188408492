//! `keel serve`: accept connections until a shutdown signal, then drain and stop within bounded times.
//!
//! Shutdown, in order: the first SIGTERM/SIGINT turns readiness to 503 while connections are still
//! accepted and served as usual for `server.drain_delay_secs` (so a load balancer notices); then the
//! listener closes — after taking the connections that already arrived, which would otherwise be reset —
//! and from then on every response carries `Connection: close`. Requests in flight finish within
//! `server.graceful_shutdown_timeout_secs`; then the database pool closes, queued spans are flushed to the
//! collector (bounded), and `keel` exits 0 — or 75 when the grace period ran out with requests still being
//! handled. A second signal at any point exits at once.
//!
//! Idle keep-alive connections: with a drain delay (there is a load balancer or proxy in front), keel
//! never closes one itself during shutdown. A proxy may be writing a request into it at that very moment,
//! and a proxy retries only idempotent requests, so a POST would fail. Instead each connection ends the
//! way it would anyway: after its next response (`Connection: close`), when the client closes it (nginx
//! drops idle upstream connections after its `keepalive_timeout`), or at `server.header_read_timeout_secs`.
//! Without a drain delay (development, tests: nobody in front) idle connections are closed at once.
//!
//! Connections are served with hyper directly rather than `axum::serve`, because only hyper's builder can
//! bound how long a client may take to send its headers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use keel_config::Loaded;
use keel_ext_telemetry::Telemetry;
use tower::ServiceExt as _;

use crate::ExtraRoutes;
use crate::accept::Acceptor;
use crate::failure::Failure;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// How long closing the database pool may take at exit.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the exporter may take to send the spans still queued at exit.
const TELEMETRY_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn serve(
    loaded: Loaded,
    extra_routes: Option<ExtraRoutes>,
    telemetry: Option<Telemetry>,
    inherited: Option<std::net::TcpListener>,
) -> Result<(), Failure> {
    let settings = &loaded.settings;
    // Listen for both signals before anything slow happens: once listened for, a signal no longer ends
    // the process by itself, so start-up (which may retry the database for a while) races them too.
    let mut signals = Signals::listen().map_err(Failure::Failed)?;
    let extra_routes = extra_routes.map_or_else(axum::Router::new, |routes| routes());
    let app = tokio::select! {
        app = keel_app_factory::create_app_with(&loaded, extra_routes) => {
            app.map_err(|error| Failure::from(error).context("cannot start the app"))?
        }
        signal = signals.next() => {
            tracing::info!(signal, "stopped while starting");
            return Err(Failure::Interrupted(signal));
        }
    };
    let metrics_listener =
        crate::metrics_listener::start(&settings.server, telemetry.as_ref().map(Telemetry::scrape))
            .await
            .map_err(Failure::Failed)?;
    let (listener, socket) = crate::listener::listen(&settings.server, inherited)
        .await
        .map_err(Failure::Failed)?;
    let local_address = listener
        .local_addr()
        .context("cannot read the bound address")
        .map_err(Failure::Failed)?;
    tracing::info!(
        environment = %settings.app.env,
        database = settings.database.url.scheme().unwrap_or("unknown"),
        socket,
        "listening on http://{local_address}"
    );

    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.server.header_read_timeout);
    let (stop_accepting, accepting) = watch::channel(false);
    let (finish_connections, finishing) = watch::channel(false);
    // Every connection task holds a sender; when the last one is dropped, `recv` answers `None`.
    let (open_connection, mut connections_closed) = mpsc::channel::<()>(1);
    let shutdown = Arc::new(Shutdown::default());
    let connections = Connections {
        router: app.router.clone(),
        shutdown: Arc::clone(&shutdown),
        http,
        finishing,
        open_connection,
        linger: !settings.server.drain_delay.is_zero(),
    };
    let acceptor = tokio::spawn(accept(
        listener,
        connections,
        Arc::clone(&shutdown),
        accepting,
    ));

    let first = signals.next().await;
    app.state.draining.start();
    let drain_delay = settings.server.drain_delay;
    tracing::info!(
        signal = first,
        "shutting down: readiness now answers 503; still accepting for {} s (server.drain_delay_secs)",
        drain_delay.as_secs()
    );
    or_second_signal(&mut signals, tokio::time::sleep(drain_delay)).await?;

    let _ = stop_accepting.send(true);
    let _ = finish_connections.send(true);
    acceptor
        .await
        .context("the accept loop failed")
        .map_err(Failure::Failed)?;
    let grace = settings.server.graceful_shutdown_timeout;
    tracing::info!(
        "listener closed; waiting up to {} s for in-flight requests (server.graceful_shutdown_timeout_secs)",
        grace.as_secs()
    );
    let all_closed = tokio::time::timeout(grace, connections_closed.recv());
    let timed_out = or_second_signal(&mut signals, all_closed).await?.is_err();
    // Connections still open without a request being handled (idle ones, or clients still sending their
    // headers) are closed here, and that cuts nothing.
    let cut = timed_out && shutdown.in_flight.load(Ordering::Relaxed) > 0;
    if cut {
        tracing::warn!(
            "in-flight requests did not finish within {} s; cutting them and exiting anyway",
            grace.as_secs()
        );
    } else if timed_out {
        tracing::info!("closing the connections that are still open without a request in flight");
    }

    // The flag resync and Redis listener would otherwise query a closing pool.
    app.state.flags.stop_sync();
    // Closing waits for connections still checked out (by requests that outlived the grace period), so
    // it is bounded too.
    // A clone of the handle closes the one pool every clone shares.
    let closed = tokio::time::timeout(POOL_CLOSE_TIMEOUT, app.state.db.clone().close());
    match or_second_signal(&mut signals, closed).await? {
        Ok(closed) => closed
            .map_err(|error| Failure::from(error).context("cannot close the database pool"))?,
        Err(_elapsed) => tracing::warn!(
            "the database pool did not close within {} s",
            POOL_CLOSE_TIMEOUT.as_secs()
        ),
    }
    if let Some(metrics_listener) = metrics_listener {
        or_second_signal(&mut signals, metrics_listener.stop()).await?;
    }
    if let Some(telemetry) = telemetry {
        // The flush blocks while it sends, so it runs off the async threads; it is bounded either way.
        let flushed =
            tokio::task::spawn_blocking(move || telemetry.shutdown(TELEMETRY_FLUSH_TIMEOUT));
        or_second_signal(&mut signals, flushed)
            .await?
            .context("the telemetry flush failed")
            .map_err(Failure::Failed)?;
    }
    tracing::info!("stopped");
    if cut {
        return Err(Failure::RequestsCut(grace.as_secs()));
    }
    Ok(())
}

/// Where shutdown and the connections meet.
#[derive(Debug, Default)]
struct Shutdown {
    /// Requests being handled right now (until their response head is ready).
    in_flight: AtomicUsize,
    /// From the moment the listener closes, every response closes its connection.
    listener_closed: AtomicBool,
}

/// Counts a request as in flight while it lives.
struct InFlight(Arc<Shutdown>);

impl InFlight {
    fn start(shutdown: &Arc<Shutdown>) -> InFlight {
        shutdown.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(shutdown))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every connection is served with.
#[derive(Clone)]
struct Connections {
    router: axum::Router,
    shutdown: Arc<Shutdown>,
    http: http1::Builder,
    /// Set when the listener has closed.
    finishing: watch::Receiver<bool>,
    /// Every connection task holds a clone; shutdown waits until all are dropped.
    open_connection: mpsc::Sender<()>,
    /// Leave idle connections open during shutdown (see the module documentation).
    linger: bool,
}

impl Connections {
    fn spawn(&self, stream: TcpStream, peer: SocketAddr) {
        // Without it a body written after its headers (a static file, any streamed response) waits for the
        // client's delayed ACK: Nagle's algorithm holds the small second write for ~40 ms. `axum::serve`
        // sets it too. It can only fail on a socket that is already dead, which hyper reports next.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
        }
        tokio::spawn(serve_connection(stream, peer, self.clone()));
    }
}

/// Accepts connections until told to stop; then takes those that already arrived and drops the listener,
/// so new connections are refused.
async fn accept(
    listener: TcpListener,
    connections: Connections,
    shutdown: Arc<Shutdown>,
    mut stop: watch::Receiver<bool>,
) {
    let mut listener = Acceptor::new(listener);
    loop {
        let (stream, peer) = tokio::select! {
            // Failures (out of file descriptors, usually) are retried with a pause inside `accept`.
            accepted = listener.accept() => accepted,
            () = until_set(&mut stop) => break,
        };
        connections.spawn(stream, peer);
    }
    shutdown.listener_closed.store(true, Ordering::Relaxed);
    // Connections the kernel completed but nobody accepted yet would be reset when the listener goes, and
    // their clients may already have sent a request: serve them (each closes after its response).
    while let Some((stream, peer)) = listener.accept_arrived() {
        connections.spawn(stream, peer);
    }
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, connections: Connections) {
    let Connections {
        router,
        shutdown,
        http,
        mut finishing,
        open_connection: _open,
        linger,
    } = connections;
    // Each request gets the peer address, for the client address in logs (`ConnectInfo`, as
    // `axum::serve` provides it), and is counted in flight until its response head is ready; once the
    // listener has closed, the response says `Connection: close`, so a keep-alive connection ends after
    // it instead of being closed under a client that may be writing to it. This wraps the router once
    // per connection rather than as a router layer, which would wrap every route in one more boxed
    // service on every request.
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = InFlight::start(&shutdown);
        let response = router.clone().oneshot(request);
        async move {
            let mut response = response.await?;
            if in_flight.0.listener_closed.load(Ordering::Relaxed) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, Infallible>(response)
        }
    });
    let connection = http.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
            return;
        }
        () = until_set(&mut finishing) => {}
    }
    if !linger {
        // Nobody in front: finish the request in flight, close an idle connection at once.
        connection.as_mut().graceful_shutdown();
    }
    if let Err(error) = connection.await {
        tracing::debug!(%error, "connection ended with an error while shutting down");
    }
}

/// Resolves once the flag is `true` (or its sender is gone, which also means: stop).
async fn until_set(flag: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, so callers stay `Send`.
    let _ = flag.wait_for(|set| *set).await;
}

/// Runs `work`, unless a second signal arrives first.
async fn or_second_signal<T>(
    signals: &mut Signals,
    work: impl Future<Output = T>,
) -> Result<T, Failure> {
    tokio::select! {
        output = work => Ok(output),
        signal = signals.next() => {
            tracing::warn!(signal, "second signal: exiting at once");
            Err(Failure::Interrupted(signal))
        }
    }
}

/// SIGINT (Ctrl-C) and, on Unix, SIGTERM (what orchestrators send), as one stream of signal names. Both
/// are registered once, up front, so a signal that arrives between two waits is kept, not lost.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            Err(error) => {
                tracing::error!(%error, "cannot listen for Ctrl-C");
                std::future::pending().await
            }
        }
    }
}
