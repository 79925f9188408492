//! The baseline: a bare axum server answering keel's benchmarked routes with the same bytes and content
//! types, and no middleware, so the benchmark shows what keel's stack costs above the framework.
//!
//! `bare-axum PORT DIR` serves, on 127.0.0.1:PORT, each route's body from `DIR/NAME.body` and its content
//! type from `DIR/NAME.type`; the harness writes them from keel's own answers, so the bytes match.

use std::path::Path;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// The routes and the name of the files their answers are read from.
const ROUTES: &[(&str, &str)] = &[
    ("/api/v1/health", "health"),
    ("/", "index"),
    ("/static/css/app.css", "stylesheet"),
    ("/signup-v2", "signup-v2"),
];

fn main() -> std::process::ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [port, dir] = arguments.as_slice() else {
        eprintln!("usage: bare-axum PORT DIR (DIR holds NAME.body and NAME.type for each route)");
        return std::process::ExitCode::from(2);
    };
    match serve(port, Path::new(dir)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bare-axum: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(port: &str, dir: &Path) -> Result<(), String> {
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port number"))?;
    let mut router = Router::new();
    for (route, name) in ROUTES {
        let read = |extension: &str| {
            let path = dir.join(format!("{name}.{extension}"));
            std::fs::read(&path).map_err(|error| format!("cannot read {}: {error}", path.display()))
        };
        let body = axum::body::Bytes::from(read("body")?);
        let content_type = HeaderValue::from_bytes(&read("type")?)
            .map_err(|_| format!("{name}.type is not a header value"))?;
        router =
            router.route(
                route,
                get(move || async move {
                    ([(header::CONTENT_TYPE, content_type)], body).into_response()
                }),
            );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|error| format!("cannot listen on 127.0.0.1:{port}: {error}"))?;
        axum::serve(listener, router)
            .await
            .map_err(|error| format!("serving failed: {error}"))
    })
}
