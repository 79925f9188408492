//! The listening socket: inherited from the process that started keel, or bound by keel itself.
//!
//! A socket is inherited through the `LISTEN_FDS` protocol of systemd's socket activation, which
//! `systemfd` speaks too: `just dev` runs `systemfd --no-pid -s http::8080 -- watchexec … cargo run`, so
//! the socket outlives every restart and a browser's request waits in its backlog while keel rebuilds,
//! instead of failing with "connection refused". Without `LISTEN_FDS`, keel binds `server.host` and
//! `server.port` as usual.

use anyhow::Context;
use keel_config::ServerSettings;
use tokio::net::TcpListener;

/// The first socket passed in `LISTEN_FDS`, if any. Variables meant for another process (`LISTEN_PID`
/// naming another one) are ignored, as the protocol asks. Reads and removes this process's variables, so
/// only the process itself may call it, before it starts threads.
pub(crate) fn inherited() -> anyhow::Result<Option<std::net::TcpListener>> {
    listenfd::ListenFd::from_env().take_tcp_listener(0).context(
        "LISTEN_FDS passes a descriptor that is not a TCP socket; pass a TCP listener (systemfd -s http::PORT), or unset LISTEN_FDS so keel binds server.host and server.port",
    )
}

/// The listener to serve on, and how it was obtained (for the start-up log line).
pub(crate) async fn listen(
    server: &ServerSettings,
    inherited: Option<std::net::TcpListener>,
) -> anyhow::Result<(TcpListener, &'static str)> {
    if let Some(listener) = inherited {
        // Tokio needs the socket in non-blocking mode; an inherited one may be in either.
        listener
            .set_nonblocking(true)
            .context("cannot use the inherited socket")?;
        let listener =
            TcpListener::from_std(listener).context("cannot use the inherited socket")?;
        return Ok((listener, "inherited (LISTEN_FDS)"));
    }
    let address = format!("{}:{}", server.host, server.port);
    let listener = TcpListener::bind(&address).await.with_context(|| {
        format!("cannot listen on {address}; set server.host and server.port (or PORT) to a free address")
    })?;
    Ok((listener, "bound"))
}
