//! Statistics over trials: bounds that say how sure a number is, and the verdict of each expectation.
//!
//! In: per-trial values in trial order. Out: estimates with 95% one-sided bounds on each side (so a
//! 90% two-sided interval):
//! - a probability: exact Clopper–Pearson bounds from the binomial distribution (with no event in
//!   `n` trials the upper bound is `1 - 0.05^(1/n)`, about `3/n`: 300 trials show P < 1%);
//! - a quantile: distribution-free bounds from order statistics (the ranks a binomial(n, q) count
//!   falls between with 95% confidence);
//! - a mean: the normal approximation, mean ± 1.645·sd/√n.
//!
//! An expectation **passes** when its whole interval satisfies it, **fails** when none of it does,
//! and is **inconclusive** otherwise (more trials are needed). All arithmetic is in `f64` with `libm`,
//! over values sorted or counted first, so it never depends on thread count.

/// One-sided 95%.
pub const ALPHA: f64 = 0.05;
const Z: f64 = 1.644_853_626_951_472_2;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// ln C(n, k) + k ln p + (n-k) ln(1-p), the log of one binomial term.
fn log_term(n: u64, k: u64, p: f64) -> f64 {
    let (n, k) = (n as f64, k as f64);
    let lc = libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0);
    let a = if k > 0.0 { k * libm::log(p) } else { 0.0 };
    let b = if n - k > 0.0 {
        (n - k) * libm::log1p(-p)
    } else {
        0.0
    };
    lc + a + b
}

/// P(X <= k) for X ~ Binomial(n, p).
pub fn binomial_cdf(n: u64, k: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    (0..=k.min(n))
        .map(|i| libm::exp(log_term(n, i, p)))
        .sum::<f64>()
        .min(1.0)
}

/// Bisection for the p at which a monotone function of p crosses `target`.
fn solve(mut lo: f64, mut hi: f64, f: impl Fn(f64) -> f64, target: f64, increasing: bool) -> f64 {
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        let above = f(mid) > target;
        if above == increasing {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    0.5 * (lo + hi)
}

/// `k` events in `n` trials: the estimate and its Clopper–Pearson one-sided 95% bounds.
pub fn proportion(k: u64, n: u64) -> Interval {
    if n == 0 {
        return Interval {
            estimate: 0.0,
            low: 0.0,
            high: 1.0,
        };
    }
    let estimate = k as f64 / n as f64;
    // Upper: the p with P(X <= k) = alpha; lower: the p with P(X >= k) = alpha.
    let high = if k >= n {
        1.0
    } else {
        solve(0.0, 1.0, |p| binomial_cdf(n, k, p), ALPHA, false)
    };
    let low = if k == 0 {
        0.0
    } else {
        solve(0.0, 1.0, |p| 1.0 - binomial_cdf(n, k - 1, p), ALPHA, true)
    };
    Interval {
        estimate,
        low,
        high,
    }
}

/// The q-quantile of sorted values (nearest rank), with order-statistic bounds.
pub fn quantile(sorted: &[f64], q: f64) -> Interval {
    let n = sorted.len();
    if n == 0 {
        return Interval {
            estimate: f64::NAN,
            low: f64::NEG_INFINITY,
            high: f64::INFINITY,
        };
    }
    let rank = |r: f64| -> usize { (r.ceil().max(1.0) as usize).min(n) - 1 };
    let estimate = sorted[rank(q * n as f64)];
    let nf = n as f64;
    let spread = Z * libm::sqrt(nf * q * (1.0 - q));
    // Ranks beyond the data mean the bound is unknown from this sample.
    let lo_rank = (nf * q - spread).floor();
    let hi_rank = (nf * q + spread).ceil() + 1.0;
    let low = if lo_rank < 1.0 {
        f64::NEG_INFINITY
    } else {
        sorted[rank(lo_rank)]
    };
    let high = if hi_rank > nf {
        f64::INFINITY
    } else {
        sorted[rank(hi_rank)]
    };
    Interval {
        estimate,
        low: low.min(estimate),
        high: high.max(estimate),
    }
}

pub fn mean(values: &[f64]) -> Interval {
    let n = values.len();
    if n == 0 {
        return Interval {
            estimate: f64::NAN,
            low: f64::NEG_INFINITY,
            high: f64::INFINITY,
        };
    }
    let m = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Interval {
            estimate: m,
            low: f64::NEG_INFINITY,
            high: f64::INFINITY,
        };
    }
    let var = values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64;
    let half = Z * libm::sqrt(var / n as f64);
    Interval {
        estimate: m,
        low: m - half,
        high: m + half,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Inconclusive,
    Fail,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Fail => "fail",
        }
    }
}

/// Judges `value op threshold` for a value known to lie in `iv`.
pub fn judge(iv: Interval, op: crate::input::expect::Op, threshold: f64) -> Verdict {
    use crate::input::expect::Op;
    let all = |f: &dyn Fn(f64) -> bool| f(iv.low) && f(iv.high);
    let none = |f: &dyn Fn(f64) -> bool| !f(iv.low) && !f(iv.high);
    let holds = |x: f64| op.holds(x, threshold);
    match op {
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            if all(&holds) {
                Verdict::Pass
            } else if none(&holds) {
                Verdict::Fail
            } else {
                Verdict::Inconclusive
            }
        }
        Op::Eq => {
            if iv.low == threshold && iv.high == threshold {
                Verdict::Pass
            } else if threshold < iv.low || threshold > iv.high {
                Verdict::Fail
            } else {
                Verdict::Inconclusive
            }
        }
        Op::Ne => {
            if threshold < iv.low || threshold > iv.high {
                Verdict::Pass
            } else if iv.low == threshold && iv.high == threshold {
                Verdict::Fail
            } else {
                Verdict::Inconclusive
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::expect::Op;

    #[test]
    fn rule_of_three() {
        let iv = proportion(0, 300);
        assert!(
            (iv.high - (1.0 - 0.05f64.powf(1.0 / 300.0))).abs() < 1e-9,
            "{iv:?}"
        );
        assert!(iv.high < 0.01);
        assert_eq!(judge(iv, Op::Le, 0.01), Verdict::Pass);
        assert_eq!(
            judge(proportion(0, 100), Op::Le, 0.01),
            Verdict::Inconclusive
        );
        assert_eq!(judge(proportion(50, 100), Op::Le, 0.01), Verdict::Fail);
    }

    #[test]
    fn clopper_pearson_matches_known_values() {
        // k = 5, n = 20: one-sided 95% bounds 0.1041 and 0.4556 (exact binomial).
        let iv = proportion(5, 20);
        assert!((iv.low - 0.1041).abs() < 5e-4, "{iv:?}");
        assert!((iv.high - 0.4556).abs() < 5e-4, "{iv:?}");
        let all = proportion(20, 20);
        assert_eq!(all.high, 1.0);
        assert!((all.low - 0.05f64.powf(1.0 / 20.0)).abs() < 1e-9);
    }

    #[test]
    fn quantile_bounds_bracket_the_estimate() {
        let values: Vec<f64> = (1..=1000).map(f64::from).collect();
        let iv = quantile(&values, 0.9);
        assert_eq!(iv.estimate, 900.0);
        assert!(
            iv.low < 900.0 && iv.high > 900.0 && iv.low > 880.0 && iv.high < 920.0,
            "{iv:?}"
        );
        let few = quantile(&values[..5], 0.9);
        assert_eq!(few.high, f64::INFINITY);
    }
}
