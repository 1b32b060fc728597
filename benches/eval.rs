//! Policy evaluation speed: the same 10,000 `policies/edge-ai` device records through the reference
//! evaluator, the bytecode interpreter, native code (Cranelift) and hand-written Rust, each computing
//! the rails decision per record and consuming all of it (verdict, deferral, fired clauses; see
//! `Tally`). `interp` and `native` run one record per call; `interp_batch` and
//! `native_batch` run all records in one call (the planner's and simulator's path) and then make each
//! record's decision from its row of clause words.
//!
//! `cargo bench --bench eval`. Compare the medians with `eval/handwritten`: the goals are an
//! interpreter within 5x and native code within 1.5x of hand-written code.

#[path = "support/edge_ai.rs"]
mod edge_ai;
#[path = "support/packages.rs"]
mod packages;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fleetgate_compiler::engine::{EngineKind, Engines, Input};
use fleetgate_compiler::layout::DeviceRecord;
use fleetgate_compiler::sample::{Rng, Sampler};
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::decision::RailVerdict;
use fleetgate_runtime::native::NativePolicy;
use fleetgate_runtime::{ClauseBits, Policy, Record, decision, interp};

const RECORDS: usize = 10_000;

fn eval(c: &mut Criterion) {
    let loaded = packages::load("edge-ai");
    let (pkg, compiled) = (&loaded.package, &loaded.compiled);
    let sampler = Sampler::new(pkg);
    let mut rng = Rng::new(2026);
    let records: Vec<_> = (0..RECORDS).map(|_| sampler.device(&mut rng)).collect();
    let engines = Engines::new(pkg, compiled);
    let hand = edge_ai::EdgeAiRails::new(pkg);
    let policy = &compiled.policy;
    let rails = policy
        .function(FunctionKind::Rails)
        .expect("edge-ai has rails");
    let range = policy.function_def(rails).expect("defined").clause_range();
    assert!(range.start == 0 && range.end <= 64, "see `rails_word`");

    let mut group = c.benchmark_group("eval");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("reference", |b| {
        let mut bits = ClauseBits::for_policy(policy);
        b.iter(|| {
            black_box(tally(policy, &records, &mut bits, |rec, bits| {
                engines
                    .run(
                        EngineKind::Reference,
                        FunctionKind::Rails,
                        Input::Device(rec),
                        bits,
                    )
                    .expect("runs");
            }))
        })
    });
    group.bench_function("interp", |b| {
        let mut bits = ClauseBits::for_policy(policy);
        b.iter(|| {
            black_box(tally(policy, &records, &mut bits, |rec, bits| {
                interp::run(policy, rails, &record(rec), bits).expect("runs");
            }))
        })
    });
    let native = NativePolicy::new(policy).expect("native code for this machine");
    group.bench_function("native", |b| {
        let mut bits = ClauseBits::for_policy(policy);
        b.iter(|| {
            black_box(tally(policy, &records, &mut bits, |rec, bits| {
                native
                    .run(FunctionKind::Rails, &record(rec), bits)
                    .expect("runs");
            }))
        })
    });
    // Batches: records laid end to end, one row of clause words per record.
    let slots: Vec<u64> = records
        .iter()
        .flat_map(|r| r.slots.iter().copied())
        .collect();
    let missing: Vec<u64> = records
        .iter()
        .flat_map(|r| r.missing.iter().copied())
        .collect();
    let words = ClauseBits::words_for(policy.n_clauses());
    let decide_rows = |truth: &[u64], error: &[u64], bits: &mut ClauseBits| {
        let mut tally = Tally::default();
        for (t, e) in truth.chunks_exact(words).zip(error.chunks_exact(words)) {
            bits.load_words(t, e);
            tally.add(decision::rails(policy, bits).verdict, rails_word(bits));
        }
        tally
    };
    group.bench_function("interp_batch", |b| {
        let (mut truth, mut error) = (vec![0u64; RECORDS * words], vec![0u64; RECORDS * words]);
        let mut bits = ClauseBits::for_policy(policy);
        b.iter(|| {
            interp::run_batch(policy, rails, &slots, &missing, &mut truth, &mut error)
                .expect("runs");
            black_box(decide_rows(&truth, &error, &mut bits))
        })
    });
    group.bench_function("native_batch", |b| {
        let (mut truth, mut error) = (vec![0u64; RECORDS * words], vec![0u64; RECORDS * words]);
        let mut bits = ClauseBits::for_policy(policy);
        b.iter(|| {
            native
                .run_batch(
                    FunctionKind::Rails,
                    &slots,
                    &missing,
                    &mut truth,
                    &mut error,
                )
                .expect("runs");
            black_box(decide_rows(&truth, &error, &mut bits))
        })
    });
    group.bench_function("handwritten", |b| {
        b.iter(|| {
            let mut tally = Tally::default();
            for rec in &records {
                let (verdict, fired) = hand.decide(black_box(&rec.slots), &rec.missing);
                tally.add(verdict, fired);
            }
            black_box(tally)
        })
    });
    group.finish();
}

fn record(rec: &DeviceRecord) -> Record<'_> {
    Record {
        slots: &rec.slots,
        missing: &rec.missing,
    }
}

/// What every function makes of each record's decision: all of it (verdict, deferral and the fired
/// clauses), so that no engine, and above all not the hand-written code, whose source the optimiser
/// sees, can skip computing a part of it that a real caller would read.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    deny: u32,
    defer_secs: u64,
    fired: u64,
}

impl Tally {
    #[inline(always)]
    fn add(&mut self, verdict: RailVerdict, fired: u64) {
        match verdict {
            RailVerdict::Deny => self.deny += 1,
            RailVerdict::Defer { secs } => self.defer_secs += u64::from(secs),
            RailVerdict::Allow => {}
        }
        self.fired = self.fired.wrapping_add(fired);
    }
}

/// The fired rail clauses as a word (bit i = rail clause i, as `EdgeAiRails::decide` returns them):
/// the edge-ai rails are the package's first clauses and fit one word (checked in `eval`), and only
/// the rails run, so no other clause's bit is set.
#[inline(always)]
fn rails_word(bits: &ClauseBits) -> u64 {
    bits.words().0[0]
}

/// Evaluates the rails of each record one call at a time with `eval`, decides, and tallies.
#[inline(always)]
fn tally(
    policy: &Policy,
    records: &[DeviceRecord],
    bits: &mut ClauseBits,
    mut eval: impl FnMut(&DeviceRecord, &mut ClauseBits),
) -> Tally {
    let mut tally = Tally::default();
    for rec in records {
        eval(rec, bits);
        tally.add(decision::rails(policy, bits).verdict, rails_word(bits));
    }
    tally
}

criterion_group!(benches, eval);
criterion_main!(benches);
