//! `/static/*`: files from `static_files.dir`, with caching that follows the content hash.
//!
//! A URL from `static_url()` carries `?v=<fingerprint>`; when that is the file's current fingerprint the
//! response may be cached for a year, because a changed file gets a new URL. Anything else gets
//! `static_files.max_age_secs`. Directories are never listed, and paths that try to leave the folder
//! (`..`, encoded or not) are 404, like every missing file. So are hidden files and folders (a name that
//! starts with a dot, encoded or not): a stray `.env` or `.git` in the static folder must not be public.
//!
//! Files within `static_files.memory_budget_bytes` are answered from memory (`static_files/memory.rs`);
//! tower-http's `ServeDir` reads the others from disk, and answers what memory leaves to it (ranges,
//! other methods, missing files).

mod memory;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use keel_blueprint_main::{STATIC_URL_PREFIX, StaticAssets};
use keel_http::ErrorReport;
use tower_http::services::ServeDir;

pub(crate) use self::memory::{Candidates, MemoryFiles};

#[derive(Debug, Clone)]
struct Caching {
    assets: StaticAssets,
    short_max_age_secs: u64,
}

/// The static files router, to merge into the app's router: `memory` answers what it holds, the file
/// server the rest.
pub(crate) fn router<S>(
    dir: &Path,
    assets: StaticAssets,
    short_max_age_secs: u64,
    memory: MemoryFiles,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    // Without this, a folder's URL redirects to the folder with a slash and then looks for index.html.
    let files = ServeDir::new(dir).append_index_html_on_directories(false);
    let caching = Caching {
        assets,
        short_max_age_secs,
    };
    Router::new()
        .nest_service(STATIC_URL_PREFIX, files)
        .layer(middleware::from_fn_with_state(
            Arc::new(memory),
            memory::serve,
        ))
        .layer(middleware::from_fn_with_state(caching, cache_control))
        .layer(middleware::from_fn(hide_hidden_files))
}

/// Answers the app's ordinary 404 for a hidden file or folder, before the file server looks.
async fn hide_hidden_files(request: Request, next: Next) -> Response {
    if names_hidden_file(request.uri().path()) {
        return ErrorReport::not_found().into_response();
    }
    next.run(request).await
}

/// Whether a segment of `path` starts with a dot once percent-decoded, as the file server decodes it
/// (`%2ehidden` and `css%2f.env` included; `..` and `.` too, which never name a file to serve).
fn names_hidden_file(path: &str) -> bool {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    decoded
        .split(|byte| *byte == b'/' || *byte == b'\\')
        .any(|segment| segment.first() == Some(&b'.'))
}

async fn cache_control(State(caching): State<Caching>, request: Request, next: Next) -> Response {
    let path = request
        .uri()
        .path()
        .strip_prefix(STATIC_URL_PREFIX)
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    let version = request
        .uri()
        .query()
        .and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("v=")))
        .map(str::to_owned);
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status().as_u16() == 304 {
        let value =
            caching
                .assets
                .cache_control(&path, version.as_deref(), caching.short_max_age_secs);
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::CACHE_CONTROL, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_names_are_found_however_they_are_encoded() {
        let hidden = [
            "/static/.env",
            "/static/%2eenv",
            "/static/%2Eenv",
            "/static/.git/config",
            "/static/css/.env",
            "/static/css%2f.env",
            "/static/css%5c.env",
            "/static/../Cargo.toml",
            "/static/./css/app.css",
        ];
        for path in hidden {
            assert!(names_hidden_file(path), "{path}");
        }
        for path in [
            "/static/css/app.css",
            "/static/css/app.v2.css",
            "/static/a%20b.txt",
        ] {
            assert!(!names_hidden_file(path), "{path}");
        }
    }
}
