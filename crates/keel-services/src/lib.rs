//! Services: the queries and rules of the app's own resources, written once and shared by the HTML
//! pages (`keel-blueprint-main`) and the JSON API (`keel-blueprint-api-v1`), which may not depend on each
//! other.
//!
//! This crate knows nothing about HTTP, routes, templates or JSON: a service takes plain values, checks
//! them, queries the database through `keel-ext-db`'s entities, and answers with rows or a typed
//! [`notes::Error`] that each blueprint turns into its own response. `notes` is the worked example a
//! fork copies for its first table.

pub mod notes;

pub use crate::notes::Notes;
