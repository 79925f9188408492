//! The repository's chore runner (`cargo xtask …`, or the `just` recipes that call it): changes to the
//! repository that must be whole or not at all, written in Rust rather than as shell one-liners that can
//! half-apply.
//!
//! It knows nothing of keel's crates and depends on none of them, so it builds even while the app does
//! not. It reads the project's name from `[workspace.metadata.template]` in the root `Cargo.toml`.

mod apply;
mod lock_file;
mod migration;
mod rename;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::rename::{File, KEEP_LIST};

const USAGE: &str = "usage: cargo xtask rename NEW_NAME [--dry-run] | new-migration NAME

  rename NEW_NAME      rename the project everywhere (crates, binary, variables, services, docs, paths);
                       needs a clean git tree, and writes every change or none
      --dry-run        print what would change and write nothing
  new-migration NAME   write migrations/src/mYYYYMMDD_NNNNNN_NAME.rs from a template and register it in
                       the migrator (create_<table> gets a working create-table migration)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["rename", name] => rename_project(name, false),
        ["rename", name, "--dry-run"] | ["rename", "--dry-run", name] => rename_project(name, true),
        ["new-migration", name] => new_migration(name),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("xtask: {error}");
            ExitCode::FAILURE
        }
    }
}

fn rename_project(new: &str, dry_run: bool) -> Result<String, String> {
    let root = repository_root()?;
    let old = project_name(&root)?;
    // The name's form first (no files needed), so a typo is reported before anything else.
    rename::check_name(new, &old, &[])?;
    let dirty = git(&root, &["status", "--porcelain", "--untracked-files=all"])?;
    if !dirty.trim().is_empty() {
        return Err(format!(
            "the working tree has uncommitted changes; commit or stash them first, so the rename is one reviewable change and `git checkout` can undo it:\n{}",
            dirty.trim_end()
        ));
    }
    let files = tracked_files(&root)?;
    let keep_text = std::fs::read_to_string(root.join(KEEP_LIST))
        .map_err(|error| format!("cannot read {KEEP_LIST}: {error}"))?;
    let kept = rename::parse_keep_list(&keep_text)?;
    // Kept files are never rewritten, so the new name may appear there (renaming back to the old name
    // is allowed, since only kept files still hold it).
    let rewritten: Vec<File> = files
        .iter()
        .filter(|file| !kept.contains(&file.path))
        .cloned()
        .collect();
    rename::check_name(new, &old, &rewritten)?;
    let plan = rename::plan(&files, &old, new, &kept).map_err(|problems| {
        format!("nothing was changed, because:\n  {}", problems.join("\n  "))
    })?;
    let summary = format!(
        "{} files rewritten, {} of them moved",
        plan.changes.len(),
        plan.moved()
    );
    if dry_run {
        let moves: Vec<String> = plan
            .changes
            .iter()
            .filter(|change| change.from != change.to)
            .map(|change| format!("  {} -> {}", change.from.display(), change.to.display()))
            .collect();
        return Ok(format!(
            "would rename {old} to {new}: {summary}\n{}",
            moves.join("\n")
        ));
    }
    apply::apply(&root, &plan)
        .map_err(|error| format!("cannot write the rename, and nothing was changed: {error}"))?;
    Ok(format!(
        "renamed {old} to {new}: {summary}.\n\
         Next: `cargo build` and `cargo test`, then `git add -A && git commit -m \"Rename {old} to {new}\"`.\n\
         Files git ignores were left alone: a database in instance/ keeps its old name ({old}-development.sqlite3); \
         rename it to {new}-development.sqlite3 to keep its data."
    ))
}

fn new_migration(name: &str) -> Result<String, String> {
    let root = repository_root()?;
    let folder = root.join(migration::FOLDER);
    let existing: Vec<String> = std::fs::read_dir(&folder)
        .map_err(|error| format!("cannot read {}: {error}", folder.display()))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let module = name.strip_suffix(".rs")?;
            module.starts_with('m').then(|| module.to_owned())
        })
        .collect();
    let lib_rs = std::fs::read_to_string(folder.join("lib.rs"))
        .map_err(|error| format!("cannot read {}/lib.rs: {error}", migration::FOLDER))?;
    let plan = migration::plan(name, &migration::today(), &existing, &lib_rs)?;
    apply::apply(&root, &plan)
        .map_err(|error| format!("cannot write the migration, and nothing was changed: {error}"))?;
    Ok(format!(
        "wrote {} and registered it in {}/lib.rs. Next: fill it in, then `just migrate` applies it.",
        plan.changes[0].to.display(),
        migration::FOLDER
    ))
}

/// The root of the git work tree holding the current folder.
fn repository_root() -> Result<PathBuf, String> {
    let output = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .map_err(|error| format!("cannot run git: {error}"))?;
    if !output.status.success() {
        return Err("run this inside the repository's git work tree".to_owned());
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// The project's name: `name` under `[workspace.metadata.template]` in the root `Cargo.toml`.
fn project_name(root: &Path) -> Result<String, String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|error| format!("cannot read Cargo.toml: {error}"))?;
    let mut in_table = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[workspace.metadata.template]";
        } else if let (true, Some(value)) = (in_table, line.strip_prefix("name = ")) {
            return Ok(value.trim_matches('"').to_owned());
        }
    }
    Err("Cargo.toml has no `name = \"...\"` under [workspace.metadata.template]: add the project's name there".to_owned())
}

fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .map_err(|error| format!("cannot run git: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Every file git tracks, with its contents: ignored files (target/, instance/, .env) are never touched.
fn tracked_files(root: &Path) -> Result<Vec<File>, String> {
    git(root, &["ls-files", "-z"])?
        .split('\0')
        .filter(|path| !path.is_empty())
        .map(|path| {
            let contents = std::fs::read(root.join(path))
                .map_err(|error| format!("cannot read {path}: {error}"))?;
            Ok(File {
                path: PathBuf::from(path),
                contents,
            })
        })
        .collect()
}
