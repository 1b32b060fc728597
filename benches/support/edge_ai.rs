//! The `policies/edge-ai` rails written by hand in plain Rust: the baseline the engines are measured
//! against in `benches/eval.rs`. It reads the same slot records as the engines (so the comparison is
//! of evaluation, not of data layout) and must decide exactly as they do; `tests/handwritten.rs`
//! checks that on the bench's records.

use fleetgate_lang::typed::Package;
use fleetgate_runtime::decision::RailVerdict;

/// Slot numbers and enum values, looked up once from the package.
pub struct EdgeAiRails {
    hw: usize,
    battery: usize,
    charging: usize,
    free_heap_kb: usize,
    flash_free_kb: usize,
    rssi_dbm: usize,
    cpu_temp_c: usize,
    mission_phase: usize,
    reboots_24h: usize,
    hour: usize,
    release_model: usize,
    esp32c3: u64,
    esp32s3: u64,
    rk3566: u64,
    active: u64,
    critical: u64,
}

fn variant(pkg: &Package, enum_name: &str, v: &str) -> u64 {
    let e = pkg
        .enums
        .iter()
        .find(|e| e.name == enum_name)
        .expect("edge-ai declares the enum");
    e.variants
        .iter()
        .position(|x| x == v)
        .expect("edge-ai declares the variant") as u64
}

impl EdgeAiRails {
    pub fn new(pkg: &Package) -> EdgeAiRails {
        let field = |name: &str| pkg.field_by_name(name).expect("edge-ai field").index();
        let n_fields = pkg.fields.len();
        let n_planes = pkg.planes.len();
        let model = pkg
            .plane_by_name("model")
            .expect("edge-ai has a model plane")
            .index();
        EdgeAiRails {
            hw: field("hw"),
            battery: field("battery"),
            charging: field("charging"),
            free_heap_kb: field("free_heap_kb"),
            flash_free_kb: field("flash_free_kb"),
            rssi_dbm: field("rssi_dbm"),
            cpu_temp_c: field("cpu_temp_c"),
            mission_phase: field("mission_phase"),
            reboots_24h: field("reboots_24h"),
            hour: n_fields + n_planes,
            release_model: n_fields + n_planes + 2 + model,
            esp32c3: variant(pkg, "Hw", "esp32c3"),
            esp32s3: variant(pkg, "Hw", "esp32s3"),
            rk3566: variant(pkg, "Hw", "rk3566"),
            active: variant(pkg, "Phase", "active"),
            critical: variant(pkg, "Phase", "critical"),
        }
    }

    /// The rails decision and the set of fired clauses (bit i = the i-th rail clause in source order),
    /// which is what a decision carries: the verdict alone would be less work than the engines do.
    #[inline]
    pub fn decide(&self, slots: &[u64], missing: &[u64]) -> (RailVerdict, u64) {
        let f = |s: usize| f64::from_bits(slots[s]);
        let i = |s: usize| slots[s] as i64;
        let present = |s: usize| missing[s / 64] >> (s % 64) & 1 == 0;
        let hw = slots[self.hw];
        let on_mcu = hw == self.esp32c3 || hw == self.esp32s3;
        let charging = slots[self.charging] != 0;
        let battery = f(self.battery);
        let temp = f(self.cpu_temp_c);
        let phase = slots[self.mission_phase];
        let rssi = if present(self.rssi_dbm) {
            i(self.rssi_dbm)
        } else {
            -127
        };
        let hour = i(self.hour);
        let fired = u64::from(battery < 0.3 && !charging)
            | u64::from(battery < 0.5 && !charging) << 1
            | u64::from(temp > 85.0) << 2
            | u64::from(temp > 70.0) << 3
            | u64::from(phase == self.critical) << 4
            | u64::from(phase == self.active && hw == self.rk3566) << 5
            | u64::from(on_mcu && i(self.free_heap_kb) < 40) << 6
            | u64::from(on_mcu && rssi < -80) << 7
            | u64::from(present(self.release_model) && i(self.flash_free_kb) < 2048) << 8
            | u64::from(i(self.reboots_24h) >= 3) << 9
            | u64::from(hw == self.rk3566 && !(1..=4).contains(&hour)) << 10;
        const DENY: u64 = 1 | 1 << 2 | 1 << 6 | 1 << 8 | 1 << 9;
        const DEFER_SECS: [(u64, u32); 6] = [
            (1 << 1, 1800),
            (1 << 3, 3600),
            (1 << 4, 900),
            (1 << 5, 300),
            (1 << 7, 3600),
            (1 << 10, 3600),
        ];
        if fired & DENY != 0 {
            return (RailVerdict::Deny, fired);
        }
        let mut defer = 0u32;
        for (bit, secs) in DEFER_SECS {
            if fired & bit != 0 {
                defer = defer.max(secs);
            }
        }
        let verdict = if defer > 0 {
            RailVerdict::Defer { secs: defer }
        } else {
            RailVerdict::Allow
        };
        (verdict, fired)
    }
}
