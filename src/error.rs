//! Errors of the command line itself (usage, IO), as opposed to diagnostics about a package.
//!
//! In: what went wrong. Out: a message (lowercase, no final period, user input in backticks), a help
//! line saying what to do next, and the exit status: 2 for usage and IO problems.

use std::path::Path;

#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub help: Option<String>,
    pub status: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            help: None,
            status: 2,
        }
    }

    pub fn io(path: &Path, err: &std::io::Error) -> CliError {
        let what = match err.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => err.to_string().to_lowercase(),
        };
        CliError::usage(format!("cannot read `{}`: {what}", path.display()))
    }

    pub fn write(path: &Path, err: &std::io::Error) -> CliError {
        CliError::usage(format!(
            "cannot write `{}`: {}",
            path.display(),
            err.to_string().to_lowercase()
        ))
    }

    pub fn help(mut self, help: impl Into<String>) -> CliError {
        self.help = Some(help.into());
        self
    }

    pub fn status(mut self, status: u8) -> CliError {
        self.status = status;
        self
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl miette::Diagnostic for CliError {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}
