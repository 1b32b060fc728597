//! The limits of the front end, each enforced with a diagnostic (docs/language.md lists them).
//!
//! They keep every pass bounded in time and stack on hostile input (deeply nested brackets, huge
//! files) and keep compiled packages within what the artifact format and a device can hold.

/// Largest source file, in bytes.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;
/// Largest package (all files together), in bytes.
pub const MAX_PACKAGE_BYTES: usize = 16 * 1024 * 1024;
/// Deepest nesting of brackets `(`, `[` and braces `{`.
pub const MAX_NESTING: usize = 64;
/// Deepest expression tree (operators inside operators), brackets included.
pub const MAX_EXPR_DEPTH: usize = 200;
/// Most clauses of rails, health rules and gates, all kinds together, in a package.
pub const MAX_CLAUSES: usize = 8192;
/// Most declarations in a package.
pub const MAX_ITEMS: usize = 100_000;
/// Most planes (a plane set is 16 bits on a device).
pub const MAX_PLANES: usize = 16;
/// Most syntax errors reported per file before giving up on it.
pub const MAX_ERRORS_PER_FILE: usize = 50;
