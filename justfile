# keel's command index: each recipe is a short alias for commands you can also type yourself.

# List the recipes.
default:
    @just --list

# Serve the app on http://127.0.0.1:8080 (development environment, SQLite in instance/).
dev:
    cargo run -- serve

# Run every test (PostgreSQL too when TEST_DATABASE_URL is set).
test:
    cargo test

# Run every test against PostgreSQL, Redis and nginx as CI does: the databases from compose.yaml's `test` profile (needs Docker).
test-all:
    docker compose --profile test up -d --wait test-db test-redis
    TEST_DATABASE_URL=postgres://postgres@127.0.0.1:${KEEL_TEST_POSTGRES_PORT:-5432}/postgres TEST_REDIS_URL=redis://127.0.0.1:${KEEL_TEST_REDIS_PORT:-6379} TEST_NGINX="$(command -v nginx || true)" cargo test

# Check formatting and lints as CI does.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Measure what a request span and a flag check cost on the request path.
bench:
    cargo bench -p keel-ext-telemetry
    cargo bench -p keel-ext-flags

# Format the code.
fmt:
    cargo fmt --all

# Build the images and start the whole stack (PostgreSQL, Redis, two instances, nginx) on http://127.0.0.1:8080.
up:
    KEEL_GIT_REVISION="$(git rev-parse --short=12 HEAD)" docker compose up --build

# Stop the stack; its volumes (database, generated secrets) stay (`docker compose down -v` deletes them).
down:
    docker compose down

# Check the deploy files with the tools that read them (hadolint, compose, kustomize, nginx -t).
deploy-checks:
    .ci/deploy-checks

# Run what CI runs.
ci:
    .ci/run
