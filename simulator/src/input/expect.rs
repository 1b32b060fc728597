//! Expectations: what a release must show in simulation, e.g.
//! `"nominal: P(outcome == completed) >= 95%"`, `"nominal: p90(time_to_full) <= 10d"`,
//! `"latent crash loop on esp32s3: P(affected > 0.2%) <= 1%"`, `"*: P(bricked > 0) <= 5%"`.
//!
//! In: the strings of a release file's `expect` list. Out: parsed `Expectation`s. Forms: `SCENARIO:` (a
//! scenario's name, or `*` for every scenario), then `P(EVENT) OP AMOUNT` (a probability over trials,
//! AMOUNT a percentage or fraction), `pNN(METRIC) OP AMOUNT` (a quantile of a per-trial metric) or
//! `mean(METRIC) OP AMOUNT`. An EVENT is `outcome == completed|aborted|timed_out|aborted at RING` (or
//! `!=`) or `METRIC OP AMOUNT`. Count metrics (`exposed`, `affected`, `bricked`, `rolled_back`, `failed`,
//! `succeeded`, `denied`, `offline`) compare with counts, or with a percentage of the fleet; time
//! metrics (`time_to_full`, `time_to_abort`, `duration`) with durations like `10d` or `36h`.

use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "input/expect.pest"]
struct ExpectParser;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    fn parse(s: &str) -> Op {
        match s {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            _ => Op::Ne,
        }
    }
}

/// A per-trial number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    TimeToFull,
    TimeToAbort,
    Duration,
    Exposed,
    Affected,
    Bricked,
    RolledBack,
    Failed,
    Succeeded,
    Denied,
    Offline,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::TimeToFull,
        Metric::TimeToAbort,
        Metric::Duration,
        Metric::Exposed,
        Metric::Affected,
        Metric::Bricked,
        Metric::RolledBack,
        Metric::Failed,
        Metric::Succeeded,
        Metric::Denied,
        Metric::Offline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::TimeToFull => "time_to_full",
            Metric::TimeToAbort => "time_to_abort",
            Metric::Duration => "duration",
            Metric::Exposed => "exposed",
            Metric::Affected => "affected",
            Metric::Bricked => "bricked",
            Metric::RolledBack => "rolled_back",
            Metric::Failed => "failed",
            Metric::Succeeded => "succeeded",
            Metric::Denied => "denied",
            Metric::Offline => "offline",
        }
    }

    pub fn is_time(self) -> bool {
        matches!(
            self,
            Metric::TimeToFull | Metric::TimeToAbort | Metric::Duration
        )
    }

    fn from_name(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// A number as written: a count, a fraction (written as a percentage), or seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    Number(f64),
    /// `2%` is `Fraction(0.02)`.
    Fraction(f64),
    Seconds(f64),
}

impl Amount {
    /// The value to compare a metric with, given the fleet size for percentages of count metrics.
    pub fn resolve(self, fleet: u64) -> f64 {
        match self {
            Amount::Number(x) | Amount::Seconds(x) => x,
            Amount::Fraction(f) => f * fleet as f64,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Completed,
    Aborted,
    TimedOut,
    AbortedAt(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Outcome {
        negated: bool,
        outcome: Outcome,
    },
    Metric {
        metric: Metric,
        op: Op,
        amount: Amount,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// `P(event) op p`.
    Probability { event: Event, op: Op, p: f64 },
    /// `pNN(metric) op amount` (`q` in (0, 1)).
    Quantile {
        q: f64,
        metric: Metric,
        op: Op,
        amount: Amount,
    },
    Mean {
        metric: Metric,
        op: Op,
        amount: Amount,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// As written.
    pub text: String,
    /// `None` for `*`.
    pub scenario: Option<String>,
    pub claim: Claim,
}

fn amount(s: &str) -> Result<Amount, String> {
    let clean = s.replace('_', "");
    if let Some(p) = clean.strip_suffix('%') {
        return p
            .parse::<f64>()
            .map(|x| Amount::Fraction(x / 100.0))
            .map_err(|_| format!("`{s}` is not a percentage"));
    }
    if clean.ends_with(['d', 'h', 'm', 's']) {
        return super::parse_duration(&clean)
            .map(|x| Amount::Seconds(x as f64))
            .ok_or_else(|| format!("`{s}` is not a duration"));
    }
    clean
        .parse::<f64>()
        .map(Amount::Number)
        .map_err(|_| format!("`{s}` is not a number"))
}

/// Parses one expectation; the error says what is wrong, in words.
pub fn parse(text: &str) -> Result<Expectation, String> {
    let mut pairs = ExpectParser::parse(Rule::expectation, text).map_err(|e| {
        let col = match e.line_col {
            pest::error::LineColLocation::Pos((_, c))
            | pest::error::LineColLocation::Span((_, c), _) => c,
        };
        format!("cannot read expectation at character {col}")
    })?;
    let root = pairs.next().ok_or("empty expectation")?;
    let mut it = root.into_inner();
    let scenario = it
        .next()
        .ok_or("missing scenario")?
        .as_str()
        .trim()
        .to_string();
    let claim_pair = it.next().ok_or("missing claim")?;
    let check_metric_amount = |metric: Metric, a: Amount| -> Result<(), String> {
        match (metric.is_time(), a) {
            (true, Amount::Seconds(_)) | (false, Amount::Number(_) | Amount::Fraction(_)) => Ok(()),
            (true, Amount::Number(0.0)) => Ok(()),
            (true, _) => Err(format!(
                "`{}` is a time: compare it with a duration like `10d`",
                metric.name()
            )),
            (false, Amount::Seconds(_)) => Err(format!(
                "`{}` is a count: compare it with a number or a percentage of the fleet",
                metric.name()
            )),
        }
    };
    let claim = match claim_pair.as_rule() {
        Rule::probability => {
            let mut c = claim_pair.into_inner();
            let ev = c.next().ok_or("missing event")?;
            let event = match ev.as_rule() {
                Rule::outcome_event => {
                    let mut e = ev.into_inner();
                    let negated = e.next().ok_or("missing operator")?.as_str() == "!=";
                    let o = e.next().ok_or("missing outcome")?;
                    let outcome = match o.as_str() {
                        "completed" => Outcome::Completed,
                        "aborted" => Outcome::Aborted,
                        "timed_out" => Outcome::TimedOut,
                        _ => Outcome::AbortedAt(
                            o.into_inner()
                                .next()
                                .and_then(|a| a.into_inner().next())
                                .map(|r| r.as_str().to_string())
                                .unwrap_or_default(),
                        ),
                    };
                    Event::Outcome { negated, outcome }
                }
                _ => {
                    let mut e = ev.into_inner();
                    let metric = Metric::from_name(e.next().ok_or("missing metric")?.as_str())
                        .ok_or("unknown metric")?;
                    let op = Op::parse(e.next().ok_or("missing operator")?.as_str());
                    let a = amount(e.next().ok_or("missing amount")?.as_str())?;
                    check_metric_amount(metric, a)?;
                    Event::Metric {
                        metric,
                        op,
                        amount: a,
                    }
                }
            };
            let op = Op::parse(c.next().ok_or("missing operator")?.as_str());
            let p = match amount(c.next().ok_or("missing probability")?.as_str())? {
                Amount::Fraction(f) => f,
                Amount::Number(x) => x,
                Amount::Seconds(_) => {
                    return Err(
                        "a probability is a percentage like `95%` or a fraction like `0.95`".into(),
                    );
                }
            };
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("probability {p} is not between 0 and 1"));
            }
            Claim::Probability { event, op, p }
        }
        _ => {
            let mut c = claim_pair.into_inner();
            let stat = c.next().ok_or("missing statistic")?.as_str().to_string();
            let metric = Metric::from_name(c.next().ok_or("missing metric")?.as_str())
                .ok_or("unknown metric")?;
            let op = Op::parse(c.next().ok_or("missing operator")?.as_str());
            let a = amount(c.next().ok_or("missing amount")?.as_str())?;
            check_metric_amount(metric, a)?;
            if stat == "mean" {
                Claim::Mean {
                    metric,
                    op,
                    amount: a,
                }
            } else {
                let n: f64 = stat[1..]
                    .parse()
                    .map_err(|_| format!("`{stat}` is not a quantile like p90"))?;
                if !(n > 0.0 && n < 100.0) {
                    return Err(format!("`{stat}` is not a quantile between p1 and p99"));
                }
                Claim::Quantile {
                    q: n / 100.0,
                    metric,
                    op,
                    amount: a,
                }
            }
        }
    };
    Ok(Expectation {
        text: text.to_string(),
        scenario: (scenario != "*").then_some(scenario),
        claim,
    })
}
