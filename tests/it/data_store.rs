//! A data store that vanishes under a running keel: readiness fails (a bare ping would still answer),
//! and the log line of every 503 carries the real cause.

use std::time::Duration;

use sea_orm::ConnectionTrait;

use crate::helpers::{Backend, TestDatabase, backends};
use crate::process::{KeelProcess, fresh_client};

const TOKEN: &str = "an-admin-token-for-the-data-store-tests-0123456789";

#[tokio::test]
async fn a_sqlite_file_deleted_under_the_running_app_fails_readiness_with_the_cause_in_the_log() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let keel = KeelProcess::start(&[("DATABASE_URL", &database.url)]).await;
    keel.readiness(200, Duration::from_secs(10)).await;

    let file = database
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("?mode=rwc")
        .to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{file}{suffix}"));
    }
    let body = keel.readiness(503, Duration::from_secs(10)).await;
    assert_eq!(
        body["checks"]["database"]["status"], "unavailable",
        "{body}"
    );
    keel.assert_logged(
        "readiness check: database unavailable",
        &format!("the SQLite database file {file} was deleted or replaced"),
    )
    .await;
}

#[tokio::test]
async fn a_postgresql_schema_dropped_under_the_running_app_fails_readiness_and_flag_calls_name_the_cause()
 {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let database = TestDatabase::create(Backend::Postgres).await;
    let keel = KeelProcess::start(&[
        ("DATABASE_URL", &database.url),
        ("APP_SECURITY__ADMIN_TOKEN", TOKEN),
    ])
    .await;
    keel.readiness(200, Duration::from_secs(10)).await;

    let admin = database.connect().await;
    admin
        .execute_unprepared("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        .await
        .unwrap();
    admin.close().await.unwrap();

    keel.readiness(503, Duration::from_secs(10)).await;
    keel.assert_logged(
        "readiness check: database unavailable",
        r#"relation \"seaql_migrations\" does not exist"#,
    )
    .await;
    let change = fresh_client()
        .post(format!("{}/ops/flags/signup_v2", keel.address))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), 503);
    keel.assert_logged(
        "a flag operation failed",
        r#"relation \"feature_flags\" does not exist"#,
    )
    .await;
}
