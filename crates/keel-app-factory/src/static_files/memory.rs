//! Static files answered from memory: the bytes, a gzip copy, the headers and the validators of the files
//! the start-up scan read, within `static_files.memory_budget_bytes`.
//!
//! tower-http's `ServeDir` opens, reads and closes the file on the blocking pool for every request, and
//! the compression layer gzips it again each time; a file in the static folder does not change while the
//! process runs (development sets the budget to 0 and keeps reading the disk), so both are done once.
//! Only the plain case is answered here: `GET` or `HEAD`, with `If-None-Match` or `If-Modified-Since` at
//! most. A request with `Range`, `If-Range`, `If-Match` or `If-Unmodified-Since`, another method, or a
//! path naming no file held here goes on to `ServeDir`, which answers it as it always did (206, 412, 405,
//! 404). So does every file beyond the budget: the smallest files are held first, since those are what a
//! page asks for on every view (stylesheets, scripts, icons), while a large file's cost per request is
//! mostly its bytes, which memory does not save.
//!
//! A response carries what `ServeDir` and the compression layer sent — `Content-Type` guessed from the
//! extension by the same `mime_guess`, `Accept-Ranges`, `Last-Modified`, `Content-Length`, and for the
//! gzip copy `Content-Encoding` and `Vary` — plus an `ETag` made of the content fingerprint, which a file
//! server reading the disk cannot know. The gzip copy is made for exactly the files the compression layer
//! would compress (its own predicate decides), and only when `server.compression` is on; the layer passes
//! a response that already has a `Content-Encoding` through untouched.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use httpdate::HttpDate;
use keel_blueprint_main::{STATIC_URL_PREFIX, ScannedFile};
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};

/// The files held in memory, keyed by their path relative to the static folder.
#[derive(Debug, Default)]
pub(crate) struct MemoryFiles {
    files: HashMap<String, MemoryFile>,
}

/// Collects the scanned files that may be held, then picks those that fit the budget.
#[derive(Debug)]
pub(crate) struct Candidates {
    budget: u64,
    files: Vec<Candidate>,
}

#[derive(Debug)]
struct Candidate {
    path: String,
    fingerprint: String,
    contents: Vec<u8>,
    modified: Option<std::time::SystemTime>,
}

#[derive(Debug)]
struct MemoryFile {
    content_type: HeaderValue,
    last_modified: Option<(HttpDate, HeaderValue)>,
    identity: Representation,
    gzip: Option<Representation>,
}

/// One encoding of a file: its bytes and the headers that describe them.
#[derive(Debug)]
struct Representation {
    body: Bytes,
    content_length: HeaderValue,
    etag: HeaderValue,
}

impl Candidates {
    pub(crate) fn new(budget: u64) -> Candidates {
        Candidates {
            budget,
            files: Vec::new(),
        }
    }

    /// Keeps `file` as a candidate unless it is hidden (never served) or alone larger than the budget.
    pub(crate) fn offer(&mut self, file: ScannedFile<'_>) {
        let hidden = file.path.split('/').any(|part| part.starts_with('.'));
        if hidden || u64::try_from(file.contents.len()).map_or(true, |len| len > self.budget) {
            return;
        }
        self.files.push(Candidate {
            path: file.path.to_owned(),
            fingerprint: file.fingerprint.to_owned(),
            contents: file.contents,
            modified: file.modified,
        });
    }

    /// Holds the smallest files first, each with its gzip copy when `compression` is on and the
    /// compression layer would gzip it, as long as the bytes held stay within the budget.
    pub(crate) fn finish(mut self, compression: bool) -> MemoryFiles {
        self.files
            .sort_by(|a, b| (a.contents.len(), &a.path).cmp(&(b.contents.len(), &b.path)));
        let mut spent = 0_u64;
        let mut files = HashMap::new();
        for candidate in self.files {
            let path = candidate.path.clone();
            let file = MemoryFile::new(candidate, compression);
            let cost = file.bytes();
            if spent.saturating_add(cost) <= self.budget {
                spent += cost;
                files.insert(path, file);
            }
        }
        MemoryFiles { files }
    }
}

impl MemoryFiles {
    /// How many files are held.
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    /// The response for `request` when a file held here answers it, or `None` for the file server.
    fn answer(&self, request: &Request) -> Option<Response> {
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return None,
        };
        let headers = request.headers();
        let for_the_file_server = [
            header::RANGE,
            header::IF_RANGE,
            header::IF_MATCH,
            header::IF_UNMODIFIED_SINCE,
        ];
        if for_the_file_server
            .iter()
            .any(|name| headers.contains_key(name))
        {
            return None;
        }
        let path = request
            .uri()
            .path()
            .strip_prefix(STATIC_URL_PREFIX)?
            .strip_prefix('/')?;
        let path = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .ok()?;
        let file = self.files.get(path.as_ref())?;
        let (representation, gzipped) = match &file.gzip {
            Some(gzip) if prefers_gzip(headers) => (gzip, true),
            _ => (&file.identity, false),
        };
        let mut response = if file.not_modified(headers, representation) {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let body = if head {
                Body::empty()
            } else {
                Body::from(representation.body.clone())
            };
            let mut response = Response::new(body);
            let response_headers = response.headers_mut();
            response_headers.insert(header::CONTENT_TYPE, file.content_type.clone());
            response_headers.insert(
                header::CONTENT_LENGTH,
                representation.content_length.clone(),
            );
            if let Some((_, last_modified)) = &file.last_modified {
                response_headers.insert(header::LAST_MODIFIED, last_modified.clone());
            }
            if gzipped {
                response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            } else {
                response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            }
            response
        };
        let response_headers = response.headers_mut();
        response_headers.insert(header::ETAG, representation.etag.clone());
        // The compression layer would add it to a body it compresses; a 304 or a HEAD has none, and the
        // gzip copy is already encoded, so it is set here for every answer that depends on the header.
        if file.gzip.is_some() {
            response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        Some(response)
    }
}

impl MemoryFile {
    fn new(candidate: Candidate, compression: bool) -> MemoryFile {
        let Candidate {
            path,
            fingerprint,
            contents,
            modified,
        } = candidate;
        let content_type = mime_guess::from_path(&path).first_raw().map_or_else(
            || HeaderValue::from_static("application/octet-stream"),
            HeaderValue::from_static,
        );
        let identity = Representation::new(Bytes::from(contents), fingerprint.clone());
        let gzip = (compression && compressible(&content_type, &identity.body))
            .then(|| gzip(&identity.body))
            .flatten()
            .map(|body| Representation::new(body, format!("{fingerprint}-gzip")));
        MemoryFile {
            content_type,
            last_modified: modified.map(|time| {
                let date = HttpDate::from(time);
                let value = HeaderValue::from_str(&date.to_string())
                    .unwrap_or_else(|_| HeaderValue::from_static(""));
                (date, value)
            }),
            identity,
            gzip,
        }
    }

    /// The bytes this file holds, its gzip copy included.
    fn bytes(&self) -> u64 {
        let gzip = self.gzip.as_ref().map_or(0, |gzip| gzip.body.len());
        u64::try_from(self.identity.body.len() + gzip).unwrap_or(u64::MAX)
    }

    /// Whether the client's copy is current: `If-None-Match` names this representation's tag (compared
    /// weakly, as the header requires), or, without `If-None-Match`, the file was not modified after
    /// `If-Modified-Since` (to the second, as `ServeDir` compares).
    fn not_modified(&self, headers: &HeaderMap, representation: &Representation) -> bool {
        if headers.contains_key(header::IF_NONE_MATCH) {
            return headers
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == "*" || tag.as_bytes() == representation.etag.as_bytes());
        }
        let since = headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<HttpDate>().ok());
        match (since, &self.last_modified) {
            (Some(since), Some((modified, _))) => *modified <= since,
            _ => false,
        }
    }
}

impl Representation {
    fn new(body: Bytes, tag: String) -> Representation {
        Representation {
            content_length: HeaderValue::from(body.len()),
            etag: HeaderValue::from_str(&format!("\"{tag}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"\"")),
            body,
        }
    }
}

/// The middleware in front of the file server: answers from memory what it can (see the module
/// documentation) and passes everything else on.
pub(crate) async fn serve(
    State(files): State<Arc<MemoryFiles>>,
    request: Request,
    next: Next,
) -> Response {
    match files.answer(&request) {
        Some(response) => response,
        None => next.run(request).await,
    }
}

/// Whether the compression layer would gzip this file: its own default predicate, asked about the
/// response it would see.
fn compressible(content_type: &HeaderValue, body: &Bytes) -> bool {
    let mut probe = Response::new(Body::from(body.clone()));
    probe
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type.clone());
    DefaultPredicate::new().should_compress(&probe)
}

/// The gzip copy, made once at the best level (the layer uses the default level, since it works per
/// request). Writing into memory cannot fail; if it ever did, the file would be held without a copy and
/// the layer would compress it per request, as before.
fn gzip(body: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

/// Whether the client's `Accept-Encoding` picks gzip over the identity, as the compression layer decides
/// (tower-http's negotiation: the highest quality wins, gzip on a tie, `q=0` refuses, unknown codings and
/// `*` are ignored).
fn prefers_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut identity = None;
    let codings = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for coding in codings {
        let mut parts = coding.splitn(2, ';');
        let name = parts.next().unwrap_or_default().trim();
        let quality = match parts.next() {
            Some(parameter) => match quality(parameter.trim()) {
                Some(quality) => quality,
                None => continue,
            },
            None => 1000,
        };
        let slot = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if name.eq_ignore_ascii_case("identity") {
            &mut identity
        } else {
            continue;
        };
        *slot = Some(slot.map_or(quality, |best: u16| best.max(quality)));
    }
    match gzip {
        Some(gzip) => gzip > 0 && gzip >= identity.unwrap_or(0),
        None => false,
    }
}

/// A `q=` parameter in thousandths, or `None` when it is not one (then the coding is ignored, as the
/// compression layer ignores it).
fn quality(parameter: &str) -> Option<u16> {
    let value = parameter
        .strip_prefix("q=")
        .or_else(|| parameter.strip_prefix("Q="))?;
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let mut quality: u16 = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    if fraction.len() > 3 {
        return None;
    }
    for (digit, weight) in fraction.bytes().zip([100, 10, 1]) {
        if !digit.is_ascii_digit() {
            return None;
        }
        quality += weight * u16::from(digit - b'0');
    }
    (quality <= 1000).then_some(quality)
}

#[cfg(test)]
mod tests;
