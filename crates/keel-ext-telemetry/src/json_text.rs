//! JSON text written into any `fmt::Write`: strings escaped exactly as `serde_json` escapes them, a
//! writer that escapes what is formatted through it, and one that gathers small writes on the stack.
//!
//! `json_fields.rs` writes span fields with them, straight into the span's stored `String`, where
//! `serde_json` would need a `Value` or an `io::Write` of its own.

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
    let mut unwritten = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = ESCAPES[usize::from(byte)];
        if escape == 0 {
            continue;
        }
        // An escaped byte is ASCII, a whole character, so the text before it ends on a boundary.
        if unwritten < index {
            out.write_str(text.get(unwritten..index).unwrap_or_default())?;
        }
        unwritten = index + 1;
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

/// The bytes `Gathered` holds before it hands them on: a request span's object is about 250.
const GATHERED_BYTES: usize = 512;

/// A writer that gathers what is written through it on the stack and hands it on in pieces of up to
/// `GATHERED_BYTES`. A span's stored `String` starts empty: written to a member at a time, it grew
/// seven times (8 bytes doubling to 512) for each request span; handed the object whole, it is
/// allocated once.
pub(crate) struct Gathered<'a, W: ?Sized> {
    out: &'a mut W,
    buffer: [u8; GATHERED_BYTES],
    len: usize,
}

impl<'a, W: fmt::Write + ?Sized> Gathered<'a, W> {
    pub(crate) fn new(out: &'a mut W) -> Self {
        Self {
            out,
            buffer: [0; GATHERED_BYTES],
            len: 0,
        }
    }

    /// Hands on what has been gathered.
    pub(crate) fn flush(&mut self) -> fmt::Result {
        let gathered = self.buffer.get(..self.len).ok_or(fmt::Error)?;
        // Only whole `str`s are gathered, so this is UTF-8 and the check cannot fail.
        let gathered = std::str::from_utf8(gathered).map_err(|_| fmt::Error)?;
        self.out.write_str(gathered)?;
        self.len = 0;
        Ok(())
    }
}

impl<W: fmt::Write + ?Sized> fmt::Write for Gathered<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.len + text.len() > GATHERED_BYTES {
            self.flush()?;
            if text.len() > GATHERED_BYTES {
                return self.out.write_str(text);
            }
        }
        let end = self.len + text.len();
        self.buffer
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
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
    fn gathered_text_is_handed_on_whole_however_it_was_cut() {
        // (pieces written, in order)
        let cases: [Vec<String>; 4] = [
            vec![],
            vec!["é".repeat(100); 3],
            vec![
                "x".repeat(GATHERED_BYTES - 1),
                "é".to_owned(),
                "y".to_owned(),
            ],
            vec!["a".to_owned(), "✓".repeat(GATHERED_BYTES), "b".to_owned()],
        ];
        for pieces in cases {
            let mut out = String::new();
            let mut gathered = Gathered::new(&mut out);
            for piece in &pieces {
                gathered.write_str(piece).unwrap();
            }
            gathered.flush().unwrap();
            assert_eq!(out, pieces.concat());
        }
    }
}
