//! What one flag check costs on the request path: the goal is well under a microsecond.
//!
//! Run with `cargo bench -p keel-ext-flags` (or `just bench`). Each scenario checks a flag many times
//! through the public API, the way a handler does, and prints the mean cost of one check. The store
//! reads an `ArcSwap` snapshot, so a check takes no lock: a concurrent scenario runs the same checks
//! while another thread keeps swapping in new snapshots, and should cost about the same.

use std::hint::black_box;
use std::time::Instant;

use keel_config::{LoadOptions, Override, Vars};
use keel_ext_flags::catalog::{NEW_CHECKOUT, SIGNUP_V2};
use keel_ext_flags::{Change, FlagStore};

/// Checks per scenario.
const CHECKS: u32 = 2_000_000;

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("benchmark runtime: {error}"),
    };
    let folder = match tempfile::tempdir() {
        Ok(folder) => folder,
        Err(error) => panic!("benchmark folder: {error}"),
    };
    let url = format!(
        "sqlite://{}?mode=rwc",
        folder.path().join("bench.sqlite3").display()
    );
    let options = LoadOptions {
        environment: Some("testing".to_owned()),
        vars: Vars::from_iter([("APP_SECRETS_DIR", "/nonexistent")]),
        overrides: vec![Override::new("database.url", &url)],
        ..LoadOptions::default()
    };
    let settings = match keel_config::load(&options) {
        Ok(loaded) => loaded.settings,
        Err(error) => panic!("benchmark settings: {error}"),
    };
    let store = runtime.block_on(async {
        let db = keel_ext_db::Db::connect(&settings.database).await?;
        db.migrate_up().await?;
        let store =
            FlagStore::open(&settings, db)
                .await
                .map_err(|error| keel_ext_db::Error::Connect {
                    url: "bench".to_owned(),
                    reason: error.to_string(),
                })?;
        let quarter = Change {
            enabled: true,
            rollout_percent: Some(25),
        };
        if let Err(error) = store.set(SIGNUP_V2, quarter, "bench").await {
            panic!("benchmark flag change: {error}");
        }
        Ok::<_, keel_ext_db::Error>(store)
    });
    let store = match store {
        Ok(store) => store,
        Err(error) => panic!("benchmark store: {error}"),
    };

    println!("{:<46} {:>12}", "scenario", "per check");
    report("flag fully off (static default)", || {
        store.is_enabled(NEW_CHECKOUT, Some("0123456789abcdef0123456789abcdef"))
    });
    report("flag at 25 % (one SHA-256 per check)", || {
        store.is_enabled(SIGNUP_V2, Some("0123456789abcdef0123456789abcdef"))
    });

    // A writer swapping snapshots as fast as the database allows while the checks run.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let store = store.clone();
        let stop = stop.clone();
        runtime.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if store.resync().await.is_err() {
                    break;
                }
            }
        })
    };
    report("flag at 25 %, snapshots swapped meanwhile", || {
        store.is_enabled(SIGNUP_V2, Some("0123456789abcdef0123456789abcdef"))
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = runtime.block_on(writer);
}

fn report(scenario: &str, check: impl Fn() -> bool) {
    // Warm up caches and the branch predictor.
    for _ in 0..CHECKS / 10 {
        black_box(check());
    }
    let started = Instant::now();
    for _ in 0..CHECKS {
        black_box(check());
    }
    let per_check_ns = started.elapsed().as_secs_f64() * 1e9 / f64::from(CHECKS);
    println!("{scenario:<46} {per_check_ns:>9.1} ns");
}
