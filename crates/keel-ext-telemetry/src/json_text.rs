//! JSON text written into any `fmt::Write`: strings escaped exactly as `serde_json` escapes them, a
//! writer that escapes what is formatted through it, and a scratch `String` to write an object into.
//!
//! `json_fields.rs` writes span fields with them, straight into the span's stored `String`, where
//! `serde_json` would need a `Value` or an `io::Write` of its own.

use std::cell::RefCell;
use std::fmt;

/// Writes `text` as a JSON string.
pub(crate) fn write_string<W: fmt::Write + ?Sized>(out: &mut W, text: &str) -> fmt::Result {
    out.write_char('"')?;
    write_escaped(out, text)?;
    out.write_char('"')
}

/// Writes `text` as the contents of a JSON string, escaped as `serde_json` escapes it (`ESCAPES`).
fn write_escaped<W: fmt::Write + ?Sized>(out: &mut W, text: &str) -> fmt::Result {
    const HEX_DIGITS: [char; 16] = [
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
    ];
    let bytes = text.as_bytes();
    let mut unwritten = 0;
    while let Some(index) = next_to_escape(bytes, unwritten) {
        // An escaped byte is ASCII, a whole character, so the text before it ends on a boundary.
        if unwritten < index {
            out.write_str(text.get(unwritten..index).unwrap_or_default())?;
        }
        unwritten = index + 1;
        let byte = bytes[index];
        let escape = ESCAPES[usize::from(byte)];
        out.write_char('\\')?;
        out.write_char(char::from(escape))?;
        if escape == b'u' {
            out.write_str("00")?;
            out.write_char(HEX_DIGITS[usize::from(byte >> 4)])?;
            out.write_char(HEX_DIGITS[usize::from(byte & 0x0f)])?;
        }
    }
    out.write_str(text.get(unwritten..).unwrap_or_default())
}

/// The index of the first byte at or after `from` that must be escaped. Almost nothing in a log field
/// needs escaping, so the bytes are checked eight at a time (the last eight of a text that does not
/// divide into eights overlapping the group before them), and one by one only in a text shorter than
/// eight and from a group that holds one.
fn next_to_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    let mut clean = 0;
    let mut groups = rest.chunks_exact(8);
    for group in &mut groups {
        let mut word = [0; 8];
        word.copy_from_slice(group);
        if holds_byte_to_escape(u64::from_le_bytes(word)) {
            break;
        }
        clean += 8;
    }
    if clean == rest.len() {
        return None;
    }
    if clean > 0 && clean + 8 > rest.len() {
        let mut word = [0; 8];
        word.copy_from_slice(&rest[rest.len() - 8..]);
        if !holds_byte_to_escape(u64::from_le_bytes(word)) {
            return None;
        }
    }
    let offset = rest[clean..]
        .iter()
        .position(|&byte| ESCAPES[usize::from(byte)] != 0)?;
    Some(from + clean + offset)
}

/// Whether any of the eight bytes of `word` is below U+0020, a quote or a backslash: the bytes `ESCAPES`
/// escapes. Each test is the classic "has a byte less than n" of a word: exact as a yes or no, since
/// without such a byte no subtraction borrows from its neighbour.
const fn holds_byte_to_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    const fn has_byte_below(word: u64, bound: u8) -> u64 {
        word.wrapping_sub(ONES * bound as u64) & !word & HIGH_BITS
    }
    let control = has_byte_below(word, 0x20);
    let quote = has_byte_below(word ^ (ONES * b'"' as u64), 1);
    let backslash = has_byte_below(word ^ (ONES * b'\\' as u64), 1);
    control | quote | backslash != 0
}

/// For each byte, what follows the backslash that escapes it in a JSON string, or 0 when it is written
/// as it is: `serde_json` escapes the quote, the backslash and the control characters below U+0020,
/// with the short forms JSON has and `\u00xx` (`u`) for the rest, and writes everything else (U+007F
/// and all non-ASCII included) as it is. A table rather than a `match`: it is looked up for every
/// byte written, and costs half as many instructions.
static ESCAPES: [u8; 256] = escapes();

const fn escapes() -> [u8; 256] {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
}

/// The most a thread's scratch `String` keeps between two uses: more than a request span's object
/// (about 250 bytes), less than an occasional huge field would leave behind.
const SCRATCH_KEPT_BYTES: usize = 4096;

/// Runs `write` with an empty `String` that keeps its allocation from one use to the next on this
/// thread. A span's stored `String` starts empty: written to a member at a time, it grew seven times
/// (8 bytes doubling to 512) for each request span; handed the object whole, it is allocated once.
pub(crate) fn with_scratch<T>(write: impl FnOnce(&mut String) -> T) -> T {
    thread_local! {
        static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => {
            scratch.clear();
            let written = write(&mut scratch);
            if scratch.capacity() > SCRATCH_KEPT_BYTES {
                *scratch = String::new();
            }
            written
        }
        // In use further up this thread's stack (a field's `Debug` that logs): a fresh one.
        Err(_) => write(&mut String::new()),
    })
}

/// A writer that escapes what is written through it as the contents of a JSON string, so a `Debug`
/// value is formatted into the output without a `String` of its own.
pub(crate) struct Escaping<'a, W: ?Sized>(pub(crate) &'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_escaped(self.0, text)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// Quotes, backslashes, every short escape, control characters without one, and U+007F.
    const AWKWARD: &str = "quote \" backslash \\ slash / newline \n return \r tab \t backspace \u{8} \
        form feed \u{c} nul \0 bell \u{7} escape \u{1b} unit separator \u{1f} delete \u{7f} \\u0041";
    const NON_ASCII: &str = "zoë ✓ 😀 \u{2028} \u{feff}";

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = (0..=0x7f_u8)
            .map(|byte| char::from(byte).to_string())
            .collect();
        texts.extend([AWKWARD, NON_ASCII, "", "\"\"", "\\\\", "\n\n"].map(str::to_owned));
        for text in texts {
            let mut ours = String::new();
            write_string(&mut ours, &text).unwrap();
            assert_eq!(ours, serde_json::to_string(&text).unwrap(), "{text:?}");
            // Through the `Debug` adapter, written in pieces.
            let mut through = String::new();
            write!(Escaping(&mut through), "{text}{text}").unwrap();
            assert_eq!(
                format!("\"{through}\""),
                serde_json::to_string(&text.repeat(2)).unwrap()
            );
        }
    }

    #[test]
    fn eight_bytes_at_a_time_find_every_byte_to_escape_and_nothing_else() {
        // Every byte value in every position of a group, among neighbours that borrow the most
        // (0x00 below, 0xff above) and the least, so a borrow that crossed bytes would show.
        for neighbour in [b'a', 0x00, 0xff, 0x80, 0x21, b'"' + 1, b'\\' + 1] {
            for byte in 0..=u8::MAX {
                for position in 0..8 {
                    let mut group = [neighbour; 8];
                    group[position] = byte;
                    let expected = group.iter().any(|&byte| ESCAPES[usize::from(byte)] != 0);
                    assert_eq!(
                        holds_byte_to_escape(u64::from_le_bytes(group)),
                        expected,
                        "{group:02x?}"
                    );
                }
            }
        }
        // Across group boundaries and in the tail.
        let text = "0123456789abcdef\"tail";
        for from in 0..text.len() {
            assert_eq!(
                next_to_escape(text.as_bytes(), from),
                (from <= 16).then_some(16),
                "{from}"
            );
        }
    }

    #[test]
    fn the_scratch_string_starts_empty_and_nests() {
        let outer = with_scratch(|out| {
            out.push_str("outer");
            let inner = with_scratch(|inner| {
                assert!(inner.is_empty());
                inner.push_str("inner");
                inner.clone()
            });
            format!("{out} {inner}")
        });
        assert_eq!(outer, "outer inner");
        with_scratch(|out| {
            assert!(out.is_empty());
            out.push_str(&"x".repeat(SCRATCH_KEPT_BYTES * 2));
        });
        with_scratch(|out| assert!(out.is_empty() && out.capacity() <= SCRATCH_KEPT_BYTES));
    }
}
