//! Writing a plan all-or-nothing: every new file is staged first, then the old files are moved aside and
//! the staged ones moved in; a failure at any step puts every file back as it was.
//!
//! Moves are renames within the repository's own filesystem (the staging folder sits in the repository),
//! so each step is atomic and cheap, and undoing one is another rename.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::rename::Plan;

/// Where the staged files and the originals wait while a plan is applied; removed afterwards.
const STAGING: &str = ".xtask-staging";

/// Writes `plan` under `root`, or changes nothing and returns why.
pub(crate) fn apply(root: &Path, plan: &Plan) -> io::Result<()> {
    let staging = root.join(STAGING);
    if staging.exists() {
        return Err(io::Error::other(format!(
            "{} exists, left by an interrupted run: check that the working tree is as you expect, then delete it",
            staging.display()
        )));
    }
    fs::create_dir(&staging)?;
    let result = stage(root, &staging, plan).and_then(|()| swap(root, &staging, plan));
    let cleaned = fs::remove_dir_all(&staging);
    result?;
    cleaned?;
    for change in plan
        .changes
        .iter()
        .filter(|change| change.from != change.to)
    {
        remove_empty_parents(root, &change.from);
    }
    Ok(())
}

fn staged(staging: &Path, index: usize) -> PathBuf {
    staging.join(format!("new-{index}"))
}

fn original(staging: &Path, index: usize) -> PathBuf {
    staging.join(format!("old-{index}"))
}

/// Writes each new file into the staging folder, with its original's permissions (scripts stay
/// executable).
fn stage(root: &Path, staging: &Path, plan: &Plan) -> io::Result<()> {
    for (index, change) in plan.changes.iter().enumerate() {
        let path = staged(staging, index);
        fs::write(&path, &change.contents)?;
        if change.creates {
            if root.join(&change.to).exists() {
                return Err(io::Error::other(format!(
                    "{} already exists",
                    change.to.display()
                )));
            }
        } else {
            let permissions = fs::metadata(root.join(&change.from))?.permissions();
            fs::set_permissions(&path, permissions)?;
        }
    }
    Ok(())
}

/// Moves every original aside, then every staged file in; on failure, undoes the moves made so far.
fn swap(root: &Path, staging: &Path, plan: &Plan) -> io::Result<()> {
    let mut set_aside: Vec<usize> = Vec::new();
    let mut placed: Vec<PathBuf> = Vec::new();
    let mut created: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for (index, change) in plan.changes.iter().enumerate() {
            if !change.creates {
                fs::rename(root.join(&change.from), original(staging, index))?;
                set_aside.push(index);
            }
        }
        for (index, change) in plan.changes.iter().enumerate() {
            let target = root.join(&change.to);
            create_parents(root, &target, &mut created)?;
            fs::rename(staged(staging, index), &target)?;
            placed.push(target);
        }
        Ok(())
    })();
    if let Err(error) = result {
        let undone = undo(root, staging, plan, &set_aside, &placed, &created);
        return Err(match undone {
            Ok(()) => error,
            Err(undo_error) => io::Error::other(format!(
                "{error}; undoing it failed too ({undo_error}): `git status` shows what changed, `git checkout -- . && git clean -fd` restores it"
            )),
        });
    }
    Ok(())
}

fn undo(
    root: &Path,
    staging: &Path,
    plan: &Plan,
    set_aside: &[usize],
    placed: &[PathBuf],
    created: &[PathBuf],
) -> io::Result<()> {
    for target in placed {
        fs::remove_file(target)?;
    }
    for &index in set_aside {
        fs::rename(
            original(staging, index),
            root.join(&plan.changes[index].from),
        )?;
    }
    for folder in created.iter().rev() {
        fs::remove_dir(folder)?;
    }
    Ok(())
}

/// Creates the missing folders above `target`, recording each so an undo can remove it.
fn create_parents(root: &Path, target: &Path, created: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut folder = target.parent();
    while let Some(path) = folder {
        if path == root || path.exists() {
            break;
        }
        missing.push(path.to_path_buf());
        folder = path.parent();
    }
    for path in missing.into_iter().rev() {
        fs::create_dir(&path)?;
        created.push(path);
    }
    Ok(())
}

/// Removes the folders a moved file left empty (`crates/keel-config/src`, then `crates/keel-config`).
fn remove_empty_parents(root: &Path, moved: &Path) {
    let mut folder = root.join(moved).parent().map(Path::to_path_buf);
    while let Some(path) = folder {
        // `remove_dir` fails on a folder that still holds something, which ends the walk.
        if path == root || fs::remove_dir(&path).is_err() {
            break;
        }
        folder = path.parent().map(Path::to_path_buf);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::rename::Change;

    /// Every file under `root` with its contents, to compare trees before and after.
    fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(folder) = pending.pop() {
            for entry in fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let relative = path.strip_prefix(root).unwrap().to_path_buf();
                    files.insert(relative, fs::read(&path).unwrap());
                }
            }
        }
        files
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = root.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        root
    }

    fn change(from: &str, to: &str, text: &str) -> Change {
        Change {
            from: PathBuf::from(from),
            to: PathBuf::from(to),
            contents: text.as_bytes().to_vec(),
            creates: false,
        }
    }

    fn creation(path: &str, text: &str) -> Change {
        Change {
            creates: true,
            ..change(path, path, text)
        }
    }

    /// A file moving to a folder that does not exist yet, out of one that ends up empty.
    fn moved_crate() -> Change {
        change(
            "crates/acme-config/src/lib.rs",
            "crates/zinc-config/src/lib.rs",
            "zinc",
        )
    }

    #[test]
    fn a_plan_is_written_whole_and_leaves_no_empty_folder_or_staging_behind() {
        let root = tree(&[
            ("crates/acme-config/src/lib.rs", "acme"),
            ("run", "#!/bin/sh\n"),
            ("README.md", "acme"),
        ]);
        let script = root.path().join("run");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let plan = Plan {
            changes: vec![
                moved_crate(),
                change("run", "run", "#!/bin/sh\n# zinc\n"),
                change("README.md", "README.md", "zinc"),
            ],
        };
        apply(root.path(), &plan).unwrap();
        let after = snapshot(root.path());
        let paths: Vec<&str> = after.keys().map(|path| path.to_str().unwrap()).collect();
        assert_eq!(paths, ["README.md", "crates/zinc-config/src/lib.rs", "run"]);
        assert_eq!(after[Path::new("README.md")], b"zinc");
        assert!(!root.path().join("crates/acme-config").exists());
        let mode = fs::metadata(&script).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "the script stays executable");
    }

    #[test]
    fn a_failure_halfway_through_puts_every_file_back() {
        let root = tree(&[
            ("crates/acme-config/src/lib.rs", "acme"),
            ("README.md", "acme"),
            ("notes.txt", "acme"),
            (
                "wall",
                "a file that stays where the last change needs a folder",
            ),
        ]);
        let before = snapshot(root.path());
        let plan = Plan {
            changes: vec![
                moved_crate(),
                change("README.md", "README.md", "zinc"),
                // Its target's parent is a file, so creating it fails after the others were placed.
                change("notes.txt", "wall/notes.txt", "zinc"),
            ],
        };
        let error = apply(root.path(), &plan).unwrap_err();
        assert!(!error.to_string().is_empty());
        assert_eq!(snapshot(root.path()), before);
        assert!(!root.path().join("crates/zinc-config").exists());
        assert!(!root.path().join(STAGING).exists());
    }

    #[test]
    fn a_new_file_is_created_with_the_others_and_removed_again_on_failure() {
        let root = tree(&[("src/lib.rs", "mod a;\n"), ("wall", "a file")]);
        let plan = Plan {
            changes: vec![
                creation("src/b/new.rs", "//! New.\n"),
                change("src/lib.rs", "src/lib.rs", "mod a;\nmod b;\n"),
            ],
        };
        apply(root.path(), &plan).unwrap();
        assert_eq!(
            fs::read(root.path().join("src/b/new.rs")).unwrap(),
            b"//! New.\n"
        );

        let before = snapshot(root.path());
        let failing = Plan {
            changes: vec![
                creation("src/c/new.rs", "//! New.\n"),
                change("src/lib.rs", "wall/lib.rs", "mod c;\n"),
            ],
        };
        apply(root.path(), &failing).unwrap_err();
        assert_eq!(snapshot(root.path()), before);
        assert!(!root.path().join("src/c").exists());

        let overwrite = Plan {
            changes: vec![creation("src/lib.rs", "//! Replaced.\n")],
        };
        let error = apply(root.path(), &overwrite).unwrap_err();
        assert!(
            error.to_string().contains("src/lib.rs already exists"),
            "{error}"
        );
        assert_eq!(snapshot(root.path()), before);
    }

    #[test]
    fn a_staging_folder_left_by_an_interrupted_run_stops_the_next_one() {
        let root = tree(&[("README.md", "acme"), (".xtask-staging/new-0", "zinc")]);
        let before = snapshot(root.path());
        let plan = Plan {
            changes: vec![change("README.md", "README.md", "zinc")],
        };
        let error = apply(root.path(), &plan).unwrap_err();
        assert!(
            error.to_string().contains("left by an interrupted run"),
            "{error}"
        );
        assert_eq!(snapshot(root.path()), before);
    }

    #[test]
    fn a_missing_source_file_fails_while_staging_before_anything_moves() {
        let root = tree(&[("README.md", "acme")]);
        let before = snapshot(root.path());
        let plan = Plan {
            changes: vec![
                change("README.md", "README.md", "zinc"),
                change("gone.txt", "gone.txt", "zinc"),
            ],
        };
        apply(root.path(), &plan).unwrap_err();
        assert_eq!(snapshot(root.path()), before);
    }
}
