//! `build.rs` links this package's binaries with packed relative relocations; this test binary is linked
//! the same way, so its own dynamic section shows whether the toolchain honoured the option.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// `DT_RELR`: the dynamic section's entry pointing at the packed relocations.
const DT_RELR: u64 = 36;
/// `PT_DYNAMIC`: the program header of the dynamic section.
const PT_DYNAMIC: u32 = 2;

fn u16_at(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// The tags of the dynamic section of a 64-bit little-endian ELF file.
fn dynamic_tags(elf: &[u8]) -> Vec<u64> {
    assert_eq!(
        &elf[..6],
        b"\x7fELF\x02\x01",
        "a 64-bit little-endian ELF file"
    );
    let program_headers = usize::try_from(u64_at(elf, 0x20)).unwrap();
    let (entry_size, entries) = (u16_at(elf, 0x36), u16_at(elf, 0x38));
    let dynamic = (0..entries)
        .map(|index| program_headers + index * entry_size)
        .find(|&header| u32_at(elf, header) == PT_DYNAMIC)
        .expect("a dynamically linked binary");
    let offset = usize::try_from(u64_at(elf, dynamic + 8)).unwrap();
    let size = usize::try_from(u64_at(elf, dynamic + 32)).unwrap();
    (offset..offset + size)
        .step_by(16)
        .map(|entry| u64_at(elf, entry))
        .take_while(|&tag| tag != 0)
        .collect()
}

#[test]
fn binaries_are_linked_with_packed_relative_relocations() {
    let elf = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let tags = dynamic_tags(&elf);
    assert!(!tags.is_empty());
    assert!(
        tags.contains(&DT_RELR),
        "no DT_RELR among the dynamic tags {tags:?}: the linker ignored -z pack-relative-relocs (GNU ld 2.38, lld 15 or mold is needed)"
    );
}
