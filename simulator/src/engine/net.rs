//! Network partitions, per region and trial.
//!
//! In: the fleet's regions and a trial's `Purpose::Partition` streams. Out: for each region a sorted list
//! of disjoint `[start, end)` intervals (seconds) in which its devices can neither check in, download
//! nor report; queries for "is it partitioned at t", "when does this partition end" and "does one
//! start before t". Arrivals are Poisson (`per_day`), durations from the region's distribution.

use crate::input::fleet::Fleet;
use crate::rng::{Purpose, Stream};

#[derive(Clone, Debug, Default)]
pub struct Partitions {
    /// Per region variant (index = the `region` enum value): merged intervals.
    by_region: Vec<Vec<(u32, u32)>>,
}

impl Partitions {
    pub fn generate(fleet: &Fleet, seed: u64, trial: u64, horizon: u32) -> Partitions {
        let n = fleet
            .regions
            .iter()
            .map(|r| usize::from(r.variant) + 1)
            .max()
            .unwrap_or(0);
        let mut by_region = vec![Vec::new(); n];
        for r in &fleet.regions {
            let Some(duration) = &r.partition_duration else {
                continue;
            };
            if r.partitions_per_day <= 0.0 {
                continue;
            }
            let mut s = Stream::new(seed, trial, u64::from(r.variant), Purpose::Partition);
            let mean_gap = 86_400.0 / r.partitions_per_day;
            let mut t = 0.0f64;
            let mut list: Vec<(u32, u32)> = Vec::new();
            loop {
                t += s.exp(mean_gap);
                if t >= f64::from(horizon) {
                    break;
                }
                let d = duration.sample_f64(&mut s).max(1.0);
                let (a, b) = (t as u32, (t + d).min(f64::from(u32::MAX - 1)) as u32);
                match list.last_mut() {
                    Some(last) if a <= last.1 => last.1 = last.1.max(b),
                    _ => list.push((a, b)),
                }
            }
            by_region[usize::from(r.variant)] = list;
        }
        Partitions { by_region }
    }

    fn list(&self, region: usize) -> &[(u32, u32)] {
        self.by_region.get(region).map_or(&[], Vec::as_slice)
    }

    /// The end of the partition containing `t`, if `t` is inside one.
    #[inline]
    pub fn blocked_until(&self, region: usize, t: u32) -> Option<u32> {
        let l = self.list(region);
        if l.is_empty() {
            return None;
        }
        let i = l.partition_point(|&(a, _)| a <= t);
        (i > 0 && t < l[i - 1].1).then(|| l[i - 1].1)
    }

    /// The start of the first partition beginning in `(from, to)`, if any.
    #[inline]
    pub fn starts_within(&self, region: usize, from: u32, to: u32) -> Option<u32> {
        let l = self.list(region);
        let i = l.partition_point(|&(a, _)| a <= from);
        l.get(i).map(|&(a, _)| a).filter(|&a| a < to)
    }
}
