//! Reading a policy package from disk: the only place the front end's input touches the file system.
//!
//! In: a path to a package directory (every `*.policy` below it, sorted by path) or to one `.policy`
//! file. Out: `Sources` holding each file under its display path, ready for `fleetgate_lang::check`.

use std::path::{Path, PathBuf};

use fleetgate_lang::Sources;

use crate::error::CliError;

pub struct Loaded {
    pub sources: Sources,
    /// The files read, in the order they were added.
    pub files: Vec<PathBuf>,
}

/// Every `.policy` file under `path`, sorted, or `path` itself when it is a file.
pub fn policy_files(path: &Path) -> Result<Vec<PathBuf>, CliError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        CliError::io(path, &e).help("give the path of a package directory or of a `.policy` file")
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| CliError::io(&dir, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| CliError::io(&dir, &e))?;
            let p = entry.path();
            // Symbolic links to directories are not followed: they could loop.
            let ty = entry.file_type().map_err(|e| CliError::io(&p, &e))?;
            if ty.is_dir() {
                let hidden = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.') || n == "target");
                if !hidden {
                    dirs.push(p);
                }
            } else if p.extension().is_some_and(|e| e == "policy") {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads at most one byte more than a source file may have: a huge file is reported as too large
/// without being read into memory.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, CliError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| CliError::io(path, &e))?;
    let mut bytes = Vec::new();
    file.take(fleetgate_lang::limits::MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::io(path, &e))?;
    Ok(bytes)
}

/// Loads a package. An empty package is not an IO error: the caller reports it as a diagnostic.
pub fn load(path: &Path) -> Result<Loaded, CliError> {
    let files = policy_files(path)?;
    let mut sources = Sources::new();
    for f in &files {
        let bytes = read_bounded(f)?;
        sources.add_bytes(f.display().to_string(), &bytes);
    }
    Ok(Loaded { sources, files })
}
