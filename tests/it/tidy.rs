//! Tidy tests: rules about the repository's own files, checked on every `cargo test` instead of by memory.
//!
//! - Every `.rs` file starts with a `//!` line saying what it is for.
//! - No `.rs` file is longer than [`MAX_LINES`] unless [`LONG_FILES`] names it and says why.
//! - No file refers to the design brief by section (`DESIGN` and a section sign): the brief is not in this
//!   repository, so what a comment cites lives in ARCHITECTURE.md, which is.
//! - No import cycle between the files of one crate: for each crate, the `crate::<module>` paths each
//!   module names form a graph with no cycle (the crate root, which declares and re-exports every module,
//!   is left out). [`module_imports`] lists the graph; the failure message prints every cycle it found (`tidy/imports.rs` reads the paths).

mod imports;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use self::imports::{cycles_in, module_imports};

/// The longest a `.rs` file may be without an entry in [`LONG_FILES`]: about what one idea needs.
const MAX_LINES: usize = 400;

/// Files allowed past [`MAX_LINES`], relative to the repository root, each with the reason. An entry for a
/// file that is short again fails the test, so the list never holds stale excuses.
const LONG_FILES: &[(&str, &str)] = &[
    (
        "crates/keel-config/src/de.rs",
        "one serde Deserializer: the trait's methods belong together, and its tests are written as data",
    ),
    (
        "crates/keel-config/src/layers.rs",
        "the seven layers and the one naming scheme of variables they share; each layer is a short function",
    ),
    (
        "crates/keel-config/src/tests.rs",
        "the loader's unit tests, one per configuration rule, most of them tables of inputs",
    ),
    (
        "tests/it/behind_nginx.rs",
        "one end-to-end scenario (nginx in front of two keel processes) whose set-up is shared by its tests",
    ),
    (
        "tests/it/cli.rs",
        "the command line's tests: exit codes and messages of every command, most of them tables",
    ),
    (
        "tests/it/deploy.rs",
        "the deploy files checked against the binary's behaviour, one test per file they describe",
    ),
    (
        "tests/it/flags.rs",
        "feature flags end to end: the guard, the cookie, the ops API and two instances kept in step",
    ),
    (
        "tests/it/hardening.rs",
        "hostile and unlucky requests, one test each, sharing one app per backend",
    ),
    (
        "tests/it/helpers.rs",
        "the black-box harness: spawn_app, the test client and the PostgreSQL and Redis fixtures",
    ),
];

/// Folders that hold no source of this repository: git's own, and build output.
const SKIPPED_FOLDERS: &[&str] = &[".git", "target", "node_modules"];

#[test]
fn every_rust_file_starts_with_a_module_doc_line() {
    let missing: Vec<String> = rust_files()
        .into_iter()
        .filter(|file| !file.text.starts_with("//!"))
        .map(|file| format!("{}: the first line is not a `//!` line", file.relative))
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn no_rust_file_is_longer_than_one_idea_needs_unless_listed_with_a_reason() {
    let lengths: BTreeMap<String, usize> = rust_files()
        .into_iter()
        .map(|file| (file.relative, file.text.lines().count()))
        .collect();
    let mut problems = Vec::new();
    for (file, lines) in &lengths {
        let listed = LONG_FILES.iter().any(|(long, _)| long == file);
        if *lines > MAX_LINES && !listed {
            problems.push(format!(
                "{file} has {lines} lines (more than {MAX_LINES}): split it where it holds two ideas, or add it to LONG_FILES in tests/it/tidy.rs with the reason"
            ));
        }
    }
    for (file, reason) in LONG_FILES {
        match lengths.get(*file) {
            None => problems.push(format!("LONG_FILES names {file}, which does not exist")),
            Some(lines) if *lines <= MAX_LINES => problems.push(format!(
                "{file} has {lines} lines now: remove it from LONG_FILES"
            )),
            Some(_) if reason.trim().is_empty() => {
                problems.push(format!("LONG_FILES gives no reason for {file}"))
            }
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn nothing_cites_the_design_brief_by_section() {
    // Spelled in two pieces so this file does not cite it either.
    let citation = format!("{} §", "DESIGN");
    let mut citing = Vec::new();
    for path in files_under(&repository_root()) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            // Binary files (images) cite nothing.
            continue;
        };
        for (index, line) in text.lines().enumerate() {
            if line.contains(&citation) {
                citing.push(format!(
                    "{}:{}: {}",
                    relative(&path),
                    index + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        citing.is_empty(),
        "the design brief is not in this repository: put what these lines cite into ARCHITECTURE.md and refer to it there\n{}",
        citing.join("\n")
    );
}

#[test]
fn no_crate_has_an_import_cycle_between_its_files() {
    let mut cycles = Vec::new();
    for (crate_dir, graph) in module_imports() {
        for cycle in cycles_in(&graph) {
            cycles.push(format!("{crate_dir}: {}", cycle.join(" -> ")));
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles (move what both sides need into a module that imports neither):\n{}",
        cycles.join("\n")
    );
}

pub(crate) struct RustFile {
    pub(crate) path: PathBuf,
    /// Relative to the repository root, with `/` separators.
    pub(crate) relative: String,
    pub(crate) text: String,
}

pub(crate) fn rust_files() -> Vec<RustFile> {
    files_under(&repository_root())
        .into_iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .map(|path| RustFile {
            relative: relative(&path),
            text: std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display())),
            path,
        })
        .collect()
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

pub(crate) fn relative(path: &Path) -> String {
    path.strip_prefix(repository_root())
        .unwrap_or(path)
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every file under `folder`, sorted, leaving out [`SKIPPED_FOLDERS`].
fn files_under(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(current) = folders.pop() {
        let entries = std::fs::read_dir(&current)
            .unwrap_or_else(|error| panic!("{}: {error}", current.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if path.is_dir() {
                if !SKIPPED_FOLDERS.contains(&name.as_ref()) {
                    folders.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
