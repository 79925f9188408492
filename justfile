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

# Run what CI runs.
ci:
    .ci/run
