//! The readiness report: what `/api/v1/ready` answers, ready or not. Written for clients on purpose (a
//! safe summary per dependency), so its 503 passes the app factory unchanged.

use std::collections::BTreeMap;

use serde::Serialize;

/// The readiness report: an overall status and one entry per dependency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    pub(crate) status: &'static str,
    pub(crate) checks: BTreeMap<&'static str, Check>,
}

impl Readiness {
    /// `ok`, `unavailable` or `draining`.
    pub(crate) fn status(&self) -> &'static str {
        self.status
    }
}

/// One dependency's state. `detail` is a safe summary for operators; the full cause goes to the log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Check {
    pub(crate) status: &'static str,
    pub(crate) backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
}
