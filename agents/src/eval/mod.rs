//! Evaluators: in go a function kind (rails, health, constraints) and a device record, out come the
//! conditions of that function's clauses. The state machine turns them into decisions with
//! `fleetgate_runtime::decision`, so every engine gives the same decisions.
//!
//! Profiles: `esp32c3` runs the `no_std` interpreter; `rk3566` runs Cranelift native code when the
//! crate is built with feature `native` and the host can generate code, and the interpreter otherwise.

use crate::machine::Profile;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::interp::{self, ClauseBits, EvalError, Record};
use fleetgate_runtime::verify::Policy;

#[cfg(test)]
mod tests;

/// Something that runs a verified policy's functions on device records.
pub trait Evaluator {
    /// Runs the function of `kind` on `record`, writing its clauses' conditions into `out` (sized for
    /// the policy). A package without such a function leaves `out` alone: its decision is then made
    /// from no clauses (rails allow, health is healthy, every state is consistent).
    fn eval(
        &self,
        kind: FunctionKind,
        record: &Record<'_>,
        out: &mut ClauseBits,
    ) -> Result<(), EvalError>;
}

impl<E: Evaluator + ?Sized> Evaluator for &E {
    #[inline]
    fn eval(
        &self,
        kind: FunctionKind,
        record: &Record<'_>,
        out: &mut ClauseBits,
    ) -> Result<(), EvalError> {
        (**self).eval(kind, record, out)
    }
}

/// The bytecode interpreter (`fleetgate_runtime::interp`): `no_std`, no allocation, no panic.
#[derive(Clone, Copy, Debug)]
pub struct Interp<'p> {
    policy: &'p Policy,
}

impl<'p> Interp<'p> {
    pub fn new(policy: &'p Policy) -> Interp<'p> {
        Interp { policy }
    }
}

impl Evaluator for Interp<'_> {
    fn eval(
        &self,
        kind: FunctionKind,
        record: &Record<'_>,
        out: &mut ClauseBits,
    ) -> Result<(), EvalError> {
        match self.policy.function(kind) {
            Some(f) => interp::run(self.policy, f, record, out),
            None => Ok(()),
        }
    }
}

/// Native code for the policy, falling back to the interpreter when it cannot be made.
#[cfg(feature = "native")]
pub struct Native<'p> {
    interp: Interp<'p>,
    /// Boxed: the compiled policy is large, and the evaluator is moved around by value.
    native: Option<alloc::boxed::Box<fleetgate_runtime::native::NativePolicy>>,
}

#[cfg(feature = "native")]
impl<'p> Native<'p> {
    /// Compiles `policy`; when Cranelift cannot target this host (or fails), every evaluation goes
    /// to the interpreter instead.
    pub fn new(policy: &'p Policy) -> Native<'p> {
        Native {
            interp: Interp::new(policy),
            native: fleetgate_runtime::native::NativePolicy::new(policy)
                .ok()
                .map(alloc::boxed::Box::new),
        }
    }

    /// Whether native code is in use (else the interpreter).
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }
}

#[cfg(feature = "native")]
impl Evaluator for Native<'_> {
    #[inline]
    fn eval(
        &self,
        kind: FunctionKind,
        record: &Record<'_>,
        out: &mut ClauseBits,
    ) -> Result<(), EvalError> {
        match (&self.native, self.interp.policy.function(kind)) {
            (Some(native), Some(f)) => native.run_fn(f, record, out),
            _ => self.interp.eval(kind, record, out),
        }
    }
}

/// The evaluator of a device profile: the interpreter on `esp32c3`; on `rk3566` native code when
/// available, else the interpreter.
pub enum ProfileEvaluator<'p> {
    Interp(Interp<'p>),
    #[cfg(feature = "native")]
    Native(Native<'p>),
}

impl<'p> ProfileEvaluator<'p> {
    pub fn new(policy: &'p Policy, profile: Profile) -> ProfileEvaluator<'p> {
        match profile {
            Profile::Esp32c3 => ProfileEvaluator::Interp(Interp::new(policy)),
            #[cfg(feature = "native")]
            Profile::Rk3566 => ProfileEvaluator::Native(Native::new(policy)),
            #[cfg(not(feature = "native"))]
            Profile::Rk3566 => ProfileEvaluator::Interp(Interp::new(policy)),
        }
    }

    /// `interpreter` or `native`: which engine actually runs.
    pub fn engine(&self) -> &'static str {
        match self {
            ProfileEvaluator::Interp(_) => "interpreter",
            #[cfg(feature = "native")]
            ProfileEvaluator::Native(n) if n.is_native() => "native",
            #[cfg(feature = "native")]
            ProfileEvaluator::Native(_) => "interpreter",
        }
    }
}

impl Evaluator for ProfileEvaluator<'_> {
    fn eval(
        &self,
        kind: FunctionKind,
        record: &Record<'_>,
        out: &mut ClauseBits,
    ) -> Result<(), EvalError> {
        match self {
            ProfileEvaluator::Interp(i) => i.eval(kind, record, out),
            #[cfg(feature = "native")]
            ProfileEvaluator::Native(n) => n.eval(kind, record, out),
        }
    }
}
