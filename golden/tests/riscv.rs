//! Replays every golden vector (`golden/vectors/*.fgv`, included at build time) through `verify`,
//! `interp::run` and the runtime's decision code, and reports per package and function: vectors
//! passed, heap bytes allocated while evaluating, and on riscv32imc under qemu the exact instructions
//! retired per decision (min / median / max) and the stack high-water mark of one evaluation.
//!
//! One file, two platforms: on a target without an OS (`cargo test -p fleetgate-golden --target
//! riscv32imc-unknown-none-elf`, run by qemu through `.cargo/config.toml`) it is a `no_std` binary with
//! riscv-rt's entry and semihosting for output and exit code; on the host it is a plain `main` with std
//! (no instruction or stack figures there). Exits 0 only if every vector passes and evaluations that
//! must not allocate did not; a panic exits non-zero on both.
//!
//! The table between `--- metrics ---` and `--- end metrics ---` is what `.ci/riscv32.sh` keeps in
//! `metrics/riscv32.txt`: it must be identical from run to run (`-icount shift=0` makes it so).
#![cfg_attr(target_os = "none", no_std, no_main)]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt::Write as _;

use fleetgate_golden::{Checker, Decision, Evaluator, GoldenFile, Interpreter};
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::{ClauseBits, EvalError, FnId, Policy, Record, interp};

/// `(package, file bytes)` for every golden file, from `build.rs`.
static FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/vectors.rs"));

/// What one measured evaluation cost.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    /// Retired instructions (riscv only), including the measurement's own (see `overhead`).
    instructions: Option<u64>,
    /// Bytes of stack below the caller's frame that the evaluation wrote (riscv only).
    stack: Option<usize>,
    /// The evaluation wrote the lowest painted word: `stack` may be an underestimate.
    past_paint: bool,
}

#[cfg(target_os = "none")]
mod platform {
    //! riscv32imc under qemu: riscv-rt entry, a counting embedded-alloc heap, semihosting I/O,
    //! `minstret` for instructions and a painted stack for the high-water mark.

    use core::fmt;
    use embedded_alloc::LlffHeap;
    use fleetgate_golden::CountingAlloc;

    use super::Cost;

    #[global_allocator]
    pub static ALLOC: CountingAlloc<LlffHeap> = CountingAlloc::new(LlffHeap::empty());

    unsafe extern "C" {
        /// From `memory.x`: its address is the heap size.
        static _heap_size: u8;
    }

    #[riscv_rt::entry]
    fn main() -> ! {
        let size = &raw const _heap_size as usize;
        // SAFETY: called once, before any allocation; riscv-rt reserves `_heap_size` bytes at
        // `heap_start()` for the heap and nothing else uses them.
        unsafe { ALLOC.inner().init(riscv_rt::heap_start() as usize, size) };
        let ok = super::run();
        semihosting::process::exit(if ok { 0 } else { 1 })
    }

    pub fn print(args: fmt::Arguments<'_>) {
        semihosting::println!("{args}");
    }

    /// How much stack below the measuring frame is painted: far more than an evaluation uses; a
    /// high-water mark that reaches it is reported as a failure (it could be an underestimate).
    const PAINT_BYTES: usize = 64 * 1024;
    const PAINT: u32 = 0x5a5a_a5a5;

    /// Runs `f` once: instructions retired between two reads of `minstret` (exact under
    /// `-icount shift=0`), and the lowest stack word `f` overwrote.
    #[inline(never)]
    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Cost) {
        let sp: usize;
        // SAFETY: reads the stack pointer into a register; no memory access, no side effect.
        unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
        let bottom = sp - PAINT_BYTES;
        // Paint below `sp` in assembly: free stack (one hart, interrupts off, no red zone on RISC-V)
        // that a call made while painting would itself use (at opt-level 0 even `write_volatile` is
        // a call).
        // SAFETY: `bottom..sp` is unused stack inside RAM (the stack starts at the top of 16 MiB and
        // the span is small), word-aligned because `sp` is 16-byte aligned; only registers otherwise.
        unsafe {
            core::arch::asm!(
                "2:",
                "bgeu {p}, {end}, 3f",
                "sw {pat}, 0({p})",
                "addi {p}, {p}, 4",
                "j 2b",
                "3:",
                p = inout(reg) bottom => _,
                end = in(reg) sp,
                pat = in(reg) PAINT,
                options(nostack),
            )
        };
        let before = riscv::register::minstret::read64();
        let r = call(f);
        let after = riscv::register::minstret::read64();
        let lowest: usize;
        // SAFETY: reads the span painted above, which is still stack; only registers otherwise.
        unsafe {
            core::arch::asm!(
                "2:",
                "bgeu {p}, {end}, 3f",
                "lw {t}, 0({p})",
                "bne {t}, {pat}, 3f",
                "addi {p}, {p}, 4",
                "j 2b",
                "3:",
                p = inout(reg) bottom => lowest,
                end = in(reg) sp,
                pat = in(reg) PAINT,
                t = out(reg) _,
                options(nostack, readonly),
            )
        };
        let cost = Cost {
            instructions: Some(after.wrapping_sub(before)),
            stack: Some(sp - lowest),
            past_paint: lowest == bottom,
        };
        (r, cost)
    }

    /// A real call, so the callee's frame lies below the measuring frame.
    #[inline(never)]
    fn call<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

#[cfg(not(target_os = "none"))]
mod platform {
    //! The host: std, a counting system allocator, no instruction or stack figures.

    use std::alloc::System;
    use std::fmt;

    use fleetgate_golden::CountingAlloc;

    use super::Cost;

    #[global_allocator]
    pub static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);

    pub fn print(args: fmt::Arguments<'_>) {
        println!("{args}");
    }

    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Cost) {
        (f(), Cost::default())
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    if !run() {
        std::process::exit(1);
    }
}

macro_rules! say {
    ($($t:tt)*) => { platform::print(format_args!($($t)*)) };
}

/// Bytes allocated so far.
fn allocated() -> usize {
    platform::ALLOC.allocated().0
}

/// The interpreter, noting the bytes it allocates (a second, unmeasured pass splits the heap figure
/// between the interpreter and the decision code).
struct CountingInterp {
    bytes: usize,
}

impl Evaluator for CountingInterp {
    fn run(
        &mut self,
        policy: &Policy,
        f: FnId,
        record: &Record<'_>,
        out: &mut ClauseBits,
    ) -> Result<(), EvalError> {
        let before = allocated();
        let r = interp::run(policy, f, record, out);
        self.bytes += allocated() - before;
        r
    }
}

/// Figures for one package and function.
struct Row {
    label: &'static str,
    gate: Option<u8>,
    passed: usize,
    total: usize,
    instructions: Vec<u64>,
    stack: usize,
    heap_interp: usize,
    heap_decision: usize,
}

fn label(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Gate(_) => "gate",
        other => other.name(),
    }
}

fn row_for(rows: &mut Vec<Row>, kind: FunctionKind) -> usize {
    let gate = match kind {
        FunctionKind::Gate(g) => Some(g),
        _ => None,
    };
    let label = label(kind);
    if let Some(i) = rows.iter().position(|r| r.label == label && r.gate == gate) {
        return i;
    }
    rows.push(Row {
        label,
        gate,
        passed: 0,
        total: 0,
        instructions: Vec::new(),
        stack: 0,
        heap_interp: 0,
        heap_decision: 0,
    });
    rows.len() - 1
}

/// Instructions `measure` itself adds around an empty closure: subtracted from every figure.
fn overhead() -> u64 {
    (0..4)
        .filter_map(|_| {
            platform::measure(|| core::hint::black_box(0u32))
                .1
                .instructions
        })
        .min()
        .unwrap_or(0)
}

/// Checks one file; its rows go to `rows`. False if anything failed.
fn check_file(package: &str, bytes: &[u8], overhead: u64, rows: &mut Vec<Row>) -> bool {
    let file: GoldenFile<'_> = match fleetgate_golden::parse(bytes) {
        Ok(f) => f,
        Err(e) => {
            say!("FAIL {package}: {e}");
            return false;
        }
    };
    if file.package != package {
        say!("FAIL {package}: the file is for package `{}`", file.package);
        return false;
    }
    let policy = match fleetgate_runtime::verify(file.artifact) {
        Ok(p) => p,
        Err(e) => {
            say!("FAIL {package}: the artifact does not verify: {e}");
            return false;
        }
    };
    let mut checker = Checker::new(&policy);
    let mut ok = true;
    for (i, v) in file.vectors().enumerate() {
        let r = row_for(rows, v.kind);
        let row = &mut rows[r];
        row.total += 1;
        let job = match checker.load(&v) {
            Ok(job) => job,
            Err(e) => {
                say!("FAIL {package} vector {i} ({:?}): {e}", v.kind);
                ok = false;
                continue;
            }
        };
        // Measured pass: instructions, stack, and every byte allocated by interpreter + decision.
        let heap_before = allocated();
        let (result, cost) = platform::measure(|| checker.evaluate(&job, &mut Interpreter));
        let heap_total = allocated() - heap_before;
        let decision: Decision = match result {
            Ok(d) => d,
            Err(e) => {
                say!(
                    "FAIL {package} vector {i} ({:?}): evaluation failed: {e}",
                    v.kind
                );
                ok = false;
                continue;
            }
        };
        if let Err(e) = checker.compare(&v, &decision) {
            say!(
                "FAIL {package} vector {i} ({:?}, {:?}): {e}; expected {:?}",
                v.kind,
                v.origin,
                v.expected
            );
            ok = false;
            continue;
        }
        drop(decision);
        // Unmeasured pass: which part allocated.
        let mut counting = CountingInterp { bytes: 0 };
        let job = match checker.load(&v) {
            Ok(job) => job,
            Err(_) => continue,
        };
        if checker.evaluate(&job, &mut counting).is_err() {
            continue;
        }
        row.heap_interp = row.heap_interp.max(counting.bytes);
        row.heap_decision = row
            .heap_decision
            .max(heap_total.saturating_sub(counting.bytes));
        if let Some(n) = cost.instructions {
            row.instructions.push(n.saturating_sub(overhead));
        }
        if cost.past_paint {
            say!("FAIL {package} vector {i}: the stack went past the painted region");
            ok = false;
        }
        row.stack = row.stack.max(cost.stack.unwrap_or(0));
        row.passed += 1;
    }
    ok
}

fn run() -> bool {
    say!("fleetgate-golden: {} golden file(s)", FILES.len());
    if FILES.is_empty() {
        say!(
            "FAIL no golden files under golden/vectors (bless them with compiler/tests/golden.rs)"
        );
        return false;
    }
    let overhead = overhead();
    let mut ok = true;
    let mut report = alloc::string::String::new();
    let measured = cfg!(target_os = "none");
    let _ = writeln!(
        report,
        "{:<14} {:<12} {:>9} {:>10} {:>10} {:>10} {:>7} {:>7} {:>7}",
        "package",
        "function",
        "vectors",
        "instr_min",
        "instr_med",
        "instr_max",
        "stack",
        "heap_fn",
        "heap_dec"
    );
    for &(package, bytes) in FILES {
        let mut rows = Vec::new();
        ok &= check_file(package, bytes, overhead, &mut rows);
        rows.sort_by_key(|r| (r.gate.is_some(), r.gate));
        for row in &mut rows {
            row.instructions.sort_unstable();
            let pick = |q: usize| -> alloc::string::String {
                match row.instructions.len() {
                    0 => "-".into(),
                    n => alloc::format!("{}", row.instructions[(n - 1) * q / 2]),
                }
            };
            let name = match row.gate {
                Some(g) => alloc::format!("gate {g}"),
                None => row.label.into(),
            };
            let stack = if measured {
                alloc::format!("{}", row.stack)
            } else {
                "-".into()
            };
            let _ = writeln!(
                report,
                "{:<14} {:<12} {:>9} {:>10} {:>10} {:>10} {:>7} {:>7} {:>7}",
                package,
                name,
                alloc::format!("{}/{}", row.passed, row.total),
                pick(0),
                pick(1),
                pick(2),
                stack,
                row.heap_interp,
                row.heap_decision,
            );
            // Interpreting never allocates (a runtime invariant); neither do the device decisions.
            if row.heap_interp != 0 || (row.gate.is_none() && row.heap_decision != 0) {
                say!("FAIL {package} {name}: evaluation allocated on the heap");
                ok = false;
            }
            if row.passed != row.total {
                ok = false;
            }
        }
    }
    say!("--- metrics ---");
    for line in report.lines() {
        say!("{line}");
    }
    say!("--- end metrics ---");
    say!(
        "instr: instructions retired per interp::run + decision (riscv32imc, measurement overhead of {overhead} subtracted); \
         stack: bytes of stack below the caller, max over vectors; heap_fn / heap_dec: max bytes allocated by one \
         interp::run / one decision"
    );
    say!(
        "{}",
        if ok {
            "golden vectors: ok"
        } else {
            "golden vectors: FAILED"
        }
    );
    ok
}
