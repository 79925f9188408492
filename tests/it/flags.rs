//! Feature flags through the public surface: the guard, the visitor cookie, the ops API, the command
//! line, and two instances sharing one database (with Redis, and with Redis unreachable).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDatabase, backends, run_keel, spawn_app_with};

const TOKEN: &str = "an-admin-token-for-the-flag-tests-0123456789";

/// The body of an error response without its request id, which differs per request.
async fn error_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.unwrap();
    body.as_object_mut().unwrap().remove("request_id");
    (status, body)
}

/// The `signup_v2` rows of `flag_audit`, oldest first: actor, old state and new state.
async fn audit_rows(database: &TestDatabase) -> Vec<(String, Value, Value)> {
    use sea_orm::{ConnectionTrait, Statement};
    let connection = database.connect().await;
    let rows = connection
        .query_all_raw(Statement::from_string(
            connection.get_database_backend(),
            "SELECT actor, old_value, new_value FROM flag_audit WHERE flag_name = 'signup_v2' ORDER BY id",
        ))
        .await
        .unwrap();
    let json = |row: &sea_orm::QueryResult, column: &str| -> Value {
        serde_json::from_str(&row.try_get::<String>("", column).unwrap()).unwrap()
    };
    rows.iter()
        .map(|row| {
            (
                row.try_get("", "actor").unwrap(),
                json(row, "old_value"),
                json(row, "new_value"),
            )
        })
        .collect()
}

async fn flags_seen_by(app: &TestApp) -> Value {
    let body: Value = app.get("/api/v1/flags").await.json().await.unwrap();
    body["flags"].clone()
}

/// Polls `app` until `signup_v2` reads `expected` for an anonymous visitor, failing after `deadline`.
async fn eventually_signup_v2(app: &TestApp, expected: bool, deadline: Duration) {
    let started = tokio::time::Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        poll.tick().await;
        if flags_seen_by(app).await["signup_v2"] == expected {
            return;
        }
        assert!(
            started.elapsed() < deadline,
            "signup_v2 was still not {expected} after {deadline:?}"
        );
    }
}

#[tokio::test]
async fn a_page_behind_an_off_flag_is_the_same_404_as_an_unknown_address() {
    let app = spawn_app_with(TestDatabase::create(Backend::Sqlite).await, &[]).await;
    let hidden = error_body(app.get("/signup-v2").await).await;
    let unknown = error_body(app.get("/no-such-page").await).await;
    assert_eq!(hidden, unknown);
    assert_eq!(hidden.0, 404);

    // Browsers get the HTML error page; it is the same page too, but for the request id.
    let html = |path: &'static str| {
        let app = &app;
        async move {
            let response = app.get_with_header(path, "accept", "text/html").await;
            let id = response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let headers: Vec<String> = response
                .headers()
                .keys()
                .map(|name| name.as_str().to_owned())
                .collect();
            let page = response.text().await.unwrap().replace(&id, "<id>");
            (page, headers)
        }
    };
    assert_eq!(html("/signup-v2").await, html("/no-such-page").await);

    // Other methods do not give the page away either (no 405, no `Allow` header).
    for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
        let send = |path: &'static str| {
            app.client
                .request(method.clone(), format!("{}{path}", app.address))
                .send()
        };
        let hidden = send("/signup-v2").await.unwrap();
        let unknown = send("/no-such-page").await.unwrap();
        assert_eq!(hidden.headers().get("allow"), None, "{method}");
        assert_eq!(
            error_body(hidden).await,
            error_body(unknown).await,
            "{method}"
        );
    }
}

#[tokio::test]
async fn a_page_behind_an_on_flag_is_served_and_linked() {
    let app = spawn_app_with(
        TestDatabase::create(Backend::Sqlite).await,
        &[("features.signup_v2", "true")],
    )
    .await;
    let page = app.get("/signup-v2").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Sign up to keel"));
    let index = app.get("/").await.text().await.unwrap();
    assert!(index.contains("href=\"/signup-v2\""), "{index}");
    assert_eq!(
        flags_seen_by(&app).await,
        json!({"new_checkout": false, "signup_v2": true})
    );
}

#[tokio::test]
async fn an_actor_with_control_or_invisible_characters_never_reaches_the_audit_trail() {
    let app = spawn_app_with(
        TestDatabase::create(Backend::Sqlite).await,
        &[("security.admin_token", TOKEN)],
    )
    .await;
    // Right-to-left override, isolates, zero-width characters, a byte order mark, the Arabic letter
    // mark, a line separator and a control character.
    let invisible = [
        "\u{202e}", "\u{202a}", "\u{2066}", "\u{2069}", "\u{200b}", "\u{200d}", "\u{200f}",
        "\u{feff}", "\u{61c}", "\u{2028}", "\u{7}",
    ];
    for character in invisible {
        let actor = format!("alice{character}gnp.exe");
        let body = json!({"enabled": true, "actor": actor}).to_string();
        let refused = app.post_json("/ops/flags/signup_v2", TOKEN, &body).await;
        assert_eq!(refused.status(), 422, "{character:?}");
    }
    let accepted = json!({"enabled": true, "actor": "José Müller-Øst"}).to_string();
    let response = app
        .post_json("/ops/flags/signup_v2", TOKEN, &accepted)
        .await;
    assert_eq!(response.status(), 200);
    let actors: Vec<String> = audit_rows(&app.database)
        .await
        .into_iter()
        .map(|(actor, _, _)| actor)
        .collect();
    assert_eq!(actors, ["ops:José Müller-Øst"]);
}

#[tokio::test]
async fn a_toggle_through_ops_is_audited_and_reaches_the_guard_for_every_backend() {
    for backend in backends() {
        let app = spawn_app_with(
            TestDatabase::create(backend).await,
            &[("security.admin_token", TOKEN)],
        )
        .await;
        let changed = app
            .post_json(
                "/ops/flags/signup_v2",
                TOKEN,
                r#"{"enabled": true, "actor": "alice"}"#,
            )
            .await;
        assert_eq!(changed.status(), 200, "{backend:?}");
        assert_eq!(app.get("/signup-v2").await.status(), 200, "{backend:?}");

        let refused = app
            .post_json("/ops/flags/signup_v2", TOKEN, r#"{"enabled": "yes"}"#)
            .await;
        assert_eq!(
            error_body(refused).await,
            (
                422,
                json!({"error": "unprocessable-entity", "message": "enabled must be true or false, not \"yes\""})
            ),
            "{backend:?}"
        );

        // The audit trail is in the database, one row per accepted change.
        assert_eq!(
            audit_rows(&app.database).await,
            [(
                "ops:alice".to_owned(),
                json!({"enabled": false, "rollout_percent": 100}),
                json!({"enabled": true, "rollout_percent": 100})
            )],
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn a_partial_rollout_issues_a_signed_visitor_cookie_and_replaces_a_forged_one() {
    let app = spawn_app_with(
        TestDatabase::create(Backend::Sqlite).await,
        &[("security.admin_token", TOKEN)],
    )
    .await;
    // Fully off: nothing depends on the visitor, so no cookie.
    assert!(
        app.get("/signup-v2")
            .await
            .headers()
            .get("set-cookie")
            .is_none()
    );
    app.post_json(
        "/ops/flags/signup_v2",
        TOKEN,
        r#"{"enabled": true, "rollout_percent": 50}"#,
    )
    .await;

    let first = app.get("/signup-v2").await;
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("keel_visitor="), "{cookie}");
    assert!(
        cookie.ends_with("; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"),
        "the testing profile's cookie attributes: {cookie}"
    );
    let visitor = cookie.split(';').next().unwrap().to_owned();
    let status = first.status();
    // The same visitor always gets the same answer, and no new cookie.
    for _ in 0..5 {
        let again = app.get_with_header("/signup-v2", "cookie", &visitor).await;
        assert_eq!(again.status(), status);
        assert!(again.headers().get("set-cookie").is_none());
    }
    // A hidden page and a missing one answer a new visitor alike during a rollout: both set the cookie.
    for path in ["/no-such-page", "/api/v1/health"] {
        let response = app.get(path).await;
        assert!(response.headers().get("set-cookie").is_some(), "{path}");
    }

    let forged = format!("keel_visitor={}.{}", "0".repeat(32), "f".repeat(64));
    let replaced = app
        .get_with_header("/api/v1/flags", "cookie", &forged)
        .await;
    let replacement = replaced.headers()["set-cookie"].to_str().unwrap();
    assert!(!replacement.starts_with(&forged), "{replacement}");

    // Static files never carry a cookie, whatever the request sent: caches would keep it.
    let stylesheet = app
        .get_with_header("/static/css/app.css", "cookie", &forged)
        .await;
    assert_eq!(stylesheet.status(), 200);
    assert!(stylesheet.headers().get("set-cookie").is_none());
}

/// Two apps on one PostgreSQL database and one Redis: a toggle on one is seen by the other within a
/// second. The resync interval is long, so only the Redis announcement can deliver it in time.
#[tokio::test]
async fn a_toggle_on_one_instance_reaches_another_within_a_second_through_redis() {
    let (Some(_), Some(redis)) = (
        std::env::var_os("TEST_DATABASE_URL"),
        std::env::var("TEST_REDIS_URL").ok(),
    ) else {
        return;
    };
    let channel = format!("keel:flags:test:{}", uuid::Uuid::new_v4().simple());
    let overrides = [
        ("security.admin_token", TOKEN),
        ("redis.url", redis.as_str()),
        ("flag_sync.redis_channel", channel.as_str()),
        ("flag_sync.resync_interval_secs", "3600"),
    ];
    let first = spawn_app_with(TestDatabase::create(Backend::Postgres).await, &overrides).await;
    let second = spawn_app_with(first.database.shared(), &overrides).await;
    // Both listeners are subscribed once readiness reports Redis as ok (which may come a moment after
    // readiness itself).
    for app in [&first, &second] {
        let started = tokio::time::Instant::now();
        loop {
            let ready = app
                .eventually_status("/api/v1/ready", 200, Duration::from_secs(10))
                .await;
            let report: Value = ready.json().await.unwrap();
            if report["checks"]["redis"]["status"] == "ok" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "Redis not ok after 10 s: {report}"
            );
        }
    }

    let changed = first
        .post_json("/ops/flags/signup_v2", TOKEN, r#"{"enabled": true}"#)
        .await;
    assert_eq!(changed.status(), 200);
    eventually_signup_v2(&second, true, Duration::from_secs(1)).await;
}

/// With Redis unreachable, the toggle still reaches the other instance through the periodic resync, and
/// readiness reports Redis without failing.
#[tokio::test]
async fn without_redis_a_toggle_reaches_another_instance_at_the_next_resync() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unreachable = format!("redis://127.0.0.1:{closed_port}");
    let overrides = [
        ("security.admin_token", TOKEN),
        ("redis.url", unreachable.as_str()),
        ("flag_sync.resync_interval_secs", "1"),
    ];
    let backend = *backends().last().unwrap();
    let first = spawn_app_with(TestDatabase::create(backend).await, &overrides).await;
    let second = spawn_app_with(first.database.shared(), &overrides).await;

    let ready = second.get("/api/v1/ready").await;
    assert_eq!(ready.status(), 200);
    let report: Value = ready.json().await.unwrap();
    assert_eq!(
        report["checks"]["redis"]["status"], "unavailable",
        "{report}"
    );

    let changed = first
        .post_json("/ops/flags/signup_v2", TOKEN, r#"{"enabled": true}"#)
        .await;
    assert_eq!(
        changed.status(),
        200,
        "a change must not fail because Redis is down"
    );
    assert_eq!(flags_seen_by(&first).await["signup_v2"], true);
    eventually_signup_v2(&second, true, Duration::from_secs(10)).await;
}

#[test]
fn the_command_line_lists_sets_and_checks_flags() {
    let database = TestDatabase::create_blocking(Backend::Sqlite);
    let url = format!("--set=database.url={}", database.url);
    let vars = [("USER", "alice")];

    let set = run_keel(
        &[&url, "flags", "set", "signup_v2", "on", "--rollout", "25"],
        &vars,
        None,
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert_eq!(
        set.stdout,
        "signup_v2: on for 25 % of visitors (was off); running instances apply it at their next resync (within 30 s; set redis.url for a second)\n"
    );

    let list = run_keel(&[&url, "flags", "list"], &vars, None);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let line = list
        .stdout
        .lines()
        .find(|line| line.starts_with("signup_v2"))
        .unwrap();
    assert!(line.contains("on for 25 % of visitors"), "{line}");
    assert!(line.contains("runtime"), "{line}");
    assert!(line.contains("growth-team"), "{line}");

    // (arguments, exit code, what stderr holds)
    // Without --rollout the current share stays: off and on again does not widen a rollout.
    let off = run_keel(&[&url, "flags", "set", "signup_v2", "off"], &vars, None);
    assert_eq!(off.code, 0, "{}", off.stderr);
    let on = run_keel(&[&url, "flags", "set", "signup_v2", "on"], &vars, None);
    assert!(
        on.stdout
            .starts_with("signup_v2: on for 25 % of visitors (was off);"),
        "{}",
        on.stdout
    );

    let refused: [(&[&str], u8, &str); 2] = [
        (
            &["flags", "set", "singup_v2", "on"],
            1,
            "there is no flag \"singup_v2\": the flags are signup_v2, new_checkout",
        ),
        (
            &["flags", "set", "signup_v2", "on", "--rollout", "101"],
            2,
            "101 is not in 0..=100",
        ),
    ];
    for (args, code, message) in refused {
        let args: Vec<&str> = std::iter::once(url.as_str())
            .chain(args.iter().copied())
            .collect();
        let outcome = run_keel(&args, &vars, None);
        assert_eq!(outcome.code, code, "{args:?}: {}", outcome.stderr);
        assert!(
            outcome.stderr.contains(message),
            "{args:?}: {}",
            outcome.stderr
        );
    }

    // The audit row names the user who ran the command.
    let audit = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(audit_rows(&database))
    })
    .join()
    .unwrap();
    let actors: Vec<&str> = audit.iter().map(|(actor, _, _)| actor.as_str()).collect();
    assert_eq!(actors, ["cli:alice", "cli:alice", "cli:alice"]);
}

#[test]
fn flags_check_fails_listing_each_flag_past_its_expiry_date() {
    let ok = run_keel(&["flags", "check", "--date", "2026-11-23"], &[], None);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(
        ok.stdout,
        "ok: none of the 2 flags is past its expiry date on 2026-11-23\n"
    );

    let late = run_keel(&["flags", "check", "--date", "2028-01-01"], &[], None);
    assert_eq!(late.code, 1);
    assert_eq!(
        late.stdout,
        "expired  signup_v2 on 2027-06-30 (owner growth-team): remove it from the code, catalog.rs and [features]\n\
         expired  new_checkout on 2027-12-31 (owner payments-team): remove it from the code, catalog.rs and [features]\n"
    );
    assert_eq!(
        late.stderr,
        "keel: flags check failed: 2 flag(s) past their expiry date (listed above)\n"
    );

    let bad_date = run_keel(&["flags", "check", "--date", "2028-13-01"], &[], None);
    assert_eq!(bad_date.code, 2, "{}", bad_date.stderr);
}
