//! Random streams: every random number of a run comes from a stream named by
//! (seed, trial, device, purpose), never from thread identity or scheduling order.
//!
//! In: the run's seed and a stream's coordinates. Out: a `Stream`, a SplitMix64 generator (8 bytes of
//! state, so a million of them fit in memory and a device's stream resumes for free at every event).
//! The derivation, fixed by the project (changing it changes every result):
//!
//! ```text
//! base(seed, trial, device, purpose) = mix(mix(mix(seed ^ K0) ^ trial * K1) ^ device * K2 ^ purpose * K3)
//! draw k of the stream              = mix(base + (k + 1) * GAMMA)
//! mix(z) = SplitMix64's finaliser: z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27; z *= 0x94d049bb133111eb; z ^= z >> 31
//! ```
//!
//! with `GAMMA = 0x9e3779b97f4a7c15` and the constants `K0..K3` below. A device draws from one stream
//! per trial, in the order of its own events, which the engine processes sequentially per device:
//! results are identical whatever the number of threads or shards.

use core::convert::Infallible;

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;
const K2: u64 = 0xa409_3822_299f_31d0;
const K3: u64 = 0x082e_fa98_ec4e_6c89;

/// What a stream is for. Part of the derivation: the numbers are fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// A device's static fields and first record (trial-independent: `trial` is 0).
    Static = 1,
    /// A device's events in one trial: check-in times, dynamic fields, failures.
    Device = 2,
    /// A region's partitions in one trial (`device` is the region's index).
    Partition = 3,
    /// Which devices a scenario's defect hits (trial-independent per scenario: `trial` is the
    /// scenario's index, so that one scenario hits the same devices in every trial).
    Effect = 4,
}

#[inline]
pub fn mix(mut z: u64) -> u64 {
    z ^= z >> 30;
    z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) with 53 bits from any generator: `rand`'s `StandardUniform` for `f64`, which
/// `rand_distr`'s samplers draw (`input::normal` draws as they do, from any generator).
#[inline(always)]
pub fn unit<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The starting state of a stream.
#[inline]
pub fn base(seed: u64, trial: u64, device: u64, purpose: Purpose) -> u64 {
    base_in(trial_part(seed, trial), device, purpose)
}

/// The part of `base` that depends on the seed and trial alone: computed once per trial, it saves
/// two of the three mixes of every device stream's base.
#[inline]
pub fn trial_part(seed: u64, trial: u64) -> u64 {
    mix(mix(seed ^ K0) ^ trial.wrapping_mul(K1))
}

/// `base` from its trial part.
#[inline]
pub fn base_in(trial_part: u64, device: u64, purpose: Purpose) -> u64 {
    mix(trial_part ^ device.wrapping_mul(K2) ^ (purpose as u64).wrapping_mul(K3))
}

/// The inverse of `GAMMA` modulo 2^64 (Newton's iteration; `GAMMA` is odd).
const GAMMA_INV: u64 = {
    let mut x = GAMMA;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(GAMMA.wrapping_mul(x)));
        i += 1;
    }
    x
};
const _: () = assert!(GAMMA.wrapping_mul(GAMMA_INV) == 1);

/// A SplitMix64 stream. Its state is the whole of it: store it, copy it, resume it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream(pub u64);

impl Stream {
    pub fn new(seed: u64, trial: u64, device: u64, purpose: Purpose) -> Stream {
        Stream(base(seed, trial, device, purpose))
    }

    /// The stream that starts at `base`, after `draws` draws.
    #[inline]
    pub fn at(base: u64, draws: u32) -> Stream {
        Stream(base.wrapping_add(u64::from(draws).wrapping_mul(GAMMA)))
    }

    /// How many draws this stream, started at `base`, has made (modulo 2^32): with [`Stream::at`], a
    /// stream is stored as a 4-byte count where its base can be recomputed.
    #[inline]
    pub fn draws_since(self, base: u64) -> u32 {
        self.0.wrapping_sub(base).wrapping_mul(GAMMA_INV) as u32
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        mix(self.0)
    }

    /// Uniform in [0, 1) with 53 bits (`unit`).
    #[inline]
    pub fn unit(&mut self) -> f64 {
        unit(self)
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// An exponential wait with the given mean (seconds): `rand_distr`'s ziggurat, mostly a table
    /// lookup (its rare slow path uses libm through `num-traits`, so results do not depend on the
    /// platform's math library).
    #[inline]
    pub fn exp(&mut self, mean: f64) -> f64 {
        use rand::distr::Distribution;
        let x: f64 = rand_distr::Exp1.sample(self);
        mean * x
    }
}

impl rand::TryRng for Stream {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next_u64() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_resumes_from_its_draw_count() {
        let b = base(7, 3, 11, Purpose::Device);
        let mut s = Stream(b);
        for n in 0..1000u32 {
            assert_eq!(s.draws_since(b), n);
            assert_eq!(Stream::at(b, n), s);
            s.next_u64();
        }
    }
}
