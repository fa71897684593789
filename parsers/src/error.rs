//! Errors that name the file, line and byte offset, and what was expected there.

use std::fmt;

/// A malformed event (or run of bytes that is no event). Reading resumes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file, or `-` for standard input.
    pub file: String,
    /// 1-based line of the offending line (0 where the format has no lines to count).
    pub line: u64,
    /// Byte offset of the offending line from the start of the file.
    pub offset: u64,
    /// What the reader expected there.
    pub expected: String,
    /// A short excerpt of what it found (at most 60 characters).
    pub found: String,
}

impl ParseError {
    pub fn new(
        file: &str,
        line: u64,
        offset: u64,
        expected: impl Into<String>,
        found: &[u8],
    ) -> ParseError {
        ParseError {
            file: file.to_string(),
            line,
            offset,
            expected: expected.into(),
            found: excerpt(found),
        }
    }
}

/// The first line of `bytes`, cut to 60 characters, with non-printing bytes escaped.
pub fn excerpt(bytes: &[u8]) -> String {
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let text = String::from_utf8_lossy(line);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == 60 {
            out.push('…');
            break;
        }
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}: (byte {}) expected {}, found `{}`",
                self.file, self.line, self.offset, self.expected, self.found
            )
        } else {
            write!(
                f,
                "{}: byte {}: expected {}, found `{}`",
                self.file, self.offset, self.expected, self.found
            )
        }
    }
}

impl std::error::Error for ParseError {}
