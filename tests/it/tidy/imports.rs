//! The import graph between the files of each crate, read from the source: which modules each module
//! names through `crate::…`, and the cycles in it.
//!
//! It reads text, not the compiler's view: comments, strings and character literals are skipped, and a
//! path counts whether it is a `use` or written inline. That is enough for a rule about which file knows
//! which; a macro that builds a path would escape it, and keel has none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{relative, rust_files};

/// For each crate (its source folder, relative to the repository root), every module and the other
/// modules of the same crate it names through `crate::…`. A module is a top-level file (`store.rs`) with
/// the folder of its submodules (`store/…`); the crate root is left out, since it declares every module.
pub(crate) fn module_imports() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut crates: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let files = rust_files();
    let roots: BTreeSet<PathBuf> = files
        .iter()
        .filter(|file| file.path.ends_with("lib.rs") || file.path.ends_with("main.rs"))
        .filter_map(|file| file.path.parent().map(Path::to_path_buf))
        .collect();
    for file in &files {
        // The nearest folder above the file that holds a crate root is the crate the file belongs to.
        let Some(root) = file
            .path
            .ancestors()
            .skip(1)
            .find(|dir| roots.contains(*dir))
        else {
            continue;
        };
        let Ok(inside) = file.path.strip_prefix(root) else {
            continue;
        };
        let Some(module) = inside
            .components()
            .next()
            .and_then(|first| first.as_os_str().to_str())
            .map(|first| first.trim_end_matches(".rs").to_owned())
        else {
            continue;
        };
        if inside.components().count() == 1 && matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let graph = crates.entry(relative(root)).or_default();
        graph.entry(module.clone()).or_default().extend(
            crate_paths(&file.text)
                .into_iter()
                .filter(|named| *named != module),
        );
    }
    // Only modules of the crate count: `crate::SomeType` re-exported by the root is not a module.
    for graph in crates.values_mut() {
        let modules: BTreeSet<String> = graph.keys().cloned().collect();
        for named in graph.values_mut() {
            named.retain(|name| modules.contains(name));
        }
    }
    crates
}

/// Every cycle of `graph`, each as the path that closes it (`a -> b -> a`), found once.
pub(crate) fn cycles_in(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut cycles: Vec<Vec<String>> = Vec::new();
    let mut seen: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start {
                    let members: BTreeSet<String> = path.iter().cloned().collect();
                    if seen.insert(members) {
                        let mut cycle = path.clone();
                        cycle.push(start.clone());
                        cycles.push(cycle);
                    }
                } else if !path.contains(next) && next > start {
                    // Only paths through modules after `start` in order: each cycle is walked from its
                    // smallest module, so it is not reported once per member.
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    cycles
}

/// The first segment after every `crate::` in `text`, outside comments, strings and character literals.
/// A group (`crate::{a, b::c}`) names the first segment of each of its items.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let code = without_comments_and_literals(text);
    let mut names = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(position) = rest.find("crate::") {
        let preceded_by_identifier = rest[..position]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[position + "crate::".len()..];
        if preceded_by_identifier {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = closing_brace(group);
            for item in split_top_level(&group[..end]) {
                names.extend(first_identifier(item));
            }
            rest = &group[end..];
        } else {
            names.extend(first_identifier(rest));
        }
    }
    names.remove("self");
    names
}

/// The byte offset of the `}` that closes a group whose `{` was just before `text`.
fn closing_brace(text: &str) -> usize {
    let mut depth = 0usize;
    for (offset, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return offset,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The items of a group, split at the commas that are not inside a nested group.
fn split_top_level(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (offset, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&group[start..offset]);
                start = offset + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

fn first_identifier(text: &str) -> Option<String> {
    let identifier: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!identifier.is_empty()).then_some(identifier)
}

/// `text` with comments removed and the insides of string and character literals blanked, so that only
/// code is searched. Lifetimes (`'a`) are told from character literals (`'a'`) by the closing quote.
fn without_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut code = String::with_capacity(text.len());
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        let next = chars.get(index + 1).copied();
        match (c, next) {
            ('/', Some('/')) => {
                while index < chars.len() && chars[index] != '\n' {
                    index += 1;
                }
            }
            ('/', Some('*')) => {
                index += 2;
                while index < chars.len()
                    && !(chars[index] == '*' && chars.get(index + 1) == Some(&'/'))
                {
                    index += 1;
                }
                index += 2;
            }
            ('r', Some('"' | '#')) if raw_string_hashes(&chars[index + 1..]).is_some() => {
                let hashes = raw_string_hashes(&chars[index + 1..]).unwrap_or(0);
                index += 2 + hashes;
                let closing: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                while index < chars.len() && !chars[index..].starts_with(&closing) {
                    index += 1;
                }
                index += closing.len();
                code.push_str("\"\"");
            }
            ('"', _) => {
                index += 1;
                while index < chars.len() && chars[index] != '"' {
                    index += if chars[index] == '\\' { 2 } else { 1 };
                }
                index += 1;
                code.push_str("\"\"");
            }
            ('\'', Some('\\')) => {
                index += 2;
                while index < chars.len() && chars[index] != '\'' {
                    index += 1;
                }
                index += 1;
                code.push_str("' '");
            }
            ('\'', Some(_)) if chars.get(index + 2) == Some(&'\'') => {
                index += 3;
                code.push_str("' '");
            }
            _ => {
                code.push(c);
                index += 1;
            }
        }
    }
    code
}

/// For text just after an `r`: the number of `#` before the opening `"` of a raw string, if it is one.
fn raw_string_hashes(after_r: &[char]) -> Option<usize> {
    let hashes = after_r.iter().take_while(|c| **c == '#').count();
    (after_r.get(hashes) == Some(&'"')).then_some(hashes)
}

#[test]
fn the_import_scanner_reads_grouped_paths_and_skips_comments_and_strings() {
    let text = r#"
        use crate::store::{Change, Declared};
        use crate::{bucket, catalog::{self, Flag}};
        // use crate::commented_out;
        /// [`crate::doc_link`]
        let text = "crate::in_a_string";
        let c = '"'; crate::after_a_char::call();
        fn f<'a>(x: &'a str) { crate::after_a_lifetime::g(x) }
    "#;
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(
        found,
        [
            "after_a_char",
            "after_a_lifetime",
            "bucket",
            "catalog",
            "store"
        ]
    );
}
