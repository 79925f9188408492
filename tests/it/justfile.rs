//! The `justfile` stays a thin command index: every recipe has a doc comment (so `just --list` explains
//! it), runs one to three lines, and the commands people look for are there.

use std::path::Path;

/// A recipe: its name, its doc comment and how many lines it runs.
#[derive(Debug)]
struct Recipe {
    name: String,
    documented: bool,
    lines: usize,
}

fn recipes() -> Vec<Recipe> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../justfile");
    let text = std::fs::read_to_string(path).unwrap();
    let mut recipes: Vec<Recipe> = Vec::new();
    let mut previous = "";
    for line in text.lines() {
        let is_header = !line.starts_with([' ', '\t', '#'])
            && !line.is_empty()
            && line.contains(':')
            && !line.contains(":=");
        if is_header {
            let name = line.split([' ', ':']).next().unwrap().to_owned();
            recipes.push(Recipe {
                name,
                documented: previous.starts_with("# "),
                lines: 0,
            });
        } else if line.starts_with("    ") && !line.trim().is_empty() {
            recipes
                .last_mut()
                .expect("a recipe line before any recipe")
                .lines += 1;
        }
        previous = line;
    }
    recipes
}

#[test]
fn every_recipe_is_documented_and_runs_one_to_three_lines() {
    let recipes = recipes();
    let bad: Vec<&Recipe> = recipes
        .iter()
        .filter(|recipe| !recipe.documented || !(1..=3).contains(&recipe.lines))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    let names: Vec<&str> = recipes.iter().map(|recipe| recipe.name.as_str()).collect();
    for expected in [
        "dev",
        "run",
        "test",
        "test-all",
        "lint",
        "fmt",
        "migrate",
        "new-migration",
        "show-config",
        "check",
        "flags",
        "up",
        "down",
        "bench",
        "bench-http",
        "rename",
        "deny",
    ] {
        assert!(
            names.contains(&expected),
            "no `just {expected}` in {names:?}"
        );
    }
}
