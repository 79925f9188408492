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
                sorted_lock_file(&replace_token(text, old, new)).into_bytes()
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

/// `Cargo.lock` in cargo's own order, packages and each package's dependencies sorted by name: renamed
/// packages move, and cargo would otherwise reorder the file on its next run, so that a renamed fork starts
/// with a lock file cargo leaves alone. Sorts are stable, so versions of one crate keep their order.
pub(crate) fn sorted_lock_file(text: &str) -> String {
    const SEPARATOR: &str = "\n[[package]]\n";
    let mut blocks: Vec<&str> = text.split(SEPARATOR).collect();
    let header = blocks.remove(0);
    let mut packages: Vec<String> = blocks.into_iter().map(sorted_dependencies).collect();
    packages.sort_by(|a, b| package_name(a).cmp(package_name(b)));
    std::iter::once(header.to_owned())
        .chain(packages)
        .collect::<Vec<_>>()
        .join(SEPARATOR)
}

/// The package's name: the value of its first line, `name = "…"`.
fn package_name(block: &str) -> &str {
    block.lines().next().unwrap_or_default()
}

/// One `[[package]]` block with the lines of its `dependencies = [ … ]` sorted by crate name.
fn sorted_dependencies(block: &str) -> String {
    let Some(start) = block.find("dependencies = [\n") else {
        return block.to_owned();
    };
    let list_start = start + "dependencies = [\n".len();
    let Some(length) = block[list_start..].find("]\n") else {
        return block.to_owned();
    };
    let mut entries: Vec<&str> = block[list_start..list_start + length].lines().collect();
    // An entry is ` "name",` or ` "name version",`: the name ends at the space or the quote.
    entries.sort_by_key(|entry| {
        entry
            .trim_start_matches([' ', '"'])
            .split([' ', '"'])
            .next()
    });
    let mut sorted = block[..list_start].to_owned();
    for entry in entries {
        sorted.push_str(entry);
        sorted.push('\n');
    }
    sorted.push_str(&block[list_start + length..]);
    sorted
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
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> File {
        File {
            path: PathBuf::from(path),
            contents: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn each_form_of_the_token_becomes_the_same_form_of_the_new_name() {
        let cases = [
            ("acme-config", "zinc-config"),
            ("use acme_config::Settings;", "use zinc_config::Settings;"),
            ("Acme is a starter", "Zinc is a starter"),
            ("ACME_HTTP_PORT=8080", "ZINC_HTTP_PORT=8080"),
            ("struct AcmeProcess", "struct ZincProcess"),
            ("run_acme(&args)", "run_zinc(&args)"),
            ("no token here", "no token here"),
        ];
        for (before, after) in cases {
            assert_eq!(replace_token(before, "acme", "zinc"), after, "{before}");
        }
    }

    #[test]
    fn names_that_cannot_name_everything_are_refused_with_the_reason() {
        let files = [file("README.md", "acme, built with tokio\n")];
        let refused = [
            ("", "use 2 to 32 lowercase"),
            ("z", "use 2 to 32 lowercase"),
            ("Zinc", "use 2 to 32 lowercase"),
            ("my-app", "use 2 to 32 lowercase"),
            ("my_app", "use 2 to 32 lowercase"),
            ("9lives", "use 2 to 32 lowercase"),
            ("zïnc", "use 2 to 32 lowercase"),
            ("abcdefghijklmnopqrstuvwxyzabcdefg", "use 2 to 32 lowercase"),
            ("acme", "already named acme"),
            ("crate", "Rust keyword"),
            ("std", "built-in crate"),
            ("tokio", "already used in the repository (README.md:1)"),
        ];
        for (name, reason) in refused {
            let error = check_name(name, "acme", &files).unwrap_err();
            assert!(error.contains(reason), "{name:?}: {error}");
        }
        assert_eq!(check_name("zinc", "acme", &files), Ok(()));
        assert_eq!(check_name("zinc2", "acme", &files), Ok(()));
    }

    #[test]
    fn the_plan_rewrites_contents_and_paths_and_leaves_the_rest() {
        let files = [
            file("crates/acme-config/Cargo.toml", "name = \"acme-config\"\n"),
            file("crates/acme-config/src/lib.rs", "//! Settings.\n"),
            file("deploy/nginx/acme.conf", "upstream acme {}\n"),
            file("LICENSE-MIT", "Copyright (c) The acme contributors\n"),
            file("README.md", "nothing to rename\n"),
        ];
        let kept = BTreeSet::from([PathBuf::from("LICENSE-MIT")]);
        let plan = plan(&files, "acme", "zinc", &kept).unwrap();
        let summary: Vec<(&str, &str, &str)> = plan
            .changes
            .iter()
            .map(|change| {
                (
                    change.from.to_str().unwrap(),
                    change.to.to_str().unwrap(),
                    std::str::from_utf8(&change.contents).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "crates/acme-config/Cargo.toml",
                    "crates/zinc-config/Cargo.toml",
                    "name = \"zinc-config\"\n"
                ),
                (
                    "crates/acme-config/src/lib.rs",
                    "crates/zinc-config/src/lib.rs",
                    "//! Settings.\n"
                ),
                (
                    "deploy/nginx/acme.conf",
                    "deploy/nginx/zinc.conf",
                    "upstream zinc {}\n"
                ),
            ]
        );
        assert_eq!(plan.moved(), 3);
    }

    #[test]
    fn every_reason_a_plan_cannot_be_whole_is_reported_at_once() {
        let files = [
            file("acme.txt", "one"),
            file("zinc.txt", "already there"),
            file("a/Acme.md", "x"),
            file("a/acme.md", "y"),
            File {
                path: PathBuf::from("logo.png"),
                contents: b"\x89PNG\xff\xfeACME".to_vec(),
            },
            File {
                path: PathBuf::from("photo.jpg"),
                contents: b"\xff\xd8\xff\xe0 no token".to_vec(),
            },
            file("acme-kept.txt", "acme"),
        ];
        let kept = BTreeSet::from([PathBuf::from("acme-kept.txt")]);
        let problems = plan(&files, "acme", "zinc", &kept).unwrap_err();
        assert_eq!(
            problems,
            [
                "logo.png is not text but contains \"acme\": edit it by hand first, or add it to xtask/rename-keep.txt with a reason",
                "acme-kept.txt is in xtask/rename-keep.txt but its path holds the name: the list keeps contents only",
                "acme.txt would become zinc.txt, which already exists",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
        );
        // Two files whose names differ only in the token's case land apart (`Zinc.md`, `zinc.md`).
        assert_eq!(replace_token("a/Acme.md", "acme", "zinc"), "a/Zinc.md");
    }

    #[test]
    fn two_files_landing_on_one_path_are_refused() {
        let files = [file("acme/zinc.txt", "1"), file("zinc/acme.txt", "2")];
        let problems = plan(&files, "acme", "zinc", &BTreeSet::new()).unwrap_err();
        assert_eq!(
            problems,
            ["acme/zinc.txt and zinc/acme.txt would both become zinc/zinc.txt"]
        );
    }

    #[test]
    fn a_renamed_lock_file_is_in_the_order_cargo_writes() {
        let before = "version = 4\n\n[[package]]\nname = \"acme-server\"\nversion = \"0.0.0\"\ndependencies = [\n \"acme-config\",\n \"getrandom 0.2.17\",\n \"getrandom 0.3.4\",\n \"tokio\",\n]\n\n[[package]]\nname = \"getrandom\"\nversion = \"0.2.17\"\n\n[[package]]\nname = \"getrandom\"\nversion = \"0.3.4\"\n\n[[package]]\nname = \"tokio\"\nversion = \"1.0.0\"\n";
        let after = "version = 4\n\n[[package]]\nname = \"getrandom\"\nversion = \"0.2.17\"\n\n[[package]]\nname = \"getrandom\"\nversion = \"0.3.4\"\n\n[[package]]\nname = \"tokio\"\nversion = \"1.0.0\"\n\n[[package]]\nname = \"zinc-server\"\nversion = \"0.0.0\"\ndependencies = [\n \"getrandom 0.2.17\",\n \"getrandom 0.3.4\",\n \"tokio\",\n \"zinc-config\",\n]\n";
        assert_eq!(
            sorted_lock_file(&replace_token(before, "acme", "zinc")),
            after
        );
        assert_eq!(
            sorted_lock_file(before),
            before,
            "an ordered file stays as it is"
        );
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"));
        let lock = lock.unwrap();
        assert_eq!(
            sorted_lock_file(&lock),
            lock,
            "the workspace's own lock file is in order"
        );
    }

    #[test]
    fn the_keep_list_needs_a_reason_for_each_path() {
        let kept = parse_keep_list("# comment\n\nLICENSE-MIT   the copyright holders\n").unwrap();
        assert_eq!(kept, BTreeSet::from([PathBuf::from("LICENSE-MIT")]));
        let error = parse_keep_list("LICENSE-MIT\n").unwrap_err();
        assert!(
            error.contains("line 1: write the path, then why"),
            "{error}"
        );
    }
}
