//! Distributions of field values, as a fleet model writes them, and how they are sampled.
//!
//! In: one TOML value and the type of the field it describes. Out: a `FieldDist` that samples slot bits
//! (or a missing value) from a random stream, or an `InputError`. Forms:
//! - a constant: `"esp32c3"`, `"v1.3.0"`, `"15m"`, `"80%"`, `42`, `0.8`, `true`;
//! - one distribution from `rand_distr`: `{ normal = [mean, sd] }`, `{ lognormal = [mu, sigma] }`,
//!   `{ beta = [a, b] }`, `{ gamma = [shape, scale] }`, `{ exponential = rate }`, `{ poisson = mean }`,
//!   `{ uniform = [low, high] }`, `{ bernoulli = p }` (bool fields);
//! - a weighted choice: `{ eu_west = 0.3, us_east = 0.7 }` (keys are variants, versions, `true`/`false`
//!   or numbers; weights need not sum to 1);
//! - modifiers in the same table: `min`, `max` (clamp), `missing` (probability that an optional field is
//!   missing), `dynamic = true` (redrawn at every evaluation instead of once per device), and `value`
//!   for a constant with modifiers.
//!
//! Integers and durations round continuous samples to the nearest whole number; percentages clamp to
//! [0, 1].

use std::ops::Range;

use rand::{Rng, RngExt};
use rand_distr::{Bernoulli, Beta, Distribution, Exp, LogNormal, Normal, Poisson, Uniform};
use toml::Spanned;

use super::normal::{self, FastGamma};
use super::{FileKind, InputError, parse_duration, parse_version};
use crate::schema::FieldType;

/// A sampler for one value.
#[derive(Clone, Debug)]
pub enum Dist {
    Const(u64),
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
    Beta(Beta<f64>),
    /// Beta(a, b) for shapes of at least 1, drawn as X / (X + Y) with X ~ Gamma(a) and Y ~ Gamma(b):
    /// `rand_distr`'s Gamma (Marsaglia and Tsang) takes a logarithm in about 2% of its draws, where
    /// its Beta (Cheng's BB) takes an exponential and logarithms (portable, slow `libm` ones) in every
    /// draw. A battery level drawn at every check-in made those a twelfth of a trial's time.
    BetaRatio(FastGamma, FastGamma),
    Gamma(FastGamma),
    Exp(Exp<f64>),
    /// The distribution and its mean.
    Poisson(Poisson<f64>, f64),
    Uniform(Uniform<f64>),
    Bernoulli(Bernoulli),
    /// Values (slot bits) and their cumulative weights, the last being the total.
    Choice(Vec<u64>, Vec<f64>),
}

/// A draw as its distribution gives it.
enum Raw {
    /// A constant's slot bits.
    Bits(u64),
    /// A weighted choice's slot bits.
    Choice(u64),
    Bool(bool),
    Number(f64),
}

/// How a sampled number becomes slot bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encode {
    Int,
    Float,
    Percent,
    /// Slot bits drawn directly (constants, choices, booleans).
    Bits,
}

#[derive(Clone, Debug)]
pub struct FieldDist {
    pub dist: Dist,
    pub encode: Encode,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Probability that the value is missing.
    pub missing: f64,
    /// Redrawn at every evaluation.
    pub dynamic: bool,
}

impl FieldDist {
    pub fn constant(bits: u64) -> FieldDist {
        FieldDist {
            dist: Dist::Const(bits),
            encode: Encode::Bits,
            min: None,
            max: None,
            missing: 0.0,
            dynamic: false,
        }
    }

    /// One draw, before clamping and encoding. `sample_f64` and `sample` match on its result right
    /// after it is made: once inlined, each draw dispatches on the distribution once.
    #[inline(always)]
    fn raw(&self, rng: &mut impl Rng) -> Raw {
        match &self.dist {
            Dist::Const(bits) => Raw::Bits(*bits),
            Dist::Choice(values, cumulative) => Raw::Choice(choose(values, cumulative, rng)),
            Dist::Bernoulli(d) => Raw::Bool(d.sample(rng)),
            Dist::Normal(d) => Raw::Number(d.from_zscore(normal::standard(rng))),
            Dist::LogNormal(d) => Raw::Number(d.from_zscore(normal::standard(rng))),
            Dist::Beta(d) => Raw::Number(d.sample(rng)),
            Dist::BetaRatio(x, y) => {
                let x = x.sample(rng);
                Raw::Number(x / (x + y.sample(rng)))
            }
            Dist::Gamma(d) => Raw::Number(d.sample(rng)),
            Dist::Exp(d) => Raw::Number(d.sample(rng)),
            Dist::Poisson(d, _) => Raw::Number(d.sample(rng)),
            Dist::Uniform(d) => Raw::Number(d.sample(rng)),
        }
    }

    #[inline(always)]
    fn clamp(&self, x: f64) -> f64 {
        let x = self.min.map_or(x, |m| x.max(m));
        self.max.map_or(x, |m| x.min(m))
    }

    /// A number drawn from the distribution (before encoding), for numeric distributions.
    #[inline(always)]
    pub fn sample_f64(&self, rng: &mut impl Rng) -> f64 {
        match self.raw(rng) {
            Raw::Bits(bits) => f64::from_bits(bits),
            Raw::Choice(bits) => match self.encode {
                Encode::Int => bits as i64 as f64,
                _ => f64::from_bits(bits),
            },
            Raw::Bool(b) => self.clamp(f64::from(u8::from(b))),
            Raw::Number(x) => self.clamp(x),
        }
    }

    /// The value every `sample` gives without drawing from the stream, if there is one: `None` for a
    /// field always missing, the bits of a constant never missing.
    pub fn without_drawing(&self) -> Option<Option<u64>> {
        match self.dist {
            _ if self.missing >= 1.0 => Some(None),
            Dist::Const(bits) if self.missing <= 0.0 => Some(Some(bits)),
            _ => None,
        }
    }

    /// One value as slot bits, or `None` when it comes out missing.
    #[inline(always)]
    pub fn sample(&self, rng: &mut impl Rng) -> Option<u64> {
        // A field that is always missing (a class that never reports it) draws nothing.
        if self.missing > 0.0 && (self.missing >= 1.0 || rng.random::<f64>() < self.missing) {
            return None;
        }
        Some(match self.raw(rng) {
            Raw::Bits(bits) | Raw::Choice(bits) => bits,
            Raw::Bool(b) => u64::from(b),
            Raw::Number(x) => {
                let x = self.clamp(x);
                match self.encode {
                    Encode::Int => round_to_i64(x) as u64,
                    Encode::Percent => x.clamp(0.0, 1.0).to_bits(),
                    Encode::Float | Encode::Bits => x.to_bits(),
                }
            }
        })
    }
}

/// A field's distribution made ready for drawing over and over (a dynamic field, at every record): the
/// usual forms with their options settled in advance, so that a draw dispatches once instead of on the
/// distribution, the missing probability, the clamps and the encoding in turn. It draws exactly what
/// `FieldDist::sample` draws, bit for bit (`tests::samplers_draw_as_their_distributions`).
#[derive(Clone, Debug)]
pub enum Sampler {
    /// A normal float, never missing nor clamped.
    NormalFloat(Normal<f64>),
    /// A Poisson integer of a mean below 12, never missing nor clamped: `rand_distr`'s method for
    /// such means (Knuth's: multiply uniforms until the product is at most `exp(-mean)`, given here),
    /// counting in an integer rather than in a float to be rounded.
    PoissonKnuth(f64),
    /// A Poisson integer of a larger mean, never missing nor clamped.
    PoissonInt(Poisson<f64>),
    /// A beta percentage (drawn from two gammas), never missing nor clamped.
    BetaRatioPercent(FastGamma, FastGamma),
    /// A weighted choice, never missing.
    Choice(Vec<u64>, Vec<f64>),
    /// A boolean, never missing.
    Bernoulli(Bernoulli),
    /// Any other form: `FieldDist::sample`.
    General(FieldDist),
}

impl FieldDist {
    /// The sampler that draws as this distribution does.
    pub fn sampler(&self) -> Sampler {
        let plain = self.missing <= 0.0 && self.min.is_none() && self.max.is_none();
        match (&self.dist, self.encode) {
            (Dist::Normal(d), Encode::Float) if plain => Sampler::NormalFloat(*d),
            // `Poisson::new`'s choice of method, and its `exp(-mean)` (`num_traits::Float::exp`).
            (Dist::Poisson(_, mean), Encode::Int) if plain && *mean < 12.0 => {
                Sampler::PoissonKnuth(rand_distr::num_traits::Float::exp(-*mean))
            }
            (Dist::Poisson(d, _), Encode::Int) if plain => Sampler::PoissonInt(*d),
            (Dist::BetaRatio(x, y), Encode::Percent) if plain => Sampler::BetaRatioPercent(*x, *y),
            (Dist::Choice(values, cumulative), _) if self.missing <= 0.0 => {
                Sampler::Choice(values.clone(), cumulative.clone())
            }
            (Dist::Bernoulli(d), _) if self.missing <= 0.0 => Sampler::Bernoulli(*d),
            _ => Sampler::General(self.clone()),
        }
    }
}

impl Sampler {
    /// One value as slot bits, or `None` when it comes out missing: `FieldDist::sample`.
    #[inline(always)]
    pub fn sample(&self, rng: &mut impl Rng) -> Option<u64> {
        Some(match self {
            Sampler::NormalFloat(d) => d.from_zscore(normal::standard(rng)).to_bits(),
            Sampler::PoissonKnuth(exp_mean) => {
                let mut k = 0;
                let mut p = rng.random::<f64>();
                while p > *exp_mean {
                    p *= rng.random::<f64>();
                    k += 1;
                }
                k
            }
            Sampler::PoissonInt(d) => round_to_i64(d.sample(rng)) as u64,
            Sampler::BetaRatioPercent(x, y) => {
                let x = x.sample(rng);
                (x / (x + y.sample(rng))).clamp(0.0, 1.0).to_bits()
            }
            Sampler::Choice(values, cumulative) => choose(values, cumulative, rng),
            Sampler::Bernoulli(d) => u64::from(d.sample(rng)),
            Sampler::General(d) => return d.sample(rng),
        })
    }
}

/// `x.round() as i64` (halves away from zero; `as` saturates: huge values clamp to the i64 range, NaN
/// becomes 0) without a call to the math library: `f64::round` is one on x86-64's baseline.
#[inline]
fn round_to_i64(x: f64) -> i64 {
    let i = x as i64;
    // Exact: `x` minus its integer part is representable (for |x| >= 2^52 it is 0).
    let frac = x - i as f64;
    if frac >= 0.5 {
        i.saturating_add(1)
    } else if frac <= -0.5 {
        i.saturating_sub(1)
    } else {
        i
    }
}

fn choose(values: &[u64], cumulative: &[f64], rng: &mut impl Rng) -> u64 {
    let total = cumulative.last().copied().unwrap_or(0.0);
    let x = rng.random::<f64>() * total;
    let i = cumulative
        .partition_point(|&c| c <= x)
        .min(values.len().saturating_sub(1));
    values.get(i).copied().unwrap_or(0)
}

const DIST_KEYS: &[&str] = &[
    "normal",
    "lognormal",
    "beta",
    "gamma",
    "exponential",
    "poisson",
    "uniform",
    "bernoulli",
    "value",
];
const MODIFIERS: &[&str] = &["min", "max", "missing", "dynamic"];

/// Parses a field's distribution. `field` names it in messages; `optional` says whether `missing` may
/// be given.
pub struct Parser {
    pub file: FileKind,
}

fn number(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn pair(v: &toml::Value) -> Option<(f64, f64)> {
    let a = v.as_array()?;
    match a.as_slice() {
        [x, y] => Some((number(x)?, number(y)?)),
        _ => None,
    }
}

impl Parser {
    fn err(&self, span: &Range<usize>, message: impl Into<String>) -> InputError {
        InputError::new(
            self.file,
            span.clone(),
            "fleetgate::sim::invalid_distribution",
            message,
        )
    }

    /// A constant of the field's type from a TOML scalar (or a choice key).
    pub fn constant(
        &self,
        field: &str,
        ty: &FieldType,
        v: &toml::Value,
        span: &Range<usize>,
    ) -> Result<u64, InputError> {
        let bad = |what: &str| {
            self.err(
                span,
                format!("`{field}` is `{}`, so its value must be {what}", ty.name()),
            )
        };
        match ty {
            FieldType::Bool => match v {
                toml::Value::Boolean(b) => Ok(u64::from(*b)),
                toml::Value::String(s) if s == "true" || s == "false" => Ok(u64::from(s == "true")),
                _ => Err(bad("`true` or `false`")),
            },
            FieldType::Int => match v {
                toml::Value::Integer(i) => Ok(*i as u64),
                toml::Value::String(s) => s
                    .replace('_', "")
                    .parse::<i64>()
                    .map(|i| i as u64)
                    .map_err(|_| bad("an integer")),
                _ => Err(bad("an integer")),
            },
            FieldType::Float => match v {
                toml::Value::String(s) => s
                    .parse::<f64>()
                    .map(f64::to_bits)
                    .map_err(|_| bad("a number")),
                _ => number(v).map(f64::to_bits).ok_or_else(|| bad("a number")),
            },
            FieldType::Percent => {
                let x = match v {
                    toml::Value::String(s) if s.ends_with('%') => s
                        .trim_end_matches('%')
                        .parse::<f64>()
                        .ok()
                        .map(|x| x / 100.0),
                    toml::Value::String(s) => s.parse::<f64>().ok(),
                    _ => number(v),
                };
                match x {
                    Some(x) if (0.0..=1.0).contains(&x) => Ok(x.to_bits()),
                    Some(_) => Err(bad("between 0 and 1 (or 0% and 100%)")),
                    None => Err(bad("a fraction like 0.8 or a percentage like \"80%\"")),
                }
            }
            FieldType::Duration => match v {
                toml::Value::Integer(i) => Ok(*i as u64),
                toml::Value::String(s) => parse_duration(s)
                    .map(|x| x as u64)
                    .ok_or_else(|| bad("a duration like \"15m\" or whole seconds")),
                _ => Err(bad("a duration like \"15m\" or whole seconds")),
            },
            FieldType::Version => match v {
                toml::Value::String(s) => parse_version(s)
                    .ok_or_else(|| bad("a version like \"v1.4.0\" (components up to 65535)")),
                _ => Err(bad("a version like \"v1.4.0\"")),
            },
            FieldType::Enum(name, variants) => match v {
                toml::Value::String(s) => match variants.iter().position(|x| x == s) {
                    Some(i) => Ok(i as u64),
                    None => {
                        let mut e = self.err(span, format!("`{s}` is not a `{name}`"));
                        e.help = Some(
                            match super::suggest(s, variants.iter().map(String::as_str)) {
                                Some(sug) => format!("did you mean `{sug}`?"),
                                None => format!("`{name}` has {}", variants.join(", ")),
                            },
                        );
                        Err(e)
                    }
                },
                _ => Err(bad(&format!("a `{name}` variant as a string"))),
            },
        }
    }

    /// A distribution for a field of type `ty`.
    pub fn field(
        &self,
        field: &str,
        ty: &FieldType,
        optional: bool,
        spec: &Spanned<toml::Value>,
    ) -> Result<FieldDist, InputError> {
        let span = spec.span();
        let encode = match ty {
            FieldType::Int | FieldType::Duration => Encode::Int,
            FieldType::Float => Encode::Float,
            FieldType::Percent => Encode::Percent,
            _ => Encode::Bits,
        };
        let table = match spec.get_ref() {
            toml::Value::Table(t) => t,
            scalar => {
                let bits = self.constant(field, ty, scalar, &span)?;
                return Ok(FieldDist::constant(bits));
            }
        };
        let mut out = FieldDist {
            dist: Dist::Const(0),
            encode,
            min: None,
            max: None,
            missing: 0.0,
            dynamic: false,
        };
        let mut dist: Option<Dist> = None;
        let mut choices: Vec<(u64, f64)> = Vec::new();
        for (key, v) in table {
            match key.as_str() {
                "min" | "max" => {
                    let Some(x) = number(v) else {
                        return Err(self.err(&span, format!("`{key}` must be a number")));
                    };
                    if !ty.is_numeric() {
                        return Err(self.err(
                            &span,
                            format!(
                                "`{key}` applies to numeric fields, and `{field}` is `{}`",
                                ty.name()
                            ),
                        ));
                    }
                    if key == "min" {
                        out.min = Some(x)
                    } else {
                        out.max = Some(x)
                    }
                }
                "missing" => {
                    let p = number(v).filter(|p| (0.0..=1.0).contains(p));
                    let Some(p) = p else {
                        return Err(self.err(&span, "`missing` is a probability between 0 and 1"));
                    };
                    if !optional && p > 0.0 {
                        return Err(self.err(&span, format!("`{field}` is not optional in the schema, so it cannot be missing"))
                            .help(format!("declare it `{field}: {}?` in the package, or drop `missing`", ty.name())));
                    }
                    out.missing = p;
                }
                "dynamic" => {
                    out.dynamic = v
                        .as_bool()
                        .ok_or_else(|| self.err(&span, "`dynamic` is `true` or `false`"))?;
                }
                k if DIST_KEYS.contains(&k) => {
                    if dist.is_some() {
                        return Err(self
                            .err(&span, "give one distribution per field")
                            .help("remove all but one of the distribution keys"));
                    }
                    dist = Some(self.distribution(field, ty, k, v, &span)?);
                }
                k => {
                    let w = number(v)
                        .filter(|w| *w >= 0.0 && w.is_finite())
                        .ok_or_else(|| {
                            self.err(
                                &span,
                                format!("the weight of `{k}` must be a non-negative number"),
                            )
                            .help(format!(
                                "a table maps values to weights, or holds one of {}",
                                DIST_KEYS
                                    .iter()
                                    .chain(MODIFIERS)
                                    .map(|d| format!("`{d}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        })?;
                    let value =
                        self.constant(field, ty, &toml::Value::String(k.to_string()), &span)?;
                    choices.push((value, w));
                }
            }
        }
        match (dist, choices.is_empty()) {
            (Some(_), false) => Err(self.err(&span, "mix of a distribution and weighted values").help("give either one distribution or a table of weights")),
            (Some(d), true) => {
                out.dist = d;
                if matches!(out.dist, Dist::Const(_) | Dist::Bernoulli(_)) {
                    out.encode = Encode::Bits;
                }
                Ok(out)
            }
            (None, false) => {
                let total: f64 = choices.iter().map(|c| c.1).sum();
                if total <= 0.0 {
                    return Err(self.err(&span, "the weights add up to zero"));
                }
                let mut acc = 0.0;
                let (values, cumulative) = choices
                    .into_iter()
                    .map(|(v, w)| {
                        acc += w;
                        (v, acc)
                    })
                    .unzip();
                out.dist = Dist::Choice(values, cumulative);
                out.encode = Encode::Bits;
                Ok(out)
            }
            (None, true) => Err(self.err(&span, format!("no distribution for `{field}`")).help("give a value, a distribution like `{ normal = [110.0, 25.0] }`, or weighted values")),
        }
    }

    fn distribution(
        &self,
        field: &str,
        ty: &FieldType,
        key: &str,
        v: &toml::Value,
        span: &Range<usize>,
    ) -> Result<Dist, InputError> {
        if key == "value" {
            return Ok(Dist::Const(self.constant(field, ty, v, span)?));
        }
        if key == "bernoulli" {
            if *ty != FieldType::Bool {
                return Err(self.err(
                    span,
                    format!(
                        "`bernoulli` gives booleans, and `{field}` is `{}`",
                        ty.name()
                    ),
                ));
            }
            let p = number(v).ok_or_else(|| self.err(span, "`bernoulli` takes a probability"))?;
            return Bernoulli::new(p)
                .map(Dist::Bernoulli)
                .map_err(|_| self.err(span, "`bernoulli` takes a probability between 0 and 1"));
        }
        if !ty.is_numeric() {
            return Err(self
                .err(
                    span,
                    format!("`{key}` gives numbers, and `{field}` is `{}`", ty.name()),
                )
                .help("give a value or a table of weighted values"));
        }
        self.numeric(key, v, span)
    }

    /// A numeric distribution (also used for bandwidths and partition durations).
    pub fn numeric(
        &self,
        key: &str,
        v: &toml::Value,
        span: &Range<usize>,
    ) -> Result<Dist, InputError> {
        let two = |name: &str| {
            pair(v).ok_or_else(|| {
                self.err(
                    span,
                    format!("`{name}` takes two numbers: `{name} = [a, b]`"),
                )
            })
        };
        let one = |name: &str| {
            number(v).ok_or_else(|| self.err(span, format!("`{name}` takes one number")))
        };
        let invalid = |what: &str| self.err(span, format!("invalid `{key}` parameters: {what}"));
        Ok(match key {
            "normal" => {
                let (m, s) = two(key)?;
                if s.is_nan() || s < 0.0 {
                    return Err(invalid("the standard deviation must not be negative"));
                }
                Dist::Normal(Normal::new(m, s).map_err(|_| {
                    invalid("the standard deviation must be finite and not negative")
                })?)
            }
            "lognormal" => {
                let (m, s) = two(key)?;
                if s.is_nan() || s < 0.0 {
                    return Err(invalid("sigma must not be negative"));
                }
                Dist::LogNormal(
                    LogNormal::new(m, s)
                        .map_err(|_| invalid("sigma must be finite and not negative"))?,
                )
            }
            "beta" => {
                let (a, b) = two(key)?;
                let beta = Beta::new(a, b).map_err(|_| invalid("both shapes must be positive"))?;
                match (FastGamma::new(a, 1.0), FastGamma::new(b, 1.0)) {
                    (Ok(x), Ok(y)) if a >= 1.0 && b >= 1.0 && a.is_finite() && b.is_finite() => {
                        Dist::BetaRatio(x, y)
                    }
                    _ => Dist::Beta(beta),
                }
            }
            "gamma" => {
                let (k, t) = two(key)?;
                Dist::Gamma(
                    FastGamma::new(k, t)
                        .map_err(|_| invalid("shape and scale must be positive"))?,
                )
            }
            "exponential" => {
                Dist::Exp(Exp::new(one(key)?).map_err(|_| invalid("the rate must be positive"))?)
            }
            "poisson" => {
                let mean = one(key)?;
                let d = Poisson::new(mean).map_err(|_| invalid("the mean must be positive"))?;
                Dist::Poisson(d, mean)
            }
            "uniform" => {
                let (a, b) = two(key)?;
                if a.is_nan() || b.is_nan() || a >= b {
                    return Err(invalid("the low end must be below the high end"));
                }
                Dist::Uniform(Uniform::new(a, b).map_err(|_| invalid("the ends must be finite"))?)
            }
            other => return Err(self.err(span, format!("unknown distribution `{other}`"))),
        })
    }

    /// A positive quantity given as a constant or a numeric distribution (bandwidth, durations).
    pub fn quantity(
        &self,
        what: &str,
        spec: &Spanned<toml::Value>,
        as_duration: bool,
    ) -> Result<FieldDist, InputError> {
        let span = spec.span();
        let mut out = FieldDist {
            dist: Dist::Const(0),
            encode: Encode::Float,
            min: Some(0.0),
            max: None,
            missing: 0.0,
            dynamic: true,
        };
        match spec.get_ref() {
            toml::Value::String(s) if as_duration => match parse_duration(s) {
                Some(secs) => out.dist = Dist::Const((secs as f64).to_bits()),
                None => {
                    return Err(
                        self.err(&span, format!("`{what}` must be a duration like \"15m\""))
                    );
                }
            },
            toml::Value::Table(t) => {
                let mut found = None;
                for (k, v) in t {
                    match k.as_str() {
                        "min" => out.min = number(v),
                        "max" => out.max = number(v),
                        k => {
                            if found.is_some() {
                                return Err(
                                    self.err(&span, format!("`{what}` takes one distribution"))
                                );
                            }
                            found = Some(self.numeric(k, v, &span)?);
                        }
                    }
                }
                out.dist = found
                    .ok_or_else(|| self.err(&span, format!("no distribution for `{what}`")))?;
            }
            v => match number(v) {
                Some(x) if x > 0.0 => out.dist = Dist::Const(x.to_bits()),
                _ => {
                    return Err(self.err(
                        &span,
                        format!("`{what}` must be a positive number or a distribution"),
                    ));
                }
            },
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{Dist, round_to_i64};

    /// The beta distribution's CDF for whole shapes: X ~ Beta(a, b) is at most x exactly when at
    /// least a of a + b - 1 uniforms are (order statistics).
    fn beta_cdf(a: u32, b: u32, x: f64) -> f64 {
        let n = a + b - 1;
        let mut choose = 1.0;
        let mut sum = 0.0;
        for j in 0..=n {
            if j >= a {
                sum += choose * x.powi(j as i32) * (1.0 - x).powi((n - j) as i32);
            }
            choose = choose * f64::from(n - j) / f64::from(j + 1);
        }
        sum
    }

    #[test]
    fn beta_draws_follow_the_beta_distribution() {
        let parser = super::Parser {
            file: super::FileKind::Fleet,
        };
        let span = 0..0;
        for (a, b) in [(6, 2), (1, 1), (2, 5), (1, 3), (12, 12)] {
            let spec = toml::Value::Array(vec![f64::from(a).into(), f64::from(b).into()]);
            let dist = parser.numeric("beta", &spec, &span).expect("valid shapes");
            assert!(matches!(dist, Dist::BetaRatio(..)), "beta = [{a}, {b}]");
            let field = super::FieldDist {
                dist,
                ..super::FieldDist::constant(0)
            };
            let mut rng = crate::rng::Stream(a as u64 * 1000 + b as u64);
            let n = 100_000;
            let mut xs: Vec<f64> = (0..n).map(|_| field.sample_f64(&mut rng)).collect();
            xs.sort_by(f64::total_cmp);
            // Kolmogorov-Smirnov against the exact CDF; 1.95 / sqrt(n) is its 0.1% critical value.
            let d = xs
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    let f = beta_cdf(a, b, x);
                    (f - i as f64 / n as f64)
                        .abs()
                        .max((f - (i + 1) as f64 / n as f64).abs())
                })
                .fold(0.0, f64::max);
            assert!(d < 1.95 / (n as f64).sqrt(), "beta = [{a}, {b}]: D = {d}");
            assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
        }
        // Small shapes keep Cheng's algorithm (a gamma below 1 can underflow to 0).
        let spec = toml::Value::Array(vec![0.5.into(), 2.0.into()]);
        let dist = parser.numeric("beta", &spec, &span).expect("valid shapes");
        assert!(matches!(dist, Dist::Beta(_)));
    }

    #[test]
    fn samplers_draw_as_their_distributions() {
        use crate::schema::FieldType;
        #[derive(serde::Deserialize)]
        struct Spec {
            x: toml::Spanned<toml::Value>,
        }
        let parser = super::Parser {
            file: super::FileKind::Fleet,
        };
        let phase = FieldType::Enum(
            "phase".into(),
            ["idle", "active", "critical"].map(String::from).to_vec(),
        );
        // (type, distribution, whether it has a sampler of its own)
        let cases = [
            (
                FieldType::Float,
                "{ normal = [45.0, 8.0], dynamic = true }",
                true,
            ),
            (FieldType::Int, "{ poisson = 0.05, dynamic = true }", true),
            (FieldType::Int, "{ poisson = 11.5 }", true),
            (FieldType::Int, "{ poisson = 12.0 }", true),
            (FieldType::Int, "{ poisson = 30.0 }", true),
            (FieldType::Percent, "{ beta = [6.0, 2.0] }", true),
            (
                phase.clone(),
                "{ idle = 0.85, active = 0.12, critical = 0.03 }",
                true,
            ),
            (
                FieldType::Bool,
                "{ \"true\" = 0.999, \"false\" = 0.001 }",
                true,
            ),
            (FieldType::Bool, "{ bernoulli = 0.25 }", true),
            // Clamped, missing, or encoded otherwise: the general path.
            (
                FieldType::Float,
                "{ normal = [120.0, 25.0], min = 20.0 }",
                false,
            ),
            (
                FieldType::Float,
                "{ normal = [-66.0, 8.0], max = -30.0, missing = 0.02 }",
                false,
            ),
            (FieldType::Int, "{ normal = [3.0, 2.0] }", false),
            (FieldType::Int, "{ poisson = 2.0, missing = 0.5 }", false),
            (FieldType::Float, "{ beta = [6.0, 2.0] }", false),
            (
                FieldType::Percent,
                "{ beta = [6.0, 2.0], max = 0.9 }",
                false,
            ),
            (phase, "{ idle = 0.5, active = 0.5, missing = 0.1 }", false),
            (FieldType::Float, "{ uniform = [0.0, 1.0] }", false),
            (FieldType::Duration, "{ lognormal = [4.6, 0.7] }", false),
        ];
        for (k, (ty, spec, special)) in cases.into_iter().enumerate() {
            let spec: Spec = toml::from_str(&format!("x = {spec}")).expect("valid toml");
            let field = parser
                .field("x", &ty, true, &spec.x)
                .expect("a valid distribution");
            let sampler = field.sampler();
            assert_eq!(
                !matches!(sampler, super::Sampler::General(_)),
                special,
                "{spec:?}",
                spec = spec.x.get_ref()
            );
            let (mut a, mut b) = (crate::rng::Stream(k as u64), crate::rng::Stream(k as u64));
            for _ in 0..20_000 {
                assert_eq!(sampler.sample(&mut a), field.sample(&mut b));
            }
            assert_eq!(a, b, "the same draws from the stream");
        }
    }

    #[test]
    fn rounding_is_that_of_f64_round() {
        let mut rng = crate::rng::Stream(3);
        let edges = [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.499_999_999_999_999_94,
            -0.499_999_999_999_999_94,
            4_503_599_627_370_495.5,
            9.2e18,
            9.3e18,
            -9.3e18,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
        ];
        let random = (0..100_000).map(|_| {
            let u = rng.unit();
            (u - 0.5) * 10f64.powi((rng.next_u64() % 40) as i32 - 20)
        });
        let halves: Vec<f64> = (0..2000).map(|k| f64::from(k) / 2.0 - 500.0).collect();
        for x in edges.into_iter().chain(random).chain(halves) {
            assert_eq!(round_to_i64(x), x.round() as i64, "{x:e}");
        }
    }
}
