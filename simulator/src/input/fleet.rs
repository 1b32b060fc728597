//! The fleet model (`fleet.toml`): how many devices, their classes, and how every field of the package's
//! `device` schema is distributed in each class.
//!
//! In: the file's text and the package's `Schema`. Out: a checked `Fleet`, or every error with its span.
//! A top-level `[fields]` table gives defaults that each class's `fields` may override; after merging,
//! every device field and every plane must have a distribution, or the file is refused with the missing
//! names. Shares of classes must add up to 1; device counts per class are apportioned by largest
//! remainder so they add up to `devices` exactly.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::dist::{FieldDist, Parser};
use super::{FileKind, InputError, from_toml, parse_duration, suggest};
use crate::schema::{FieldType, Schema};

/// The agent build a class runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// ESP32-C3: bytecode interpreter, one boot attempt.
    Esp32c3,
    /// RK3566: native code, three boot attempts.
    Rk3566,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Esp32c3 => "esp32c3",
            Profile::Rk3566 => "rk3566",
        }
    }
}

/// Probabilities of what can go wrong during one update step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Failure {
    pub download: f64,
    pub install: f64,
    pub boot: f64,
    pub power_loss: f64,
    pub brick_given_power_loss: f64,
}

#[derive(Clone, Debug)]
pub struct Class {
    pub name: String,
    pub share: f64,
    /// Devices of this class (after `--devices` rescaling).
    pub count: u64,
    pub profile: Profile,
    /// Mean seconds between check-ins (exponential).
    pub poll_every: f64,
    pub bandwidth_kbps: FieldDist,
    pub failure: Failure,
    /// One per schema field, in schema order.
    pub fields: Vec<FieldDist>,
    /// One per plane: the versions devices run before the release.
    pub planes: Vec<FieldDist>,
}

#[derive(Clone, Debug)]
pub struct Region {
    pub name: String,
    /// The variant of the `region` field.
    pub variant: u16,
    pub utc_offset_secs: i64,
    /// Mean partitions per day (Poisson arrivals).
    pub partitions_per_day: f64,
    /// Seconds; `None` when the region has no partitions.
    pub partition_duration: Option<FieldDist>,
}

#[derive(Clone, Debug)]
pub struct Fleet {
    pub devices: u64,
    pub classes: Vec<Class>,
    pub regions: Vec<Region>,
    /// The schema field that names a device's region (`region`), when the schema has one.
    pub region_field: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    devices: Spanned<u64>,
    #[serde(default)]
    fields: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(rename = "class")]
    classes: Vec<Spanned<ClassFile>>,
    #[serde(default, rename = "region")]
    regions: Vec<Spanned<RegionFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassFile {
    name: Spanned<String>,
    share: Spanned<f64>,
    #[serde(default)]
    profile: Option<Spanned<String>>,
    poll_every: Spanned<toml::Value>,
    bandwidth_kbps: Spanned<toml::Value>,
    #[serde(default)]
    failure: Option<Spanned<FailureFile>>,
    #[serde(default)]
    fields: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FailureFile {
    #[serde(default)]
    pub download: Option<Spanned<f64>>,
    #[serde(default)]
    pub install: Option<Spanned<f64>>,
    #[serde(default)]
    pub boot: Option<Spanned<f64>>,
    #[serde(default)]
    pub power_loss: Option<Spanned<f64>>,
    #[serde(default)]
    pub brick_given_power_loss: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionFile {
    name: Spanned<String>,
    #[serde(default)]
    utc_offset: Option<Spanned<String>>,
    #[serde(default)]
    partitions: Option<Spanned<PartitionFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartitionFile {
    per_day: Spanned<f64>,
    duration: Spanned<toml::Value>,
}

/// Checks probabilities in a failure table; `base` fills the ones not given.
pub(crate) fn failure(
    file: FileKind,
    f: &FailureFile,
    base: Failure,
    errors: &mut Vec<InputError>,
) -> Failure {
    let mut out = base;
    for (name, value, slot) in [
        ("download", &f.download, &mut out.download),
        ("install", &f.install, &mut out.install),
        ("boot", &f.boot, &mut out.boot),
        ("power_loss", &f.power_loss, &mut out.power_loss),
        (
            "brick_given_power_loss",
            &f.brick_given_power_loss,
            &mut out.brick_given_power_loss,
        ),
    ] {
        if let Some(v) = value {
            if (0.0..=1.0).contains(v.get_ref()) {
                *slot = *v.get_ref();
            } else {
                errors.push(
                    InputError::new(
                        file,
                        v.span(),
                        "fleetgate::sim::probability_out_of_range",
                        format!("`{name}` is {}, not a probability", v.get_ref()),
                    )
                    .label("outside [0, 1]")
                    .help("probabilities are between 0 and 1, e.g. `0.02` for 2%"),
                );
            }
        }
    }
    out
}

fn utc_offset(s: &str) -> Option<i64> {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let secs = parse_duration(rest)?;
    (secs <= 14 * 3600).then_some(sign * secs)
}

/// The largest fleet a trial simulates: 96 bytes of state and static fields per device (about 10 GB at
/// this size), and a parallel region's report sums kept in 32 bits.
pub const MAX_DEVICES: u64 = 100_000_000;

pub fn parse(text: &str, schema: &Schema) -> Result<Fleet, Vec<InputError>> {
    const F: FileKind = FileKind::Fleet;
    let file: FleetFile = toml::from_str(text).map_err(|e| vec![from_toml(F, &e)])?;
    let mut errors = Vec::new();
    let p = Parser { file: F };
    let names = schema.field_names();

    // Field specs: defaults, then each class's overrides.
    let check_names = |fields: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
                       errors: &mut Vec<InputError>| {
        for key in fields.keys() {
            if !names.contains(&key.get_ref().as_str()) {
                let mut e = InputError::new(
                    F,
                    key.span(),
                    "fleetgate::sim::unknown_field",
                    format!("the device schema has no field `{}`", key.get_ref()),
                )
                .label("unknown field");
                e.help = Some(match suggest(key.get_ref(), names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("the fields are {}", names.join(", ")),
                });
                errors.push(e);
            }
        }
    };
    check_names(&file.fields, &mut errors);

    let mut classes = Vec::new();
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    let mut total_share = 0.0;
    for c in &file.classes {
        let c_span = c.span();
        let c = c.get_ref();
        if seen.insert(c.name.get_ref().clone(), ()).is_some() {
            errors.push(InputError::new(
                F,
                c.name.span(),
                "fleetgate::sim::duplicate_name",
                format!("class `{}` is defined twice", c.name.get_ref()),
            ));
        }
        let share = *c.share.get_ref();
        if !(share > 0.0 && share <= 1.0) {
            errors.push(
                InputError::new(
                    F,
                    c.share.span(),
                    "fleetgate::sim::probability_out_of_range",
                    format!("share {share} is not in (0, 1]"),
                )
                .help("a class's share is the fraction of the fleet it makes up"),
            );
        }
        total_share += share;
        check_names(&c.fields, &mut errors);
        let profile = match c.profile.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
            None => {
                if c.name.get_ref().contains("rk") {
                    Profile::Rk3566
                } else {
                    Profile::Esp32c3
                }
            }
            Some(("esp32c3", _)) => Profile::Esp32c3,
            Some(("rk3566", _)) => Profile::Rk3566,
            Some((other, span)) => {
                errors.push(
                    InputError::new(F, span, "fleetgate::sim::unknown_profile", format!("unknown agent profile `{other}`"))
                        .help("profiles are `esp32c3` (interpreter, 1 boot attempt) and `rk3566` (native code, 3 boot attempts)"),
                );
                Profile::Esp32c3
            }
        };
        let poll_every = match c.poll_every.get_ref() {
            toml::Value::String(s) => parse_duration(s).map(|x| x as f64),
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) => Some(*f),
            _ => None,
        };
        let poll_every = match poll_every {
            Some(x) if x > 0.0 => x,
            _ => {
                errors.push(
                    InputError::new(
                        F,
                        c.poll_every.span(),
                        "fleetgate::sim::invalid_input",
                        "`poll_every` must be a duration longer than 0s",
                    )
                    .help("the mean time between check-ins, e.g. \"1h\""),
                );
                3600.0
            }
        };
        let bandwidth = p
            .quantity("bandwidth_kbps", &c.bandwidth_kbps, false)
            .map_err(|e| errors.push(e))
            .ok();
        let failure = match &c.failure {
            Some(f) => failure(F, f.get_ref(), Failure::default(), &mut errors),
            None => Failure::default(),
        };
        let mut fields = Vec::new();
        let mut missing_names = Vec::new();
        for f in &schema.fields {
            let spec = c
                .fields
                .iter()
                .find(|(k, _)| *k.get_ref() == f.name)
                .or_else(|| file.fields.iter().find(|(k, _)| *k.get_ref() == f.name));
            match spec {
                Some((_, spec)) => match p.field(&f.name, &f.ty, f.optional, spec) {
                    Ok(d) => fields.push(d),
                    Err(e) => errors.push(e),
                },
                None => missing_names.push(f.name.clone()),
            }
        }
        let mut planes = Vec::new();
        for plane in &schema.planes {
            let spec = c
                .fields
                .iter()
                .find(|(k, _)| k.get_ref() == plane)
                .or_else(|| file.fields.iter().find(|(k, _)| k.get_ref() == plane));
            match spec {
                Some((_, spec)) => match p.field(plane, &FieldType::Version, false, spec) {
                    Ok(d) if d.dynamic => errors.push(InputError::new(
                        F,
                        spec.span(),
                        "fleetgate::sim::dynamic_version",
                        format!("`{plane}` cannot be dynamic: it is the version the device runs"),
                    )),
                    Ok(d) => planes.push(d),
                    Err(e) => errors.push(e),
                },
                None => missing_names.push(plane.clone()),
            }
        }
        if !missing_names.is_empty() {
            errors.push(
                InputError::new(
                    F,
                    c.name.span(),
                    "fleetgate::sim::missing_distribution",
                    format!("class `{}` gives no distribution for {}", c.name.get_ref(), missing_names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
                )
                .label("in this class")
                .help("every field of the device schema and every plane needs a distribution: add it under `[fields]` for all classes or under this class's `fields`"),
            );
        }
        for &pf in &schema.per_fields {
            // Only meaningful when every field parsed: otherwise indices have shifted.
            if fields.len() != schema.fields.len() {
                break;
            }
            if fields.get(pf).is_some_and(|d| d.dynamic) {
                {
                    errors.push(
                        InputError::new(F, c_span.clone(), "fleetgate::sim::dynamic_per_field", format!("`{}` is dynamic in class `{}`, but a gate splits rings by it with `per`", schema.fields[pf].name, c.name.get_ref()))
                            .help("a device's value of a `per` field must stay fixed: remove `dynamic = true`"),
                    );
                }
            }
        }
        if let Some(bandwidth_kbps) = bandwidth.filter(|_| errors.is_empty()) {
            {
                classes.push(Class {
                    name: c.name.get_ref().clone(),
                    share,
                    count: 0,
                    profile,
                    poll_every,
                    bandwidth_kbps,
                    failure,
                    fields,
                    planes,
                });
            }
        }
    }
    if file.classes.is_empty() {
        errors.push(
            InputError::new(
                F,
                0..0,
                "fleetgate::sim::no_classes",
                "the fleet has no `[[class]]`",
            )
            .help("describe at least one class of devices"),
        );
    } else if (total_share - 1.0).abs() > 1e-6 {
        let span = file
            .classes
            .first()
            .map(|c| c.get_ref().share.span())
            .unwrap_or(0..0);
        errors.push(
            InputError::new(
                F,
                span,
                "fleetgate::sim::shares_do_not_add_up",
                format!("class shares add up to {total_share}, not 1"),
            )
            .help("make the `share`s of all classes add up to 1"),
        );
    }

    let region_field = schema
        .field("region")
        .filter(|&i| matches!(schema.fields[i].ty, FieldType::Enum(..)));
    let mut regions = Vec::new();
    for r in &file.regions {
        let r = r.get_ref();
        let Some(rf) = region_field else {
            errors.push(
                InputError::new(F, r.name.span(), "fleetgate::sim::no_region_field", "the device schema has no enum field `region`")
                    .help("regions apply to the values of `device.region`; remove the `[[region]]` tables or add the field"),
            );
            break;
        };
        let FieldType::Enum(_, variants) = &schema.fields[rf].ty else {
            break;
        };
        let Some(variant) = variants.iter().position(|v| v == r.name.get_ref()) else {
            let mut e = InputError::new(
                F,
                r.name.span(),
                "fleetgate::sim::unknown_region",
                format!("`{}` is not a region of the schema", r.name.get_ref()),
            );
            e.help = Some(format!("the regions are {}", variants.join(", ")));
            errors.push(e);
            continue;
        };
        let utc_offset_secs = match &r.utc_offset {
            Some(o) => utc_offset(o.get_ref()).unwrap_or_else(|| {
                errors.push(
                    InputError::new(
                        F,
                        o.span(),
                        "fleetgate::sim::invalid_input",
                        format!("`{}` is not a UTC offset", o.get_ref()),
                    )
                    .help("write offsets like \"+1h\", \"-5h\" or \"+5h30m\""),
                );
                0
            }),
            None => 0,
        };
        let (per_day, duration) = match &r.partitions {
            Some(pf) => {
                let pf = pf.get_ref();
                let per_day = *pf.per_day.get_ref();
                if !(per_day >= 0.0 && per_day.is_finite()) {
                    errors.push(InputError::new(
                        F,
                        pf.per_day.span(),
                        "fleetgate::sim::invalid_input",
                        "`per_day` must be a non-negative rate",
                    ));
                }
                (
                    per_day,
                    p.quantity("duration", &pf.duration, true)
                        .map_err(|e| errors.push(e))
                        .ok(),
                )
            }
            None => (0.0, None),
        };
        regions.push(Region {
            name: r.name.get_ref().clone(),
            variant: variant as u16,
            utc_offset_secs,
            partitions_per_day: per_day,
            partition_duration: duration,
        });
    }
    if let Some(rf) = region_field {
        for c in &classes {
            if c.fields.get(rf).is_some_and(|d| d.dynamic) {
                errors.push(
                    InputError::new(
                        F,
                        0..0,
                        "fleetgate::sim::dynamic_region",
                        format!("`region` is dynamic in class `{}`", c.name),
                    )
                    .help("a device stays in its region: remove `dynamic = true`"),
                );
            }
        }
    }

    let devices = &file.devices;
    if !(1..=MAX_DEVICES).contains(devices.get_ref()) {
        errors.push(
            InputError::new(
                F,
                devices.span(),
                "fleetgate::sim::fleet_size",
                format!(
                    "`devices = {}` is not a fleet the simulator runs (1 to {MAX_DEVICES})",
                    devices.get_ref()
                ),
            )
            .label("fleet size")
            .help("simulate a sample of the fleet: its outcomes are rates, and `--devices` rescales it"),
        );
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let mut fleet = Fleet {
        devices: *file.devices.get_ref(),
        classes,
        regions,
        region_field,
    };
    fleet.rescale(fleet.devices);
    Ok(fleet)
}

impl Fleet {
    /// Sets the fleet size and apportions it among classes by largest remainder.
    pub fn rescale(&mut self, devices: u64) {
        self.devices = devices;
        let exact: Vec<f64> = self
            .classes
            .iter()
            .map(|c| c.share * devices as f64)
            .collect();
        let mut counts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
        let mut rest = devices.saturating_sub(counts.iter().sum());
        let mut order: Vec<usize> = (0..exact.len()).collect();
        order.sort_by(|&a, &b| {
            (exact[b] - exact[b].floor())
                .total_cmp(&(exact[a] - exact[a].floor()))
                .then(a.cmp(&b))
        });
        for i in order {
            if rest == 0 {
                break;
            }
            counts[i] += 1;
            rest -= 1;
        }
        for (c, n) in self.classes.iter_mut().zip(counts) {
            c.count = n;
        }
    }
}
