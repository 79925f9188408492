//! `keel secrets init --dir DIR`: writes the random secrets a production-like deployment needs, once.
//!
//! Compose runs it as a one-shot service on first start, so `docker compose up` needs no manual step and
//! the repository holds no secret. A file that exists is never replaced (restarting the stack must not
//! change the keys under running sessions or the database password), and each new file appears whole:
//! it is written under a temporary name and then linked into place, which fails if another run got there
//! first.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;

/// The files written, each the secret keel reads from the secrets folder under that name.
const GENERATED: [&str; 3] = ["secret_key", "admin_token", "database_password"];

/// Random bytes per secret: 256 bits, written as 64 hex digits (long enough for every check keel makes).
const SECRET_BYTES: usize = 32;

/// The shortest existing `secret_key` or `admin_token` worth keeping: what keel's checks require.
const MIN_KEPT_BYTES: usize = 32;

/// Creates `dir` if needed and writes each missing secret file; returns one line per file.
pub(crate) fn init(dir: &Path) -> anyhow::Result<String> {
    create_private_dir(dir)?;
    let mut report = String::new();
    if let Some(warning) = folder_warning(dir) {
        let _ = writeln!(report, "{warning}");
    }
    for name in GENERATED {
        let path = dir.join(name);
        let line = match std::fs::symlink_metadata(&path) {
            Ok(metadata) => describe_existing(name, &path, &metadata)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if write_new_secret(dir, name)? {
                    format!("wrote {}", path.display())
                } else {
                    format!("kept {} (written by another run just now)", path.display())
                }
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot inspect {}", path.display()));
            }
        };
        let _ = writeln!(report, "{line}");
    }
    Ok(report)
}

/// `dir` and its missing parents; a folder this creates is private to its owner.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create the secrets folder {}", dir.display()))
}

/// A secrets folder others may write to could have its files replaced: worth saying, not refusing (a
/// mounted volume's mode may not be the operator's to choose).
fn folder_warning(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Some(format!(
                "warning: {} can be written by other users (mode {mode:o}): chmod 700 it",
                dir.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    None
}

/// What to say about a secret file that is already there; one keel would refuse at start-up is an error
/// that says how to fix it.
fn describe_existing(
    name: &str,
    path: &Path,
    metadata: &std::fs::Metadata,
) -> anyhow::Result<String> {
    let unusable = |reason: &str| {
        anyhow::anyhow!(
            "{} exists but {reason}: remove it and run `keel secrets init` again",
            path.display()
        )
    };
    if !metadata.is_file() {
        return Err(unusable("is not a file"));
    }
    // Read only to measure: keel trims secret files, so this is the length keel sees.
    let contents = std::fs::read_to_string(path)
        .map_err(|error| unusable(&format!("cannot be read ({})", error.kind())))?;
    let length = contents.trim().len();
    if length == 0 {
        return Err(unusable("is empty"));
    }
    if name != "database_password" && length < MIN_KEPT_BYTES {
        return Err(unusable(&format!(
            "holds {length} bytes, and keel needs at least {MIN_KEPT_BYTES}"
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Ok(format!(
                "kept {} (already there, but readable by others: chmod 600 it)",
                path.display()
            ));
        }
    }
    Ok(format!("kept {} (already there)", path.display()))
}

/// Writes a fresh random secret as `dir/name`; `false` when the file appeared meanwhile.
fn write_new_secret(dir: &Path, name: &str) -> anyhow::Result<bool> {
    let mut bytes = [0_u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|error| anyhow::anyhow!("the operating system gave no random bytes: {error}"))?;
    let secret = hex::encode(bytes);
    // A random name: every container runs this as PID 1, so a name from the process id would collide
    // between two runs on one volume, and a leftover of a crashed run would block the next.
    let mut nonce = [0_u8; 8];
    getrandom::fill(&mut nonce)
        .map_err(|error| anyhow::anyhow!("the operating system gave no random bytes: {error}"))?;
    let temporary = dir.join(format!(".{name}.{}.tmp", hex::encode(nonce)));
    // Only a file this run created is ever removed, never another run's.
    let created = create_private_file(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    let written = fill_private_file(created, &secret)
        .with_context(|| format!("cannot write {}", temporary.display()));
    let linked = written.and_then(|()| match std::fs::hard_link(&temporary, dir.join(name)) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error).with_context(|| {
            format!(
                "cannot move the new secret into {}",
                dir.join(name).display()
            )
        }),
    });
    // The temporary name goes either way; a leftover one holds nothing keel reads.
    let _ = std::fs::remove_file(&temporary);
    linked
}

fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn fill_private_file(mut file: std::fs::File, contents: &str) -> std::io::Result<()> {
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_secrets_are_written_once_and_kept_afterwards() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("deep/secrets");
        let first = init(&dir).unwrap();
        assert_eq!(first.matches("wrote ").count(), 3, "{first}");
        let key = std::fs::read_to_string(dir.join("secret_key")).unwrap();
        assert_eq!(key.trim().len(), 64);
        assert!(key.trim().chars().all(|c| c.is_ascii_hexdigit()));

        let second = init(&dir).unwrap();
        assert_eq!(second.matches("kept ").count(), 3, "{second}");
        assert_eq!(
            std::fs::read_to_string(dir.join("secret_key")).unwrap(),
            key
        );
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[cfg(unix)]
    #[test]
    fn new_secrets_and_new_folders_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("secrets");
        init(&dir).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        for name in GENERATED {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
    }

    #[test]
    fn two_runs_never_write_the_same_secret() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        init(a.path()).unwrap();
        init(b.path()).unwrap();
        let read = |dir: &Path| std::fs::read_to_string(dir.join("admin_token")).unwrap();
        assert_ne!(read(a.path()), read(b.path()));
    }

    #[test]
    fn an_unusable_existing_secret_is_an_error_saying_what_to_do() {
        let cases: [(&str, &str, &str); 4] = [
            ("secret_key", "", "secret_key exists but is empty"),
            ("secret_key", "\n  \n", "secret_key exists but is empty"),
            (
                "admin_token",
                "CHANGE-ME\n",
                "admin_token exists but holds 9 bytes, and keel needs at least 32",
            ),
            (
                "database_password",
                " ",
                "database_password exists but is empty",
            ),
        ];
        for (name, contents, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(name), contents).unwrap();
            let error = init(dir.path()).unwrap_err().to_string();
            assert!(
                error.ends_with(&format!(
                    "{expected}: remove it and run `keel secrets init` again"
                )),
                "{error}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("admin_token")).unwrap();
        let error = init(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("admin_token exists but is not a file"),
            "{error}"
        );
        // A short database password is the operator's choice.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("database_password"), "short").unwrap();
        assert!(init(dir.path()).is_ok());
    }

    #[test]
    fn a_leftover_temporary_file_or_a_concurrent_run_does_not_block_init() {
        let dir = tempfile::tempdir().unwrap();
        // What a run that crashed as PID 1 would have left.
        std::fs::write(dir.path().join(".secret_key.1.tmp"), "half").unwrap();
        let runs: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || init(&dir))
            })
            .collect();
        for run in runs {
            let report = run.join().unwrap().unwrap();
            assert_eq!(report.lines().count(), 3, "{report}");
        }
        for name in GENERATED {
            let secret = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert_eq!(secret.trim().len(), 64, "{name}");
        }
        assert!(dir.path().join(".secret_key.1.tmp").exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_others_can_write_is_used_with_a_warning() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let report = init(dir.path()).unwrap();
        assert!(report.starts_with("warning: "), "{report}");
        assert!(report.contains("(mode 777): chmod 700 it"), "{report}");
    }
}
