//! A quick pass over a file's text before pest sees it.
//!
//! In: the text of one file. Out: the byte offsets where top-level declarations start (so that each is
//! parsed on its own and one syntax error costs only its declaration), every comment (for the formatter),
//! and the first place where brackets nest deeper than the limit (pest is recursive: nesting is bounded
//! before it runs). It understands only strings, comments and brackets, and runs in linear time.

use crate::limits::MAX_NESTING;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Byte range of the comment, `//` included, line break excluded.
    pub start: usize,
    pub end: usize,
    /// Whether the comment is the first thing on its line.
    pub own_line: bool,
}

#[derive(Debug, Default)]
pub struct Scan {
    /// Where each top-level declaration starts, in order.
    pub item_starts: Vec<usize>,
    pub comments: Vec<Comment>,
    /// Offset of a bracket nested deeper than `MAX_NESTING`, one per offending declaration.
    pub too_deep: Vec<usize>,
    /// An unterminated string literal.
    pub unterminated_strings: Vec<usize>,
    /// The innermost `{` still open where a declaration ends (at a column-0 keyword or the end of the
    /// file), one per such declaration.
    pub unclosed_braces: Vec<usize>,
}

const ITEM_KEYWORDS: &[&str] = &[
    "enum",
    "plane",
    "device",
    "let",
    "rail",
    "health",
    "depends",
    "incompatible",
    "rollout",
    "gate",
    "fixture",
    "test",
];

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

pub fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut out = Scan::default();
    let mut i = 0;
    // Depth of `{`, and of `(` plus `[`, counted separately: declarations split only at brace depth 0.
    let mut braces: usize = 0;
    // Offsets of the open `{`, innermost last; bounded like the nesting itself.
    let mut open_braces: Vec<usize> = Vec::new();
    let mut nesting: usize = 0;
    let mut deep_reported = false;
    let mut line_start = true;
    // The last significant token, to tell `fixture f = device {` from a `device { … }` block.
    let mut last_token_was_eq = false;

    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                line_start = true;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                // A `\r\n` line break is not part of the comment either.
                let text_end = if end > i && bytes[end - 1] == b'\r' {
                    end - 1
                } else {
                    end
                };
                out.comments.push(Comment {
                    start: i,
                    end: text_end,
                    own_line: line_start,
                });
                i = end;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') => {
                            out.unterminated_strings.push(start);
                            break;
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                line_start = false;
                last_token_was_eq = false;
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < bytes.len() && is_ident_byte(bytes[i]) {
                    i += 1;
                }
                let word = &text[start..i];
                // A keyword at column 0 starts a declaration even inside an unclosed `{`: that is how a
                // missing `}` costs one declaration instead of the rest of the file.
                let column_zero = start == 0 || bytes[start - 1] == b'\n';
                if (braces == 0 || column_zero) && line_start && ITEM_KEYWORDS.contains(&word) {
                    let next = text[i..].trim_start_matches([' ', '\t', '\r', '\n']);
                    let is_item = match word {
                        // `device.x` in a top-level `let` or `device {` after `=` are not declarations.
                        "device" => next.starts_with('{') && !last_token_was_eq,
                        _ => !next.starts_with('.'),
                    };
                    if is_item {
                        if let Some(&open) = open_braces.last().filter(|_| braces > 0) {
                            out.unclosed_braces.push(open);
                        }
                        braces = 0;
                        open_braces.clear();
                        out.item_starts.push(start);
                        nesting = 0;
                        deep_reported = false;
                    }
                }
                line_start = false;
                last_token_was_eq = false;
            }
            _ => {
                match b {
                    b'{' => {
                        braces += 1;
                        if open_braces.len() < braces && open_braces.len() <= MAX_NESTING {
                            open_braces.push(i);
                        }
                    }
                    b'}' => {
                        braces = braces.saturating_sub(1);
                        open_braces.truncate(braces);
                    }
                    b'(' | b'[' => {
                        nesting += 1;
                        if nesting > MAX_NESTING && !deep_reported {
                            out.too_deep.push(i);
                            deep_reported = true;
                        }
                    }
                    b')' | b']' => nesting = nesting.saturating_sub(1),
                    _ => {}
                }
                // Braces also nest in the parser (records in tests); bound them with the same limit.
                if b == b'{' && braces > MAX_NESTING && !deep_reported {
                    out.too_deep.push(i);
                    deep_reported = true;
                }
                last_token_was_eq = b == b'='
                    && bytes.get(i + 1) != Some(&b'=')
                    && i > 0
                    && !matches!(bytes[i - 1], b'=' | b'!' | b'<' | b'>');
                line_start = false;
                // Step over a whole UTF-8 character.
                i += utf8_len(b);
            }
        }
    }
    if let Some(&open) = open_braces.last().filter(|_| braces > 0) {
        out.unclosed_braces.push(open);
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}
