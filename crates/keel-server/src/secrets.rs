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

/// Creates `dir` if needed and writes each missing secret file; returns one line per file.
pub(crate) fn init(dir: &Path) -> anyhow::Result<String> {
    create_private_dir(dir)?;
    let mut report = String::new();
    for name in GENERATED {
        let path = dir.join(name);
        let line = match std::fs::symlink_metadata(&path) {
            Ok(metadata) => describe_existing(&path, &metadata)?,
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

/// What to say about a secret file that is already there; an unusable one is an error that says how to
/// fix it, since keel would refuse it at start-up anyway.
fn describe_existing(path: &Path, metadata: &std::fs::Metadata) -> anyhow::Result<String> {
    if !metadata.is_file() {
        anyhow::bail!(
            "{} exists but is not a file: remove it and run `keel secrets init` again",
            path.display()
        );
    }
    if metadata.len() == 0 {
        anyhow::bail!(
            "{} exists but is empty: remove it and run `keel secrets init` again",
            path.display()
        );
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
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = write_private_file(&temporary, &secret)
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

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
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
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret_key"), "").unwrap();
        std::fs::create_dir(dir.path().join("admin_token")).unwrap();
        let error = init(dir.path()).unwrap_err().to_string();
        assert!(
            error.ends_with(
                "secret_key exists but is empty: remove it and run `keel secrets init` again"
            ),
            "{error}"
        );
    }
}
