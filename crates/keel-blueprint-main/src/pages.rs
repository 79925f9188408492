//! HTML pages. Each page is a `<Page>Template` struct checked against its template at compile time.

use askama::Template;
use axum::extract::State;
use axum::http::Method;
use axum::response::{Html, IntoResponse, Response};
use keel_ext_flags::Flags;
use keel_ext_flags::catalog::SIGNUP_V2;
use keel_http::{ErrorReport, RequestId};

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
    /// Whether to link the new sign-up page: only visitors who can see it get the link.
    show_signup_v2: bool,
}

pub(crate) async fn index_show(
    State(site): State<SiteInfo>,
    State(assets): State<StaticAssets>,
    flags: Flags,
) -> Result<Html<String>, MainError> {
    let page = IndexTemplate {
        site: &site,
        assets: &assets,
        show_signup_v2: flags.is_enabled(SIGNUP_V2),
    };
    page.render().map(Html).map_err(|source| MainError::Render {
        template: "index.html",
        source,
    })
}

#[derive(Template)]
#[template(path = "signup_v2.html")]
pub(crate) struct SignupV2Template<'a> {
    site: &'a SiteInfo,
    assets: &'a StaticAssets,
}

/// The page behind `signup_v2`; the router's `require_flag` layer hides it while the flag is off. Only
/// GET (and HEAD) are served; other methods get 405 once the flag lets them this far.
pub(crate) async fn signup_v2_show(
    method: Method,
    State(site): State<SiteInfo>,
    State(assets): State<StaticAssets>,
) -> Result<Html<String>, MainError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(MainError::MethodNotAllowed);
    }
    let page = SignupV2Template {
        site: &site,
        assets: &assets,
    };
    page.render().map(Html).map_err(|source| MainError::Render {
        template: "signup_v2.html",
        source,
    })
}

/// The HTML page for a failed request, for clients that prefer HTML (browsers).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPageTemplate<'a> {
    site: &'a SiteInfo,
    assets: &'a StaticAssets,
    status_code: u16,
    reason: &'a str,
    message: &'a str,
    request_id: &'a str,
}

/// Renders `report` as an HTML page with the site's layout. The app factory calls it for every error
/// response when the client prefers HTML; the page shows the same safe message as the JSON body.
pub fn error_page(
    site: &SiteInfo,
    assets: &StaticAssets,
    report: &ErrorReport,
    request_id: &RequestId,
) -> Response {
    let page = ErrorPageTemplate {
        site,
        assets,
        status_code: report.status.as_u16(),
        reason: report.status.canonical_reason().unwrap_or("Error"),
        message: &report.message,
        request_id: request_id.as_str(),
    };
    match page.render() {
        Ok(html) => (report.status, Html(html)).into_response(),
        // The JSON form still tells the client what happened.
        Err(error) => {
            tracing::error!(%error, "rendering the error page failed");
            report.to_response_with(request_id)
        }
    }
}
