//! Links the `keel` binary with packed relative relocations (`DT_RELR`) where the toolchain and the C
//! library know them: Linux with glibc (2.36 or later to run it; GNU ld 2.38, lld 15 or mold to link it).
//!
//! A position-independent executable carries one relocation per pointer in its read-only data, which the
//! dynamic loader reads in full at every start: about a megabyte for keel, a twentieth of its resident
//! memory when idle. Packed, they take a few kilobytes. An older linker ignores the option with a
//! warning; an older C library refuses to start the binary, naming the `GLIBC_ABI_DT_RELR` it lacks.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os == "linux" && target_env == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
