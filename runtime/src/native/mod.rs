//! Native code (feature `native`, std only): in goes a *verified* [`Policy`] — never source text —
//! and out comes a [`NativePolicy`] holding machine code for every function of its artifact, made by
//! Cranelift for the host (the planner on x86_64, RK3566 devices on aarch64). It runs records
//! exactly as the interpreter does: same checks, same clause conditions, bit for bit.
//!
//! - `translate.rs` turns each function's stack bytecode into a branch-free loop body (see there);
//! - this file owns the JIT modules (one per register-allocation tier: backtracking for functions of
//!   usual size, single-pass for huge ones), calls the code and checks every input first (with the
//!   interpreter's own checks, so both engines reject the same inputs with the same error).
//!
//! This is the only module of the runtime with `unsafe`: calling generated code, turning a code
//! address into a function pointer, and freeing the code memory. Each block says why it is sound.
//!
//! Architecture invariant: generated code reads only the slots and missing-mask words the verifier
//! proved in range and writes only the row words of its function's clauses; the Rust side checks
//! every length before calling it.

// Native code needs `unsafe` to call what it generates; nothing else in the runtime may have it.
#![allow(unsafe_code)]

#[cfg(test)]
mod tests;
mod translate;

use std::fmt;
use std::string::{String, ToString};
use std::sync::Mutex;
use std::vec::Vec;

use cranelift_codegen::ir::{AbiParam, UserFuncName, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};

use crate::artifact::FunctionKind;
use crate::interp::{self, ClauseBits, EvalError, Record};
use crate::verify::{FnId, Policy};

/// Why native code could not be made. Callers fall back to the interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NativeError {
    /// Cranelift has no backend for this machine (or it is not a 64-bit one).
    Unsupported(String),
    /// Code generation failed for a function: a bug in the translator or in Cranelift.
    Codegen { function: usize, message: String },
    /// The JIT module could not be set up or finalized (flags, memory).
    Module(String),
}

impl fmt::Display for NativeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NativeError::Unsupported(why) => {
                write!(f, "native code is not supported on this machine: {why}")
            }
            NativeError::Codegen { function, message } => {
                write!(
                    f,
                    "native code generation failed for function {function}: {message}"
                )
            }
            NativeError::Module(why) => write!(f, "native code module failed: {why}"),
        }
    }
}

impl std::error::Error for NativeError {}

/// The generated entry: `(slots, missing, truth, error, n)` for `n` records laid end to end.
type Entry = unsafe extern "C" fn(*const u64, *const u64, *mut u64, *mut u64, usize);

/// The JIT module that owns the code memory; frees it when dropped.
struct Code(Option<JITModule>);

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(module) = self.0.take() {
            // SAFETY: `Code` is dropped only with the `NativePolicy` that owns it (or when `new`
            // fails, before any entry escaped). Entries are called only through `&NativePolicy`,
            // so no call is running now and none can start after this.
            unsafe { module.free_memory() };
        }
    }
}

/// A verified policy compiled to machine code, one entry per function of its artifact.
///
/// `Send + Sync`: the code is immutable once finalized and may run on many threads at once; the
/// module (which is `Send` but not `Sync`) is only kept, behind a `Mutex`, to free the code memory
/// when the last user drops this.
pub struct NativePolicy {
    policy: Policy,
    /// Per function (by `FnId`).
    functions: Vec<Compiled>,
    /// Held for their `Drop`, which frees the code memory after the last call.
    #[allow(dead_code)]
    code: Mutex<Vec<Code>>,
}

/// A compiled function and what a call checks, copied out of the policy for the fast path.
struct Compiled {
    entry: Entry,
    record_len: usize,
    /// Per missing-mask word, the bits that must be clear.
    required: Vec<u64>,
}

impl fmt::Debug for NativePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativePolicy")
            .field("functions", &self.functions.len())
            .finish_non_exhaustive()
    }
}

/// How a function is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tier {
    /// Backtracking register allocation: the best code, for functions of every usual size.
    Tuned,
    /// Single-pass register allocation, for huge functions (thousands of clauses): the
    /// backtracking allocator's time grows faster than the code, and there it dominates.
    Large,
}

/// Bytecode instructions from which a function is compiled at [`Tier::Large`].
const LARGE_FUNCTION: usize = 4096;

/// The Cranelift target for this host: `Unsupported` where Cranelift cannot generate code.
///
/// `opt_level` is `none`: the translator already folds what is known, shares loads and tests per
/// block and orders the code; Cranelift's e-graph pass measured no faster code here and slower
/// compiles (it also sinks comparisons away from their loads, which costs registers).
fn host_isa(tier: Tier) -> Result<cranelift_codegen::isa::OwnedTargetIsa, NativeError> {
    let module_err = |e: settings::SetError| NativeError::Module(e.to_string());
    let mut flags = settings::builder();
    flags.set("opt_level", "none").map_err(module_err)?;
    let regalloc = match tier {
        Tier::Tuned => "backtracking",
        Tier::Large => "single_pass",
    };
    flags
        .set("regalloc_algorithm", regalloc)
        .map_err(module_err)?;
    // `JITModule::new` requires non-PIC code.
    flags.set("is_pic", "false").map_err(module_err)?;
    flags
        .set("use_colocated_libcalls", "false")
        .map_err(module_err)?;
    // The IR verifier roughly doubles compile time: on in debug builds (and tests) only.
    let verify = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    flags.set("enable_verifier", verify).map_err(module_err)?;
    let builder =
        cranelift_native::builder().map_err(|why| NativeError::Unsupported(why.to_string()))?;
    let isa = builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| NativeError::Unsupported(e.to_string()))?;
    if isa.pointer_type() != types::I64 {
        return Err(NativeError::Unsupported(
            "native code needs a 64-bit target".into(),
        ));
    }
    Ok(isa)
}

/// A JIT module per tier, made when the first function of that tier needs it.
struct Modules {
    code: Vec<(Tier, Code)>,
}

impl Modules {
    fn get(&mut self, tier: Tier) -> Result<&mut JITModule, NativeError> {
        if !self.code.iter().any(|(t, _)| *t == tier) {
            let isa = host_isa(tier)?;
            let module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
            self.code.push((tier, Code(Some(module))));
        }
        self.code
            .iter_mut()
            .find(|(t, _)| *t == tier)
            .and_then(|(_, c)| c.0.as_mut())
            .ok_or_else(|| NativeError::Module("no module".into()))
    }
}

impl NativePolicy {
    /// Compiles every function of `policy` to machine code for this host.
    pub fn new(policy: &Policy) -> Result<NativePolicy, NativeError> {
        NativePolicy::compile(policy, translate::CHUNK)
    }

    /// [`NativePolicy::new`] with blocks of `chunk` bytecode instructions (tests use small ones to
    /// exercise block boundaries).
    pub(crate) fn compile(policy: &Policy, chunk: usize) -> Result<NativePolicy, NativeError> {
        // Fail early, before any work, where Cranelift cannot target this machine.
        host_isa(Tier::Tuned)?;
        let mut modules = Modules { code: Vec::new() };
        let consts = &policy.artifact().consts;
        let row_words = ClauseBits::words_for(policy.n_clauses());
        let n_functions = policy.artifact().functions.len();
        let mut ids = Vec::with_capacity(n_functions);
        let mut fctx = FunctionBuilderContext::new();
        for i in 0..n_functions {
            let codegen = |message: String| NativeError::Codegen {
                function: i,
                message,
            };
            let f = FnId(u8::try_from(i).map_err(|e| codegen(e.to_string()))?);
            let prep = policy
                .prepared(f)
                .ok_or_else(|| codegen("no such function".into()))?;
            let tier = if prep.code.len() >= LARGE_FUNCTION {
                Tier::Large
            } else {
                Tier::Tuned
            };
            let module = modules.get(tier)?;
            let drop = interp::droppable_jumps(&prep.code);
            let shape = translate::Shape {
                code: &prep.code,
                drop: &drop,
                consts,
                clauses: prep.clauses.clone(),
                record_len: policy.record_len(prep.layout),
                missing_words: policy.missing_words(prep.layout),
                row_words,
                chunk,
            };
            let mut sig = module.make_signature();
            for _ in 0..5 {
                sig.params.push(AbiParam::new(types::I64));
            }
            let id = module
                .declare_function(&std::format!("fleetgate_f{i}"), Linkage::Local, &sig)
                .map_err(|e| codegen(e.to_string()))?;
            let mut ctx = module.make_context();
            ctx.func.signature = sig;
            ctx.func.name = UserFuncName::user(0, id.as_u32());
            let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            translate::translate(&mut b, &shape).map_err(|broken| {
                codegen(std::format!(
                    "instruction {}: {}",
                    broken.instruction,
                    broken.what
                ))
            })?;
            b.finalize(module.target_config());
            module
                .define_function(id, &mut ctx)
                .map_err(|e| codegen(std::format!("{e:?}")))?;
            module.clear_context(&mut ctx);
            ids.push((tier, id, prep));
        }
        for (_, code) in &mut modules.code {
            if let Some(module) = code.0.as_mut() {
                module
                    .finalize_definitions()
                    .map_err(|e| NativeError::Module(e.to_string()))?;
            }
        }
        let mut functions = Vec::with_capacity(ids.len());
        for (tier, id, prep) in ids {
            let module = modules.get(tier)?;
            let address = module.get_finalized_function(id);
            // SAFETY: `address` is the start of a finalized function whose signature is five `i64`
            // parameters and no result in the platform's C calling convention, which is `Entry` on
            // a 64-bit host (checked in `host_isa`).
            let entry = unsafe { core::mem::transmute::<*const u8, Entry>(address) };
            functions.push(Compiled {
                entry,
                record_len: policy.record_len(prep.layout),
                required: policy.required_mask(prep.layout).to_vec(),
            });
        }
        Ok(NativePolicy {
            policy: policy.clone(),
            functions,
            code: Mutex::new(modules.code.into_iter().map(|(_, c)| c).collect()),
        })
    }

    /// The policy this was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Runs the function of `kind` on `record`, as `interp::run` does: writes the function's clause
    /// range of `out` and leaves the rest. A kind the policy has no function for is
    /// `NoFunction { function: u8::MAX }`.
    #[inline]
    pub fn run(
        &self,
        kind: FunctionKind,
        record: &Record,
        out: &mut ClauseBits,
    ) -> Result<(), EvalError> {
        self.run_fn(self.function(kind)?, record, out)
    }

    /// [`NativePolicy::run`] by function index, with exactly `interp::run`'s checks and errors.
    #[inline]
    pub fn run_fn(&self, f: FnId, record: &Record, out: &mut ClauseBits) -> Result<(), EvalError> {
        // The checks of `interp::check_record`, inline; on any failure it reports the error.
        let fast = self.functions.get(f.index()).filter(|c| {
            record.slots.len() == c.record_len
                && record.missing.len() == c.required.len()
                && out.len() == self.policy.n_clauses()
                && record
                    .missing
                    .iter()
                    .zip(&c.required)
                    .all(|(m, r)| m & r == 0)
        });
        let compiled = match fast {
            Some(c) => c,
            None => {
                interp::check_record(&self.policy, f, record, out)?;
                self.functions
                    .get(f.index())
                    .ok_or(EvalError::NoFunction { function: f.0 })?
            }
        };
        let (truth, error) = out.words_mut();
        // SAFETY: the checks above (those of `check_record`) proved that `record` has the
        // function's record length and mask words and that `out` has one word per 64 of the
        // policy's clauses; the code reads only slots and mask words the verifier proved below
        // those lengths and writes only the row words of the function's clauses. One record. The
        // code lives as long as `self`.
        unsafe {
            (compiled.entry)(
                record.slots.as_ptr(),
                record.missing.as_ptr(),
                truth.as_mut_ptr(),
                error.as_mut_ptr(),
                1,
            );
        }
        Ok(())
    }

    /// Runs the function of `kind` on a batch of records, as `interp::run_batch` does (same layout,
    /// checks and errors), with the loop over records inside the generated code.
    pub fn run_batch(
        &self,
        kind: FunctionKind,
        slots: &[u64],
        missing: &[u64],
        out_truth: &mut [u64],
        out_error: &mut [u64],
    ) -> Result<(), EvalError> {
        self.run_batch_fn(self.function(kind)?, slots, missing, out_truth, out_error)
    }

    /// [`NativePolicy::run_batch`] by function index.
    pub fn run_batch_fn(
        &self,
        f: FnId,
        slots: &[u64],
        missing: &[u64],
        out_truth: &mut [u64],
        out_error: &mut [u64],
    ) -> Result<(), EvalError> {
        let (_, n) = interp::check_batch(&self.policy, f, slots, missing, out_truth, out_error)?;
        let entry = self
            .functions
            .get(f.index())
            .ok_or(EvalError::NoFunction { function: f.0 })?
            .entry;
        if n == 0 {
            return Ok(());
        }
        // SAFETY: `check_batch` proved that `slots` and `missing` hold exactly `n` records of the
        // function's layout and each output `n` rows of the policy's clause words; record `i` of
        // the loop reads only within record `i` and writes only within row `i` (see `run_fn`).
        unsafe {
            entry(
                slots.as_ptr(),
                missing.as_ptr(),
                out_truth.as_mut_ptr(),
                out_error.as_mut_ptr(),
                n,
            );
        }
        Ok(())
    }

    #[inline]
    fn function(&self, kind: FunctionKind) -> Result<FnId, EvalError> {
        self.policy
            .function(kind)
            .ok_or(EvalError::NoFunction { function: u8::MAX })
    }
}
