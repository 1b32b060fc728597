//! Property tests of the front end on input nobody wrote on purpose.
//!
//! In: random token soups from the language's own alphabet, random expressions from a small grammar
//! inside a fixed schema, and random byte-level mutations (insert, delete, replace, duplicate slices)
//! of every `.policy` file in the repository. Out: `check` and `format_source` never panic, and every
//! source that formats formats idempotently to a text with the same meaning (diagnostic codes, typed
//! package without spans). Case counts keep the whole file under a few seconds in a debug build.

mod common;

use std::sync::OnceLock;

use common::{check_texts, format_idempotent, meaning, policy_files, repo_root};
use fleetgate_lang::Sources;
use proptest::prelude::*;

const SCHEMA: &str = "enum Hw { a, b, rk3566 }
enum Mode { a, boost }
plane firmware
plane model
device {
  hw: Hw
  mode: Mode
  n: int
  f: float
  d: duration
  on: bool
  o: int?
  of: float?
}
";

/// The properties every input must have; `Err` describes the first one that fails.
fn properties(name: &str, bytes: &[u8]) -> Result<(), String> {
    let mut sources = Sources::new();
    sources.add_bytes(name, bytes);
    let _ = fleetgate_lang::check(&sources);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    let Some(formatted) = format_idempotent(name, text)? else {
        return Ok(());
    };
    let before = meaning(&check_texts(&[(name.to_string(), text.to_string())]));
    let after = meaning(&check_texts(&[(name.to_string(), formatted.clone())]));
    if before != after {
        return Err(format!(
            "formatting changed the meaning\n--- source\n{text}\n--- formatted\n{formatted}\n--- before\n{before:?}\n--- after\n{after:?}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Token soup

const TOKENS: &[&str] = &[
    "enum",
    "plane",
    "device",
    "let",
    "rail",
    "health",
    "depends",
    "on",
    "incompatible",
    "rollout",
    "gate",
    "fixture",
    "test",
    "given",
    "expect",
    "when",
    "for",
    "per",
    "with",
    "missing",
    "known",
    "and",
    "or",
    "not",
    "in",
    "between",
    "true",
    "false",
    "deny",
    "defer",
    "rollback",
    "require",
    "abort",
    "soak",
    "checks",
    "check",
    "every",
    "verify",
    "rate",
    "flight",
    "at",
    "most",
    "retries",
    "ring",
    "where",
    "by",
    "allow",
    "healthy",
    "inconclusive",
    "promote",
    "hold",
    "install",
    "order",
    "installable",
    "now",
    "release",
    "hw",
    "x",
    "a",
    "boost",
    "firmware",
    "model",
    "device.hw",
    "device.n",
    "device.o",
    "ring.done",
    "now.hour",
    "release.model",
    "Hw",
    "Mode",
    "int",
    "float",
    "bool",
    "percent",
    "duration",
    "version",
    "0",
    "1",
    "1_000",
    "-5",
    "9223372036854775808",
    "3.5",
    "1e-3",
    "1e999",
    "30%",
    "99.5%",
    "15m",
    "1h30m",
    "30m1h",
    "7d",
    "v2",
    "v1.4",
    "v1.4.0",
    "v70000",
    "\"reason\"",
    "\"open",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "??",
    "+",
    "-",
    "*",
    "/",
    "->",
    ":",
    "?",
    ".",
    "%",
    "// comment",
    "\t",
    "é",
    "\u{1}",
];

fn token_soup() -> impl Strategy<Value = String> {
    let piece = (
        prop::sample::select(TOKENS),
        prop::sample::select(&[" ", " ", " ", "\n", "\n  ", ""][..]),
    );
    (any::<bool>(), prop::collection::vec(piece, 0..80)).prop_map(|(with_schema, pieces)| {
        let mut out = if with_schema {
            SCHEMA.to_string()
        } else {
            String::new()
        };
        for (token, separator) in pieces {
            out.push_str(token);
            out.push_str(separator);
        }
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Well-typed expressions from a small grammar, spread over lines and comments

fn leaf(options: &'static [&'static str]) -> BoxedStrategy<String> {
    prop::sample::select(options)
        .prop_map(str::to_string)
        .boxed()
}

fn int_expr() -> BoxedStrategy<String> {
    leaf(&[
        "device.n",
        "1",
        "-2",
        "0",
        "1_000",
        "(device.o ?? 3)",
        "now.hour",
        "9223372036854775807",
    ])
    .prop_recursive(3, 16, 2, |i| {
        prop_oneof![
            (
                i.clone(),
                prop::sample::select(&["+", "-", "*", "/"][..]),
                i.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            i.clone().prop_map(|a| format!("({a})")),
            i.clone().prop_map(|a| format!("-{a}")),
            i.clone().prop_map(|a| format!("abs({a})")),
            (i.clone(), i).prop_map(|(a, b)| format!("min({a}, {b})")),
        ]
    })
    .boxed()
}

fn float_expr() -> BoxedStrategy<String> {
    leaf(&[
        "device.f",
        "2.5",
        "1e3",
        "30%",
        "(device.of ?? 1)",
        "0.5",
        "-1.5e-3",
    ])
    .prop_recursive(3, 16, 2, |f| {
        prop_oneof![
            (
                f.clone(),
                prop::sample::select(&["+", "-", "*", "/"][..]),
                f.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (f.clone(), int_expr()).prop_map(|(a, b)| format!("{a} * ({b})")),
            f.clone().prop_map(|a| format!("({a})")),
            f.clone().prop_map(|a| format!("-{a}")),
            (f, int_expr()).prop_map(|(a, b)| format!("max({a}, {b})")),
        ]
    })
    .boxed()
}

fn duration_expr() -> BoxedStrategy<String> {
    leaf(&["device.d", "1h", "90s", "1h30m", "0s", "7d"])
        .prop_recursive(3, 16, 2, |d| {
            prop_oneof![
                (d.clone(), prop::sample::select(&["+", "-"][..]), d.clone())
                    .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
                (d.clone(), int_expr()).prop_map(|(a, b)| format!("{a} * ({b})")),
                (int_expr(), d.clone()).prop_map(|(a, b)| format!("({a}) * {b}")),
                (d.clone(), int_expr()).prop_map(|(a, b)| format!("{a} / ({b})")),
                d.clone().prop_map(|a| format!("-({a})")),
                (d.clone(), d).prop_map(|(a, b)| format!("max({a}, {b})")),
            ]
        })
        .boxed()
}

fn bool_expr() -> BoxedStrategy<String> {
    let cmp = prop::sample::select(&["==", "!=", "<", "<=", ">", ">="][..]);
    let base = prop_oneof![
        leaf(&[
            "device.on",
            "true",
            "false",
            "known(device.o)",
            "device.hw == rk3566",
            "device.mode in [a, boost]",
            "a == device.hw",
            "now.weekday in [sat, sun]",
            "device.firmware >= v1.2",
            "(release.model ?? v1) < device.model",
            "device.n in [1, -2, 3]",
            "device.f in [1, 2.5]",
        ]),
        (int_expr(), cmp.clone(), int_expr()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (float_expr(), cmp.clone(), int_expr()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (duration_expr(), cmp, duration_expr()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (int_expr(), int_expr(), float_expr())
            .prop_map(|(x, lo, hi)| format!("{x} between {lo} and {hi}")),
    ];
    base.prop_recursive(3, 12, 2, |b| {
        prop_oneof![
            (
                b.clone(),
                prop::sample::select(&["and", "or"][..]),
                b.clone()
            )
                .prop_map(|(a, op, c)| format!("{a} {op} {c}")),
            b.clone().prop_map(|a| format!("not {a}")),
            b.prop_map(|a| format!("({a})")),
        ]
    })
    .boxed()
}

/// A package around random expressions, with random line breaks and comments between tokens.
fn expression_package() -> impl Strategy<Value = String> {
    let layout = prop::collection::vec(
        prop::sample::select(&[" ", " ", " ", "\n    ", " // note\n    "][..]),
        64,
    );
    (
        prop::collection::vec(bool_expr(), 1..4),
        bool_expr(),
        layout,
    )
        .prop_map(|(lets, cond, layout)| {
            let mut layout = layout.into_iter().cycle();
            let mut spread = |e: &str| {
                e.split(' ')
                    .map(str::to_string)
                    .reduce(|a, b| format!("{a}{}{b}", layout.next().unwrap_or(" ")))
                    .unwrap_or_default()
            };
            let mut out = SCHEMA.to_string();
            for (i, e) in lets.iter().enumerate() {
                out.push_str(&format!("let x{i} = {}\n", spread(e)));
            }
            out.push_str(&format!(
                "rail r when x0 and {} {{\n  deny \"x\" when {}\n}}\n",
                spread(&lets[0]),
                spread(&cond)
            ));
            out.push_str(&format!(
                "health h {{\n  rollback model \"y\" when {} for 3 checks\n}}\n",
                spread(&cond)
            ));
            out
        })
}

// ---------------------------------------------------------------------------------------------
// Mutations of the repository's policy files

fn corpus() -> &'static [(String, Vec<u8>)] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let root = repo_root();
        let files: Vec<(String, Vec<u8>)> = policy_files(&root)
            .into_iter()
            .map(|p| {
                let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
                (name, std::fs::read(&p).expect("readable policy file"))
            })
            .collect();
        assert!(
            files.len() > 20,
            "expected the repository's policy files, found {}",
            files.len()
        );
        files
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Replace {
        at: usize,
        len: usize,
        bytes: Vec<u8>,
    },
    Duplicate {
        from: usize,
        len: usize,
        to: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to the scanner and parser, plus anything at all.
    let byte = prop_oneof![
        prop::sample::select(&b"{}()[]\"/\n =<>?!-+*%.,:_0123456789vdhmsnot"[..]),
        any::<u8>(),
    ];
    let bytes = prop::collection::vec(byte, 1..8);
    prop_oneof![
        (any::<usize>(), bytes.clone()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 1..8usize, bytes).prop_map(|(at, len, bytes)| Mutation::Replace {
            at,
            len,
            bytes
        }),
        (any::<usize>(), 1..200usize, any::<usize>())
            .prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    let pos = |x: usize| if n == 0 { 0 } else { x % (n + 1) };
    match m {
        Mutation::Insert { at, bytes: new } => {
            let at = pos(*at);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Delete { at, len } => {
            let at = pos(*at);
            bytes.drain(at..(at + len).min(n));
        }
        Mutation::Replace {
            at,
            len,
            bytes: new,
        } => {
            let at = pos(*at);
            bytes.splice(at..(at + len).min(n), new.iter().copied());
        }
        Mutation::Duplicate { from, len, to } => {
            let from = pos(*from);
            let slice: Vec<u8> = bytes[from..(from + len).min(n)].to_vec();
            let to = pos(*to);
            bytes.splice(to..to, slice);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics_and_formats_faithfully(src in token_soup()) {
        if let Err(e) = properties("soup.policy", src.as_bytes()) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn expressions_format_faithfully(src in expression_package()) {
        if let Err(e) = properties("expressions.policy", src.as_bytes()) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn mutated_policies_never_panic_and_format_faithfully(
        file in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let files = corpus();
        let (name, original) = &files[file.index(files.len())];
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if let Err(e) = properties(name, &bytes) {
            prop_assert!(false, "{}: {}", name, e);
        }
    }
}

/// Every file of the repository unmutated, as a baseline: the mutation test picks files at random.
#[test]
fn every_policy_file_as_is() {
    let failures: Vec<String> = corpus()
        .iter()
        .filter_map(|(name, bytes)| properties(name, bytes).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
