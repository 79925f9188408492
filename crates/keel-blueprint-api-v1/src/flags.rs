//! `GET /api/v1/flags`: every feature flag as it is for the visitor making the request.
//!
//! A front end reads this once to decide what to show; the answer matches what the server-side guards
//! decide for the same visitor, because both bucket by the same signed visitor cookie.

use std::collections::BTreeMap;

use axum::Json;
use keel_ext_flags::Flags;
use serde::Serialize;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct VisitorFlags {
    flags: BTreeMap<&'static str, bool>,
}

#[utoipa::path(get, path = "/flags", tag = "meta", responses(
    (status = 200, description = "Each flag, on or off for this visitor", body = VisitorFlags),
))]
pub(crate) async fn flags_show(flags: Flags) -> Json<VisitorFlags> {
    Json(VisitorFlags {
        flags: flags.evaluate_all().into_iter().collect(),
    })
}
