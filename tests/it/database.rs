//! The database layer through the public surface: migrations from the command line, the schema they
//! build, start-up behaviour, and outage and recovery of a running app.

use std::time::Duration;

use keel_ext_db::entities::{feature_flag, flag_audit};
use keel_server::{EXIT_CONFIG, EXIT_FAILURE, EXIT_SUCCESS, EXIT_UNAVAILABLE};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TcpProxy, TestDatabase, backends, run_keel, spawn_app, spawn_app_with,
};

const SECRET_KEY: &str = "a-test-secret-key-that-is-long-enough-0123456789";

/// Runs `keel` in-process with `vars`; returns (exit code, stdout, stderr).
fn keel(args: &[&str], vars: &[(&str, &str)]) -> (u8, String, String) {
    let outcome = run_keel(args, vars, None);
    (outcome.code, outcome.stdout, outcome.stderr)
}

/// Standard error without the loader's warnings (in staging, one about SQLite serving one instance only).
fn failure_of(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| !line.starts_with("keel: warning: "))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn migrations_go_up_down_and_up_again_from_the_command_line() {
    for backend in backends() {
        let database = TestDatabase::create_blocking(backend);
        let vars = [("DATABASE_URL", database.url.as_str())];
        let masked = keel_config::ConnectionUrl::new(database.url.clone()).masked();
        let status = |lines: &[&str]| {
            format!(
                "{masked}\n{}",
                lines
                    .iter()
                    .map(|line| format!("{line}\n"))
                    .collect::<String>()
            )
        };
        // (command, expected standard output)
        let steps: Vec<(&[&str], String)> = vec![
            (
                &["migrate", "status"],
                status(&[
                    "pending  m20261123_000001_create_feature_flags",
                    "pending  m20261123_000002_create_flag_audit",
                    "pending  m20261202_000001_create_notes",
                ]),
            ),
            (
                &["migrate", "up"],
                format!(
                    "{masked}: applied 3: m20261123_000001_create_feature_flags, m20261123_000002_create_flag_audit, m20261202_000001_create_notes\n"
                ),
            ),
            (
                &["migrate", "up"],
                format!("{masked}: nothing to apply, the schema is up to date\n"),
            ),
            (
                &["migrate", "down"],
                format!("{masked}: reverted 1: m20261202_000001_create_notes\n"),
            ),
            (
                &["migrate", "status"],
                status(&[
                    "applied  m20261123_000001_create_feature_flags",
                    "applied  m20261123_000002_create_flag_audit",
                    "pending  m20261202_000001_create_notes",
                ]),
            ),
            (
                &["migrate", "down", "5"],
                format!(
                    "{masked}: reverted 2: m20261123_000002_create_flag_audit, m20261123_000001_create_feature_flags\n"
                ),
            ),
            (
                &["migrate", "up"],
                format!(
                    "{masked}: applied 3: m20261123_000001_create_feature_flags, m20261123_000002_create_flag_audit, m20261202_000001_create_notes\n"
                ),
            ),
            (
                &["migrate", "fresh"],
                format!("{masked}: dropped every table and applied all migrations\n"),
            ),
        ];
        for (args, expected) in steps {
            let (code, stdout, stderr) = keel(args, &vars);
            assert_eq!(
                (code, stdout),
                (EXIT_SUCCESS, expected),
                "{backend:?} {args:?}: {stderr}"
            );
        }
    }
}

#[test]
fn migrate_fresh_refuses_staging_and_production_unless_forced() {
    let database = TestDatabase::create_blocking(Backend::Sqlite);
    let vars = [
        ("DATABASE_URL", database.url.as_str()),
        ("SECRET_KEY", SECRET_KEY),
    ];
    for environment in ["staging", "production"] {
        let (code, _, stderr) = keel(&["--env", environment, "migrate", "fresh"], &vars);
        assert_eq!(code, EXIT_FAILURE);
        assert_eq!(
            failure_of(&stderr),
            format!(
                "keel: migrate fresh drops every table, and this is {environment}: add --force if that is really what you want\n"
            )
        );
        let (code, _, stderr) = keel(
            &["--env", environment, "migrate", "fresh", "--force"],
            &vars,
        );
        assert_eq!(code, EXIT_SUCCESS, "{stderr}");
    }
}

#[test]
fn migrate_down_in_staging_and_production_names_what_it_would_revert_and_needs_force() {
    for environment in ["staging", "production"] {
        let database = TestDatabase::create_blocking(Backend::Sqlite);
        let vars = [
            ("DATABASE_URL", database.url.as_str()),
            ("SECRET_KEY", SECRET_KEY),
        ];
        let in_environment = |args: &[&str]| -> Vec<String> {
            ["--env", environment]
                .iter()
                .chain(args)
                .map(|arg| (*arg).to_owned())
                .collect()
        };
        let run = |args: &[&str]| {
            let args = in_environment(args);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            keel(&args, &vars)
        };
        let (code, _, stderr) = run(&["migrate", "up"]);
        assert_eq!(code, EXIT_SUCCESS, "{stderr}");
        let (code, _, stderr) = run(&["migrate", "down", "999"]);
        assert_eq!(code, EXIT_FAILURE, "{environment}");
        assert_eq!(
            failure_of(&stderr),
            format!(
                "keel: migrate down 999 would revert 3 migration(s), dropping their tables and the data in them (m20261202_000001_create_notes, m20261123_000002_create_flag_audit, m20261123_000001_create_feature_flags), and this is {environment}: add --force if that is really what you want\n"
            )
        );
        // Nothing was reverted.
        let (_, status, _) = run(&["migrate", "status"]);
        assert!(!status.contains("pending"), "{status}");
        let (code, stdout, stderr) = run(&["migrate", "down", "999", "--force"]);
        assert_eq!(code, EXIT_SUCCESS, "{stderr}");
        assert!(stdout.contains(": reverted 3: "), "{stdout}");
    }
}

#[test]
fn every_environment_refuses_to_serve_while_migrations_are_pending() {
    // Development too: there the first query on a new table would fail later with "no such table".
    for environment in ["staging", "development"] {
        let database = TestDatabase::create_blocking(Backend::Sqlite);
        let vars = [
            ("DATABASE_URL", database.url.as_str()),
            ("SECRET_KEY", SECRET_KEY),
            ("APP_DATABASE__AUTO_MIGRATE", "false"),
        ];
        let (code, _, stderr) = keel(&["--env", environment, "serve"], &vars);
        assert_eq!(code, EXIT_CONFIG, "{environment}: {stderr}");
        let expected = format!(
            "keel: cannot start the app: 3 migration(s) are pending (m20261123_000001_create_feature_flags, m20261123_000002_create_flag_audit, m20261202_000001_create_notes): run `keel migrate up`, then start again ({environment} applies migrations only with database.auto_migrate)\n"
        );
        assert_eq!(failure_of(&stderr), expected);
    }
}

#[test]
fn an_unreachable_database_at_start_up_exits_69_after_the_deadline_with_the_url_masked() {
    let vars = [
        (
            "DATABASE_URL",
            "postgres://keel:canary-password@127.0.0.1:1/keel",
        ),
        ("APP_DATABASE__STARTUP_TIMEOUT_SECS", "2"),
        ("APP_DATABASE__CONNECT_TIMEOUT_SECS", "1"),
    ];
    let (code, _, stderr) = keel(&["--env", "test", "serve"], &vars);
    assert_eq!(code, EXIT_UNAVAILABLE, "{stderr}");
    assert!(
        stderr.starts_with("keel: cannot start the app: the database at postgres://keel:***"),
        "{stderr}"
    );
    assert!(stderr.contains("was still unreachable after "), "{stderr}");
    assert!(!stderr.contains("canary-password"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn the_start_up_deadline_bounds_the_attempt_in_progress_too() {
    // A server that accepts and never answers: each attempt would wait for connect_timeout_secs (5 s).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://keel@{}/keel", silent.local_addr().unwrap());
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("APP_DATABASE__STARTUP_TIMEOUT_SECS", "1"),
        ("APP_DATABASE__CONNECT_TIMEOUT_SECS", "5"),
    ];
    let started = std::time::Instant::now();
    let (code, _, stderr) = keel(&["--env", "test", "serve"], &vars);
    assert_eq!(code, EXIT_UNAVAILABLE, "{stderr}");
    assert!(
        stderr.ends_with(
            "no answer from the database at postgres://keel@127.0.0.1:PORT/keel before database.startup_timeout_secs ran out\n"
                .replace("127.0.0.1:PORT", &silent.local_addr().unwrap().to_string())
                .as_str()
        ),
        "{stderr}"
    );
    // Not a speed goal: the deadline (1 s) ends the attempt long before connect_timeout_secs would.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{stderr}"
    );
}

#[test]
fn a_sqlite_file_that_cannot_be_used_fails_at_once_naming_the_file_and_the_cause() {
    let folder = tempfile::tempdir().unwrap();
    let path = |name: &str| folder.path().join(name).display().to_string();
    std::fs::write(
        path("notes.txt"),
        "not a database, but text long enough to fill the header SQLite reads first: ".repeat(4),
    )
    .unwrap();
    std::fs::create_dir(path("a-folder")).unwrap();
    std::fs::write(path("empty.sqlite3"), "").unwrap();
    let cannot_open = "it cannot be opened or created: check that the path names a file, not a folder, in a folder keel may write to (unable to open database file)";
    // (file, URL options, expected cause)
    let cases = [
        (
            path("notes.txt"),
            "mode=rwc",
            "it is not a SQLite database: point database.url at a SQLite file, or move this file away (file is not a database)",
        ),
        (path("a-folder"), "mode=rwc", cannot_open),
        // A folder nobody may create files in, whoever runs the test (root included).
        ("/proc/keel.sqlite3".to_owned(), "mode=rwc", cannot_open),
        (
            path("empty.sqlite3"),
            "mode=ro",
            "it is read-only (or opened with mode=ro): make the file and its folder writable (attempt to write a readonly database)",
        ),
    ];
    for (file, options, cause) in cases {
        let url = format!("sqlite://{file}?{options}");
        // A long start-up timeout: retrying would show as exit code 69 after it, not 1 at once.
        let vars = [
            ("DATABASE_URL", url.as_str()),
            ("APP_DATABASE__STARTUP_TIMEOUT_SECS", "3600"),
        ];
        let (code, _, stderr) = keel(&["--env", "test", "serve"], &vars);
        assert_eq!(
            (code, stderr),
            (
                EXIT_FAILURE,
                format!(
                    "keel: cannot start the app: cannot use the SQLite database file {file}: {cause}\n"
                )
            ),
            "{url}"
        );
    }
}

#[tokio::test]
async fn the_schema_enforces_unique_flag_names_the_rollout_range_and_indexes_the_audit() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let db = app.database.connect().await;
        let flag = |name: &str, rollout_percent: i16| feature_flag::ActiveModel {
            name: Set(name.to_owned()),
            enabled: Set(true),
            rollout_percent: Set(rollout_percent),
            salt: Set("salt".to_owned()),
            description: Set("a test flag".to_owned()),
            ..Default::default()
        };
        let saved = flag("signup_v2", 25).insert(&db).await.unwrap();
        assert_eq!(
            (saved.name.as_str(), saved.rollout_percent, saved.owner),
            ("signup_v2", 25, None)
        );
        assert!(
            flag("signup_v2", 50).insert(&db).await.is_err(),
            "{backend:?}: duplicate name accepted"
        );
        assert!(
            flag("too_far", 101).insert(&db).await.is_err(),
            "{backend:?}: rollout 101 accepted"
        );
        assert!(
            flag("negative", -1).insert(&db).await.is_err(),
            "{backend:?}: rollout -1 accepted"
        );

        let audit = flag_audit::ActiveModel {
            flag_name: Set("signup_v2".to_owned()),
            actor: Set("test".to_owned()),
            old_value: Set(None),
            new_value: Set(r#"{"enabled":true}"#.to_owned()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        assert_eq!(audit.flag_name, "signup_v2");

        let index_query = match backend {
            Backend::Sqlite => {
                "SELECT name AS index_name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'flag_audit'"
            }
            Backend::Postgres => {
                "SELECT indexname AS index_name FROM pg_indexes WHERE tablename = 'flag_audit'"
            }
        };
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                index_query,
            ))
            .await
            .unwrap();
        let indexes: Vec<String> = rows
            .iter()
            .map(|row| row.try_get("", "index_name").unwrap())
            .collect();
        assert!(
            indexes
                .iter()
                .any(|name| name == "idx_flag_audit_flag_name_at"),
            "{backend:?}: {indexes:?}"
        );
        db.close().await.unwrap();
    }
}

#[tokio::test]
async fn readiness_follows_a_database_outage_and_recovers_without_a_restart() {
    // Only a networked database can be cut; SQLite is a file.
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let database = TestDatabase::create(Backend::Postgres).await;
    let upstream_url = url::Url::parse(&database.url).unwrap();
    let upstream = tokio::net::lookup_host((
        upstream_url.host_str().unwrap(),
        upstream_url.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let proxy = TcpProxy::start(upstream).await;
    let mut through_proxy = upstream_url.clone();
    through_proxy.set_ip_host(proxy.address.ip()).unwrap();
    through_proxy.set_port(Some(proxy.address.port())).unwrap();
    let app = spawn_app_with(database, &[("database.url", through_proxy.as_str())]).await;

    app.eventually_status("/api/v1/ready", 200, Duration::from_secs(5))
        .await;
    proxy.cut();
    let body: Value = app
        .eventually_status("/api/v1/ready", 503, Duration::from_secs(10))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["backend"], "postgres");
    // Liveness does not depend on the database, so an orchestrator does not restart the app.
    let health: Value = app.get("/api/v1/health").await.json().await.unwrap();
    assert_eq!(health, json!({"status": "ok"}));

    proxy.restore();
    app.eventually_status("/api/v1/ready", 200, Duration::from_secs(15))
        .await;
}
