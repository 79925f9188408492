//! `.env.example`: every assignment in it, active or commented out, loads when copied to `.env` and
//! uncommented — checked on the real binary run in a folder holding that `.env`, one assignment at a
//! time (so each is seen to set its key) and all together.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// `.env.example`'s assignments, uncommented: lines `NAME=value` or `# NAME=value`.
fn assignments() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.env.example");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .map(|line| line.trim_start_matches('#').trim_start())
        .filter(|line| is_assignment(line))
        .map(str::to_owned)
        .collect()
}

/// `NAME=…` with an environment-variable name; prose such as `e.g. SECRET_KEY_FILE with …` is not one.
fn is_assignment(line: &str) -> bool {
    line.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name.starts_with(|first: char| first.is_ascii_uppercase())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Runs the binary's `show-config --all --explain --json` in a fresh folder whose `.env` is `dotenv`, with
/// an otherwise empty environment (development, which reads `.env`). Returns the exit code, the report and
/// standard error.
pub(crate) fn show_config_with_dotenv(dotenv: &str) -> (Option<i32>, Value, String) {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join(".env"), dotenv).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_keel-test-binary"))
        .args(["show-config", "--all", "--explain", "--json"])
        .current_dir(folder.path())
        .env_clear()
        .env("APP_SECRETS_DIR", folder.path().join("secrets"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code(), report, stderr)
}

#[test]
fn every_assignment_in_env_example_loads_when_uncommented() {
    let assignments = assignments();
    assert!(
        assignments.len() >= 8,
        "expected .env.example to show most variables, found {assignments:?}"
    );
    for assignment in &assignments {
        let (code, report, stderr) = show_config_with_dotenv(&format!("{assignment}\n"));
        assert_eq!(code, Some(0), "{assignment}: {stderr}");
        // The loader names the variable behind each value it set from .env.
        let name = assignment.split_once('=').unwrap().0;
        let source = format!("variable {name}");
        let set_by_it = report
            .as_object()
            .unwrap()
            .values()
            .any(|entry| entry["source"].as_str().unwrap().ends_with(&source));
        assert!(set_by_it, "{assignment} set no setting: {report:#}");
    }
    let (code, _, stderr) = show_config_with_dotenv(&(assignments.join("\n") + "\n"));
    assert_eq!(code, Some(0), "all of .env.example uncommented: {stderr}");
}

#[test]
fn prose_after_a_value_is_what_made_the_old_example_fail() {
    // The line the old .env.example had: uncommented, the prose became part of the URL.
    let (code, _, stderr) = show_config_with_dotenv(
        "REDIS_URL=redis://127.0.0.1:6379         announce flag changes to every instance\n",
    );
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("keel: configuration error: "), "{stderr}");
    assert!(is_assignment("REDIS_URL=redis://x"));
    assert!(!is_assignment(
        "e.g. SECRET_KEY_FILE with /run/secrets/secret_key"
    ));
    assert!(!is_assignment(
        "APP_INSTANCE_DIR (default `instance`): where"
    ));
}
