//! Go's `%q` / `strconv.Quote`, for error texts that quote client input.
//!
//! nsqd formats invalid names with `%q` (`E_BAD_TOPIC PUB topic name "bad!t"
//! is not valid`), and an invalid name is by definition arbitrary client
//! bytes: quotes, backslashes, control characters, invalid UTF-8. To send the
//! same text nsqd sends, the escaping must follow Go's rules rather than
//! Rust's `{:?}`, which differs (`\u{1}` vs `\x01`, `\0` vs `\x00`, …).

/// Quotes `s` the way Go's `strconv.Quote` does.
///
/// Printable characters are kept, `"` and `\` are backslash-escaped, the C
/// escapes `\a \b \f \n \r \t \v` are used where they exist, other bytes below
/// 0x20 and 0x7f become `\xNN`, each byte of invalid UTF-8 becomes `\xNN`, and
/// other non-printable characters become `\uNNNN` / `\UNNNNNNNN`.
///
/// Go decides printability with Unicode tables (`unicode.IsPrint`); without
/// those tables this treats every assigned-looking character as printable
/// except controls, non-ASCII spaces, line/paragraph separators, the common
/// format characters (soft hyphen, zero-width and bidi marks, BOM),
/// surrogates, private-use characters and non-characters. Unassigned code
/// points, which Go escapes, are kept as they are.
pub fn go_quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped_char(&mut out, c);
        }
        for &b in chunk.invalid() {
            push_hex_byte(&mut out, b);
        }
    }
    out.push('"');
    out
}

fn push_hex_byte(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\x");
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if is_go_printable(c) => out.push(c),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            // Both bounds guarantee the value fits in a byte.
            push_hex_byte(out, (c as u32) as u8);
        }
        c if (c as u32) < 0x10000 => {
            out.push_str(&format!("\\u{:04x}", c as u32));
        }
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// An approximation of Go's `unicode.IsPrint` (see [`go_quote`]).
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let format_or_special = matches!(u,
        0x00AD                // soft hyphen
        | 0x0600..=0x0605     // Arabic number signs
        | 0x061C | 0x06DD | 0x070F | 0x180E
        | 0x200B..=0x200F     // zero-width and directional marks
        | 0x202A..=0x202E     // bidi embeddings
        | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF              // BOM
        | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF     // private use
        | 0xF0000..=0x10FFFF  // supplementary private use
        | 0xFDD0..=0xFDEF     // non-characters
        | 0xE0001 | 0xE0020..=0xE007F);
    if format_or_special {
        return false;
    }
    // Non-characters at the end of every plane.
    (u & 0xFFFE) != 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_just_wrapped() {
        assert_eq!(go_quote(b"bad!t"), "\"bad!t\"");
        assert_eq!(go_quote(b""), "\"\"");
        assert_eq!(go_quote("héllo".as_bytes()), "\"héllo\"");
    }

    #[test]
    fn escapes_follow_go() {
        assert_eq!(go_quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            go_quote(b"\x00\x01\x07\x08\x0c\n\r\t\x0b\x7f"),
            r#""\x00\x01\a\b\f\n\r\t\v\x7f""#
        );
        assert_eq!(go_quote(b"\xff\xfe"), r#""\xff\xfe""#);
        assert_eq!(go_quote("\u{200b}".as_bytes()), r#""\u200b""#);
        assert_eq!(go_quote("\u{a0}".as_bytes()), r#""\u00a0""#);
        assert_eq!(go_quote("\u{85}".as_bytes()), r#""\u0085""#);
        assert_eq!(go_quote("\u{fffff}".as_bytes()), r#""\U000fffff""#);
        // A valid, encoded U+FFFD is printable and kept.
        assert_eq!(go_quote("\u{fffd}".as_bytes()), "\"\u{fffd}\"");
        // A truncated multi-byte sequence is escaped byte by byte.
        assert_eq!(go_quote(b"a\xe2\x82"), r#""a\xe2\x82""#);
    }
}
