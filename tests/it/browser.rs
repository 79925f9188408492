//! A real browser walks the notes pages: Debian's Chromium driven over WebDriver (`thirtyfour`) through
//! the chromedriver named by `TEST_CHROMEDRIVER` (`.ci/run` installs both with `.ci/browser-setup`). It
//! opens `/`, follows the link to the notes, creates a note through the form, sees the flash message and
//! the note in the list, and after every page asserts that the browser logged no Content-Security-Policy
//! violation and no console error. Without the variable the test has nothing to drive and passes; with
//! it set, anything missing or broken fails it.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use thirtyfour::prelude::*;
use thirtyfour::{BrowserLogEntry, LoggingPrefsLogLevel};

use crate::helpers::{Backend, TestDatabase, spawn_app_with};

/// How long chromedriver may take to answer its status endpoint after starting.
const DRIVER_START: Duration = Duration::from_secs(30);

/// chromedriver on a free loopback port, stopped when dropped.
struct Driver {
    url: String,
    process: std::process::Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    async fn start(binary: &str) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let process = std::process::Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("TEST_CHROMEDRIVER={binary} does not start: {error}"));
        // Owned from here on, so a failed wait below still stops the process.
        let driver = Driver {
            url: format!("http://127.0.0.1:{port}"),
            process,
        };
        let client = crate::http_client::client_builder().build().unwrap();
        let started = tokio::time::Instant::now();
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        loop {
            poll.tick().await;
            let ready = client.get(format!("{}/status", driver.url)).send().await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                break;
            }
            assert!(
                started.elapsed() < DRIVER_START,
                "chromedriver ({binary}) did not answer on port {port} within {DRIVER_START:?}"
            );
        }
        driver
    }
}

/// The log entries a page must not produce: any error, and any CSP report (Chromium words violations as
/// "Refused to … because it violates the following Content Security Policy directive").
fn problems(entries: &[BrowserLogEntry]) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| {
            entry.level == "SEVERE" || entry.message.contains("Content Security Policy")
        })
        .map(|entry| format!("{} {}", entry.level, entry.message))
        .collect()
}

async fn assert_clean_log(browser: &WebDriver, page: &str) {
    let entries = browser.browser_log().await.expect("the browser log");
    let problems = problems(&entries);
    assert!(
        problems.is_empty(),
        "{page} logged:\n{}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn a_browser_creates_a_note_through_the_pages_without_a_csp_violation_or_console_error() {
    // Empty counts as unset, so `TEST_CHROMEDRIVER="$(command -v chromedriver)"` works where it is missing.
    let Some(chromedriver) = std::env::var("TEST_CHROMEDRIVER")
        .ok()
        .filter(|path| !path.is_empty())
    else {
        return;
    };
    let app = spawn_app_with(TestDatabase::create(Backend::Sqlite).await, &[]).await;
    let driver = Driver::start(&chromedriver).await;
    let profile = tempfile::tempdir().expect("a profile folder");

    let mut capabilities = DesiredCapabilities::chrome();
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        &format!("--user-data-dir={}", profile.path().display()),
    ] {
        capabilities.add_arg(arg).unwrap();
    }
    if std::path::Path::new("/usr/bin/chromium").exists() {
        capabilities.set_binary("/usr/bin/chromium").unwrap();
    }
    capabilities
        .set_browser_log_level(LoggingPrefsLogLevel::All)
        .unwrap();
    // thirtyfour builds its own reqwest client, which needs the process's crypto provider.
    crate::http_client::install_crypto_provider();
    let browser = WebDriver::new(&driver.url, capabilities)
        .await
        .expect("chromedriver starts a Chromium session");

    let walk = async {
        browser.goto(format!("{}/", app.address)).await?;
        assert_clean_log(&browser, "/").await;

        browser.find(By::LinkText("Notes")).await?.click().await?;
        assert!(browser.current_url().await?.path().ends_with("/notes"));
        assert_clean_log(&browser, "/notes").await;

        browser
            .find(By::LinkText("New note"))
            .await?
            .click()
            .await?;
        assert_clean_log(&browser, "/notes/new").await;
        browser
            .find(By::Id("title"))
            .await?
            .send_keys("Written in Chromium")
            .await?;
        browser
            .find(By::Id("body"))
            .await?
            .send_keys("through the form")
            .await?;
        browser
            .find(By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;

        // `query` polls (find would race the redirect after the submit on a loaded machine).
        let flash = browser
            .query(By::ClassName("flash"))
            .first()
            .await?
            .text()
            .await?;
        assert_eq!(flash, "Note “Written in Chromium” created.");
        assert_clean_log(&browser, "the new note").await;

        browser
            .find(By::LinkText("All notes"))
            .await?
            .click()
            .await?;
        let list = browser
            .query(By::ClassName("notes"))
            .first()
            .await?
            .text()
            .await?;
        assert!(list.contains("Written in Chromium"), "{list}");
        assert_clean_log(&browser, "/notes after the change").await;
        WebDriverResult::Ok(())
    }
    .await;
    // Quit before judging, so a failed step does not leave Chromium running.
    let quit = browser.quit().await;
    walk.expect("every step of the walk works");
    quit.expect("the browser quits");
}
