//! The release (`release.toml`): target versions and sizes per plane, the scenarios of what the release
//! really does to devices, and the expectations CI holds it to.
//!
//! In: the file's text, the package's `Schema` and the checked `Fleet` (for class names). Out: a checked
//! `Release`, or every error with its span. A plane the file does not mention is not touched by the
//! release. Without `[[scenario]]`, one scenario `nominal` with no effects is assumed.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::dist::Parser;
use super::expect::{self, Expectation};
use super::fleet::{FailureFile, Fleet};
use super::{FileKind, InputError, from_toml, parse_duration, parse_version, suggest};
use crate::schema::Schema;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// Packed version.
    pub version: u64,
    pub size_kb: f64,
}

/// Failure probabilities an effect imposes on the devices it hits (`None`: the class's own).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FailureOverride {
    pub download: Option<f64>,
    pub install: Option<f64>,
    pub boot: Option<f64>,
    pub power_loss: Option<f64>,
    pub brick_given_power_loss: Option<f64>,
}

/// What a latent defect does to the devices it hits while they run the release.
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    /// Only devices of this class (index into the fleet's classes); `None`: every class.
    pub class: Option<usize>,
    /// Chance that a device (of that class) is hit.
    pub probability: f64,
    /// Fields forced to a value in the records of hit devices (schema field index, slot bits).
    pub set: Vec<(usize, u64)>,
    /// Amounts added to numeric fields (schema field index, amount in the field's unit).
    pub add: Vec<(usize, f64)>,
    pub fail: FailureOverride,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub effects: Vec<Effect>,
}

#[derive(Clone, Debug)]
pub struct Release {
    pub name: String,
    /// Per plane.
    pub targets: Vec<Option<Target>>,
    /// Seconds a trial may run before it counts as timed out.
    pub horizon: f64,
    /// Seconds between two evaluations of the gates by the planner.
    pub gate_interval: f64,
    /// Default number of trials.
    pub trials: Option<u64>,
    pub scenarios: Vec<Scenario>,
    pub expectations: Vec<Expectation>,
}

#[derive(Deserialize)]
struct ReleaseFile {
    name: Spanned<String>,
    #[serde(default)]
    horizon: Option<Spanned<String>>,
    #[serde(default)]
    gate_interval: Option<Spanned<String>>,
    #[serde(default)]
    trials: Option<Spanned<u64>>,
    #[serde(default, rename = "scenario")]
    scenarios: Vec<Spanned<ScenarioFile>>,
    #[serde(default)]
    expect: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Spanned<String>,
    #[serde(default)]
    effects: Vec<Spanned<EffectFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EffectFile {
    #[serde(default)]
    class: Option<Spanned<String>>,
    probability: Spanned<f64>,
    #[serde(default)]
    set: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    add: BTreeMap<Spanned<String>, Spanned<f64>>,
    #[serde(default)]
    fail: Option<Spanned<FailureFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    version: String,
    size_kb: f64,
}

const KEYS: &[&str] = &[
    "name",
    "horizon",
    "gate_interval",
    "trials",
    "scenario",
    "expect",
];

pub fn parse(text: &str, schema: &Schema, fleet: &Fleet) -> Result<Release, Vec<InputError>> {
    parse_with(text, schema, Some(fleet))
}

/// Parses a release without a fleet model: classes named by scenario effects are not checked (and
/// their effects apply to no class). For `plan`, which needs only the targets.
pub fn parse_without_fleet(text: &str, schema: &Schema) -> Result<Release, Vec<InputError>> {
    parse_with(text, schema, None)
}

fn parse_with(
    text: &str,
    schema: &Schema,
    fleet: Option<&Fleet>,
) -> Result<Release, Vec<InputError>> {
    const F: FileKind = FileKind::Release;
    let top: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(text).map_err(|e| vec![from_toml(F, &e)])?;
    let file: ReleaseFile = toml::from_str(text).map_err(|e| vec![from_toml(F, &e)])?;
    let mut errors = Vec::new();
    let p = Parser { file: F };

    let mut targets = vec![None; schema.planes.len()];
    for (key, value) in &top {
        let k = key.get_ref().as_str();
        if KEYS.contains(&k) {
            continue;
        }
        let Some(plane) = schema.plane(k) else {
            let mut known: Vec<&str> = KEYS.to_vec();
            known.extend(schema.planes.iter().map(String::as_str));
            let mut e = InputError::new(
                F,
                key.span(),
                "fleetgate::sim::unknown_key",
                format!("unknown key `{k}`"),
            )
            .label("not a plane or a setting");
            e.help = Some(match suggest(k, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "a release sets {} and the planes {}",
                    KEYS.join(", "),
                    schema.planes.join(", ")
                ),
            });
            errors.push(e);
            continue;
        };
        let target: Result<TargetFile, _> = value.get_ref().clone().try_into();
        match target {
            Ok(t) => {
                let version = parse_version(&t.version);
                if version.is_none() {
                    errors.push(InputError::new(
                        F,
                        value.span(),
                        "fleetgate::sim::invalid_version",
                        format!("`{}` is not a version like \"v1.5.0\"", t.version),
                    ));
                }
                if !(t.size_kb > 0.0 && t.size_kb.is_finite()) {
                    errors.push(InputError::new(
                        F,
                        value.span(),
                        "fleetgate::sim::invalid_input",
                        "`size_kb` must be a positive number of kilobytes",
                    ));
                }
                if let Some(version) = version {
                    targets[plane] = Some(Target {
                        version,
                        size_kb: t.size_kb,
                    });
                }
            }
            Err(e) => errors.push(
                InputError::new(
                    F,
                    value.span(),
                    "fleetgate::sim::invalid_input",
                    format!("plane `{k}`: {}", e.message().to_lowercase()),
                )
                .help(format!(
                    "write `{k} = {{ version = \"v1.5.0\", size_kb = 1400 }}`"
                )),
            ),
        }
    }
    if targets.iter().all(Option::is_none) && errors.is_empty() {
        errors.push(
            InputError::new(
                F,
                file.name.span(),
                "fleetgate::sim::empty_release",
                "the release changes no plane",
            )
            .help(format!(
                "give a target for at least one plane: {}",
                schema
                    .planes
                    .iter()
                    .map(|p| format!("`{p} = {{ version = …, size_kb = … }}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }

    let duration = |v: &Option<Spanned<String>>,
                    default: f64,
                    what: &str,
                    errors: &mut Vec<InputError>| match v {
        None => default,
        Some(s) => match parse_duration(s.get_ref()) {
            Some(x) if x > 0 => x as f64,
            _ => {
                errors.push(InputError::new(
                    F,
                    s.span(),
                    "fleetgate::sim::invalid_input",
                    format!("`{what}` must be a duration like \"21d\""),
                ));
                default
            }
        },
    };
    let horizon = duration(&file.horizon, 21.0 * 86_400.0, "horizon", &mut errors);
    let gate_interval = duration(&file.gate_interval, 300.0, "gate_interval", &mut errors);

    let mut scenarios = Vec::new();
    for s in &file.scenarios {
        let s = s.get_ref();
        if scenarios
            .iter()
            .any(|x: &Scenario| x.name == *s.name.get_ref())
        {
            errors.push(InputError::new(
                F,
                s.name.span(),
                "fleetgate::sim::duplicate_name",
                format!("scenario `{}` is defined twice", s.name.get_ref()),
            ));
            continue;
        }
        if s.name.get_ref().contains(':')
            || s.name.get_ref().trim() == "*"
            || s.name.get_ref().trim().is_empty()
        {
            errors.push(InputError::new(
                F,
                s.name.span(),
                "fleetgate::sim::invalid_input",
                "a scenario's name must be non-empty, not `*`, and without `:`",
            ));
            continue;
        }
        let mut effects = Vec::new();
        for e in &s.effects {
            let e_span = e.span();
            let e = e.get_ref();
            let class = match (&e.class, fleet) {
                (None, _) | (Some(_), None) => None,
                (Some(c), Some(fleet)) => {
                    match fleet.classes.iter().position(|x| x.name == *c.get_ref()) {
                        Some(i) => Some(i),
                        None => {
                            let mut err = InputError::new(
                                F,
                                c.span(),
                                "fleetgate::sim::unknown_class",
                                format!("the fleet has no class `{}`", c.get_ref()),
                            );
                            err.help = Some(
                                match suggest(
                                    c.get_ref(),
                                    fleet.classes.iter().map(|x| x.name.as_str()),
                                ) {
                                    Some(s) => format!("did you mean `{s}`?"),
                                    None => format!(
                                        "the classes are {}",
                                        fleet
                                            .classes
                                            .iter()
                                            .map(|x| x.name.as_str())
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                },
                            );
                            errors.push(err);
                            continue;
                        }
                    }
                }
            };
            let probability = *e.probability.get_ref();
            if !(0.0..=1.0).contains(&probability) {
                errors.push(InputError::new(
                    F,
                    e.probability.span(),
                    "fleetgate::sim::probability_out_of_range",
                    format!("`probability` is {probability}, not between 0 and 1"),
                ));
            }
            let mut set = Vec::new();
            for (k, v) in &e.set {
                match schema.field(k.get_ref()) {
                    Some(i) => {
                        match p.constant(k.get_ref(), &schema.fields[i].ty, v.get_ref(), &v.span())
                        {
                            Ok(bits) => set.push((i, bits)),
                            Err(err) => errors.push(err),
                        }
                    }
                    None => errors.push(unknown_field(schema, k)),
                }
            }
            let mut add = Vec::new();
            for (k, v) in &e.add {
                match schema.field(k.get_ref()) {
                    Some(i) if schema.fields[i].ty.is_numeric() => add.push((i, *v.get_ref())),
                    Some(i) => errors.push(
                        InputError::new(
                            F,
                            k.span(),
                            "fleetgate::sim::not_numeric",
                            format!(
                                "`add` needs a numeric field, and `{}` is `{}`",
                                k.get_ref(),
                                schema.fields[i].ty.name()
                            ),
                        )
                        .help("use `set` for other fields"),
                    ),
                    None => errors.push(unknown_field(schema, k)),
                }
            }
            let fail = match &e.fail {
                Some(f) => {
                    let checked =
                        super::fleet::failure(F, f.get_ref(), Default::default(), &mut errors);
                    let f = f.get_ref();
                    FailureOverride {
                        download: f.download.as_ref().map(|_| checked.download),
                        install: f.install.as_ref().map(|_| checked.install),
                        boot: f.boot.as_ref().map(|_| checked.boot),
                        power_loss: f.power_loss.as_ref().map(|_| checked.power_loss),
                        brick_given_power_loss: f
                            .brick_given_power_loss
                            .as_ref()
                            .map(|_| checked.brick_given_power_loss),
                    }
                }
                None => FailureOverride::default(),
            };
            if set.is_empty() && add.is_empty() && e.fail.is_none() && errors.is_empty() {
                errors.push(
                    InputError::new(
                        F,
                        e_span,
                        "fleetgate::sim::empty_effect",
                        "this effect changes nothing",
                    )
                    .help("give `set`, `add` or `fail`"),
                );
            }
            effects.push(Effect {
                class,
                probability,
                set,
                add,
                fail,
            });
        }
        scenarios.push(Scenario {
            name: s.name.get_ref().clone(),
            effects,
        });
    }
    if scenarios.is_empty() && file.scenarios.is_empty() {
        scenarios.push(Scenario {
            name: "nominal".into(),
            effects: Vec::new(),
        });
    }

    let mut expectations = Vec::new();
    for e in &file.expect {
        match expect::parse(e.get_ref()) {
            Ok(x) => {
                if let Some(s) = x.scenario.as_ref().filter(|s| !scenarios.iter().any(|sc| sc.name == **s)) {
                    {
                        let mut err = InputError::new(F, e.span(), "fleetgate::sim::unknown_scenario", format!("no scenario `{s}`"));
                        err.help = Some(match suggest(s, scenarios.iter().map(|sc| sc.name.as_str())) {
                            Some(sug) => format!("did you mean `{sug}`?"),
                            None => format!("the scenarios are {}, or `*` for all", scenarios.iter().map(|sc| format!("`{}`", sc.name)).collect::<Vec<_>>().join(", ")),
                        });
                        errors.push(err);
                        continue;
                    }
                }
                if let expect::Claim::Probability { event: expect::Event::Outcome { outcome: expect::Outcome::AbortedAt(r), .. }, .. } = &x.claim
                    && !schema.rings.contains(r)
                {
                    {
                        errors.push(InputError::new(F, e.span(), "fleetgate::sim::unknown_ring", format!("no ring `{r}`")).help(format!("the rings are {}", schema.rings.join(", "))));
                        continue;
                    }
                }
                expectations.push(x);
            }
            Err(why) => errors.push(
                InputError::new(F, e.span(), "fleetgate::sim::invalid_expectation", why)
                    .help("write e.g. \"nominal: P(outcome == completed) >= 95%\" or \"*: p90(time_to_full) <= 10d\""),
            ),
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Release {
        name: file.name.get_ref().clone(),
        targets,
        horizon,
        gate_interval,
        trials: file.trials.map(|t| *t.get_ref()),
        scenarios,
        expectations,
    })
}

fn unknown_field(schema: &Schema, k: &Spanned<String>) -> InputError {
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    let mut e = InputError::new(
        FileKind::Release,
        k.span(),
        "fleetgate::sim::unknown_field",
        format!("the device schema has no field `{}`", k.get_ref()),
    );
    e.help = Some(match suggest(k.get_ref(), names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("the fields are {}", names.join(", ")),
    });
    e
}
