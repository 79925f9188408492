//! The store against a real (SQLite) database: changes, their audit rows, and two stores sharing one
//! database.

use keel_config::Override;
use keel_ext_db::Db;

use crate::catalog::{NEW_CHECKOUT, SIGNUP_V2};
use crate::testing::Sandbox;
use crate::{Change, Error, FlagState, FlagStore, Source};

async fn sandbox() -> Sandbox {
    Sandbox::new(vec![Override::new("features.new_checkout", "true")]).await
}

const QUARTER: FlagState = FlagState {
    enabled: true,
    rollout_percent: 25,
};

const TO_QUARTER: Change = Change {
    enabled: true,
    rollout_percent: Some(25),
};

#[tokio::test]
async fn without_rows_every_flag_has_its_static_default() {
    let sandbox = sandbox().await;
    let store = &sandbox.store;
    assert!(!store.is_enabled(SIGNUP_V2, Some("anyone")));
    assert!(store.is_enabled(NEW_CHECKOUT, None), "set by an override");
    assert!(!store.is_enabled("no_such_flag", None));
    assert_eq!(store.flag(SIGNUP_V2).unwrap().source, Source::Default);
}

#[tokio::test]
async fn a_change_is_applied_at_once_and_audited_with_the_old_state() {
    let sandbox = sandbox().await;
    let store = &sandbox.store;

    let changed = store
        .set(SIGNUP_V2, TO_QUARTER, "test:alice")
        .await
        .unwrap();
    assert_eq!(changed.flag.state, QUARTER);
    assert!(matches!(changed.flag.source, Source::Runtime { .. }));
    assert_eq!(store.flag(SIGNUP_V2).unwrap().state, QUARTER);
    // Without a rollout, a change keeps the current one: off and on again does not widen it.
    let off = Change {
        enabled: false,
        rollout_percent: None,
    };
    let turned_off = store.set(SIGNUP_V2, off, "test:bob").await.unwrap();
    assert_eq!(turned_off.before, QUARTER);
    let off = FlagState {
        enabled: false,
        rollout_percent: 25,
    };
    assert_eq!(turned_off.flag.state, off);

    let audit = store.audit(SIGNUP_V2, 10).await.unwrap();
    let summary: Vec<(&str, Option<FlagState>, Option<FlagState>)> = audit
        .iter()
        .map(|entry| (entry.actor.as_str(), entry.old, entry.new))
        .collect();
    let default = FlagState {
        enabled: false,
        rollout_percent: 100,
    };
    assert_eq!(
        summary,
        [
            ("test:bob", Some(QUARTER), Some(off)),
            ("test:alice", Some(default), Some(QUARTER)),
        ]
    );
    assert!(store.audit(NEW_CHECKOUT, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_flags_and_rollouts_over_100_are_refused_without_a_write() {
    let sandbox = sandbox().await;
    let store = &sandbox.store;
    let unknown = store
        .set("singup_v2", TO_QUARTER, "test")
        .await
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "there is no flag \"singup_v2\": the flags are signup_v2, new_checkout"
    );
    let too_much = Change {
        enabled: true,
        rollout_percent: Some(101),
    };
    let refused = store.set(SIGNUP_V2, too_much, "test").await.unwrap_err();
    assert!(
        matches!(refused, Error::RolloutOutOfRange(101)),
        "{refused}"
    );
    let nameless = store.set(SIGNUP_V2, TO_QUARTER, "").await.unwrap_err();
    assert!(matches!(nameless, Error::InvalidActor), "{nameless}");
    let control = store.set(SIGNUP_V2, TO_QUARTER, "a\nb").await.unwrap_err();
    assert!(matches!(control, Error::InvalidActor), "{control}");
    assert!(store.audit(SIGNUP_V2, 10).await.unwrap().is_empty());
    assert!(matches!(
        store.audit("singup_v2", 10).await,
        Err(Error::UnknownFlag { .. })
    ));
}

#[tokio::test]
async fn another_store_on_the_same_database_sees_a_change_after_a_resync() {
    let sandbox = sandbox().await;
    let first = &sandbox.store;
    let settings = &sandbox.loaded.settings;
    let second = FlagStore::open(settings, Db::connect(&settings.database).await.unwrap())
        .await
        .unwrap();
    first.set(SIGNUP_V2, TO_QUARTER, "test").await.unwrap();
    assert_eq!(second.flag(SIGNUP_V2).unwrap().state.rollout_percent, 100);
    second.resync().await.unwrap();
    assert_eq!(second.flag(SIGNUP_V2).unwrap().state, QUARTER);
    // The row keeps the salt the default had, so visitors keep their buckets.
    assert_eq!(second.flag(SIGNUP_V2).unwrap().salt, SIGNUP_V2);
}
