//! Links the `keel` binary (and this package's test binaries, so a test can check it) with packed
//! relative relocations (`DT_RELR`) on Linux with glibc: glibc 2.36 or later runs such a binary, and GNU ld
//! 2.38, lld 15 or mold link it (an older GNU ld ignores the option with a warning).
//!
//! A position-independent executable carries one relocation per pointer in its read-only data, which the
//! dynamic loader reads in full at every start: about a megabyte for keel, resident from then on, a
//! twentieth of its memory when idle. Packed, they take a few kilobytes.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os == "linux" && target_env == "gnu" {
        println!("cargo::rustc-link-arg=-Wl,-z,pack-relative-relocs");
    }
}
