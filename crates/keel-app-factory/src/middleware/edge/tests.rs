//! The edge around a handler that never answers, under a JSON log output in memory.

use std::future::Future as _;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::middleware::apply;
use crate::middleware::tests::{get_request, options};

/// A request whose client went away: its handler's future is dropped inside the request span, so what
/// it logs on the way out keeps the request's ids.
#[tokio::test]
async fn a_request_dropped_before_its_answer_is_dropped_inside_its_span() {
    struct WarnsWhenDropped;
    impl Drop for WarnsWhenDropped {
        fn drop(&mut self) {
            tracing::warn!("dropped before its answer");
        }
    }
    let written = Arc::new(Mutex::new(Vec::<u8>::new()));
    let load = keel_config::LoadOptions {
        environment: Some("testing".to_owned()),
        overrides: vec![
            keel_config::Override::new("telemetry.log_format", "json"),
            keel_config::Override::new("telemetry.log_level", "warn"),
        ],
        ..keel_config::LoadOptions::default()
    };
    let settings = keel_config::load(&load).unwrap().settings;
    let writer = {
        let written = Arc::clone(&written);
        move || SharedWriter(Arc::clone(&written))
    };
    let (subscriber, _telemetry) = keel_ext_telemetry::init_with_writer(&settings, writer).unwrap();
    // The other tests make request spans on other threads, with no subscriber. While a single dispatcher
    // is registered, tracing asks only the registering thread's own whether a callsite is wanted, so a
    // callsite first met on one of those threads would be marked as wanted by nobody; with two, it asks
    // every registered dispatcher.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _default = tracing::subscriber::set_default(subscriber);
    let routes = Router::new().route(
        "/hang",
        get(|| async {
            let _noted = WarnsWhenDropped;
            std::future::pending::<&'static str>().await
        }),
    );
    let mut answer = Box::pin(apply(routes, &options(), None).oneshot(get_request("/hang")));
    let first_poll =
        std::future::poll_fn(|context| Poll::Ready(answer.as_mut().poll(context))).await;
    assert!(first_poll.is_pending(), "the handler never answers");
    drop(answer);

    let written = String::from_utf8(written.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{written}");
    assert_eq!(lines[0]["message"], "dropped before its answer");
    assert_eq!(lines[0]["span"]["http.route"], "/hang", "{written}");
    assert!(lines[0]["span"]["request_id"].is_string(), "{written}");
}

/// Log output gathered in memory.
struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
