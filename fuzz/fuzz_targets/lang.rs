//! The source front end on arbitrary bytes: `fleetgate_lang::check` over one or more files (the input
//! split at 0x1e bytes, ASCII "record separator", so one input can be a package of several files) and
//! the formatter, which must be idempotent on what it accepts. Any panic, hang (libFuzzer's
//! `-timeout`) or stack overflow is a finding; diagnostics are not.
#![no_main]

use fleetgate_lang::Sources;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sources = Sources::new();
    for (i, file) in data.split(|&b| b == 0x1e).enumerate().take(8) {
        sources.add_bytes(format!("f{i}.policy"), file);
    }
    let checked = fleetgate_lang::check(&sources);
    // A package that checks has at least no error among its diagnostics.
    if checked.package.is_some() {
        assert!(!checked.diagnostics.iter().any(|d| d.is_error()));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(formatted) = fleetgate_lang::fmt::format_source(text) {
            let again = fleetgate_lang::fmt::format_source(&formatted);
            assert_eq!(again.as_ref().ok(), Some(&formatted), "formatting is not idempotent");
        }
    }
});
