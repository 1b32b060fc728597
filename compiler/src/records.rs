//! Records from JSON, checked against a package's schema: what `fleetgate eval` reads.
//!
//! In: JSON values such as `{"hw": "esp32c3", "battery": 0.8, "rssi_dbm": null, "firmware": "v1.3.0"}`.
//! Out: typed records (`DeviceValues`, `NowValues`, release targets, ring counts), or an error naming
//! the field and what was expected. Numbers may be given for `percent` fields as fractions (`0.8`) or
//! as strings (`"80%"`); durations as strings (`"15m"`) or whole seconds; versions and enum variants
//! as strings. An optional field that is absent or `null` is missing.

use serde_json::{Map, Value as Json};

use fleetgate_lang::typed::{
    DeviceValues, NowValues, Package, RingCounts, RingField, Ty, Value, Version,
};

fn describe(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Parses `"v1.4"`, `"1.4.0"`, `"v2"`.
pub fn parse_version(s: &str) -> Option<Version> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts = [0u16; 3];
    let mut n = 0;
    for (i, p) in s.split('.').enumerate() {
        if i >= 3 {
            return None;
        }
        parts[i] = p.parse().ok()?;
        n += 1;
    }
    (n > 0).then_some(Version {
        major: parts[0],
        minor: parts[1],
        patch: parts[2],
    })
}

/// Parses `"1h30m"`, `"15m"`, `"7d"`, `"45s"` into seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut number: Option<i64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(i64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() {
        return None;
    }
    Some(total)
}

/// A JSON value as a value of type `ty` (`percent` marks a percent field).
pub fn value(pkg: &Package, ty: Ty, percent: bool, j: &Json) -> Result<Value, String> {
    let bad = |what: &str| Err(format!("expected {what}, found {}", describe(j)));
    match ty {
        Ty::Bool => j
            .as_bool()
            .map(Value::Bool)
            .map_or_else(|| bad("`true` or `false`"), Ok),
        Ty::Int => match j.as_i64() {
            Some(i) => Ok(Value::Int(i)),
            None => bad("an integer"),
        },
        Ty::Float => match j {
            Json::Number(n) => n
                .as_f64()
                .map(Value::Float)
                .ok_or_else(|| "number out of range".to_string()),
            Json::String(s) if percent && s.ends_with('%') => s
                .trim_end_matches('%')
                .parse::<f64>()
                .map(|v| Value::Float(v / 100.0))
                .map_err(|_| format!("`{s}` is not a percentage")),
            _ => bad(if percent {
                "a fraction like 0.8 or a string like \"80%\""
            } else {
                "a number"
            }),
        },
        Ty::Duration => match j {
            Json::Number(n) => n
                .as_i64()
                .map(Value::Duration)
                .ok_or_else(|| "expected whole seconds".to_string()),
            Json::String(s) => parse_duration(s)
                .map(Value::Duration)
                .ok_or_else(|| format!("`{s}` is not a duration like \"15m\"")),
            _ => bad("a duration like \"15m\" or whole seconds"),
        },
        Ty::Version => match j {
            Json::String(s) => parse_version(s)
                .map(Value::Version)
                .ok_or_else(|| format!("`{s}` is not a version like \"v1.4.0\"")),
            _ => bad("a version like \"v1.4.0\""),
        },
        Ty::Enum(e) => {
            let en = pkg.enum_(e);
            match j {
                Json::String(s) => match en.variants.iter().position(|v| v == s) {
                    Some(i) => Ok(Value::Enum(e, i as u16)),
                    None => Err(format!(
                        "`{s}` is not a `{}`: expected one of {}",
                        en.name,
                        en.variants.join(", ")
                    )),
                },
                _ => bad(&format!("a `{}` variant as a string", en.name)),
            }
        }
    }
}

fn object<'a>(j: &'a Json, what: &str) -> Result<&'a Map<String, Json>, String> {
    j.as_object().ok_or_else(|| {
        format!(
            "the {what} record must be a JSON object, found {}",
            describe(j)
        )
    })
}

/// A device record: every non-optional field and every plane's version must be given.
pub fn device(pkg: &Package, j: &Json) -> Result<DeviceValues, String> {
    let obj = object(j, "device")?;
    let mut values = DeviceValues {
        fields: vec![None; pkg.fields.len()],
        planes: Vec::new(),
    };
    let mut missing = Vec::new();
    for (key, _) in obj.iter() {
        if pkg.field_by_name(key).is_none() && pkg.plane_by_name(key).is_none() {
            let names: Vec<&str> = pkg
                .fields
                .iter()
                .map(|f| f.name.as_str())
                .chain(pkg.planes.iter().map(|p| p.name.as_str()))
                .collect();
            let hint = fleetgate_lang::diagnostics::suggest(key, names.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return Err(format!("`device` has no field `{key}`{hint}"));
        }
    }
    for (i, f) in pkg.fields.iter().enumerate() {
        match obj.get(&f.name) {
            None | Some(Json::Null) if f.optional => {}
            None | Some(Json::Null) => missing.push(f.name.clone()),
            Some(v) => {
                values.fields[i] = Some(
                    value(pkg, f.ty, f.percent, v)
                        .map_err(|e| format!("`device.{}`: {e}", f.name))?,
                )
            }
        }
    }
    for p in &pkg.planes {
        match obj.get(&p.name) {
            Some(v) => {
                if let Value::Version(v) = value(pkg, Ty::Version, false, v)
                    .map_err(|e| format!("`device.{}`: {e}", p.name))?
                {
                    values.planes.push(v);
                }
            }
            None => missing.push(p.name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "the device record does not give {}",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(values)
}

pub fn now(pkg: &Package, j: &Json) -> Result<NowValues, String> {
    let obj = object(j, "now")?;
    let mut now = NowValues::default();
    for (key, v) in obj {
        match key.as_str() {
            "hour" => match v.as_i64() {
                Some(h) if (0..=23).contains(&h) => now.hour = h,
                _ => return Err("`now.hour` must be an integer from 0 to 23".into()),
            },
            "weekday" => {
                if let Value::Enum(_, d) = value(pkg, Ty::Enum(pkg.weekday), false, v)? {
                    now.weekday = d;
                }
            }
            other => {
                return Err(format!(
                    "`now` has no field `{other}`: it has `hour` and `weekday`"
                ));
            }
        }
    }
    Ok(now)
}

pub fn release(pkg: &Package, j: &Json) -> Result<Vec<Option<Version>>, String> {
    let obj = object(j, "release")?;
    let mut out = vec![None; pkg.planes.len()];
    for (key, v) in obj {
        let Some(p) = pkg.plane_by_name(key) else {
            return Err(format!(
                "`release` has no field `{key}`: its fields are the planes"
            ));
        };
        if v.is_null() {
            continue;
        }
        if let Value::Version(ver) =
            value(pkg, Ty::Version, false, v).map_err(|e| format!("`release.{key}`: {e}"))?
        {
            out[p.index()] = Some(ver);
        }
    }
    Ok(out)
}

/// Ring counts: the count fields and `soak` (a duration).
pub fn ring_counts(j: &Json, what: &str) -> Result<RingCounts, String> {
    let obj = object(j, what)?;
    let mut c = RingCounts::default();
    for (key, v) in obj {
        if key == "by" {
            continue;
        }
        let Some(field) = RingField::from_name(key) else {
            return Err(format!("`{what}` has no field `{key}`"));
        };
        if field == RingField::Soak {
            c.soak_secs = match v {
                Json::String(s) => parse_duration(s)
                    .ok_or_else(|| format!("`{what}.soak`: `{s}` is not a duration"))?,
                _ => v
                    .as_i64()
                    .ok_or_else(|| format!("`{what}.soak` must be a duration like \"24h\""))?,
            };
            continue;
        }
        if field.is_derived() {
            return Err(format!(
                "`{what}.{key}` is computed from the counts and cannot be given"
            ));
        }
        let n = v
            .as_u64()
            .ok_or_else(|| format!("`{what}.{key}` must be a non-negative integer"))?;
        if let Some(slot) = c.get_mut(field) {
            *slot = n;
        }
    }
    Ok(c)
}
