//! Records what `/api/v1/version` reports about the build: the git revision and the cargo profile.
//!
//! `KEEL_GIT_REVISION` set in the build environment wins (container builds have no `.git`); otherwise the
//! script asks git, and says `unknown` when git or the checkout is missing, so a build never fails here.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=KEEL_GIT_REVISION");
    // A commit moves HEAD or the branch it points to; both files live in the workspace's `.git`.
    let git_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.git");
    for watched in ["HEAD", "refs/heads"] {
        let path = git_dir.join(watched);
        if path.exists() {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }

    let revision = std::env::var("KEEL_GIT_REVISION")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=KEEL_GIT_REVISION={revision}");

    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo::rustc-env=KEEL_BUILD_PROFILE={profile}");
}

fn git_revision() -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let revision = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !revision.is_empty()).then_some(revision)
}
