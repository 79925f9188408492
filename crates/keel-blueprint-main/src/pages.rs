//! HTML pages. Each page is a `<Page>Template` struct checked against its template at compile time.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use crate::assets::StaticAssets;
use crate::error::MainError;

/// What every page shows about the running site: its name and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInfo {
    pub app_name: String,
    /// The environment's name (`development`, `production`, …) for the badge in the header.
    pub environment: String,
}

#[derive(Template)]
#[template(path = "index.html")]
pub(crate) struct IndexTemplate<'a> {
    site: &'a SiteInfo,
    assets: &'a StaticAssets,
}

pub(crate) async fn index_show(
    State(site): State<SiteInfo>,
    State(assets): State<StaticAssets>,
) -> Result<Html<String>, MainError> {
    let page = IndexTemplate {
        site: &site,
        assets: &assets,
    };
    page.render().map(Html).map_err(|source| MainError::Render {
        template: "index.html",
        source,
    })
}
