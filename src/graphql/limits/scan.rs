//! A single pass over the document text, before the parser sees it: parsing costs time in
//! proportion to the document (about 8 µs a token in a debug build), so a flood of tokens,
//! aliases or nesting is refused for the price of reading its bytes once.
//!
//! Only lexical facts are used: tokens are counted as GraphQL's lexer would (commas, spaces
//! and comments are not tokens), and a `:` directly inside a selection set can only be an
//! alias, because values (where `:` also appears) only occur inside `( … )`.

/// What the scan refused, with the count it reached.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Excess {
    Tokens,
    Aliases,
    /// Selection sets nested deeper than allowed (the level where the scan stopped).
    Nesting(usize),
}

/// Limits the scan enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScanLimits {
    pub(crate) max_tokens: usize,
    pub(crate) max_aliases: usize,
    /// Selection-set nesting; field depth can only be lower (inline fragments add a level).
    pub(crate) max_nesting: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Selection,
    Value,
}

/// # Errors
/// The first limit the text exceeds. Malformed text is let through: the parser names it.
pub(crate) fn scan(text: &str, limits: ScanLimits) -> Result<(), Excess> {
    let bytes = text.as_bytes();
    let mut stack: Vec<Open> = Vec::new();
    let mut selections = 0_usize;
    let (mut tokens, mut aliases) = (0_usize, 0_usize);
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = skip_line(bytes, i);
                continue;
            }
            b'"' => i = skip_string(bytes, i),
            b'{' => {
                // Inside `( … )` or a value every brace is an input object; elsewhere it
                // opens a selection set.
                let kind = match stack.last() {
                    None | Some(Open::Selection) => Open::Selection,
                    Some(Open::Value) => Open::Value,
                };
                if kind == Open::Selection {
                    selections += 1;
                    if selections > limits.max_nesting {
                        return Err(Excess::Nesting(selections));
                    }
                }
                stack.push(kind);
                i += 1;
            }
            b'(' | b'[' => {
                stack.push(Open::Value);
                i += 1;
            }
            b'}' | b')' | b']' => {
                if stack.pop() == Some(Open::Selection) {
                    selections -= 1;
                }
                i += 1;
            }
            b':' => {
                if stack.last() == Some(&Open::Selection) {
                    aliases += 1;
                    if aliases > limits.max_aliases {
                        return Err(Excess::Aliases);
                    }
                }
                i += 1;
            }
            b'.' if bytes.get(i..i + 3) == Some(b"...") => i += 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'+' => {
                // A name or a number (with its fraction and exponent): one token.
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.'))
                {
                    i += 1;
                }
            }
            _ => i += utf8_len(byte),
        }
        tokens += 1;
        if tokens > limits.max_tokens {
            return Err(Excess::Tokens);
        }
    }
    Ok(())
}

fn skip_line(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |offset| from + offset)
}

/// The index after the string starting at `from` (a `"`), block strings included.
fn skip_string(bytes: &[u8], from: usize) -> usize {
    if bytes.get(from..from + 3) == Some(b"\"\"\"") {
        let mut i = from + 3;
        while i < bytes.len() {
            if bytes[i] == b'\\' && bytes.get(i + 1..i + 4) == Some(b"\"\"\"") {
                i += 4;
            } else if bytes.get(i..i + 3) == Some(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return bytes.len();
    }
    let mut i = from + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            // An unterminated string ends at the line; the parser reports it.
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Bytes of the character starting with `lead`, so a multi-byte character counts once.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOSE: ScanLimits = ScanLimits {
        max_tokens: usize::MAX,
        max_aliases: usize::MAX,
        max_nesting: usize::MAX,
    };

    fn tokens(text: &str) -> usize {
        (0..=text.len())
            .find(|&max| {
                scan(
                    text,
                    ScanLimits {
                        max_tokens: max,
                        ..LOOSE
                    },
                )
                .is_ok()
            })
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn tokens_are_counted_like_the_lexer() {
        assert_eq!(tokens("{ a }"), 3);
        assert_eq!(tokens("{ a(x: -1.5e3, y: \"s, t\") }"), 11);
        assert_eq!(tokens("# only a comment\n{ a, b }"), 4);
        assert_eq!(tokens("{ ...F } fragment F on T { a }"), 11);
        assert_eq!(
            tokens("{ a(s: \"\"\"block \"quoted\" \\\"\"\" x\"\"\") }"),
            8
        );
        assert_eq!(tokens("{ a(s: \"é✓\") }"), 8);
    }

    #[test]
    fn only_selection_set_colons_are_aliases() {
        let limits = ScanLimits {
            max_aliases: 1,
            ..LOOSE
        };
        let one = "query Q($v: Int = 1) { x: a(arg: {k: [1, {j: 2}]}) @skip(if: true) { b } }";
        assert_eq!(scan(one, limits), Ok(()));
        assert_eq!(scan("{ x: a y: a }", limits), Err(Excess::Aliases));
        assert_eq!(
            scan("fragment F on T { x: a y: a }", limits),
            Err(Excess::Aliases)
        );
    }

    #[test]
    fn value_braces_do_not_nest_selections() {
        let limits = ScanLimits {
            max_nesting: 2,
            ..LOOSE
        };
        assert_eq!(scan("{ a(i: {b: {c: {d: 1}}}) { b } }", limits), Ok(()));
        assert_eq!(scan("{ a { b { c } } }", limits), Err(Excess::Nesting(3)));
        let deep = format!("{}{}", "{a".repeat(100_000), "}".repeat(100_000));
        assert_eq!(scan(&deep, limits), Err(Excess::Nesting(3)));
    }

    #[test]
    fn braces_in_strings_and_comments_are_ignored() {
        let limits = ScanLimits {
            max_nesting: 1,
            ..LOOSE
        };
        assert_eq!(scan("{ a(s: \"{{{\") # {{{\n }", limits), Ok(()));
    }
}
