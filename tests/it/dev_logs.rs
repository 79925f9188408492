//! Development logs as a person reads them: the pretty format of a real process, whose standard error is
//! a pipe (not a terminal), so no colours.

use std::time::Duration;

use crate::process::{KeelProcess, fresh_client};

#[tokio::test]
async fn a_pretty_access_line_reads_like_the_request_with_a_short_id_and_no_colours() {
    let keel = KeelProcess::start(&[
        ("APP_TELEMETRY__LOG_FORMAT", "pretty"),
        ("APP_TELEMETRY__LOG_LEVEL", "info"),
    ])
    .await;
    let response = fresh_client()
        .get(format!("{}/ping", keel.address))
        .header("x-request-id", "dev-logs-test-0123abcd")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let line = keel
        .wait_for_log("GET /ping → 200 in ", Duration::from_secs(10))
        .await;
    assert!(line.ends_with(" ms  req 0123abcd"), "{line}");
    assert!(line.contains(" INFO GET /ping → 200 in "), "{line}");
    for repeated in ["otel.name", "request_id", "trace_id", "\u{1b}["] {
        assert!(!line.contains(repeated), "{repeated:?} in {line}");
    }
}
