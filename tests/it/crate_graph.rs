//! A tidy test: the workspace's crate graph has no upward arrow (ARCHITECTURE.md, "Dependency graph"),
//! checked from `cargo metadata`.

use crate::helpers::cargo_metadata;
use std::collections::BTreeMap;

/// Every internal crate and its tier; a crate may depend only on crates of a strictly lower tier. So
/// blueprints cannot depend on each other or on the app factory, and nothing depends on the binary.
const TIERS: &[(&str, u8)] = &[
    ("keel-server", 7),
    ("keel-app-factory", 6),
    ("keel-blueprint-main", 5),
    ("keel-blueprint-api-v1", 5),
    ("keel-blueprint-ops", 5),
    // Flags persist through the database extension, so they sit one tier above it.
    ("keel-ext-flags", 4),
    // The resources' queries, shared by the HTML and JSON blueprints, which may not depend on each other.
    ("keel-services", 4),
    ("keel-ext-db", 3),
    ("keel-ext-telemetry", 3),
    ("keel-ext-secrets", 3),
    ("keel-config", 2),
    ("keel-http", 2),
    ("keel-migrations", 2),
];

/// The black-box test package sits above everything and is not part of the architecture.
const TEST_HARNESS: &str = "keel-tests";

/// The repository's chore runner (`cargo xtask`): outside the architecture, and depending on no member, so
/// it builds while the app does not (e.g. halfway through a rename). Its name follows the `cargo xtask`
/// convention rather than the `keel-` prefix of the app's crates (see `xtask/Cargo.toml`).
const CHORE_RUNNER: &str = "xtask";

/// The HTTP benchmark (`bench/`): outside the architecture like the chore runner, and depending on no
/// member, so its baseline is bare axum and it measures keel only from the outside, as a client would.
const BENCHMARK: &str = "keel-bench";

#[test]
fn no_crate_depends_on_a_crate_of_its_own_or_a_higher_tier() {
    let tiers: BTreeMap<&str, u8> = TIERS.iter().copied().collect();
    let mut violations = Vec::new();
    for (package, dependencies) in workspace_dependencies() {
        if package == TEST_HARNESS {
            continue;
        }
        if package == CHORE_RUNNER || package == BENCHMARK {
            violations.extend(dependencies.iter().map(|dependency| {
                format!("{package} -> {dependency}: {package} depends on no workspace crate")
            }));
            continue;
        }
        let Some(&tier) = tiers.get(package.as_str()) else {
            violations.push(format!(
                "{package} has no tier: add it to TIERS in tests/it/crate_graph.rs"
            ));
            continue;
        };
        for dependency in dependencies {
            match tiers.get(dependency.as_str()) {
                Some(&below) if below < tier => {}
                Some(_) => violations.push(format!(
                    "{package} (tier {tier}) -> {dependency}: an upward or sideways arrow"
                )),
                None => violations.push(format!(
                    "{package} -> {dependency}: {dependency} has no tier"
                )),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// For each workspace member, the workspace members it depends on (normal, build and dev dependencies).
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let metadata = cargo_metadata(&["--no-deps"]);
    let packages = metadata["packages"].as_array().unwrap();
    let members: Vec<&str> = packages
        .iter()
        .filter_map(|package| package["name"].as_str())
        .collect();
    assert!(
        members.len() >= TIERS.len(),
        "cargo metadata lists {members:?}"
    );
    packages
        .iter()
        .map(|package| {
            let name = package["name"].as_str().unwrap().to_owned();
            let dependencies = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|dependency| dependency["name"].as_str())
                .filter(|dependency| members.contains(dependency))
                .map(str::to_owned)
                .collect();
            (name, dependencies)
        })
        .collect()
}
