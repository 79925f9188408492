//! docs/troubleshooting.md is keyed by the exact messages keel prints, so it must not drift from them:
//! each documented message is produced here by running keel into its situation, or, where that needs an
//! outage or a build failure, found in the source of the crate that prints it.

mod situations;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::env_example::show_config_with_dotenv;
use crate::helpers::{cargo_metadata, run_keel};
use crate::live_reload::serve_with_a_file_passed_as_socket;
use crate::troubleshooting::situations::{
    closed_address, collector_down_messages, database_locked, metrics_port_in_use,
    missing_static_file, port_in_use, redis_unavailable_log,
};

/// A message as the page shows it, under its `###` heading.
#[derive(Debug)]
struct Documented {
    heading: String,
    message: String,
}

/// Where a message can be checked.
enum Check {
    /// Keel printed this (standard error, standard output or a log line) when run into the situation.
    Produced(String),
    /// The message is in the source of this package of the workspace's dependency graph (`keel-*`
    /// packages: keel's own crates).
    InSourceOf(&'static [&'static str]),
}

/// How each documented message is checked, by its heading.
fn check(heading: &str) -> Check {
    match heading {
        "Port already in use" => Check::Produced(port_in_use()),
        "A passed socket that keel cannot use" => {
            Check::Produced(serve_with_a_file_passed_as_socket().1)
        }
        "Database unreachable at start-up" => Check::Produced(
            run_keel(
                &["serve"],
                &[
                    ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/keel"),
                    ("APP_DATABASE__STARTUP_TIMEOUT_SECS", "1"),
                    ("APP_DATABASE__CONNECT_TIMEOUT_SECS", "1"),
                ],
                None,
            )
            .stderr,
        ),
        "Pending migrations" => Check::Produced(
            run_keel(
                &["serve"],
                &[
                    ("APP_ENV", "production"),
                    (
                        "SECRET_KEY",
                        "a-production-secret-key-long-enough-0123456789",
                    ),
                ],
                None,
            )
            .stderr,
        ),
        "The database is locked (SQLite)" => Check::Produced(database_locked()),
        "Missing secret key in production" => show_config(&[("APP_ENV", "production")]),
        "Weak secret key" => show_config(&[("APP_ENV", "staging"), ("SECRET_KEY", "short")]),
        "Unknown setting" => show_config(&[("APP_SERVER__PROT", "1")]),
        "Unknown section" => show_config(&[("APP_SERVR__PORT", "1")]),
        "Bad value in an environment variable" => show_config(&[("APP_SERVER__PORT", "eighty")]),
        "Unknown environment" => show_config(&[("APP_ENV", "stage")]),
        "A line in `.env` cannot be read" => {
            Check::Produced(show_config_with_dotenv("REDIS_URL=redis://127.0.0.1:6379  flags\n").2)
        }
        "Static folder not found" => Check::Produced(
            run_keel(
                &[
                    "--set",
                    "static_files.dir=/nonexistent/keel/static",
                    "serve",
                ],
                &[],
                None,
            )
            .stderr,
        ),
        "A static file or page that is not there" => Check::Produced(missing_static_file()),
        "Template not found (build error)" => Check::InSourceOf(&["askama_derive"]),
        "OTLP endpoint unreachable (`keel check`)" => {
            let endpoint = format!("http://{}", closed_address());
            let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())];
            Check::Produced(run_keel(&["check"], &vars, None).stdout)
        }
        "OTLP export failing (log)" => Check::Produced(collector_down_messages()),
        "OTLP collector certificate not trusted (log)" => Check::Produced(
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(crate::otlp_tls::untrusted_export_messages()),
        ),
        "Metrics port already in use" => Check::Produced(metrics_port_in_use()),
        "Redis unavailable (log)" => Check::Produced(redis_unavailable_log()),
        "Redis unavailable when announcing a change (log)" => {
            Check::InSourceOf(&["keel-ext-flags"])
        }
        "SSM enabled without a region" => show_config(&[("APP_SECRETS__SSM__ENABLED", "true")]),
        "SSM endpoint unreachable" => {
            let endpoint = format!("http://{}", closed_address());
            production_with_a_store(&[
                ("APP_SECRETS__SSM__ENABLED", "true"),
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ENDPOINT_URL_SSM", &endpoint),
                ("AWS_ACCESS_KEY_ID", "AKIAKEELTROUBLESHOOT"),
                ("AWS_SECRET_ACCESS_KEY", "a-dummy-secret-access-key"),
            ])
        }
        "Vault unreachable" => {
            let addr = format!("http://{}", closed_address());
            production_with_a_store(&[("VAULT_ADDR", &addr), ("VAULT_TOKEN", "a-dummy-token")])
        }
        // These need a store that answers in a particular way: tests/it/ssm.rs and tests/it/vault.rs
        // produce each against a real server when TEST_MOTO and TEST_BAO are set.
        "SSM access denied"
        | "SSM credentials refused"
        | "Vault login refused"
        | "Vault path denied"
        | "Vault secret missing" => Check::InSourceOf(&["keel-ext-secrets"]),
        "A store that holds nothing there" => Check::InSourceOf(&["keel-server"]),
        other => panic!(
            "docs/troubleshooting.md has a message under {other:?} that this test does not check: add it to `check`"
        ),
    }
}

#[test]
fn every_message_in_troubleshooting_md_is_what_keel_prints() {
    let documented = documented();
    assert!(documented.len() >= 15, "{documented:#?}");
    let mut sources = None;
    // Each situation takes up to a few seconds (a lock timeout, a start-up timeout), so they run at once.
    let results: Vec<(&Documented, Check)> = std::thread::scope(|scope| {
        let running: Vec<_> = documented
            .iter()
            .map(|entry| (entry, scope.spawn(|| check(&entry.heading))))
            .collect();
        running
            .into_iter()
            .map(|(entry, thread)| (entry, thread.join().unwrap()))
            .collect()
    });
    let mut failures = Vec::new();
    for (entry, checked) in results {
        let found = match checked {
            Check::Produced(output) => output
                .lines()
                .any(|line| matches_pattern(&entry.message, line))
                .then_some(())
                .ok_or(format!("keel printed:\n{output}")),
            Check::InSourceOf(packages) => {
                let sources = sources.get_or_insert_with(package_sources);
                let text: String = packages
                    .iter()
                    .map(|package| sources_of(sources, package))
                    .collect();
                fragments(&entry.message)
                    .iter()
                    .all(|fragment| text.contains(fragment))
                    .then_some(())
                    .ok_or(format!("not in the source of {packages:?}"))
            }
        };
        if let Err(why) = found {
            failures.push(format!("### {}\n{}\n{why}", entry.heading, entry.message));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_pattern_matches_its_fragments_in_order_and_nothing_else() {
    let pattern = "keel: cannot listen on <address>; set it: <reason>";
    assert!(matches_pattern(
        pattern,
        "keel: cannot listen on 1.2.3.4:80; set it: busy"
    ));
    assert!(!matches_pattern(
        pattern,
        "keel: cannot listen on 1.2.3.4:80"
    ));
    assert!(!matches_pattern(
        pattern,
        "x keel: cannot listen on a; set it: b"
    ));
    assert!(!matches_pattern("exactly this", "exactly this and more"));
    assert_eq!(fragments("a <b> c <d>"), ["a ", " c "]);
}

/// The `###` headings of docs/troubleshooting.md with the first ```text block under each.
fn documented() -> Vec<Documented> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/troubleshooting.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut entries = Vec::new();
    let mut heading = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(title) = line.strip_prefix("### ") {
            heading = Some(title.to_owned());
        } else if line == "```text" {
            let message = lines.next().unwrap().to_owned();
            assert_eq!(lines.next(), Some("```"), "one line per message: {message}");
            let heading = heading
                .take()
                .expect("a message block without a ### heading");
            entries.push(Documented { heading, message });
        }
    }
    entries
}

/// The literal parts of a documented message: the text between `<placeholders>`.
fn fragments(pattern: &str) -> Vec<&str> {
    let mut fragments = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('<') {
        let end = rest[start..]
            .find('>')
            .map_or(rest.len(), |end| start + end + 1);
        if start > 0 {
            fragments.push(&rest[..start]);
        }
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        fragments.push(rest);
    }
    fragments
}

/// Whether `line` is `pattern` with each placeholder replaced by some text.
fn matches_pattern(pattern: &str, line: &str) -> bool {
    let starts_open = pattern.starts_with('<');
    let ends_open = pattern.ends_with('>');
    let mut position = 0;
    for (index, fragment) in fragments(pattern).iter().enumerate() {
        let Some(found) = line[position..].find(fragment) else {
            return false;
        };
        if index == 0 && !starts_open && found != 0 {
            return false;
        }
        position += found + fragment.len();
    }
    ends_open || position == line.len()
}

fn show_config(vars: &[(&str, &str)]) -> Check {
    Check::Produced(run_keel(&["show-config"], vars, None).stderr)
}

/// `show-config` in production with a secret store that cannot be read.
fn production_with_a_store(vars: &[(&str, &str)]) -> Check {
    Check::Produced(run_keel(&["--env", "production", "show-config"], vars, None).stderr)
}

/// The folder of each package in this platform's dependency graph, from `cargo metadata` (offline:
/// everything the build needs is downloaded; crates for other platforms may not be).
fn package_sources() -> Vec<(String, PathBuf)> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc).arg("-vV").output().unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host");
    let metadata = cargo_metadata(&["--filter-platform", host]);
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
            let name = package["name"].as_str().unwrap().to_owned();
            (name, manifest.parent().unwrap().to_path_buf())
        })
        .collect()
}

/// The text of every `.rs` file under the `src/` folder of `package`.
fn sources_of(packages: &[(String, PathBuf)], package: &str) -> String {
    let folders: Vec<&PathBuf> = packages
        .iter()
        .filter(|(name, _)| name == package)
        .map(|(_, folder)| folder)
        .collect();
    assert!(
        !folders.is_empty(),
        "{package} is not in the dependency graph"
    );
    let mut text = String::new();
    let mut pending: Vec<PathBuf> = folders.iter().map(|folder| folder.join("src")).collect();
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                text.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    text
}
