//! `Cargo.lock` in cargo's own order, so that a renamed fork starts with a lock file cargo leaves alone.

/// `Cargo.lock` in cargo's own order, packages and each package's dependencies sorted by name: renamed
/// packages move, and cargo would otherwise reorder the file on its next run, so that a renamed fork starts
/// with a lock file cargo leaves alone. Sorts are stable, so versions of one crate keep their order.
pub(crate) fn sorted(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_lock_file_is_in_the_order_cargo_writes() {
        let before = "version = 4\n\n[[package]]\nname = \"acme-server\"\nversion = \"0.0.0\"\ndependencies = [\n \"acme-config\",\n \"getrandom 0.2.17\",\n \"getrandom 0.3.4\",\n \"tokio\",\n]\n\n[[package]]\nname = \"getrandom\"\nversion = \"0.2.17\"\n\n[[package]]\nname = \"getrandom\"\nversion = \"0.3.4\"\n\n[[package]]\nname = \"tokio\"\nversion = \"1.0.0\"\n";
        let after = "version = 4\n\n[[package]]\nname = \"getrandom\"\nversion = \"0.2.17\"\n\n[[package]]\nname = \"getrandom\"\nversion = \"0.3.4\"\n\n[[package]]\nname = \"tokio\"\nversion = \"1.0.0\"\n\n[[package]]\nname = \"zinc-server\"\nversion = \"0.0.0\"\ndependencies = [\n \"getrandom 0.2.17\",\n \"getrandom 0.3.4\",\n \"tokio\",\n \"zinc-config\",\n]\n";
        assert_eq!(sorted(&before.replace("acme", "zinc")), after);
        assert_eq!(sorted(before), before, "an ordered file stays as it is");
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"));
        let lock = lock.unwrap();
        assert_eq!(
            sorted(&lock),
            lock,
            "the workspace's own lock file is in order"
        );
    }
}
