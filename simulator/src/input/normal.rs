//! Normal and gamma draws made exactly as `rand_distr` 0.6 makes them — the same numbers from the
//! same stream, bit for bit — but with their common case inlined where they are drawn.
//!
//! In: a random stream (and a distribution's parameters). Out: one number. `rand_distr`'s
//! `StandardNormal` is a ziggurat whose common case is a table lookup and a comparison, but the
//! compiler keeps its whole sampler out of line: a call and a frame for every dynamic normal field of
//! every record, and two for each gamma of a beta. Here the common case is a few inlined
//! instructions and the rest (about 1% of the draws) one cold call. The algorithms, constants and
//! order of operations are `rand_distr`'s (`utils::ziggurat`, `StandardNormal`,
//! `GammaLargeShape`), down to the math functions (`num_traits::Float`, which `rand_distr` calls),
//! and the tables are its own (`ziggurat_tables`); `tests::draws_match_rand_distr` compares them draw
//! by draw.
//!
//! Adapted from `rand_distr` 0.6.0 (`src/utils.rs`, `src/normal.rs`, `src/gamma.rs`; Copyright 2018
//! Developers of the Rand project, Copyright 2013 The Rust Project Developers; licensed under
//! Apache-2.0 or MIT).

use rand::Rng;
use rand_distr::num_traits::Float;
use rand_distr::{Distribution, Gamma, GammaError};

use super::ziggurat_tables::{ZIG_NORM_F, ZIG_NORM_R, ZIG_NORM_X};
use crate::rng::unit;

/// A standard normal: `rand_distr::StandardNormal`'s draw.
#[inline(always)]
pub fn standard<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let (i, u, x) = layer(rng);
    if x.abs() < ZIG_NORM_X[i + 1] {
        x
    } else {
        standard_rest(rng, i, u, x)
    }
}

/// One try of the ziggurat: a layer `i` and, from the same 64 bits, `u` in [-1, 1) (the top 52 bits
/// as a float in [2, 4), minus 3) and the candidate `x`.
#[inline(always)]
fn layer<R: Rng + ?Sized>(rng: &mut R) -> (usize, f64, f64) {
    let bits = rng.next_u64();
    let i = bits as usize & 0xff;
    let u = f64::from_bits((bits >> 12) | (1024 << 52)) - 3.0;
    (i, u, u * ZIG_NORM_X[i])
}

/// The ziggurat past a first try outside its layer's box: the base layer's tail, the wedge's test,
/// and further tries.
#[cold]
#[inline(never)]
fn standard_rest<R: Rng + ?Sized>(rng: &mut R, mut i: usize, mut u: f64, mut x: f64) -> f64 {
    loop {
        if i == 0 {
            return tail(rng, u);
        }
        let pdf = Float::exp(-x * x / 2.0);
        if ZIG_NORM_F[i + 1] + (ZIG_NORM_F[i] - ZIG_NORM_F[i + 1]) * unit(rng) < pdf {
            return x;
        }
        (i, u, x) = layer(rng);
        if x.abs() < ZIG_NORM_X[i + 1] {
            return x;
        }
    }
}

/// A draw from the normal's tail beyond `ZIG_NORM_R`, on the side of `u`'s sign.
fn tail<R: Rng + ?Sized>(rng: &mut R, u: f64) -> f64 {
    let mut x = 1.0f64;
    let mut y = 0.0f64;
    while -2.0 * y < x * x {
        let x_ = open01(rng);
        let y_ = open01(rng);
        x = Float::ln(x_) / ZIG_NORM_R;
        y = Float::ln(y_);
    }
    if u < 0.0 {
        x - ZIG_NORM_R
    } else {
        ZIG_NORM_R - x
    }
}

/// `rand`'s `Open01` for `f64`: (0, 1), 52 bits.
#[inline(always)]
fn open01<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    f64::from_bits((rng.next_u64() >> 12) | (1023 << 52)) - (1.0 - f64::EPSILON / 2.0)
}

/// A gamma distribution drawn as `rand_distr::Gamma` draws it: a finite shape above 1 with a finite
/// scale here (Marsaglia and Tsang's method, with the normal above), any other by `rand_distr` itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FastGamma {
    /// `rand_distr`'s `GammaLargeShape`: `d = shape - 1/3`, `c = 1 / sqrt(9 d)`.
    Large {
        d: f64,
        c: f64,
        scale: f64,
    },
    Other(Gamma<f64>),
}

impl FastGamma {
    /// `Gamma::new(shape, scale)`, with its errors.
    pub fn new(shape: f64, scale: f64) -> Result<FastGamma, GammaError> {
        let other = Gamma::new(shape, scale)?;
        // `Gamma::new`'s choice: infinite parameters and shape 1 draw an exponential, shapes below 1
        // a boosted large shape; the rest (here) a large shape.
        Ok(if shape.is_finite() && scale.is_finite() && shape > 1.0 {
            let d = shape - 1. / 3.;
            FastGamma::Large {
                d,
                c: 1.0 / Float::sqrt(9. * d),
                scale,
            }
        } else {
            FastGamma::Other(other)
        })
    }

    #[inline(always)]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match *self {
            FastGamma::Large { d, c, scale } => large_unscaled(rng, d, c) * (d * scale),
            FastGamma::Other(g) => g.sample(rng),
        }
    }
}

/// `GammaLargeShape::sample_unscaled` (Marsaglia and Tsang, 2000).
#[inline(always)]
fn large_unscaled<R: Rng + ?Sized>(rng: &mut R, d: f64, c: f64) -> f64 {
    loop {
        let x = standard(rng);
        let v_cbrt = 1.0 + c * x;
        if v_cbrt <= 0.0 {
            continue;
        }
        let v = v_cbrt * v_cbrt * v_cbrt;
        let u = open01(rng);
        let x_sqr = x * x;
        if u < 1.0 - 0.0331 * x_sqr * x_sqr
            || Float::ln(u) < 0.5 * x_sqr + d * (1.0 - v + Float::ln(v))
        {
            return v;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand_distr::{LogNormal, Normal, StandardNormal};

    use super::*;
    use crate::rng::{Purpose, Stream};

    /// Draw by draw from the same stream: the same numbers, and the streams in the same place after
    /// each (so the next draws, whatever they are, match too). Two million normals reach the wedges
    /// (about 1 in 100) thousands of times and the tail (about 1 in 4,000) hundreds of times.
    #[test]
    fn draws_match_rand_distr() {
        let mut ours = Stream::new(11, 3, 7, Purpose::Device);
        let mut theirs = ours;
        let (mut wedges, mut tails) = (0, 0);
        for n in 0..2_000_000 {
            let before = ours;
            let a = standard(&mut ours);
            let b: f64 = StandardNormal.sample(&mut theirs);
            assert_eq!(a.to_bits(), b.to_bits(), "normal {n}");
            assert_eq!(ours, theirs, "normal {n}");
            let draws = ours.draws_since(before.0);
            if draws > 1 {
                wedges += 1;
            }
            if a.abs() > ZIG_NORM_R {
                tails += 1;
            }
        }
        assert!(
            wedges > 10_000 && tails > 200,
            "{wedges} wedges, {tails} tails"
        );

        let normal = Normal::new(-66.0, 8.0).unwrap();
        let lognormal = LogNormal::new(4.6, 0.7).unwrap();
        for n in 0..100_000 {
            let z = standard(&mut ours);
            assert_eq!(normal.from_zscore(z), normal.sample(&mut theirs), "{n}");
            let z = standard(&mut ours);
            assert_eq!(
                lognormal.from_zscore(z),
                lognormal.sample(&mut theirs),
                "{n}"
            );
        }

        for (shape, scale) in [
            (6.0, 1.0),
            (2.0, 1.0),
            (1.0001, 3.0),
            (30.0, 0.5),
            (1.0, 2.0),
            (0.4, 1.0),
            (f64::INFINITY, 1.0),
            (2.0, f64::INFINITY),
        ] {
            let fast = FastGamma::new(shape, scale).unwrap();
            assert_eq!(
                matches!(fast, FastGamma::Large { .. }),
                shape > 1.0 && shape.is_finite() && scale.is_finite(),
                "gamma({shape}, {scale})"
            );
            let gamma = Gamma::new(shape, scale).unwrap();
            for n in 0..200_000 {
                let a = fast.sample(&mut ours);
                let b = gamma.sample(&mut theirs);
                assert_eq!(a.to_bits(), b.to_bits(), "gamma({shape}, {scale}) {n}");
                assert_eq!(ours, theirs, "gamma({shape}, {scale}) {n}");
            }
        }
        for bad in [(0.0, 1.0), (1.0, 0.0), (f64::NAN, 1.0), (-1.0, 1.0)] {
            assert!(FastGamma::new(bad.0, bad.1).is_err(), "{bad:?}");
        }
    }
}
