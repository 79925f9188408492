//! keel's black-box tests: one binary (so the crates are linked once), one module per capability.
//!
//! Every test starts its own app on port 0 with a fresh database (see `helpers`), so tests run in parallel.
//! Tests that need PostgreSQL run when `TEST_DATABASE_URL` is set, and fail rather than skip when it is set
//! but the server cannot be reached.

// Helpers outside `#[test]` functions unwrap too: a panic there is a clear test failure.
#![allow(clippy::unwrap_used)]

mod app_name;
mod bao;
mod behind_nginx;
mod browser;
mod cli;
mod collector;
mod connections;
mod crate_graph;
mod data_store;
mod database;
mod deploy;
mod dev_logs;
mod env_example;
mod flags;
mod hardening;
mod helpers;
mod http_client;
mod justfile;
mod limits;
mod live_reload;
mod metrics;
mod moto;
mod notes;
mod otlp_tls;
mod process;
#[cfg(unix)]
mod raw_process;
mod routes;
mod shutdown;
mod ssm;
mod static_files;
mod stores;
mod telemetry;
mod tidy;
mod troubleshooting;
mod vault;
mod vault_transport;
