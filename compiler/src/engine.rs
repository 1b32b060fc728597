//! The engines that evaluate a compiled package, behind one interface so that tests, `eval` and the
//! differential tests can run the same input through each and compare.
//!
//! In: a function kind and a record. Out: clause conditions in the artifact's numbering. `Reference`
//! walks the typed package; `Interp` runs the verified bytecode with the runtime's interpreter;
//! `Native` (with this crate's `native` feature, which turns on the runtime's) runs Cranelift code made
//! from the same verified bytecode. Native code is made on request ([`Engines::compile_native`]):
//! where it cannot be (a build without the feature, a machine Cranelift cannot target) the other
//! engines still run and [`Engines::native_unavailable`] says why.

use fleetgate_lang::typed::Package;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::ring::GATE_SLOTS;
use fleetgate_runtime::{ClauseBits, Record, interp};

use crate::compile::Compiled;
use crate::layout::DeviceRecord;
use crate::reference::{self, Env};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EngineKind {
    Reference,
    Interp,
    Native,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Reference => "reference",
            EngineKind::Interp => "interp",
            EngineKind::Native => "native",
        }
    }
}

/// What a function reads: a device record, or a gate record.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    Device(&'a DeviceRecord),
    Gate(&'a [u64; GATE_SLOTS]),
}

/// A package compiled for every engine that is available.
pub struct Engines<'a> {
    pub pkg: &'a Package,
    pub compiled: &'a Compiled,
    #[cfg(feature = "native")]
    pub native: Option<fleetgate_runtime::native::NativePolicy>,
    /// Why there is no native code, once [`Engines::compile_native`] failed.
    native_error: Option<String>,
}

/// Why an engine could not evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineError(pub String);

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const NO_MISSING: [u64; 1] = [0];

impl<'a> Engines<'a> {
    pub fn new(pkg: &'a Package, compiled: &'a Compiled) -> Engines<'a> {
        Engines {
            pkg,
            compiled,
            #[cfg(feature = "native")]
            native: None,
            native_error: None,
        }
    }

    /// Every engine this build and machine can run: [`Engines::new`] plus native code where it can
    /// be made (see [`Engines::native_unavailable`] otherwise).
    pub fn with_native(pkg: &'a Package, compiled: &'a Compiled) -> Engines<'a> {
        let mut engines = Engines::new(pkg, compiled);
        // A failure is kept in `native_error`; the other engines run regardless.
        let _ = engines.compile_native();
        engines
    }

    /// Compiles the package's verified policy to native code, so that [`EngineKind::Native`] becomes
    /// available. On failure the reason is returned and kept.
    pub fn compile_native(&mut self) -> Result<(), EngineError> {
        #[cfg(feature = "native")]
        let result = fleetgate_runtime::native::NativePolicy::new(&self.compiled.policy)
            .map(|native| self.native = Some(native))
            .map_err(|e| e.to_string());
        #[cfg(not(feature = "native"))]
        let result: Result<(), String> =
            Err("this build of fleetgate has no native code (the `native` feature is off)".into());
        if let Err(why) = &result {
            self.native_error = Some(why.clone());
        }
        result.map_err(EngineError)
    }

    /// Why native code is not available, when it was asked for and could not be made.
    pub fn native_unavailable(&self) -> Option<&str> {
        self.native_error.as_deref()
    }

    /// The engines this build can run.
    pub fn available(&self) -> Vec<EngineKind> {
        #[cfg_attr(not(feature = "native"), allow(unused_mut))]
        let mut out = vec![EngineKind::Reference, EngineKind::Interp];
        #[cfg(feature = "native")]
        if self.native.is_some() {
            out.push(EngineKind::Native);
        }
        out
    }

    /// Evaluates function `kind` on `input` with `engine` into `bits`.
    pub fn run(
        &self,
        engine: EngineKind,
        kind: FunctionKind,
        input: Input<'_>,
        bits: &mut ClauseBits,
    ) -> Result<(), EngineError> {
        let (slots, missing): (&[u64], &[u64]) = match input {
            Input::Device(d) => (&d.slots, &d.missing),
            Input::Gate(g) => (g, &NO_MISSING),
        };
        match engine {
            EngineKind::Reference => {
                let env = match input {
                    Input::Device(d) => Env {
                        layout: self.compiled.layout,
                        slots: &d.slots,
                        missing: &d.missing,
                        gate: None,
                    },
                    Input::Gate(g) => Env {
                        layout: self.compiled.layout,
                        slots: &[],
                        missing: &[],
                        gate: Some(g),
                    },
                };
                reference::run(self.pkg, self.compiled, kind, &env, bits);
                Ok(())
            }
            EngineKind::Interp => {
                let policy = &self.compiled.policy;
                let Some(f) = policy.function(kind) else {
                    return Ok(());
                };
                interp::run(policy, f, &Record { slots, missing }, bits)
                    .map_err(|e| EngineError(e.to_string()))
            }
            EngineKind::Native => {
                #[cfg(feature = "native")]
                if let Some(native) = &self.native {
                    return native
                        .run(kind, &Record { slots, missing }, bits)
                        .map_err(|e| EngineError(e.to_string()));
                }
                Err(EngineError(
                    "native code is not available in this build".into(),
                ))
            }
        }
    }
}
