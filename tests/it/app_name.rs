//! Runtime identifiers come from `app.name`, so a renamed fork (or two services sharing a domain, a
//! Redis or an instance folder) keeps them apart: the visitor cookie and its signature, the default
//! Redis channel, the default SQLite file. The default name `keel` keeps today's identifiers.

use serde_json::Value;

use crate::helpers::{Backend, TestDatabase, run_keel, spawn_app_with};

const TOKEN: &str = "an-admin-token-for-the-app-name-tests";

/// `show-config --all --json` with `vars`, as key → value.
fn settings(vars: &[(&str, &str)]) -> Value {
    let outcome = run_keel(&["show-config", "--all", "--json"], vars, None);
    assert_eq!(outcome.code, 0, "{}", outcome.stderr);
    serde_json::from_str(&outcome.stdout).unwrap()
}

#[test]
fn the_default_sqlite_file_and_redis_channel_are_named_after_the_app() {
    let cases = [
        (None, "<instance>/keel-development.sqlite3", "keel:flags"),
        (
            Some("My Shop"),
            "<instance>/my-shop-development.sqlite3",
            "my-shop:flags",
        ),
    ];
    for (name, file, channel) in cases {
        let vars: Vec<(&str, &str)> = name
            .map(|name| ("APP_APP__NAME", name))
            .into_iter()
            .collect();
        let report = settings(&vars);
        let url = report["database.url"]["value"].as_str().unwrap();
        assert_eq!(url, format!("sqlite://{file}?mode=rwc"), "{name:?}");
        assert_eq!(
            report["flag_sync.redis_channel"]["value"], channel,
            "{name:?}"
        );
    }
    // A value set on purpose wins over the derived default.
    let report = settings(&[
        ("APP_APP__NAME", "My Shop"),
        ("APP_FLAG_SYNC__REDIS_CHANNEL", "shared:flags"),
    ]);
    assert_eq!(report["flag_sync.redis_channel"]["value"], "shared:flags");
}

#[tokio::test]
async fn the_visitor_cookie_is_named_after_the_app_and_signed_for_it_alone() {
    let mut cookies = Vec::new();
    for name in ["keel", "My Shop"] {
        let app = spawn_app_with(
            TestDatabase::create(Backend::Sqlite).await,
            &[("security.admin_token", TOKEN), ("app.name", name)],
        )
        .await;
        // A partial rollout makes every response carry a visitor cookie.
        app.post_json(
            "/ops/flags/signup_v2",
            TOKEN,
            r#"{"enabled": true, "rollout_percent": 50}"#,
        )
        .await;
        let response = app.get("/api/v1/flags").await;
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        let pair = cookie.split(';').next().unwrap().to_owned();
        cookies.push((app, pair));
    }
    let (keel, keel_cookie) = &cookies[0];
    let (shop, shop_cookie) = &cookies[1];
    assert!(keel_cookie.starts_with("keel_visitor="), "{keel_cookie}");
    assert!(shop_cookie.starts_with("my-shop_visitor="), "{shop_cookie}");
    // The same id and secret key, signed for another app, is not accepted: the app replaces it.
    let (_, keel_value) = keel_cookie.split_once('=').unwrap();
    let transplanted = format!("my-shop_visitor={keel_value}");
    let response = shop
        .get_with_header("/api/v1/flags", "cookie", &transplanted)
        .await;
    let replacement = response.headers()["set-cookie"].to_str().unwrap();
    assert!(!replacement.starts_with(&transplanted), "{replacement}");
    // Each app still recognises its own visitor.
    for (app, cookie) in [(keel, keel_cookie), (shop, shop_cookie)] {
        let again = app.get_with_header("/api/v1/flags", "cookie", cookie).await;
        assert!(again.headers().get("set-cookie").is_none(), "{cookie}");
    }
}
