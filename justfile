# keel's command index: each recipe is a short alias for commands you can also type yourself.
# `just --list` shows them; `just --show NAME` prints one.

# List the recipes.
default:
    @just --list

# What `just dev` restarts on: code, templates, static files, profiles, the instance's config.toml (not its database).
dev_watch := "--watch crates --watch migrations --watch web --watch instance --ignore '*.sqlite3*' --watch Cargo.toml --watch Cargo.lock"
dev_without_reload := "just dev: live reload needs watchexec and systemfd (cargo install --locked watchexec-cli systemfd); serving without it"

# Serve on http://127.0.0.1:${PORT:-8080}, rebuilding and restarting on every change while the socket stays open (plain run without watchexec and systemfd).
dev:
    @mkdir -p instance; if command -v watchexec >/dev/null && command -v systemfd >/dev/null; then systemfd --no-pid -s http::127.0.0.1:${PORT:-8080} -- watchexec --restart --stop-signal SIGTERM {{ dev_watch }} -- cargo run -- serve; else echo "{{ dev_without_reload }}" >&2; cargo run -- serve; fi

# Run any keel command through cargo, e.g. `just run hello`, `just run migrate status`.
run *ARGS:
    cargo run -- {{ ARGS }}

# Run every test (PostgreSQL too when TEST_DATABASE_URL is set).
test *ARGS:
    cargo test {{ ARGS }}

# Run every test against PostgreSQL, Redis, nginx and Chromium as CI does: the databases from compose.yaml's `test` profile (needs Docker).
test-all:
    docker compose --profile test up -d --wait test-db test-redis
    TEST_DATABASE_URL=postgres://postgres@127.0.0.1:${KEEL_TEST_POSTGRES_PORT:-5432}/postgres TEST_REDIS_URL=redis://127.0.0.1:${KEEL_TEST_REDIS_PORT:-6379} TEST_NGINX="$(command -v nginx || true)" TEST_CHROMEDRIVER="$(command -v chromedriver || true)" TEST_PROMETHEUS="$(command -v prometheus || true)" TEST_BAO="$(command -v bao || true)" TEST_MOTO="$(command -v moto_server || true)" cargo test

# Check formatting and lints as CI does.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Apply the pending migrations to the configured database (or `just migrate status`, `down`, `fresh`).
migrate *ARGS="up":
    cargo run -- migrate {{ ARGS }}

# Write migrations/src/mYYYYMMDD_NNNNNN_NAME.rs from a template and register it (create_<table> creates a table).
new-migration NAME:
    cargo xtask new-migration {{ NAME }}

# Print the settings, secrets masked (`just show-config --all --explain` adds every key and its source).
show-config *ARGS:
    cargo run -- show-config {{ ARGS }}

# Validate the settings, then reach the database, Redis and the OTLP endpoint, reporting each.
check:
    cargo run -- check

# List the feature flags (or `just flags set signup_v2 on --rollout 25`, `just flags check`).
flags *ARGS="list":
    cargo run -- flags {{ ARGS }}

# Measure what a request span, a flag check and the whole middleware stack cost per request (no network).
bench:
    cargo bench -p keel-ext-telemetry
    cargo bench -p keel-ext-flags
    cargo bench -p keel-app-factory

# Benchmark keel beside a bare axum server with wrk and write BENCHMARKS.md (`just bench-http soak`, `faults [postgres|redis|sigterm]`: the long checks).
bench-http *ARGS="http":
    cargo run --release --locked -p keel-bench --bin keel-bench -- {{ ARGS }}

# Rename the project everywhere (crates, binary, variables, services, docs); needs a clean git tree.
rename NEW_NAME:
    cargo xtask rename {{ NEW_NAME }}

# Check dependencies against deny.toml: advisories, licences, duplicate versions, sources (needs cargo-deny).
deny:
    @cargo deny --version >/dev/null 2>&1 || { echo "just deny needs cargo-deny: cargo install --locked cargo-deny" >&2; exit 1; }
    cargo deny check

# Build the images and start the whole stack (PostgreSQL, Redis, two instances, nginx) on http://127.0.0.1:8080.
up:
    KEEL_GIT_REVISION="$(git rev-parse --short=12 HEAD)" docker compose up --build

# Stop the stack; its volumes (database, generated secrets) stay (`docker compose down -v` deletes them).
down:
    docker compose down

# Check the deploy files with the tools that read them (hadolint, compose, kustomize, nginx -t).
deploy-checks:
    .ci/deploy-checks

# Check the GitHub workflow with actionlint and the workflow schema.
workflow-checks:
    .ci/workflow-checks

# Rename a clean clone, build and test it, and rename it back, as CI does.
rename-check:
    .ci/rename-check

# Run what CI runs.
ci:
    .ci/run
