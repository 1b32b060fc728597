//! Hostile input: every case gives a clear diagnostic, never a panic, a hang or a stack overflow.
//!
//! In: inputs built in memory (deep nesting, huge files, bytes that are not text, absurd counts). Out:
//! the diagnostic code each must produce. Each case runs on a thread with a 256 KiB stack, a small
//! fraction of a main thread's: recursion in the front end is bounded by the limits in `limits.rs`
//! (nesting is refused by a linear scan before any recursive pass runs), not by the stack's size.

use fleetgate_lang::limits::{
    MAX_CLAUSES, MAX_EXPR_DEPTH, MAX_ITEMS, MAX_NESTING, MAX_PACKAGE_BYTES, MAX_SOURCE_BYTES,
};
use fleetgate_lang::render::{JsonDiagnostic, Report};
use fleetgate_lang::{Checked, Sources};
use miette::{GraphicalReportHandler, GraphicalTheme};

const SMALL_STACK: usize = 256 * 1024;

/// Runs `f` on a thread with `stack` bytes of stack; a panic or overflow there fails the test.
fn on_stack<R: Send + 'static>(stack: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic")
}

/// Checks `files` (name, bytes) as one package on a small stack, renders every diagnostic (which must
/// not panic either), and returns the result with the codes found, without their prefix.
fn check_bytes(files: Vec<(&'static str, Vec<u8>)>) -> (Checked, Vec<String>) {
    on_stack(SMALL_STACK, move || {
        let mut sources = Sources::new();
        for (name, bytes) in &files {
            sources.add_bytes(*name, bytes);
        }
        let checked = fleetgate_lang::check(&sources);
        let handler =
            GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(80);
        for d in &checked.diagnostics {
            let mut out = String::new();
            handler
                .render_report(&mut out, &Report::new(d, &sources))
                .expect("renders");
            let _ = JsonDiagnostic::new(d, &sources);
        }
        let codes = checked
            .diagnostics
            .iter()
            .map(|d| d.code.trim_start_matches("fleetgate::lang::").to_string())
            .collect();
        (checked, codes)
    })
}

fn check_text(text: String) -> Vec<String> {
    check_bytes(vec![("hostile.policy", text.into_bytes())]).1
}

const DEVICE: &str = "device {\n  n: int\n}\n";

#[test]
fn hundred_thousand_nested_parentheses() {
    let text = format!(
        "{DEVICE}let x = {}true{}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert_eq!(check_text(text.clone()), ["nesting_too_deep"]);
    let formatted = on_stack(SMALL_STACK, move || {
        fleetgate_lang::fmt::format_source(&text)
    });
    let errors = formatted.expect_err("does not format");
    assert_eq!(
        errors.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["fleetgate::lang::nesting_too_deep"]
    );
}

#[test]
fn nested_brackets_of_every_kind() {
    for (open, close) in [("[", "]"), ("{", "}"), ("(", ")")] {
        let text = format!(
            "{DEVICE}let x = device.n in {}1{}\n",
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let codes = check_text(text);
        assert!(
            codes.contains(&"nesting_too_deep".to_string()),
            "{open}: {codes:?}"
        );
    }
}

#[test]
fn hundred_thousand_nots() {
    let text = format!("{DEVICE}let x = {}true\n", "not ".repeat(100_000));
    assert_eq!(check_text(text.clone()), ["expression_too_deep"]);
    let formatted = on_stack(SMALL_STACK, move || {
        fleetgate_lang::fmt::format_source(&text)
    });
    assert!(formatted.is_err());
}

#[test]
fn hundred_thousand_minus_signs_and_operators() {
    let negs = format!("{DEVICE}let x = {}1 > 0\n", "-".repeat(100_000));
    assert_eq!(check_text(negs), ["expression_too_deep"]);
    let sum = format!("{DEVICE}let x = {} > 0\n", vec!["1"; 100_000].join(" + "));
    assert_eq!(check_text(sum), ["expression_too_deep"]);
    let ands = format!("{DEVICE}let x = {}\n", vec!["true"; 100_000].join(" and "));
    assert!(
        check_text(ands).is_empty(),
        "a flat `and` of many operands is one level deep"
    );
}

#[test]
fn the_limits_themselves_are_accepted() {
    let nested = format!(
        "{DEVICE}let x = {}true{}\n",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    let deep_sum = format!(
        "{DEVICE}let x = {} > 0\n",
        vec!["1"; MAX_EXPR_DEPTH - 1].join(" + ")
    );
    let deep_not = format!(
        "{DEVICE}let x = {}true\n",
        "not ".repeat(MAX_EXPR_DEPTH - 1)
    );
    let mixed = {
        let mut e = "device.n > 0".to_string();
        for _ in 0..MAX_NESTING {
            e = format!("(device.n < 1 and {e})");
        }
        format!("{DEVICE}let x = {e}\n")
    };
    for text in [nested, deep_sum, deep_not, mixed] {
        // The deepest input the limits allow needs well under 1 MiB of stack even in a debug build.
        let ok = on_stack(1024 * 1024, move || {
            let mut sources = Sources::new();
            sources.add("deep.policy", text.clone());
            let checked = fleetgate_lang::check(&sources);
            let formatted = fleetgate_lang::fmt::format_source(&text).is_ok();
            (
                checked
                    .diagnostics
                    .iter()
                    .map(|d| d.message.clone())
                    .collect::<Vec<_>>(),
                formatted,
            )
        });
        assert_eq!(ok, (Vec::new(), true));
    }
}

#[test]
fn a_ten_megabyte_file() {
    let mut text = DEVICE.to_string();
    while text.len() < 10 * 1024 * 1024 {
        text.push_str("let x = device.n > 1 and device.n < 2 // padding padding padding padding\n");
    }
    let (checked, codes) = check_bytes(vec![("big.policy", text.into_bytes())]);
    assert_eq!(codes, ["source_too_large"]);
    assert!(
        checked.diagnostics[0]
            .message
            .contains(&MAX_SOURCE_BYTES.to_string())
    );
}

#[test]
fn a_package_too_large_in_total() {
    // Each file is under the per-file limit (one long comment: cheap to scan); together they are not.
    let file = || format!("// {}\n", "x".repeat(MAX_SOURCE_BYTES - 100)).into_bytes();
    let files = vec![
        ("a.policy", file()),
        ("b.policy", file()),
        ("c.policy", file()),
        ("d.policy", file()),
        ("e.policy", file()),
    ];
    assert!(files.iter().map(|f| f.1.len()).sum::<usize>() > MAX_PACKAGE_BYTES);
    let (_, codes) = check_bytes(files);
    // The refused file counts as a file that failed to read: names it might define are not reported missing.
    assert_eq!(codes, ["package_too_large"]);
}

#[test]
fn invalid_utf8() {
    let mut bytes = DEVICE.as_bytes().to_vec();
    bytes.extend_from_slice(b"let x = \xff\xfe true\n");
    let (checked, codes) = check_bytes(vec![("latin1.policy", bytes)]);
    assert_eq!(codes, ["invalid_utf8"]);
    assert_eq!(
        checked.diagnostics[0].span.start as usize,
        DEVICE.len() + "let x = ".len()
    );
}

#[test]
fn a_binary_file() {
    let (_, codes) = check_bytes(vec![(
        "image.policy",
        vec![0x7f, b'E', b'L', b'F', 0, 0, 0, 1, 2, 3],
    )]);
    assert_eq!(codes, ["binary_file"]);
    let (_, codes) = check_bytes(vec![("zeros.policy", vec![0; 4096])]);
    assert_eq!(codes, ["binary_file"]);
}

#[test]
fn an_empty_package() {
    let checked = on_stack(SMALL_STACK, || fleetgate_lang::check(&Sources::new()));
    assert_eq!(
        checked
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect::<Vec<_>>(),
        ["fleetgate::lang::empty_package"]
    );
    assert!(checked.package.is_none());
    let (_, codes) = check_bytes(vec![("empty.policy", Vec::new())]);
    assert_eq!(codes, ["missing_device_block"]);
    let (_, codes) = check_bytes(vec![("blank.policy", b"\n\n  // nothing here\n".to_vec())]);
    assert_eq!(codes, ["missing_device_block"]);
}

#[test]
fn a_million_comments() {
    // Comments are looked up by binary search: a file of comments is linear to check and to format.
    let mut text = String::new();
    while text.len() < 3 * 1024 * 1024 {
        text.push_str("// c\n");
    }
    text.push_str(DEVICE);
    let start = std::time::Instant::now();
    assert!(check_text(text.clone()).is_empty());
    let formatted = on_stack(SMALL_STACK, move || {
        fleetgate_lang::fmt::format_source(&text).map(|f| f.len())
    });
    assert!(formatted.is_ok());
    assert!(start.elapsed().as_secs() < 60, "took {:?}", start.elapsed());
}

#[test]
fn too_many_declarations() {
    let text = "plane p\n".repeat(MAX_ITEMS + 1);
    let codes = check_text(text);
    assert_eq!(codes.first().map(String::as_str), Some("too_many_items"));
}

#[test]
fn too_many_clauses() {
    let mut text = format!("{DEVICE}rail r {{\n");
    for _ in 0..=MAX_CLAUSES {
        text.push_str("  deny \"x\" when device.n > 0\n");
    }
    text.push_str("}\n");
    assert_eq!(check_text(text), ["too_many_clauses"]);
}

#[test]
fn too_many_syntax_errors() {
    let text = "let x = )\n".repeat(100_000);
    let codes = check_text(text);
    assert_eq!(
        codes.len(),
        52,
        "50 errors, one more, then the file is given up"
    );
    assert_eq!(codes.last().map(String::as_str), Some("too_many_errors"));
}

#[test]
fn unterminated_strings_and_unclosed_braces_everywhere() {
    let strings = "rail r {\n  deny \"open\n}\n".repeat(10_000);
    let codes = check_text(strings);
    assert!(
        codes
            .iter()
            .all(|c| c == "unterminated_string" || c == "too_many_errors"),
        "{codes:?}"
    );
    let braces = format!("{DEVICE}{}", "rail r {\n  deny \"x\"\n".repeat(10_000));
    let codes = check_text(braces);
    assert!(
        codes
            .iter()
            .all(|c| c == "unclosed_brace" || c == "too_many_errors"),
        "{codes:?}"
    );
}

#[test]
fn control_characters_and_long_lines() {
    let text = format!("{DEVICE}let x = true {}\n", "\u{7}".repeat(1000));
    assert_eq!(check_text(text), ["syntax"]);
    let text = format!("{DEVICE}let x = {}\n", "a".repeat(1_000_000));
    assert_eq!(check_text(text), ["unknown_name"]);
}

#[test]
fn wide_declarations_stay_linear() {
    // Names are looked up through indexes, version sets merged in one pass: none of these is quadratic.
    let start = std::time::Instant::now();
    let n = 20_000;
    let mut text = String::from("enum Big { ");
    text.push_str(
        &(0..60_000)
            .map(|i| format!("v_{i}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    text.push_str(" }\ndevice {\n  big: Big\n");
    for i in 0..n {
        text.push_str(&format!("  f{i}: int\n"));
    }
    text.push_str("}\nfixture x = device { big = v_1, ");
    text.push_str(
        &(0..n)
            .map(|i| format!("f{i} = {i}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    text.push_str(", firmware = v1, model = v1, config = v1 }\n");
    text.push_str(&format!(
        "let fields = {}\n",
        (0..n)
            .map(|i| format!("device.f{i} > 0"))
            .collect::<Vec<_>>()
            .join(" and ")
    ));
    text.push_str(&format!(
        "let variants = device.big in [{}]\n",
        (0..60_000)
            .map(|i| format!("v_{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let versions = (0..20_000).map(|i| format!("v1.{i}")).collect::<Vec<_>>();
    text.push_str(&format!(
        "depends model in [{}] on firmware >= v1\n",
        versions.join(", ")
    ));
    let ors = versions
        .iter()
        .map(|v| format!("config == {v}"))
        .collect::<Vec<_>>()
        .join(" or ");
    text.push_str(&format!(
        "depends config != v0 and ({ors}) on firmware >= v1\n"
    ));
    assert!(text.len() < MAX_SOURCE_BYTES);
    assert_eq!(check_text(text), Vec::<String>::new());
    assert!(start.elapsed().as_secs() < 60, "took {:?}", start.elapsed());
}
