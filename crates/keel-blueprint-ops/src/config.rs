//! `GET /ops/config`: the masked configuration with the layer behind each value, the same view as
//! `keel show-config --all --explain --json`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use keel_config::Loaded;
use serde_json::Value;

use crate::auth::Admin;

/// The masked configuration, computed once at start-up (settings do not change while keel runs).
#[derive(Debug, Clone)]
pub struct ConfigView(Arc<Value>);

impl ConfigView {
    pub fn new(loaded: &Loaded) -> ConfigView {
        ConfigView(Arc::new(keel_config::entries_to_json(
            &loaded.masked_entries(),
            true,
        )))
    }
}

pub(crate) async fn config_show(_admin: Admin, State(view): State<ConfigView>) -> Json<Value> {
    Json(view.0.as_ref().clone())
}
