//! `/version`: what is running, so an operator can tell two deployments apart.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

/// Facts fixed when the binary was built. The app factory fills them from its build script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BuildInfo {
    pub name: String,
    pub version: String,
    /// The git commit the binary was built from, or `unknown` outside a git checkout.
    pub git_revision: String,
    /// `debug` or `release`.
    pub build_profile: String,
}

#[utoipa::path(get, path = "/version", tag = "meta", responses(
    (status = 200, description = "What is running", body = BuildInfo),
))]
pub(crate) async fn version_show(State(build): State<BuildInfo>) -> Json<BuildInfo> {
    Json(build)
}
