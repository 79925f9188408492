//! The rename's planning, tested on small made-up trees (the token `acme` renamed to `zinc`).

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
fn the_keep_list_needs_a_reason_for_each_path() {
    let kept = parse_keep_list("# comment\n\nLICENSE-MIT   the copyright holders\n").unwrap();
    assert_eq!(kept, BTreeSet::from([PathBuf::from("LICENSE-MIT")]));
    let error = parse_keep_list("LICENSE-MIT\n").unwrap_err();
    assert!(
        error.contains("line 1: write the path, then why"),
        "{error}"
    );
}
