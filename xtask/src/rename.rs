//! `rename`: the planning half. Checks the new name, then computes every change — each file's new
//! contents and new path — before anything is written, so a rename that cannot be whole is refused whole.
//!
//! The project token appears in three forms, each replaced by the same form of the new name: `keel`
//! (crates, the binary, services, files), `Keel` (prose, type names) and `KEEL` (variables).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The file listing what keeps the old name on purpose: one path per line, then the reason.
pub(crate) const KEEP_LIST: &str = "xtask/rename-keep.txt";

/// Rust keywords and the crates every program can name: a project named so could not name its crates.
const RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "union",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// A file as it is now: its path relative to the repository root and its bytes.
#[derive(Debug, Clone)]
pub(crate) struct File {
    pub(crate) path: PathBuf,
    pub(crate) contents: Vec<u8>,
}

/// One file to write: from where, to where (often the same path), with what contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) from: PathBuf,
    pub(crate) to: PathBuf,
    pub(crate) contents: Vec<u8>,
    /// A file that does not exist yet (`from` is `to`); writing it over an existing file is refused.
    pub(crate) creates: bool,
}

/// Everything a rename will write, computed before anything is.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) changes: Vec<Change>,
}

impl Plan {
    pub(crate) fn moved(&self) -> usize {
        self.changes
            .iter()
            .filter(|change| change.from != change.to)
            .count()
    }
}

/// The paths that keep the old name, from the keep list's text (`path  reason`, `#` comments).
pub(crate) fn parse_keep_list(text: &str) -> Result<BTreeSet<PathBuf>, String> {
    let mut kept = BTreeSet::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(char::is_whitespace) {
            Some((path, reason)) if !reason.trim().is_empty() => {
                kept.insert(PathBuf::from(path));
            }
            _ => {
                return Err(format!(
                    "{KEEP_LIST} line {}: write the path, then why it keeps the old name",
                    number + 1
                ));
            }
        }
    }
    Ok(kept)
}

/// Refuses a name that cannot name crates, identifiers, variables, services and files all at once, or
/// that the repository already uses (the token must be unique, or the next rename and the check that
/// the old name is gone could not tell the two apart).
pub(crate) fn check_name(new: &str, old: &str, files: &[File]) -> Result<(), String> {
    let well_formed = new.len() >= 2
        && new.len() <= 32
        && new.starts_with(|first: char| first.is_ascii_lowercase())
        && new
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !well_formed {
        return Err(format!(
            "{new:?} cannot be the project's name: use 2 to 32 lowercase ASCII letters and digits, starting with a letter \
             (one word, since it becomes crate names like {new}-config, identifiers like {new}_config and variables like {}_HTTP_PORT)",
            new.to_ascii_uppercase()
        ));
    }
    if new == old {
        return Err(format!("the project is already named {old}"));
    }
    if RESERVED.contains(&new) {
        return Err(format!(
            "{new:?} is a Rust keyword or a built-in crate name: choose another name"
        ));
    }
    let uses: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::str::from_utf8(&file.contents).ok()?;
            let line = text
                .lines()
                .position(|line| line.to_ascii_lowercase().contains(new))?;
            Some(format!("{}:{}", file.path.display(), line + 1))
        })
        .take(3)
        .collect();
    if !uses.is_empty() {
        return Err(format!(
            "{new:?} is already used in the repository ({}): choose a name it does not contain, so the rename can be checked and repeated",
            uses.join(", ")
        ));
    }
    Ok(())
}

/// `text` with every form of `old` replaced by the same form of `new`.
pub(crate) fn replace_token(text: &str, old: &str, new: &str) -> String {
    [
        (old.to_owned(), new.to_owned()),
        (capitalized(old), capitalized(new)),
        (old.to_ascii_uppercase(), new.to_ascii_uppercase()),
    ]
    .iter()
    .fold(text.to_owned(), |text, (from, to)| text.replace(from, to))
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Every change the rename makes, or every reason it cannot be made (all of them, not the first).
pub(crate) fn plan(
    files: &[File],
    old: &str,
    new: &str,
    kept: &BTreeSet<PathBuf>,
) -> Result<Plan, Vec<String>> {
    let mut problems = Vec::new();
    let mut changes = Vec::new();
    for file in files {
        let to = PathBuf::from(replace_token(&file.path.to_string_lossy(), old, new));
        if kept.contains(&file.path) {
            if to != file.path {
                problems.push(format!(
                    "{} is in {KEEP_LIST} but its path holds the name: the list keeps contents only",
                    file.path.display()
                ));
            }
            continue;
        }
        let contents = match std::str::from_utf8(&file.contents) {
            Ok(text) if file.path == Path::new("Cargo.lock") => {
                crate::lock_file::sorted(&replace_token(text, old, new)).into_bytes()
            }
            Ok(text) => replace_token(text, old, new).into_bytes(),
            Err(_) if contains_token(&file.contents, old) => {
                problems.push(format!(
                    "{} is not text but contains {old:?}: edit it by hand first, or add it to {KEEP_LIST} with a reason",
                    file.path.display()
                ));
                continue;
            }
            Err(_) => file.contents.clone(),
        };
        if contents != file.contents || to != file.path {
            changes.push(Change {
                from: file.path.clone(),
                to,
                contents,
                creates: false,
            });
        }
    }
    problems.extend(collisions(files, &changes));
    if problems.is_empty() {
        Ok(Plan { changes })
    } else {
        Err(problems)
    }
}

fn contains_token(bytes: &[u8], old: &str) -> bool {
    let old = old.to_ascii_lowercase();
    bytes
        .windows(old.len())
        .any(|window| window.eq_ignore_ascii_case(old.as_bytes()))
}

/// A moved file may not land on a file that stays, nor on another moved file.
fn collisions(files: &[File], changes: &[Change]) -> Vec<String> {
    let moving_away: BTreeSet<&Path> = changes
        .iter()
        .filter(|change| change.from != change.to)
        .map(|change| change.from.as_path())
        .collect();
    let staying: BTreeSet<&Path> = files
        .iter()
        .map(|file| file.path.as_path())
        .filter(|path| !moving_away.contains(path))
        .collect();
    let mut landing: BTreeMap<&Path, &Path> = BTreeMap::new();
    let mut problems = Vec::new();
    for change in changes.iter().filter(|change| change.from != change.to) {
        if staying.contains(change.to.as_path()) {
            problems.push(format!(
                "{} would become {}, which already exists",
                change.from.display(),
                change.to.display()
            ));
        }
        if let Some(other) = landing.insert(&change.to, &change.from) {
            problems.push(format!(
                "{} and {} would both become {}",
                other.display(),
                change.from.display(),
                change.to.display()
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests;
