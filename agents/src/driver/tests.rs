//! The driver: boot, write-ahead order of journal records and storage actions, recovery.

use super::*;
use crate::eval::Interp;
use crate::machine::Profile;
use crate::machine::tests::edge_ai;
use crate::mem::{Crash, MemStorage, OpKind};
use crate::state::Phase;
use alloc::vec::Vec;
use fleetgate_runtime::value::pack_version;

struct At(u32);

impl Clock for At {
    fn now(&self) -> u32 {
        self.0
    }
}

#[derive(Default)]
struct Planner {
    offered: Option<Desired>,
    reports: Vec<(u32, Status)>,
}

impl Transport for Planner {
    fn check_in(&mut self) -> Option<Desired> {
        self.offered
    }

    fn download(&mut self, release: u32, plane: u8) -> Result<Image, Fault> {
        let version = self
            .offered
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

const FACTORY: [u64; 3] = [
    pack_version(1, 3, 0),
    pack_version(1, 9, 0),
    pack_version(6, 0, 0),
];

fn agent(storage: MemStorage) -> Agent<'static, MemStorage, At, Planner, Interp<'static>> {
    let policy = edge_ai();
    let ctx = Ctx::new(policy, Profile::Esp32c3, Interp::new(policy)).unwrap();
    let mut a = Agent::new(ctx, storage, At(36_000), Planner::default(), ());
    let t = a.telemetry_mut();
    // esp32c3, eu_west, 90% battery, charging, 120 KB heap, 8 MB flash, -60 dBm, 45 °C, idle, 0 reboots.
    for (slot, v) in [
        (0, 0),
        (1, 0),
        (2, 0.9f64.to_bits()),
        (3, 1),
        (4, 120),
        (5, 8192),
        (6, (-60i64) as u64),
        (7, 45f64.to_bits()),
        (8, 0),
        (11, 0),
    ] {
        t.set(slot, v);
    }
    a.transport_mut().offered = Some(
        Desired::new(1)
            .with(0, pack_version(1, 5, 0))
            .with(1, pack_version(2, 1, 0)),
    );
    a
}

#[test]
fn an_agent_does_nothing_before_it_boots() {
    let mut a = agent(MemStorage::new(&FACTORY));
    assert!(a.halted());
    assert_eq!(a.check_in(), Err(PowerLoss));
    a.boot().unwrap();
    assert_eq!(a.state().phase(), Phase::Idle);
    assert_eq!(
        a.storage().ops(),
        0,
        "a fresh device journals nothing until something happens"
    );
}

#[test]
fn every_storage_action_comes_after_the_journal_record_of_its_step() {
    let mut storage = MemStorage::new(&FACTORY);
    storage.record_trace();
    let mut a = agent(storage);
    a.boot().unwrap();
    a.check_in().unwrap();
    assert_eq!(a.state().phase(), Phase::Verifying);
    use OpKind::*;
    assert_eq!(
        a.storage().trace(),
        [
            Journal, // checkin -> downloading
            Journal, // downloaded -> installing
            Write, Journal, // installed -> booting
            Boot, Journal, // booted -> downloading (model)
            Journal, Write, Journal, Boot, Journal, // booted -> verifying
        ]
    );
    assert_eq!(
        a.transport_mut().reports,
        [(1, Status::Updating), (1, Status::Verifying)]
    );
    for _ in 0..10 {
        let d = a.state().deadline().unwrap();
        a.clock_mut().0 = d;
        assert!(a.tick().unwrap());
    }
    assert_eq!(a.state().phase(), Phase::Committed);
    assert!(a.storage().settled());
    assert_eq!(a.storage().trace().len(), 23);
    assert_eq!(&a.storage().trace()[20..], [Journal, Confirm, Confirm]);
}

#[test]
fn a_reboot_resumes_from_the_newest_whole_record() {
    let mut storage = MemStorage::new(&FACTORY);
    // The power goes halfway through the third journal write (installed -> booting).
    storage.arm_crash(Crash {
        at_op: 3,
        torn: true,
    });
    let mut a = agent(storage);
    a.boot().unwrap();
    assert_eq!(a.check_in(), Err(PowerLoss));
    assert!(a.halted());
    assert_eq!(a.tick(), Err(PowerLoss));
    // The newest whole record says `installing`: the image is gone with the RAM, fetch it again.
    a.boot().unwrap();
    assert_eq!(
        a.state().phase(),
        Phase::Verifying,
        "recovered and carried on"
    );
    assert_eq!(
        a.versions()[..3],
        [pack_version(1, 5, 0), pack_version(2, 1, 0), FACTORY[2]]
    );
    let (storage, ..) = a.into_parts();
    let mut b = agent(storage);
    b.boot().unwrap();
    // On an ESP32-C3 a reboot while verifying is the new slots' one boot attempt.
    assert_eq!(b.state().phase(), Phase::Failed);
    assert_eq!(b.versions()[..3], FACTORY);
}
