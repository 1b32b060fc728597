//! Source files and spans.
//!
//! In: file names and texts handed over by the caller (the front end does no IO). Out: `Span`s (file id
//! plus byte range) that every later stage carries, and line/column lookups for diagnostics.

use serde::Serialize;

use crate::diagnostics::{self as diag, Diagnostic};
use crate::limits::{MAX_PACKAGE_BYTES, MAX_SOURCE_BYTES};

/// Index of a file in the `Sources` it was added to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FileId(pub u32);

/// A byte range in one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        // INVARIANT: sources are at most `limits::MAX_SOURCE_BYTES`, far below u32::MAX.
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both (they must be in the same file).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.end == self.start
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One source file: its name as the user should see it, and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&next| next);
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }
}

/// The files of one package (or of anything checked together).
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    /// Files that could not be read as policy text, with why; they are not parsed.
    rejected: Vec<(FileId, Diagnostic)>,
    total_bytes: usize,
}

impl Sources {
    pub fn new() -> Sources {
        Sources::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile::new(name, text));
        id
    }

    /// Adds a file from its raw bytes. A file that is too large, not UTF-8 or binary is kept (so that
    /// its diagnostic can point into it) but marked rejected and never parsed.
    pub fn add_bytes(&mut self, name: impl Into<String>, bytes: &[u8]) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.total_bytes = self.total_bytes.saturating_add(bytes.len());
        let at = |offset: usize| Span::new(id, offset, offset + 1);
        let problem = if bytes.len() > MAX_SOURCE_BYTES {
            Some((
                String::new(),
                diag::source_too_large(Span::new(id, 0, 0), bytes.len(), MAX_SOURCE_BYTES),
            ))
        } else if self.total_bytes > MAX_PACKAGE_BYTES {
            Some((
                String::new(),
                diag::package_too_large(Span::new(id, 0, 0), self.total_bytes, MAX_PACKAGE_BYTES),
            ))
        } else {
            match std::str::from_utf8(bytes) {
                Err(e) => Some((
                    String::from_utf8_lossy(bytes).into_owned(),
                    diag::invalid_utf8(at(e.valid_up_to())),
                )),
                Ok(text) => text
                    .find('\0')
                    .map(|nul| (text.to_string(), diag::binary_file(at(nul)))),
            }
        };
        match problem {
            Some((text, d)) => {
                self.files.push(SourceFile::new(name, text));
                self.rejected.push((id, d));
            }
            None => self.files.push(SourceFile::new(
                name,
                String::from_utf8_lossy(bytes).into_owned(),
            )),
        }
        id
    }

    /// Why a file was rejected by `add_bytes`, if it was.
    pub fn rejection(&self, id: FileId) -> Option<&Diagnostic> {
        self.rejected.iter().find(|(f, _)| *f == id).map(|(_, d)| d)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn slice(&self, span: Span) -> &str {
        self.get(span.file).slice(span)
    }

    /// `file:line:column` of the start of a span.
    pub fn location(&self, span: Span) -> Location {
        let file = self.get(span.file);
        let (line, column) = file.line_col(span.start as usize);
        Location {
            file: file.name.clone(),
            line,
            column,
        }
    }
}

/// A human-facing position: file name, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}
