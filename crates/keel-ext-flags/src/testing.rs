//! For other crates' tests (feature `testing`): settings, a migrated SQLite database and a flag store in
//! a throwaway folder, loaded through the real loader with the testing profile.

use keel_config::{LoadOptions, Loaded, Override, Vars};
use keel_ext_db::Db;

use crate::FlagStore;
use crate::visitor::{VisitorContext, VisitorCookies};

/// Everything a blueprint's router test needs; the folder (and database) is removed on drop.
pub struct Sandbox {
    pub loaded: Loaded,
    pub db: Db,
    pub store: FlagStore,
    _folder: tempfile::TempDir,
}

impl Sandbox {
    /// Panics on failure: it is for tests only.
    pub async fn new(overrides: Vec<Override>) -> Sandbox {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let url = format!(
            "sqlite://{}?mode=rwc",
            folder.path().join("flags.sqlite3").display()
        );
        let mut all = vec![Override::new("database.url", url)];
        all.extend(overrides);
        let loaded = keel_config::load(&LoadOptions {
            environment: Some("testing".to_owned()),
            // Hermetic: never the machine's /run/secrets.
            vars: Vars::from_iter([("APP_SECRETS_DIR", "/nonexistent")]),
            overrides: all,
            ..LoadOptions::default()
        })
        .expect("the sandbox settings load");
        let db = Db::connect(&loaded.settings.database)
            .await
            .expect("the sandbox database opens");
        db.migrate_up()
            .await
            .expect("the sandbox database migrates");
        let store = FlagStore::open(&loaded.settings, db.clone())
            .await
            .expect("the flag store opens");
        Sandbox {
            loaded,
            db,
            store,
            _folder: folder,
        }
    }

    /// The visitor middleware (a layer), as the app factory builds it.
    pub fn visitor_context(&self) -> VisitorContext {
        VisitorContext {
            store: self.store.clone(),
            cookies: VisitorCookies::new(&self.loaded.settings),
        }
    }
}
