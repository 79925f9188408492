//! `spawn_app`: a real keel on a real TCP port with a database of its own, and a client to talk to it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keel_config::{LoadOptions, Override};
use sea_orm::{ConnectionTrait, Database};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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

/// A database made for one test: a SQLite file in a temporary folder, or a PostgreSQL database created
/// on the `TEST_DATABASE_URL` server. Both disappear when this is dropped.
pub(crate) struct TestDatabase {
    pub(crate) url: String,
    _folder: Option<tempfile::TempDir>,
    _postgres: Option<FreshPostgresDatabase>,
}

impl TestDatabase {
    pub(crate) async fn create(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let folder = tempfile::tempdir().expect("cannot create a folder for SQLite");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    folder.path().join("keel.sqlite3").display()
                );
                TestDatabase {
                    url,
                    _folder: Some(folder),
                    _postgres: None,
                }
            }
            Backend::Postgres => {
                let database = FreshPostgresDatabase::create().await;
                TestDatabase {
                    url: database.url.clone(),
                    _folder: None,
                    _postgres: Some(database),
                }
            }
        }
    }

    /// [`TestDatabase::create`] for tests that are not async (the command line runs its own runtime).
    pub(crate) fn create_blocking(backend: Backend) -> TestDatabase {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cannot build a runtime")
                .block_on(TestDatabase::create(backend))
        })
        .join()
        .expect("creating the test database panicked")
    }

    /// The same database for a second app; the first one's `TestDatabase` still owns (and removes) it.
    pub(crate) fn shared(&self) -> TestDatabase {
        TestDatabase {
            url: self.url.clone(),
            _folder: None,
            _postgres: None,
        }
    }

    pub(crate) async fn connect(&self) -> sea_orm::DatabaseConnection {
        Database::connect(&self.url)
            .await
            .expect("cannot connect to the test database")
    }
}

/// A running app. The server task ends with the test's runtime; the instance folder and the database
/// are removed when this is dropped.
pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    pub(crate) database: TestDatabase,
    _instance: tempfile::TempDir,
}

impl TestApp {
    /// `POST path` with a JSON `body` and the bearer `token`.
    pub(crate) async fn post_json(&self, path: &str, token: &str, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {path} failed: {error}"))
    }

    /// `GET path` with one request header, e.g. `Accept` or `Cookie`.
    pub(crate) async fn get_with_header(
        &self,
        path: &str,
        name: &str,
        value: &str,
    ) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header(name, value)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path} failed: {error}"))
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path} failed: {error}"))
    }

    /// Polls `path` until it answers `status`, failing the test after `deadline`. Returns the response.
    pub(crate) async fn eventually_status(
        &self,
        path: &str,
        status: u16,
        deadline: Duration,
    ) -> reqwest::Response {
        let started = tokio::time::Instant::now();
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        loop {
            poll.tick().await;
            let response = self.get(path).await;
            if response.status() == status {
                return response;
            }
            assert!(
                started.elapsed() < deadline,
                "{path} still answered {} after {deadline:?}, expected {status}",
                response.status()
            );
        }
    }
}

/// Starts keel with a fresh database on `backend`.
pub(crate) async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(TestDatabase::create(backend).await, &[]).await
}

/// Starts keel in the testing environment on `127.0.0.1:0` with `database` and extra `overrides`.
///
/// The settings come from the real loader, with no process environment variables (tests stay hermetic)
/// and a few overrides: the port, the static folder, the database URL, then `overrides`.
pub(crate) async fn spawn_app_with(database: TestDatabase, overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_in("testing", database, overrides).await
}

/// [`spawn_app_with`] in `environment`. Staging and production need a real secret key and a migrated
/// database, so this sets `security.secret_key` and `database.auto_migrate` for them too.
pub(crate) async fn spawn_app_in(
    environment: &str,
    database: TestDatabase,
    overrides: &[(&str, &str)],
) -> TestApp {
    let instance = tempfile::tempdir().expect("cannot create the instance folder");
    let overrides: Vec<Override> = [
        ("server.port", "0".to_owned()),
        ("static_files.dir", static_dir().display().to_string()),
        ("database.url", database.url.clone()),
        (
            "security.secret_key",
            "a-test-secret-key-that-is-long-enough-0123456789".to_owned(),
        ),
        ("database.auto_migrate", "true".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| Override::new(key, value))
    .chain(
        overrides
            .iter()
            .map(|(key, value)| Override::new(*key, *value)),
    )
    .collect();
    let loaded = keel_config::load(&LoadOptions {
        environment: Some(environment.to_owned()),
        instance_dir: Some(instance.path().to_path_buf()),
        dotenv_file: None,
        // Never the machine's /run/secrets: tests stay hermetic.
        vars: [(
            "APP_SECRETS_DIR",
            instance.path().join("secrets").display().to_string(),
        )]
        .into_iter()
        .collect(),
        overrides,
        log_filter_check: Some(keel_ext_telemetry::check_log_filter),
        store_entries: Vec::new(),
    })
    .unwrap_or_else(|error| panic!("the test settings are invalid: {error}"));

    let app = keel_app_factory::create_app_with(&loaded, keel_tests::test_routes())
        .await
        .unwrap_or_else(|error| panic!("the app does not start: {error}"));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot bind a port");
    let address = format!("http://{}", listener.local_addr().expect("bound address"));
    let service = app
        .router
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });

    TestApp {
        address,
        client: crate::http_client::client_builder().build().unwrap(),
        database,
        _instance: instance,
    }
}

/// What `keel` printed and returned when run in-process.
pub(crate) struct Outcome {
    pub(crate) code: u8,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `keel` in-process (`keel_server::run`) with `args` after `--instance-dir=<a fresh folder>` (holding
/// `config.toml` when `instance_config` is given) and this checkout's static folder, and with `vars` plus a
/// secrets folder of its own (unless `vars` names one), never the machine's `/run/secrets`. Mentions of the instance folder in the
/// output read `<instance>`.
pub(crate) fn run_keel(
    args: &[&str],
    vars: &[(&str, &str)],
    instance_config: Option<&str>,
) -> Outcome {
    let instance = tempfile::tempdir().expect("cannot create the instance folder");
    if let Some(text) = instance_config {
        std::fs::write(instance.path().join("config.toml"), text)
            .expect("cannot write config.toml");
    }
    let instance_path = instance.path().display().to_string();
    let instance_arg = format!("--instance-dir={instance_path}");
    let static_arg = format!("--set=static_files.dir={}", static_dir().display());
    let argv = ["keel", instance_arg.as_str(), static_arg.as_str()]
        .into_iter()
        .chain(args.iter().copied());
    let secrets_dir = instance.path().join("secrets").display().to_string();
    let own_secrets_dir = vars.iter().all(|(name, _)| *name != "APP_SECRETS_DIR");
    let vars: keel_config::Vars = vars
        .iter()
        .copied()
        .chain(own_secrets_dir.then_some(("APP_SECRETS_DIR", secrets_dir.as_str())))
        .collect();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = keel_server::run(argv, vars, &mut stdout, &mut stderr);
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes)
            .expect("keel writes UTF-8")
            .replace(&instance_path, "<instance>")
    };
    Outcome {
        code,
        stdout: text(stdout),
        stderr: text(stderr),
    }
}

/// Writes `request` (raw bytes) on `stream` and returns the status line of the answer, failing the test
/// when none comes within 10 s.
pub(crate) async fn status_line_after(stream: &mut TcpStream, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request).await.unwrap();
    let mut response = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
        .await
        .expect("no answer within 10 s")
        .unwrap();
    String::from_utf8_lossy(&response[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// `web/static` of this checkout, whatever the test's working directory.
pub(crate) fn static_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/static")
}

/// A TCP forwarder the test can cut and restore, to simulate a database outage without touching the
/// database server. While cut, live connections are closed and new ones are closed as soon as accepted.
pub(crate) struct TcpProxy {
    pub(crate) address: SocketAddr,
    open: watch::Sender<bool>,
}

impl TcpProxy {
    pub(crate) async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let (open, watching) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*watching.borrow() {
                    continue; // Dropping the socket closes it: the outage.
                }
                let mut cut = watching.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        TcpProxy { address, open }
    }

    pub(crate) fn cut(&self) {
        self.open.send_replace(false);
    }

    pub(crate) fn restore(&self) {
        self.open.send_replace(true);
    }
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

/// `cargo metadata` of the workspace with `extra` arguments (e.g. `--no-deps`), offline (everything the
/// build needs is already downloaded) and locked (a test must never rewrite `Cargo.lock`).
pub(crate) fn cargo_metadata(extra: &[&str]) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version=1",
            "--offline",
            "--manifest-path",
            manifest,
        ])
        .args(extra)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
