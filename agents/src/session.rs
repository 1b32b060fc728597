//! Scripted sessions (feature `std`): in go a verified policy, its sidecar, a profile and a script of
//! JSON lines (telemetry, clock, check-ins, faults, planner orders); out comes a deterministic
//! transcript, one JSON object per line for every script event and every step of the agent.
//!
//! The agent runs over the in-memory flash model (`mem`) with a scripted clock and planner, so a
//! session replays identically on every host: the `fleetgate-agent` binary prints the transcript, the
//! tests compare it with the checked-in one, and `.ci/aarch64-agent.sh` compares it under qemu.
//!
//! Script lines (one JSON object each; blank lines are skipped):
//! - `{"telemetry": {"battery": 0.8, "rssi_dbm": null, …}}`: device fields by name (merged into the
//!   current telemetry; `null` makes an optional field missing). Before the first event that needs
//!   the device, plane names give the factory versions (`"firmware": "v1.3.0"`).
//! - `{"tick": "10m"}` (or seconds): advance the clock, firing every timer that falls due on the way;
//!   `{"at": 3600}` (or `"1h"`): advance to an absolute time.
//! - `{"checkin": {"release": 7, "firmware": "v1.5.0", …}}`: the planner offers this desired state and
//!   the device checks in; `{"checkin": null}` checks in with nothing offered.
//! - `{"fault": "download" | "install" | "boot"}`: the next such operation fails.
//!   `{"fault": "power_loss"}`: the power goes now; with `"during": "download" | "install" | "boot" |
//!   "confirm" | "revert" | "journal"`, halfway through the next such operation instead.
//! - `{"order": "pause" | "resume" | "freeze" | "abort"}`.
//! - `{"note": "…"}`: copied into the transcript.

use crate::driver::{Agent, Cause, Clock, Fault, Image, Observer, PowerLoss, StepLog, Transport};
use crate::eval::{Evaluator, ProfileEvaluator};
use crate::machine::{Action, Config, Ctx, Desired, Event, Order, Profile, Status};
use crate::mem::{MemStorage, OpKind};
use fleetgate_runtime::artifact::{ClauseKind, Constraint, FunctionKind};
use fleetgate_runtime::decision::{self, HealthVerdict, NotInstallable, RailVerdict};
use fleetgate_runtime::interp::ClauseId;
use fleetgate_runtime::value::{pack_version, unpack_version};
use fleetgate_runtime::verify::{self, Policy};
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use std::fmt;
use std::path::{Path, PathBuf};

/// The parts of the compiler's sidecar (`FILE.sidecar.json`, format 1) the agent reads.
#[derive(Clone, Debug, Deserialize)]
pub struct Sidecar {
    pub format: u32,
    pub schema_hash: String,
    pub slots: Vec<SlotInfo>,
    pub planes: Vec<String>,
    pub clauses: Vec<ClauseInfo>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SlotInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub optional: bool,
    #[serde(default)]
    pub variants: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ClauseInfo {
    pub kind: String,
    pub rule: String,
    pub reason: String,
}

impl Sidecar {
    pub fn from_json(text: &str) -> Result<Sidecar, serde_json::Error> {
        serde_json::from_str(text)
    }

    fn plane(&self, p: u8) -> &str {
        self.planes.get(usize::from(p)).map_or("?", String::as_str)
    }
}

/// A session that cannot run: bad input, reported with exit status 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionError {
    pub message: String,
    pub help: Option<String>,
}

impl SessionError {
    fn new(message: impl Into<String>) -> SessionError {
        SessionError {
            message: message.into(),
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> SessionError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SessionError {}

/// `FILE.sidecar.json` next to `FILE`.
pub fn sidecar_path(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".sidecar.json");
    PathBuf::from(name)
}

/// Reads and verifies an artifact and its sidecar, and checks that they belong together.
pub fn load(artifact: &Path) -> Result<(Policy, Sidecar), SessionError> {
    let bytes = std::fs::read(artifact)
        .map_err(|e| SessionError::new(format!("cannot read `{}`: {e}", artifact.display())))?;
    let policy = verify::verify(&bytes).map_err(|e| {
        SessionError::new(format!(
            "`{}` is not a valid policy artifact: {e}",
            artifact.display()
        ))
        .help("build one with `fleetgate build PATH -o FILE`")
    })?;
    let side_path = sidecar_path(artifact);
    let text = std::fs::read_to_string(&side_path).map_err(|e| {
        SessionError::new(format!(
            "cannot read the sidecar `{}`: {e}",
            side_path.display()
        ))
        .help(
            "`fleetgate build PATH -o FILE` writes `FILE.sidecar.json` next to the artifact; \
             the agent needs it to read telemetry by field name and to explain decisions",
        )
    })?;
    let sidecar = Sidecar::from_json(&text).map_err(|e| {
        SessionError::new(format!("`{}` is not a sidecar: {e}", side_path.display()))
    })?;
    let hash = format!("{:016x}", policy.artifact().schema_hash);
    let fits = sidecar.format == 1
        && sidecar.schema_hash == hash
        && sidecar.slots.len() == policy.artifact().slots.len()
        && sidecar.planes.len() == usize::from(policy.n_planes())
        && sidecar.clauses.len() == policy.n_clauses();
    if !fits {
        return Err(SessionError::new(format!(
            "the sidecar `{}` does not belong to `{}` (schema `{}`, artifact schema `{hash}`)",
            side_path.display(),
            artifact.display(),
            sidecar.schema_hash
        ))
        .help("rebuild both with `fleetgate build PATH -o FILE`"));
    }
    Ok((policy, sidecar))
}

/// Runs `script` and returns the transcript (JSON lines, each ending in a newline).
pub fn run(
    profile: Profile,
    policy: &Policy,
    sidecar: &Sidecar,
    script: &str,
) -> Result<String, SessionError> {
    run_engine(profile, policy, sidecar, script).map(|(t, _)| t)
}

/// [`run`], also naming the engine that evaluated the policy (`interpreter` or `native`; `None`
/// when the script never started the device).
pub fn run_engine(
    profile: Profile,
    policy: &Policy,
    sidecar: &Sidecar,
    script: &str,
) -> Result<(String, Option<&'static str>), SessionError> {
    let mut s = Session::new(profile, policy, sidecar)?;
    for (i, line) in script.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        s.line(line).map_err(|e| {
            SessionError::new(format!("line {line_no}: {}", e.message)).with(e.help)
        })?;
    }
    let engine = s.agent.as_ref().map(|a| a.ctx().evaluator().engine());
    Ok((s.out, engine))
}

impl SessionError {
    fn with(mut self, help: Option<String>) -> SessionError {
        self.help = help;
        self
    }
}

/// The scripted clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScriptClock {
    pub now: u32,
}

impl Clock for ScriptClock {
    fn now(&self) -> u32 {
        self.now
    }
}

/// The scripted planner: offers the desired state of the last check-in line and serves downloads of
/// every release it offered.
#[derive(Clone, Debug, Default)]
pub struct ScriptTransport {
    pub offered: Option<Desired>,
    pub releases: Vec<Desired>,
    pub fail_downloads: u32,
    pub power_loss_on_download: bool,
    pub reports: Vec<(u32, Status)>,
}

impl Transport for ScriptTransport {
    fn check_in(&mut self) -> Option<Desired> {
        self.offered
    }

    fn download(&mut self, release: u32, plane: u8) -> Result<Image, Fault> {
        if self.power_loss_on_download {
            self.power_loss_on_download = false;
            return Err(Fault::PowerLoss);
        }
        if self.fail_downloads > 0 {
            self.fail_downloads -= 1;
            return Err(Fault::Failed);
        }
        let version = self
            .releases
            .iter()
            .find(|d| d.release == release)
            .and_then(|d| d.target(plane))
            .ok_or(Fault::Failed)?;
        Ok(Image {
            release,
            plane,
            version,
        })
    }

    fn report(&mut self, release: u32, status: Status) {
        self.reports.push((release, status));
    }
}

/// Renders every step as a transcript line.
struct Transcript<'a> {
    policy: &'a Policy,
    sidecar: &'a Sidecar,
    lines: Vec<String>,
}

type SessionAgent<'a> =
    Agent<'a, MemStorage, ScriptClock, ScriptTransport, ProfileEvaluator<'a>, Transcript<'a>>;

struct Session<'a> {
    policy: &'a Policy,
    sidecar: &'a Sidecar,
    profile: Profile,
    /// Until the device exists: the telemetry and factory versions given so far.
    pending: Pending,
    agent: Option<SessionAgent<'a>>,
    clock: ScriptClock,
    out: String,
}

#[derive(Default)]
struct Pending {
    fields: Vec<Option<Option<u64>>>,
    factory: Vec<Option<u64>>,
}

/// A JSON object with its keys in the order they were added.
#[derive(Default)]
struct Obj(String);

impl Obj {
    fn raw(mut self, key: &str, json: &str) -> Obj {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0.push_str(&Json::from(key).to_string());
        self.0.push(':');
        self.0.push_str(json);
        self
    }

    fn val(self, key: &str, value: impl Into<Json>) -> Obj {
        let v: Json = value.into();
        self.raw(key, &v.to_string())
    }

    fn finish(self) -> String {
        if self.0.is_empty() {
            "{}".into()
        } else {
            self.0 + "}"
        }
    }
}

fn version_text(v: u64) -> String {
    let (a, b, c) = unpack_version(v);
    format!("v{a}.{b}.{c}")
}

fn parse_version(s: &str) -> Option<u64> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut parts = [0u16; 3];
    let mut n = 0;
    for p in s.split('.') {
        *parts.get_mut(n)? = p.parse().ok()?;
        n += 1;
    }
    let [a, b, c] = parts;
    (n > 0).then_some(pack_version(a, b, c))
}

fn parse_duration(s: &str) -> Option<u32> {
    let mut total: u32 = 0;
    let mut number: Option<u32> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(d)?);
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
    if number.is_some() || s.is_empty() {
        return None;
    }
    Some(total)
}

fn duration_text(secs: u32) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    out
}

/// Seconds from a JSON number or a duration string.
fn seconds(j: &Json, what: &str) -> Result<u32, SessionError> {
    let secs = match j {
        Json::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Json::String(s) => parse_duration(s),
        _ => None,
    };
    secs.ok_or_else(|| {
        SessionError::new(format!(
            "`{what}` takes a duration like \"10m\" or whole seconds, found `{j}`"
        ))
    })
}

impl<'a> Session<'a> {
    fn new(
        profile: Profile,
        policy: &'a Policy,
        sidecar: &'a Sidecar,
    ) -> Result<Session<'a>, SessionError> {
        // Fail at configuration time, before any line runs.
        Config::new(policy, profile)
            .map_err(|e| SessionError::new(format!("the artifact cannot drive the agent: {e}")))?;
        Ok(Session {
            policy,
            sidecar,
            profile,
            pending: Pending {
                fields: vec![None; policy.n_device_fields()],
                factory: vec![None; usize::from(policy.n_planes())],
            },
            agent: None,
            clock: ScriptClock::default(),
            out: String::new(),
        })
    }

    fn emit(&mut self, line: String) {
        self.out.push_str(&line);
        self.out.push('\n');
    }

    fn flush(&mut self) {
        if let Some(agent) = self.agent.as_mut() {
            let lines = std::mem::take(&mut agent.observer_mut().lines);
            for l in lines {
                self.out.push_str(&l);
                self.out.push('\n');
            }
        }
    }

    fn now(&self) -> u32 {
        self.agent
            .as_ref()
            .map_or(self.clock.now, |a| a.clock().now)
    }

    fn line(&mut self, text: &str) -> Result<(), SessionError> {
        let json: Json = serde_json::from_str(text)
            .map_err(|e| SessionError::new(format!("not a JSON object: {e}")))?;
        let Json::Object(obj) = json else {
            return Err(SessionError::new("each line must be one JSON object"));
        };
        let key = obj
            .keys()
            .find(|k| matches!(k.as_str(), "telemetry" | "tick" | "at" | "checkin" | "fault" | "order" | "note"))
            .cloned()
            .ok_or_else(|| {
                SessionError::new(format!(
                    "no event in `{text}`"
                ))
                .help("a line holds one of `telemetry`, `tick`, `at`, `checkin`, `fault`, `order`, `note`")
            })?;
        let allowed: &[&str] = match key.as_str() {
            "fault" => &["fault", "during"],
            _ => &[],
        };
        if let Some(extra) = obj
            .keys()
            .find(|k| **k != key && !allowed.contains(&k.as_str()))
        {
            return Err(SessionError::new(format!(
                "unexpected `{extra}` next to `{key}`"
            )));
        }
        let value = obj.get(&key).cloned().unwrap_or(Json::Null);
        match key.as_str() {
            "note" => {
                let now = self.now();
                self.emit(
                    Obj::default()
                        .val("t", now)
                        .val("event", "note")
                        .val("note", value)
                        .finish(),
                );
                Ok(())
            }
            "telemetry" => self.telemetry(&value),
            "tick" => {
                let secs = seconds(&value, "tick")?;
                let to = self.now().saturating_add(secs);
                self.advance(to)
            }
            "at" => {
                let to = seconds(&value, "at")?;
                if to < self.now() {
                    return Err(SessionError::new(format!(
                        "`at` {to} is before the current time {}",
                        self.now()
                    )));
                }
                self.advance(to)
            }
            "checkin" => self.checkin(&value),
            "fault" => self.fault(&value, obj.get("during")),
            "order" => {
                let name = value.as_str().unwrap_or_default();
                let order = Order::from_name(name).ok_or_else(|| {
                    SessionError::new(format!("unknown order `{value}`"))
                        .help("orders are `pause`, `resume`, `freeze` and `abort`")
                })?;
                self.with_agent(|a| a.order(order))
            }
            _ => Ok(()),
        }
    }

    fn slot_index(&self, name: &str) -> Option<usize> {
        let full = format!("device.{name}");
        self.sidecar
            .slots
            .iter()
            .take(self.policy.n_device_fields())
            .position(|s| s.name == full)
    }

    fn telemetry(&mut self, value: &Json) -> Result<(), SessionError> {
        let Json::Object(fields) = value else {
            return Err(SessionError::new(
                "`telemetry` takes an object of device fields",
            ));
        };
        let now = self.now();
        let mut echo = Obj::default();
        for (name, v) in fields {
            echo = echo.raw(name, &v.to_string());
            if let Some(p) = self.sidecar.planes.iter().position(|p| p == name) {
                if self.agent.is_some() {
                    return Err(SessionError::new(format!(
                        "`{name}` is a plane: its version comes from the A/B slots once the device runs"
                    ))
                    .help("give factory versions before the first check-in, tick, order or fault"));
                }
                let version = v.as_str().and_then(parse_version).ok_or_else(|| {
                    SessionError::new(format!(
                        "`{name}`: expected a version like \"v1.4.0\", found `{v}`"
                    ))
                })?;
                if let Some(f) = self.pending.factory.get_mut(p) {
                    *f = Some(version);
                }
                continue;
            }
            let slot = self.slot_index(name).ok_or_else(|| {
                let names: Vec<String> = self
                    .sidecar
                    .slots
                    .iter()
                    .take(self.policy.n_device_fields())
                    .filter_map(|s| s.name.strip_prefix("device.").map(|n| format!("`{n}`")))
                    .collect();
                SessionError::new(format!("`device` has no field `{name}`"))
                    .help(format!("the fields are {}", names.join(", ")))
            })?;
            let bits = self.field_value(slot, name, v)?;
            match self.agent.as_mut() {
                Some(agent) => {
                    let t = agent.telemetry_mut();
                    match bits {
                        Some(b) => t.set(slot, b),
                        None => t.set_missing(slot),
                    };
                }
                None => {
                    if let Some(f) = self.pending.fields.get_mut(slot) {
                        *f = Some(bits);
                    }
                }
            }
        }
        self.emit(
            Obj::default()
                .val("t", now)
                .val("event", "telemetry")
                .raw("set", &echo.finish())
                .finish(),
        );
        Ok(())
    }

    /// A JSON value as the slot's bits; `None` for a missing optional field.
    fn field_value(&self, slot: usize, name: &str, v: &Json) -> Result<Option<u64>, SessionError> {
        let info = self
            .sidecar
            .slots
            .get(slot)
            .ok_or_else(|| SessionError::new(format!("no slot for `{name}`")))?;
        let bad = |expected: &str| {
            SessionError::new(format!("`device.{name}`: expected {expected}, found `{v}`"))
        };
        if v.is_null() {
            return if info.optional {
                Ok(None)
            } else {
                Err(SessionError::new(format!(
                    "`device.{name}` may not be missing"
                )))
            };
        }
        let bits = match info.ty.as_str() {
            "bool" => u64::from(v.as_bool().ok_or_else(|| bad("`true` or `false`"))?),
            "int" => v.as_i64().ok_or_else(|| bad("an integer"))? as u64,
            "float" => v.as_f64().ok_or_else(|| bad("a number"))?.to_bits(),
            "percent" => match v {
                Json::String(s) if s.ends_with('%') => (s
                    .trim_end_matches('%')
                    .parse::<f64>()
                    .map_err(|_| bad("a percentage like \"80%\""))?
                    / 100.0)
                    .to_bits(),
                _ => v
                    .as_f64()
                    .ok_or_else(|| bad("a fraction like 0.8 or a string like \"80%\""))?
                    .to_bits(),
            },
            "duration" => u64::from(seconds(v, name)?),
            "version" => v
                .as_str()
                .and_then(parse_version)
                .ok_or_else(|| bad("a version like \"v1.4.0\""))?,
            _ => {
                let s = v.as_str().ok_or_else(|| bad("a variant name"))?;
                info.variants
                    .iter()
                    .position(|x| x == s)
                    .ok_or_else(|| bad(&format!("one of {}", info.variants.join(", "))))?
                    as u64
            }
        };
        Ok(Some(bits))
    }

    /// Creates the device on first use (factory versions and complete telemetry needed).
    fn ensure_agent(&mut self) -> Result<(), SessionError> {
        if self.agent.is_some() {
            return Ok(());
        }
        let names = |missing: Vec<String>| missing.join(", ");
        let planes_missing: Vec<String> = self
            .pending
            .factory
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_none())
            .map(|(p, _)| {
                format!(
                    "`{}`",
                    self.sidecar.planes.get(p).map_or("?", String::as_str)
                )
            })
            .collect();
        if !planes_missing.is_empty() {
            return Err(SessionError::new(format!(
                "the device's factory versions are not given: {}",
                names(planes_missing)
            ))
            .help("give them in a `telemetry` line first, e.g. {\"telemetry\": {\"firmware\": \"v1.3.0\"}}"));
        }
        let fields_missing: Vec<String> = self
            .pending
            .fields
            .iter()
            .enumerate()
            .filter(|(slot, v)| {
                v.is_none() && !self.sidecar.slots.get(*slot).is_some_and(|s| s.optional)
            })
            .map(|(slot, _)| {
                format!(
                    "`{}`",
                    self.sidecar
                        .slots
                        .get(slot)
                        .map_or("?", |s| s.name.as_str())
                )
            })
            .collect();
        if !fields_missing.is_empty() {
            return Err(SessionError::new(format!(
                "the telemetry does not give {}",
                names(fields_missing)
            ))
            .help("every field that is not optional needs a value before the device runs"));
        }
        let factory: Vec<u64> = self
            .pending
            .factory
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect();
        let ctx = Ctx::new(
            self.policy,
            self.profile,
            ProfileEvaluator::new(self.policy, self.profile),
        )
        .map_err(|e| SessionError::new(format!("the artifact cannot drive the agent: {e}")))?;
        let transcript = Transcript {
            policy: self.policy,
            sidecar: self.sidecar,
            lines: Vec::new(),
        };
        let mut agent = Agent::new(
            ctx,
            MemStorage::new(&factory),
            self.clock,
            ScriptTransport::default(),
            transcript,
        );
        for (slot, v) in self.pending.fields.iter().enumerate() {
            match v {
                Some(Some(bits)) => agent.telemetry_mut().set(slot, *bits),
                _ => agent.telemetry_mut().set_missing(slot),
            };
        }
        // A fresh device has no journal: booting it does nothing else.
        let _ = agent.boot();
        self.agent = Some(agent);
        Ok(())
    }

    /// Runs `f` on the agent; on a power loss, reboots (recovering from the journal) until it stays up.
    fn with_agent(
        &mut self,
        f: impl FnOnce(&mut SessionAgent<'a>) -> Result<(), PowerLoss>,
    ) -> Result<(), SessionError> {
        self.ensure_agent()?;
        let Some(agent) = self.agent.as_mut() else {
            return Ok(());
        };
        let mut result = f(agent);
        self.flush();
        // Each reboot either succeeds or consumes an armed fault, so this ends; the bound is a guard.
        for _ in 0..16 {
            if result.is_ok() {
                break;
            }
            self.power_loss();
            let Some(agent) = self.agent.as_mut() else {
                break;
            };
            result = agent.boot();
            self.flush();
        }
        Ok(())
    }

    fn power_loss(&mut self) {
        let Some(agent) = self.agent.as_ref() else {
            return;
        };
        let now = agent.clock().now;
        let phase = agent.state().phase().name();
        self.emit(
            Obj::default()
                .val("t", now)
                .val("event", "power_loss")
                .val("phase", phase)
                .finish(),
        );
    }

    fn advance(&mut self, to: u32) -> Result<(), SessionError> {
        let from = self.now();
        self.emit(
            Obj::default()
                .val("t", from)
                .val("event", "clock")
                .val("to", to)
                .finish(),
        );
        if self.agent.is_none() {
            self.clock.now = to;
            return Ok(());
        }
        // Fire every timer on the way, each at its own time. Each tick moves the deadline forward or
        // clears it; the bound guards against a deadline that does not move.
        let mut last = None;
        for _ in 0..1_000_000 {
            let Some(agent) = self.agent.as_mut() else {
                break;
            };
            match agent.state().deadline() {
                Some(d) if d <= to && last != Some((d, *agent.state())) => {
                    last = Some((d, *agent.state()));
                    agent.clock_mut().now = d.max(agent.clock().now);
                    self.with_agent(|a| a.tick().map(|_| ()))?;
                }
                _ => break,
            }
        }
        if let Some(agent) = self.agent.as_mut() {
            agent.clock_mut().now = to;
        }
        Ok(())
    }

    fn checkin(&mut self, value: &Json) -> Result<(), SessionError> {
        let desired = match value {
            Json::Null => None,
            Json::Object(obj) => Some(self.desired(obj)?),
            _ => {
                return Err(SessionError::new(
                    "`checkin` takes the desired state, e.g. {\"release\": 7, \"firmware\": \"v1.5.0\"}, or null",
                ));
            }
        };
        self.ensure_agent()?;
        if let Some(agent) = self.agent.as_mut() {
            let t = agent.transport_mut();
            t.offered = desired;
            if let Some(d) = desired
                && !t.releases.iter().any(|r| r.release == d.release)
            {
                t.releases.push(d);
            }
        }
        self.with_agent(|a| a.check_in())
    }

    fn desired(&self, obj: &Map<String, Json>) -> Result<Desired, SessionError> {
        let release = obj
            .get("release")
            .and_then(Json::as_u64)
            .and_then(|r| u32::try_from(r).ok())
            .filter(|&r| r > 0)
            .ok_or_else(|| {
                SessionError::new("`checkin` needs a `release` id, a whole number from 1")
            })?;
        let mut d = Desired::new(release);
        for (key, v) in obj {
            if key == "release" {
                continue;
            }
            let p = self
                .sidecar
                .planes
                .iter()
                .position(|p| p == key)
                .and_then(|p| u8::try_from(p).ok())
                .ok_or_else(|| {
                    SessionError::new(format!("`checkin` has no plane `{key}`"))
                        .help(format!("the planes are {}", self.sidecar.planes.join(", ")))
                })?;
            if v.is_null() {
                continue;
            }
            let version = v.as_str().and_then(parse_version).ok_or_else(|| {
                SessionError::new(format!(
                    "`{key}`: expected a version like \"v1.5.0\", found `{v}`"
                ))
            })?;
            d = d.with(p, version);
        }
        Ok(d)
    }

    fn fault(&mut self, value: &Json, during: Option<&Json>) -> Result<(), SessionError> {
        let name = value.as_str().unwrap_or_default();
        let now = self.now();
        let during_name = during.map(|d| d.as_str().unwrap_or_default().to_string());
        self.ensure_agent()?;
        let Some(agent) = self.agent.as_mut() else {
            return Ok(());
        };
        let line = Obj::default()
            .val("t", now)
            .val("event", "fault")
            .val("fault", name);
        let line = match &during_name {
            Some(d) => line.val("during", d.as_str()),
            None => line,
        };
        match (name, during_name.as_deref()) {
            ("download", None) => agent.transport_mut().fail_downloads += 1,
            ("install", None) => agent.storage_mut().fail_writes += 1,
            ("boot", None) => agent.storage_mut().fail_boots += 1,
            ("power_loss", None) => {
                self.emit(line.finish());
                self.power_loss();
                return self.with_agent(|a| a.boot());
            }
            ("power_loss", Some(d)) => {
                let kind = match d {
                    "download" => None,
                    "install" | "write" => Some(OpKind::Write),
                    "boot" => Some(OpKind::Boot),
                    "confirm" => Some(OpKind::Confirm),
                    "revert" => Some(OpKind::Revert),
                    "journal" => Some(OpKind::Journal),
                    _ => {
                        return Err(SessionError::new(format!("unknown operation `{d}` in `during`"))
                            .help("`during` takes `download`, `install`, `boot`, `confirm`, `revert` or `journal`"));
                    }
                };
                match kind {
                    Some(k) => agent.storage_mut().crash_on_next(k),
                    None => agent.transport_mut().power_loss_on_download = true,
                }
            }
            _ => {
                return Err(SessionError::new(format!("unknown fault `{value}`"))
                    .help("faults are `download`, `install`, `boot` and `power_loss` (optionally with `during`)"));
            }
        }
        self.emit(line.finish());
        Ok(())
    }
}

impl Transcript<'_> {
    fn clause(&self, c: ClauseId) -> String {
        let Some(info) = self.sidecar.clauses.get(c.index()) else {
            return Obj::default().val("clause", c.0).finish();
        };
        let mut o = Obj::default()
            .val("rule", info.rule.as_str())
            .val("kind", info.kind.as_str())
            .val("reason", info.reason.as_str());
        if let Some(cl) = self.policy.clause(c)
            && cl.kind == ClauseKind::Defer
        {
            o = o.val(
                "defer",
                duration_text(u32::try_from(cl.arg).unwrap_or(u32::MAX)),
            );
        }
        o.finish()
    }

    fn clauses(&self, ids: impl Iterator<Item = ClauseId>) -> String {
        let items: Vec<String> = ids.map(|c| self.clause(c)).collect();
        format!("[{}]", items.join(","))
    }

    fn planes(&self, planes: impl Iterator<Item = u8>) -> Json {
        Json::Array(planes.map(|p| Json::from(self.sidecar.plane(p))).collect())
    }

    fn not_installable(&self, e: &NotInstallable) -> String {
        let constraint = |i: usize| match self.policy.artifact().constraints.get(i) {
            Some(Constraint::Incompatible { clause, .. }) => {
                self.sidecar.clauses.get(usize::from(*clause)).map_or_else(
                    || format!("constraint {i}"),
                    |c| format!("`{}`: {}", c.rule, c.reason),
                )
            }
            _ => format!("a dependency between planes (constraint {i})"),
        };
        match *e {
            NotInstallable::TargetInconsistent { constraint: c } => {
                format!(
                    "the release would leave the device violating {}",
                    constraint(c)
                )
            }
            NotInstallable::NoOrder { constraint: c } => {
                format!(
                    "no order of single-plane updates avoids violating {}",
                    constraint(c)
                )
            }
            other => other.to_string(),
        }
    }

    fn action(&self, a: &Action) -> String {
        match *a {
            Action::Download { plane, .. } => format!("download {}", self.sidecar.plane(plane)),
            Action::Install { plane, .. } => format!("install {}", self.sidecar.plane(plane)),
            Action::Boot { plane, .. } => format!("boot {}", self.sidecar.plane(plane)),
            Action::Confirm { plane, .. } => format!("confirm {}", self.sidecar.plane(plane)),
            Action::Revert { plane, .. } => format!("revert {}", self.sidecar.plane(plane)),
            Action::CheckIn => "check in".into(),
            Action::Report { status, .. } => format!("report {}", status.name()),
        }
    }

    fn desired(&self, d: Option<&Desired>) -> String {
        let Some(d) = d else {
            return "null".into();
        };
        let mut o = Obj::default().val("release", d.release);
        for p in 0..self.policy.n_planes() {
            if let Some(v) = d.target(p) {
                o = o.val(self.sidecar.plane(p), version_text(v));
            }
        }
        o.finish()
    }
}

impl Observer for Transcript<'_> {
    fn on_step<E: Evaluator>(&mut self, log: &StepLog<'_>, ctx: &Ctx<'_, E>) {
        let policy = self.policy;
        let mut o = Obj::default().val("t", log.now);
        match log.cause {
            Cause::Recover => o = o.val("event", "recover"),
            Cause::Event(e) => {
                o = o.val("event", e.name());
                match e {
                    Event::CheckIn { desired, .. } => o = o.raw("offered", &self.desired(*desired)),
                    Event::Order(order) => o = o.val("order", order.name()),
                    other => {
                        if let Some(p) = other.plane() {
                            o = o.val("plane", self.sidecar.plane(p));
                        }
                    }
                }
            }
        }
        o = o
            .val("release", log.after.release())
            .val("before", log.before.phase().name())
            .val("after", log.after.phase().name());
        if let Some(p) = log.after.current_plane()
            && log.after.phase().is_transient()
        {
            o = o.val("current", self.sidecar.plane(p));
        }
        let d = &log.actions.decision;
        if let Some(verdict) = d.rails {
            let bits = ctx.bits();
            let rails = decision::rails(policy, bits);
            let text = match verdict {
                RailVerdict::Allow => "allow".to_string(),
                RailVerdict::Deny => "deny".to_string(),
                RailVerdict::Defer { secs } => format!("defer {}", duration_text(secs)),
            };
            let mut r = Obj::default().val("verdict", text);
            // With an evaluation error the bits are not this record's: show none.
            if d.eval_error.is_none() {
                r = r.raw("fired", &self.clauses(rails.fired()));
                let errs: Vec<ClauseId> = rails.erroneous().collect();
                if !errs.is_empty() {
                    r = r.raw("erroneous", &self.clauses(errs.into_iter()));
                }
            }
            o = o.raw("rails", &r.finish());
        }
        match &d.install {
            Some(Ok(order)) => o = o.val("install_order", self.planes(order.iter())),
            Some(Err(e)) => o = o.val("not_installable", self.not_installable(e)),
            None => {}
        }
        if let Some(verdict) = d.health {
            let text = match verdict {
                HealthVerdict::Healthy => "healthy".to_string(),
                HealthVerdict::Inconclusive => "inconclusive".to_string(),
                HealthVerdict::Rollback { planes } => {
                    let names: Vec<&str> = planes.iter().map(|p| self.sidecar.plane(p)).collect();
                    format!("rollback {}", names.join(", "))
                }
            };
            let mut h = Obj::default()
                .val("check", log.after.checks())
                .val("verdict", text);
            if d.eval_error.is_none() {
                let bits = ctx.bits();
                let range = policy
                    .function(FunctionKind::Health)
                    .and_then(|f| policy.function_def(f))
                    .map_or(0..0, |f| f.clause_range());
                let counters = log.after.counters();
                let mut fired = Vec::new();
                let mut counting = Vec::new();
                for c in range
                    .clone()
                    .filter_map(|c| u16::try_from(c).ok())
                    .map(ClauseId)
                {
                    let Some(cl) = policy.clause(c) else { continue };
                    if cl.checks == 0 {
                        if bits.is_true(c) {
                            fired.push(c);
                        }
                    } else {
                        let k = counters.get(usize::from(cl.counter)).copied().unwrap_or(0);
                        if k >= cl.checks {
                            fired.push(c);
                        } else if k > 0 {
                            let reason = self
                                .sidecar
                                .clauses
                                .get(c.index())
                                .map_or("", |i| i.reason.as_str());
                            counting.push(format!("{reason} ({k} of {})", cl.checks));
                        }
                    }
                }
                h = h.raw("fired", &self.clauses(fired.into_iter()));
                if !counting.is_empty() {
                    h = h.val("counting", counting);
                }
                let errs: Vec<ClauseId> = bits.error_in(range).collect();
                if !errs.is_empty() {
                    h = h.raw("erroneous", &self.clauses(errs.into_iter()));
                }
            }
            o = o.raw("health", &h.finish());
        }
        if let Some(e) = d.eval_error {
            o = o.val("eval_error", e.to_string());
        }
        let actions: Vec<String> = log.actions.iter().map(|a| self.action(a)).collect();
        o = o.val("actions", actions);
        if log.halted {
            o = o.val("performed", log.performed).val("halted", true);
        }
        if log.after.install_attempts() > 0 {
            o = o.val("install_attempts", log.after.install_attempts());
        }
        if log.after.boot_attempts() > 0 {
            o = o.val("boot_attempts", log.after.boot_attempts());
        }
        let mut v = Obj::default();
        for (p, &ver) in (0u8..).zip(log.versions) {
            v = v.val(self.sidecar.plane(p), version_text(ver));
        }
        o = o.raw("versions", &v.finish());
        self.lines.push(o.finish());
    }
}

/// What `fleetgate-agent` does: load, replay, return the transcript and the engine that ran.
pub fn cli(
    profile: &str,
    artifact: &Path,
    script: &Path,
) -> Result<(String, Option<&'static str>), SessionError> {
    let profile = Profile::from_name(profile).ok_or_else(|| {
        SessionError::new(format!("unknown profile `{profile}`"))
            .help("profiles are `esp32c3` and `rk3566`")
    })?;
    let (policy, sidecar) = load(artifact)?;
    let text = std::fs::read_to_string(script)
        .map_err(|e| SessionError::new(format!("cannot read `{}`: {e}", script.display())))?;
    run_engine(profile, &policy, &sidecar, &text).map_err(|e| SessionError {
        message: format!(
            "{}:{}",
            script.display(),
            e.message.trim_start_matches("line ")
        ),
        help: e.help,
    })
}
