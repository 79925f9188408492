//! `spawn_app`: a real keel on a real TCP port with a database of its own, and a client to talk to it.

use std::path::PathBuf;

use keel_config::{LoadOptions, Override, Vars};
use sea_orm::{ConnectionTrait, Database};

/// The database engines the behaviour suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The name `/api/v1/ready` reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// SQLite always; PostgreSQL too when `TEST_DATABASE_URL` is set.
pub(crate) fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    backends
}

/// A running app. Dropping it stops nothing explicitly: the server task ends with the test's runtime, and
/// the temporary folder and database are removed.
pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    _instance: tempfile::TempDir,
    _database: Option<FreshPostgresDatabase>,
}

impl TestApp {
    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path} failed: {error}"))
    }
}

/// Starts keel in the testing environment on `127.0.0.1:0` with a fresh database on `backend`.
///
/// The settings come from the real loader, with no process environment variables (tests stay hermetic)
/// and a few overrides: the port, the static folder and, on PostgreSQL, the database URL.
pub(crate) async fn spawn_app(backend: Backend) -> TestApp {
    let instance = tempfile::tempdir().expect("cannot create the instance folder");
    let mut overrides = vec![
        Override::new("server.port", "0"),
        Override::new("static_files.dir", static_dir().display().to_string()),
    ];
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let database = FreshPostgresDatabase::create().await;
            overrides.push(Override::new("database.url", database.url.clone()));
            Some(database)
        }
    };
    let loaded = keel_config::load(&LoadOptions {
        environment: Some("testing".to_owned()),
        instance_dir: Some(instance.path().to_path_buf()),
        dotenv_file: None,
        vars: Vars::default(),
        overrides,
    })
    .expect("the test settings are valid");

    let app = keel_app_factory::create_app(&loaded.settings)
        .await
        .expect("the app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot bind a port");
    let address = format!("http://{}", listener.local_addr().expect("bound address"));
    tokio::spawn(async move { axum::serve(listener, app.router).await });

    TestApp {
        address,
        client: reqwest::Client::new(),
        _instance: instance,
        _database: database,
    }
}

/// `web/static` of this checkout, whatever the test's working directory.
pub(crate) fn static_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/static")
}

/// A PostgreSQL database made for one test and dropped after it.
struct FreshPostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshPostgresDatabase {
    async fn create() -> FreshPostgresDatabase {
        let admin_url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL is set");
        let name = format!("keel_test_{}", uuid::Uuid::now_v7().simple());
        let admin = Database::connect(&admin_url).await.unwrap_or_else(|error| {
            panic!("TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {error}")
        });
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("cannot create the test database");
        admin
            .close()
            .await
            .expect("cannot close the admin connection");

        let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        FreshPostgresDatabase {
            admin_url,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for FreshPostgresDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be shutting down, so a short-lived thread with a
        // runtime of its own removes the database. FORCE ends the app's connections that are still open.
        let admin_url = self.admin_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cannot build a runtime to drop the test database");
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await?;
                admin.execute_unprepared(&statement).await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("cannot drop the test database {}: {dropped:?}", self.name);
        }
    }
}
