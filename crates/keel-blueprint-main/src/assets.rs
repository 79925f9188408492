//! Static assets: content-hashed URLs for the files under the static folder.
//!
//! The folder is scanned once at start-up. A URL built by [`StaticAssets::static_url`] carries the first hex
//! digits of the file's SHA-256, so a changed file gets a new URL and an unchanged one can be cached for a year.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::MainError;

/// One file found by [`StaticAssets::scan_with`].
#[derive(Debug)]
pub struct ScannedFile<'scan> {
    /// The `/`-separated path relative to the static folder, as in [`StaticAssets::static_url`].
    pub path: &'scan str,
    pub fingerprint: &'scan str,
    pub contents: Vec<u8>,
    /// When the file was last modified, if the file system says.
    pub modified: Option<std::time::SystemTime>,
}

/// Where the app serves the static folder.
pub const STATIC_URL_PREFIX: &str = "/static";

/// How many hex digits of the SHA-256 go into a URL: enough to tell versions apart, short enough to read.
const FINGERPRINT_LENGTH: usize = 12;

/// The content fingerprints of every file in the static folder, keyed by `/`-separated relative path.
///
/// Cheap to clone: the map is shared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticAssets {
    fingerprints: Arc<BTreeMap<String, String>>,
}

impl StaticAssets {
    /// Reads every file below `dir` and records its fingerprint.
    pub fn scan(dir: &Path) -> Result<StaticAssets, MainError> {
        StaticAssets::scan_with(dir, |_| {})
    }

    /// [`StaticAssets::scan`], handing each file's contents to `keep` as they are read, so a caller that
    /// holds files in memory reads each one once and holds exactly the bytes its fingerprint describes.
    pub fn scan_with(
        dir: &Path,
        mut keep: impl FnMut(ScannedFile<'_>),
    ) -> Result<StaticAssets, MainError> {
        let mut fingerprints = BTreeMap::new();
        scan_into(dir, dir, &mut fingerprints, &mut keep).map_err(|source| {
            MainError::StaticDir {
                dir: dir.to_path_buf(),
                resolved: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
                source,
            }
        })?;
        Ok(StaticAssets {
            fingerprints: Arc::new(fingerprints),
        })
    }

    /// Fingerprints given directly, for tests and for apps that build their assets elsewhere.
    pub fn from_fingerprints<I, K, V>(entries: I) -> StaticAssets
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let fingerprints = entries
            .into_iter()
            .map(|(path, fingerprint)| (path.into(), fingerprint.into()))
            .collect();
        StaticAssets {
            fingerprints: Arc::new(fingerprints),
        }
    }

    /// The URL of `path` (relative to the static folder, e.g. `css/app.css`), with `?v=<fingerprint>` when
    /// the file is known. An unknown file still gets a plain URL, so a missing asset shows up as a 404 in
    /// the browser instead of breaking the whole page.
    pub fn static_url(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        match self.fingerprints.get(path) {
            Some(fingerprint) => format!("{STATIC_URL_PREFIX}/{path}?v={fingerprint}"),
            None => format!("{STATIC_URL_PREFIX}/{path}"),
        }
    }

    /// The `Cache-Control` value for a static file fetched at `path` (relative to the static folder) with
    /// the `v` query parameter `version`: cacheable for a year when `version` is the file's current
    /// fingerprint (a change gives the file a new URL), otherwise for `short_max_age_secs` only.
    pub fn cache_control(
        &self,
        path: &str,
        version: Option<&str>,
        short_max_age_secs: u64,
    ) -> String {
        match (self.fingerprint(path), version) {
            (Some(current), Some(requested)) if current == requested => {
                "public, max-age=31536000, immutable".to_owned()
            }
            _ => format!("public, max-age={short_max_age_secs}"),
        }
    }

    /// The fingerprint of `path`, if the file was found by the scan.
    pub fn fingerprint(&self, path: &str) -> Option<&str> {
        self.fingerprints.get(path).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }
}

fn scan_into(
    root: &Path,
    dir: &Path,
    fingerprints: &mut BTreeMap<String, String>,
    keep: &mut impl FnMut(ScannedFile<'_>),
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path: PathBuf = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            scan_into(root, &path, fingerprints, keep)?;
        } else if file_type.is_file() {
            let contents = std::fs::read(&path)?;
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let key = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let fingerprint = fingerprint_of(&contents);
            keep(ScannedFile {
                path: &key,
                fingerprint: &fingerprint,
                contents,
                modified: entry.metadata()?.modified().ok(),
            });
            fingerprints.insert(key, fingerprint);
        }
    }
    Ok(())
}

fn fingerprint_of(contents: &[u8]) -> String {
    let mut fingerprint = hex::encode(Sha256::digest(contents));
    fingerprint.truncate(FINGERPRINT_LENGTH);
    fingerprint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scanned_file_gets_a_url_with_its_content_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("css")).unwrap();
        std::fs::write(dir.path().join("css/app.css"), "body {}").unwrap();
        std::fs::write(dir.path().join("robots.txt"), "").unwrap();

        let assets = StaticAssets::scan(dir.path()).unwrap();

        // SHA-256("body {}") starts with these digits; SHA-256("") is the well-known e3b0c442…
        let body_fingerprint = fingerprint_of(b"body {}");
        assert_eq!(assets.len(), 2);
        assert_eq!(
            assets.static_url("css/app.css"),
            format!("/static/css/app.css?v={body_fingerprint}")
        );
        assert_eq!(
            assets.static_url("/robots.txt"),
            "/static/robots.txt?v=e3b0c44298fc"
        );
    }

    #[test]
    fn only_the_current_fingerprint_makes_a_file_immutable() {
        let assets = StaticAssets::from_fingerprints([("css/app.css", "0123456789ab")]);
        let cases = [
            (
                "css/app.css",
                Some("0123456789ab"),
                "public, max-age=31536000, immutable",
            ),
            ("css/app.css", Some("ffffffffffff"), "public, max-age=300"),
            ("css/app.css", None, "public, max-age=300"),
            ("css/other.css", Some("0123456789ab"), "public, max-age=300"),
        ];
        for (path, version, expected) in cases {
            assert_eq!(
                assets.cache_control(path, version, 300),
                expected,
                "{path} {version:?}"
            );
        }
    }

    #[test]
    fn an_unknown_file_gets_a_plain_url() {
        let assets = StaticAssets::default();
        assert_eq!(
            assets.static_url("css/missing.css"),
            "/static/css/missing.css"
        );
    }

    #[test]
    fn a_missing_folder_is_an_error_that_names_it_and_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let error = StaticAssets::scan(&missing).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cannot read the static folder {} (static_files.dir = {:?}); set static_files.dir (APP_STATIC_FILES__DIR) to the folder holding the assets, e.g. an absolute path",
                missing.display(),
                missing.display().to_string()
            )
        );
    }

    #[test]
    fn a_relative_folder_is_shown_resolved_against_the_working_directory() {
        let error = StaticAssets::scan(Path::new("no/such/static")).unwrap_err();
        let resolved = std::env::current_dir().unwrap().join("no/such/static");
        assert!(
            error.to_string().starts_with(&format!(
                "cannot read the static folder {} (static_files.dir = \"no/such/static\")",
                resolved.display()
            )),
            "{error}"
        );
    }
}
