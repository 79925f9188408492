//! `/static` answered from memory: the same bytes and headers as the file server, validators, `HEAD`,
//! gzip, the memory budget, and development reading the disk so an edit shows without a restart.

use std::io::Read as _;
use std::path::Path;

use crate::helpers::{Backend, TestApp, TestDatabase, spawn_app_in, spawn_app_with};

/// A static folder of its own: a stylesheet, a small text file and `big.txt` of 8 KiB.
fn folder() -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    for (file, contents) in [
        (
            "css/app.css",
            "body { color: #123456; margin: 0 auto; padding: 1rem; }\n".repeat(20),
        ),
        ("small.txt", "a small file\n".to_owned()),
        ("big.txt", "0123456789abcdef".repeat(512)),
    ] {
        let path = folder.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    folder
}

async fn spawn(environment: &str, folder: &Path, budget: Option<&str>) -> TestApp {
    let dir = folder.display().to_string();
    let mut overrides = vec![("static_files.dir", dir.as_str())];
    if let Some(budget) = budget {
        overrides.push(("static_files.memory_budget_bytes", budget));
    }
    spawn_app_in(
        environment,
        TestDatabase::create(Backend::Sqlite).await,
        &overrides,
    )
    .await
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn files_from_memory_carry_the_bytes_and_headers_the_file_server_sent() {
    let folder = folder();
    let memory = spawn("testing", folder.path(), None).await;
    let disk = spawn("testing", folder.path(), Some("0")).await;
    for path in [
        "/static/css/app.css",
        "/static/small.txt",
        "/static/big.txt",
    ] {
        let (from_memory, from_disk) = (memory.get(path).await, disk.get(path).await);
        assert_eq!(from_memory.status(), 200, "{path}");
        assert_eq!(from_disk.status(), 200, "{path}");
        for name in [
            "content-type",
            "content-length",
            "last-modified",
            "accept-ranges",
            "cache-control",
            "vary",
            "x-content-type-options",
        ] {
            assert_eq!(
                header(&from_memory, name),
                header(&from_disk, name),
                "{path} {name}"
            );
        }
        // Only memory knows the content fingerprint, so only memory sends it as the ETag.
        assert!(header(&from_memory, "etag").is_some(), "{path}");
        assert_eq!(header(&from_disk, "etag"), None, "{path}");
        assert_eq!(
            from_memory.bytes().await.unwrap(),
            from_disk.bytes().await.unwrap(),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_client_with_a_current_copy_gets_304_and_head_gets_the_headers_alone() {
    let folder = folder();
    let app = spawn("testing", folder.path(), None).await;
    let page = app.get("/static/css/app.css").await;
    let (etag, modified) = (
        header(&page, "etag").unwrap(),
        header(&page, "last-modified").unwrap(),
    );
    let length = page.bytes().await.unwrap().len();
    for (name, value) in [("if-none-match", &etag), ("if-modified-since", &modified)] {
        let response = app
            .get_with_header("/static/css/app.css", name, value)
            .await;
        assert_eq!(response.status(), 304, "{name}");
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("public, max-age=300"),
            "{name}"
        );
        assert_eq!(header(&response, "etag").as_ref(), Some(&etag), "{name}");
        assert!(response.bytes().await.unwrap().is_empty(), "{name}");
    }
    let stale = app
        .get_with_header("/static/css/app.css", "if-none-match", "\"000000000000\"")
        .await;
    assert_eq!(stale.status(), 200);

    let head = app
        .client
        .head(format!("{}/static/css/app.css", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), Some(length.to_string()));
    assert_eq!(header(&head, "etag"), Some(etag));
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_gzip_copy_holds_the_same_bytes_and_ranges_are_still_answered() {
    let folder = folder();
    let app = spawn("testing", folder.path(), None).await;
    let plain = app.get("/static/css/app.css").await.bytes().await.unwrap();
    let gzipped = app
        .get_with_header("/static/css/app.css", "accept-encoding", "gzip")
        .await;
    assert_eq!(
        header(&gzipped, "content-encoding").as_deref(),
        Some("gzip")
    );
    assert_eq!(header(&gzipped, "vary").as_deref(), Some("accept-encoding"));
    let compressed = gzipped.bytes().await.unwrap();
    assert!(compressed.len() < plain.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_ref())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);

    let range = app
        .get_with_header("/static/css/app.css", "range", "bytes=0-3")
        .await;
    assert_eq!(range.status(), 206);
    assert_eq!(range.bytes().await.unwrap(), plain.slice(0..4));
}

#[tokio::test]
async fn files_beyond_the_memory_budget_are_still_served_from_disk() {
    let folder = folder();
    // Room for the small file only.
    let app = spawn("testing", folder.path(), Some("1024")).await;
    let small = app.get("/static/small.txt").await;
    assert_eq!(small.status(), 200);
    assert!(header(&small, "etag").is_some(), "small.txt is in memory");
    let big = app.get("/static/big.txt").await;
    assert_eq!(big.status(), 200);
    assert_eq!(header(&big, "etag"), None, "big.txt is read from disk");
    assert_eq!(
        big.bytes().await.unwrap(),
        std::fs::read(folder.path().join("big.txt")).unwrap()
    );
}

#[tokio::test]
async fn in_development_an_edited_file_shows_on_the_next_request() {
    let folder = folder();
    let app = spawn("development", folder.path(), None).await;
    let before = app.get("/static/small.txt").await;
    assert_eq!(before.text().await.unwrap(), "a small file\n");
    std::fs::write(folder.path().join("small.txt"), "edited\n").unwrap();
    let after = app.get("/static/small.txt").await;
    assert_eq!(after.text().await.unwrap(), "edited\n");
}

#[tokio::test]
async fn the_checkouts_stylesheet_is_served_from_memory_with_its_fingerprint() {
    let app = spawn_app_with(TestDatabase::create(Backend::Sqlite).await, &[]).await;
    let page = app.get("/").await.text().await.unwrap();
    let start = page.find("/static/css/app.css?v=").unwrap();
    let hashed = &page[start..start + page[start..].find('"').unwrap()];
    let fingerprint = hashed.rsplit('=').next().unwrap();
    let response = app.get(hashed).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "etag"),
        Some(format!("\"{fingerprint}\""))
    );
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
}
