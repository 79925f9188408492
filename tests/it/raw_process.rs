//! The command line as a real process, for what only a real process can be given: variables and
//! arguments that are not UTF-8, and a working directory of its own (where `.env` is read).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::process::{Command, Output};

use keel_server::EXIT_CONFIG;

use crate::helpers::static_dir;

/// Runs the test binary with `args` in `folder` (its working directory and instance folder) with only
/// `vars` in its environment.
fn run_in(folder: &std::path::Path, args: &[&OsStr], vars: &[(&str, &OsStr)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel-test-binary"))
        .arg(format!("--set=static_files.dir={}", static_dir().display()))
        .args(args)
        .env_clear()
        .env("APP_SECRETS_DIR", folder.join("secrets"))
        .envs(vars.iter().copied())
        .current_dir(folder)
        .output()
        .expect("cannot run the keel test binary")
}

#[test]
fn values_that_are_not_utf8_are_named_without_raw_bytes_in_the_message() {
    let folder = tempfile::tempdir().unwrap();
    let not_utf8 = OsStr::from_bytes(b"prod\xffuction");
    // (argument, variable, value, what standard error must say)
    let cases: [(&[&OsStr], &str, &OsStr, &str); 4] = [
        (
            &[OsStr::new("show-config")],
            "APP_ENV",
            not_utf8,
            "keel: configuration error: environment variable APP_ENV: is not valid UTF-8: set it to plain text\n",
        ),
        (
            &[OsStr::new("show-config")],
            "APP_INSTANCE_DIR",
            not_utf8,
            "keel: configuration error: environment variable APP_INSTANCE_DIR: is not valid UTF-8: set it to plain text\n",
        ),
        (
            &[OsStr::new("show-config")],
            "SECRET_KEY_FILE",
            not_utf8,
            "keel: configuration error: security.secret_key (set by environment variable SECRET_KEY_FILE): is not valid UTF-8: set it to plain text\n",
        ),
        (
            &[OsStr::new("show-config")],
            "APP_SERVER__HOST",
            not_utf8,
            "keel: configuration error: server.host (set by environment variable APP_SERVER__HOST): is not valid UTF-8: set it to plain text\n",
        ),
    ];
    for (args, name, value, expected) in cases {
        let output = run_in(folder.path(), args, &[(name, value)]);
        assert_eq!(output.status.code(), Some(i32::from(EXIT_CONFIG)), "{name}");
        assert!(!output.stderr.contains(&0), "{name}: {:?}", output.stderr);
        assert_eq!(String::from_utf8_lossy(&output.stderr), expected, "{name}");
    }
    // A path that is not UTF-8 is shown with a replacement character, never raw bytes.
    let instance = folder.path().join(OsStr::from_bytes(b"inst\xffance"));
    std::fs::create_dir(&instance).unwrap();
    std::fs::write(instance.join("config.toml"), "[server]\nport = \"x\"\n").unwrap();
    let mut argument = b"--instance-dir=".to_vec();
    argument.extend_from_slice(instance.as_os_str().as_bytes());
    let output = run_in(
        folder.path(),
        &[OsStr::from_bytes(&argument), OsStr::new("show-config")],
        &[],
    );
    assert_eq!(output.status.code(), Some(i32::from(EXIT_CONFIG)));
    let stderr = String::from_utf8(output.stderr).expect("standard error is UTF-8");
    assert!(
        stderr.contains("inst\u{fffd}ance/config.toml line 2): must be a whole number"),
        "{stderr}"
    );
}

#[test]
fn a_dotenv_folder_in_the_working_directory_says_it_is_a_folder() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join(".env")).unwrap();
    let output = run_in(folder.path(), &[OsStr::new("show-config")], &[]);
    assert_eq!(output.status.code(), Some(i32::from(EXIT_CONFIG)));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "keel: configuration error: .env file .env: is a folder, not a file: remove it or put the file there\n"
    );
}
