//! The simulator's inputs: a fleet model and a release, both TOML, checked against the package.
//!
//! In: file names and texts (the caller reads files) and the package's `Schema`. Out: a checked
//! `Fleet` and `Release`, or every error found, each with the file and byte range it points at, a stable
//! code (`fleetgate::sim::…`), a lowercase message and a `help`. Nothing is simulated until both inputs
//! are clean. `docs/simulation.md` documents every key.

pub mod dist;
pub mod expect;
pub mod fleet;
pub mod normal;
pub mod release;
mod ziggurat_tables;

#[cfg(test)]
mod tests;

use std::ops::Range;

/// Which input file an error points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Fleet,
    Release,
}

/// One problem in an input file.
#[derive(Clone, Debug, PartialEq)]
pub struct InputError {
    pub file: FileKind,
    /// Byte range in the file.
    pub span: Range<usize>,
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

impl InputError {
    pub fn new(
        file: FileKind,
        span: Range<usize>,
        code: &'static str,
        message: impl Into<String>,
    ) -> InputError {
        InputError {
            file,
            span,
            code,
            message: message.into(),
            label: "here".into(),
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> InputError {
        self.help = Some(help.into());
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> InputError {
        self.label = label.into();
        self
    }
}

/// A TOML syntax or shape error (unknown key, wrong type) as an `InputError`.
pub fn from_toml(file: FileKind, e: &toml::de::Error) -> InputError {
    let span = e.span().unwrap_or(0..0);
    let message = e.message().trim_end_matches('.').to_string();
    let lower = {
        let mut c = message.chars();
        match c.next() {
            Some(first) => first.to_lowercase().collect::<String>() + c.as_str(),
            None => message.clone(),
        }
    };
    let help = if lower.contains("unknown field") {
        Some(
            "check the key's spelling against docs/simulation.md; keys written after a `[table]` or `[[table]]` header belong \
             to that table, so put top-level keys before the first one"
                .to_string(),
        )
    } else if lower.contains("missing field") {
        Some("add the key; docs/simulation.md lists what each table needs".to_string())
    } else {
        None
    };
    InputError {
        file,
        span,
        code: "fleetgate::sim::invalid_input",
        message: lower,
        label: "here".into(),
        help,
    }
}

/// The closest name, for "did you mean".
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (levenshtein(name, c), c))
        .filter(|&(d, c)| d > 0 && (d <= 2 || d * 3 <= c.len().max(name.len())))
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `30s`, `15m`, `24h`, `7d`, `1h30m` → seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    for c in s.trim().chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() || s.trim().is_empty() {
        return None;
    }
    Some(total)
}

/// `v1.4.0`, `v1.4`, `v2` → packed `major << 32 | minor << 16 | patch`.
pub fn parse_version(s: &str) -> Option<u64> {
    let rest = s.strip_prefix('v')?;
    let mut parts = [0u64; 3];
    let mut n = 0;
    for (i, p) in rest.split('.').enumerate() {
        if i >= 3 || p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u64 = p.parse().ok()?;
        if v > 65_535 {
            return None;
        }
        parts[i] = v;
        n += 1;
    }
    (n > 0).then_some((parts[0] << 32) | (parts[1] << 16) | parts[2])
}

/// Formats a packed version as `v1.4.0`.
pub fn show_version(v: u64) -> String {
    format!(
        "v{}.{}.{}",
        (v >> 32) & 0xffff,
        (v >> 16) & 0xffff,
        v & 0xffff
    )
}
