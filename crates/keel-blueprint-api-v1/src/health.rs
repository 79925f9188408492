//! Liveness (`/health`: the process answers) and readiness (`/ready`: its dependencies answer too).
//!
//! Orchestrators restart a process whose liveness fails and stop routing to one whose readiness fails, so
//! liveness deliberately checks nothing: a database outage must not restart every instance at once.
//! Readiness fails on the database only, and asks it for the app's own tables (the migrations table), so
//! a schema that is gone or a SQLite file deleted under the running app fail it, not only an outage. Redis, when configured, is reported but does not fail it: without
//! Redis, flags keep their last state and changes arrive through the periodic resync, so taking every
//! instance out of the load balancer during a Redis outage would turn a slower flag rollout into downtime.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::extract::State;
use keel_ext_db::Db;
use keel_ext_flags::FlagStore;
use serde::Serialize;

use crate::error::ApiError;
use crate::readiness::{Check, Readiness};

#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Liveness {
    status: &'static str,
}

#[utoipa::path(get, path = "/health", tag = "health", responses(
    (status = 200, description = "The process is alive; nothing else is checked", body = Liveness),
))]
pub(crate) async fn health_show() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// Whether the process is shutting down. Once draining starts, readiness answers 503 at once so load
/// balancers stop sending traffic, while in-flight and late requests are still served.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[utoipa::path(get, path = "/ready", tag = "health", responses(
    (status = 200, description = "Ready: every check passed", body = Readiness),
    (status = 503, description = "Not ready or draining, with the checks", body = Readiness),
))]
pub(crate) async fn readiness_show(
    State(db): State<Db>,
    State(flags): State<FlagStore>,
    State(draining): State<Draining>,
) -> Result<Json<Readiness>, ApiError> {
    if draining.is_draining() {
        return Err(ApiError::NotReady(Readiness {
            status: "draining",
            checks: BTreeMap::new(),
        }));
    }
    let backend = db.backend().as_str();
    let database = match db.ping().await {
        Ok(()) => Check {
            status: "ok",
            backend,
            detail: None,
        },
        Err(cause) => {
            tracing::warn!(error = %cause, "readiness check: database unavailable");
            Check {
                status: "unavailable",
                backend,
                detail: Some(safe_detail(&cause)),
            }
        }
    };
    let ready = database.status == "ok";
    let mut checks = BTreeMap::from([("database", database)]);
    if let Some(connected) = flags.redis_connected() {
        let redis = if connected {
            Check {
                status: "ok",
                backend: "redis",
                detail: None,
            }
        } else {
            Check {
                status: "unavailable",
                backend: "redis",
                detail: Some(
                    "flag changes arrive through the periodic resync until Redis is back"
                        .to_owned(),
                ),
            }
        };
        checks.insert("redis", redis);
    }
    let report = Readiness {
        status: if ready { "ok" } else { "unavailable" },
        checks,
    };
    if ready {
        Ok(Json(report))
    } else {
        Err(ApiError::NotReady(report))
    }
}

/// What a client may learn about a failed ping: the kind of failure, never the driver's message (which can
/// hold host names or SQL).
fn safe_detail(cause: &keel_ext_db::Error) -> String {
    match cause {
        keel_ext_db::Error::Timeout(limit) => {
            format!("no answer within {} ms", limit.as_millis())
        }
        _ => "the app's tables cannot be read; the server log has the cause".to_owned(),
    }
}
