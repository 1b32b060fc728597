//! Policy updates on a device that trusts one key: refused artifacts leave it on its current policy,
//! the highest accepted serial survives power loss (also right after accepting, and torn in the
//! middle of the acceptance's journal write), format-1 journals still boot, and an update in progress
//! carries on under a newly accepted policy.

use crate::common::*;
use fleetgate_agents::driver::Storage;
use fleetgate_agents::journal;
use fleetgate_agents::mem::Crash;
use fleetgate_agents::{
    Accepted, Agent, Ctx, Desired, MemStorage, Parked, Phase, Profile, ProfileEvaluator, Refusal,
};
use fleetgate_runtime::artifact::Artifact;
use fleetgate_runtime::sign::{PublicKey, SecretKey, SignError};
use fleetgate_runtime::verify::Policy;

type DeviceAgent<'p> = Agent<'p, MemStorage, TestClock, TestTransport, ProfileEvaluator<'p>, ()>;

const PROFILE: Profile = Profile::Esp32c3;
/// Two in the morning.
const START: u32 = 2 * 3600;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn trusted() -> PublicKey {
    key(1).public()
}

/// The edge-ai artifact with `serial`, changed by `edit`, signed by key `k`.
fn artifact(k: u8, serial: u64, edit: impl FnOnce(&mut Artifact)) -> Vec<u8> {
    let mut a = policy().artifact().clone();
    a.serial = serial;
    edit(&mut a);
    key(k).sign(&a)
}

fn serial(n: u64) -> Vec<u8> {
    artifact(1, n, |_| {})
}

fn ctx(policy: &Policy) -> Ctx<'_, ProfileEvaluator<'_>> {
    Ctx::new(policy, PROFILE, ProfileEvaluator::new(policy, PROFILE)).unwrap()
}

/// A device fresh from the factory running `policy`, booted.
fn device(policy: &Policy) -> DeviceAgent<'_> {
    let mut agent = Agent::new(
        ctx(policy),
        MemStorage::new(&FACTORY),
        TestClock { now: START },
        TestTransport::default(),
        (),
    );
    set_telemetry(agent.telemetry_mut(), PROFILE, Tele::Good);
    agent.boot().unwrap();
    agent
}

/// Provisioning: the factory policy (serial 1) checked and journaled as the first accepted artifact.
fn provisioned() -> (Policy, Parked<MemStorage, TestClock, TestTransport>) {
    let bytes = serial(1);
    let boot_policy = policy();
    let mut agent = device(boot_policy);
    let admitted = agent.admit(&trusted(), &bytes).unwrap();
    agent.accept(&admitted).unwrap();
    assert_eq!(agent.accepted().map(|a| a.serial), Some(1));
    (admitted.into_policy(), agent.park())
}

/// An offered artifact, named, and what its refusal must match.
type Case = (&'static str, Vec<u8>, fn(&Refusal) -> bool);

fn accepted_serial(agent: &DeviceAgent<'_>) -> Option<u64> {
    agent.accepted().map(|a| a.serial)
}

#[test]
fn refused_artifacts_leave_the_device_on_its_policy() {
    let (current, parked) = provisioned();
    let mut agent = parked.resume(ctx(&current));
    let older_first = serial(3);
    let admitted = agent.admit(&trusted(), &older_first).unwrap();
    agent.accept(&admitted).unwrap();
    let ops = agent.storage().ops();
    let state = *agent.state();

    let cases: Vec<Case> = vec![
        ("unsigned", policy().artifact().encode(), |r| {
            *r == Refusal::Artifact(SignError::Unsigned)
        }),
        ("another key", artifact(2, 9, |_| {}), |r| {
            matches!(r, Refusal::Artifact(SignError::OtherKey { .. }))
        }),
        (
            "tampered",
            {
                let mut b = serial(9);
                let n = b.len();
                b[n - 100] ^= 0x40;
                b
            },
            |r| {
                matches!(
                    r,
                    Refusal::Artifact(SignError::BadSignature { .. } | SignError::Malformed(_))
                )
            },
        ),
        ("older serial", serial(2), |r| {
            *r == Refusal::Older {
                serial: 2,
                highest: 3,
            }
        }),
        (
            "same serial, other bytes",
            artifact(1, 3, |a| a.rollout.retries += 1),
            |r| *r == Refusal::SameSerial { serial: 3 },
        ),
        (
            "another schema",
            artifact(1, 9, |a| a.schema_hash ^= 1),
            |r| matches!(r, Refusal::Schema { .. }),
        ),
        ("garbage", b"FGPA\x01\x00\x00\x00garbage".to_vec(), |r| {
            matches!(r, Refusal::Artifact(SignError::Malformed(_)))
        }),
    ];
    for (name, bytes, expected) in cases {
        let r = agent.admit(&trusted(), &bytes).unwrap_err();
        assert!(expected(&r), "{name}: {r:?}");
        // Nothing was written and the device runs the same policy in the same state.
        assert_eq!(agent.storage().ops(), ops, "{name}");
        assert_eq!(*agent.state(), state, "{name}");
        assert_eq!(accepted_serial(&agent), Some(3), "{name}");
        assert!(std::ptr::eq(agent.ctx().policy(), &current), "{name}");
    }
    // And it still updates its firmware under that policy.
    let release = Desired::new(1).with(FIRMWARE, v(1, 5, 0));
    agent.transport_mut().offered = Some(release);
    agent.transport_mut().releases.push(release);
    agent.check_in().unwrap();
    assert_eq!(agent.state().phase(), Phase::Verifying);
}

#[test]
fn the_accepted_serial_survives_a_power_loss_right_after_accepting() {
    let (current, parked) = provisioned();
    let mut agent = parked.resume(ctx(&current));
    let two = serial(2);
    let admitted = agent.admit(&trusted(), &two).unwrap();
    agent.accept(&admitted).unwrap();
    // The power goes before the device even switches policy: it reboots on the policy it had.
    agent.boot().unwrap();
    assert_eq!(accepted_serial(&agent), Some(2));
    assert_eq!(
        agent.admit(&trusted(), &serial(1)).unwrap_err(),
        Refusal::Older {
            serial: 1,
            highest: 2
        }
    );
    // The accepted artifact itself (sent again, or re-read from storage) is still fine.
    let again = agent.admit(&trusted(), &two).unwrap();
    assert!(again.renewed());
    let ops = agent.storage().ops();
    agent.accept(&again).unwrap();
    assert_eq!(agent.storage().ops(), ops, "nothing new to journal");
    // Many reboots later, still.
    for _ in 0..3 {
        agent.boot().unwrap();
    }
    assert_eq!(accepted_serial(&agent), Some(2));
}

#[test]
fn acceptance_is_durable_once_accept_returns() {
    // The power goes at the acceptance's journal write, torn or not, or at the first operation after.
    for (at, torn) in [(0, false), (0, true), (1, false), (1, true)] {
        let (current, parked) = provisioned();
        let mut agent = parked.resume(ctx(&current));
        let two = serial(2);
        let admitted = agent.admit(&trusted(), &two).unwrap();
        let op = agent.storage().ops() + at;
        agent.storage_mut().arm_crash(Crash { at_op: op, torn });
        let result = agent.accept(&admitted);
        // The next journal write (a check-in's step) is operation 1.
        let release = Desired::new(1).with(FIRMWARE, v(1, 5, 0));
        agent.transport_mut().offered = Some(release);
        agent.transport_mut().releases.push(release);
        let after = if result.is_ok() {
            agent.check_in()
        } else {
            Ok(())
        };
        if result.is_err() || after.is_err() {
            agent.boot().unwrap();
        }
        let expected = if result.is_ok() { 2 } else { 1 };
        assert_eq!(
            accepted_serial(&agent),
            Some(expected),
            "crash at +{at} torn {torn}: accept {result:?}"
        );
        // Whatever happened, offering the new artifact again ends with it accepted.
        let again = agent.admit(&trusted(), &two).unwrap();
        agent.accept(&again).unwrap();
        agent.boot().unwrap();
        assert_eq!(accepted_serial(&agent), Some(2));
    }
}

/// Reboots until the agent stays up.
fn up(agent: &mut DeviceAgent<'_>) {
    for _ in 0..10 {
        if !agent.halted() {
            return;
        }
        let _ = agent.boot();
    }
    panic!("the device never came back up");
}

#[test]
fn a_power_loss_at_every_operation_of_an_update_with_a_policy_switch() {
    // A firmware update starts, serial 2 is accepted and switched to, the update finishes; the power
    // goes at operation k (torn where it can tear). The journal always holds serial 1 or 2, and 2
    // from the moment `accept` returned.
    let release = Desired::new(1).with(FIRMWARE, v(1, 5, 0));
    let two = serial(2);
    let mut cut_acceptances = 0;
    for k in 0..30u64 {
        let (current, parked) = provisioned();
        let mut agent = parked.resume(ctx(&current));
        agent.transport_mut().offered = Some(release);
        agent.transport_mut().releases.push(release);
        let at_op = agent.storage().ops() + k;
        agent.storage_mut().arm_crash(Crash { at_op, torn: true });
        let _ = agent.check_in();
        up(&mut agent);
        let admitted = agent.admit(&trusted(), &two).unwrap();
        if agent.accept(&admitted).is_err() {
            up(&mut agent);
            assert_eq!(accepted_serial(&agent), Some(1), "k {k}: torn acceptance");
            cut_acceptances += 1;
            continue;
        }
        assert_eq!(accepted_serial(&agent), Some(2), "k {k}");
        let next = admitted.into_policy();
        let mut agent = agent.park().resume(ctx(&next));
        for _ in 0..50 {
            up(&mut agent);
            let now = agent.clock().now;
            agent.clock_mut().now = agent.state().deadline().unwrap_or(now).max(now);
            let _ = agent.tick();
            let _ = agent.check_in();
        }
        up(&mut agent);
        agent.storage_mut().disarm();
        agent.boot().unwrap();
        assert_eq!(accepted_serial(&agent), Some(2), "k {k}");
        assert!(
            agent.state().phase().is_terminal(),
            "k {k}: {:?}",
            agent.state()
        );
        assert!(agent.storage().settled(), "k {k}");
    }
    assert_eq!(
        cut_acceptances, 1,
        "the power went once during the acceptance itself"
    );
}

#[test]
fn an_update_in_progress_goes_on_under_a_newly_accepted_policy() {
    let (current, parked) = provisioned();
    let mut agent = parked.resume(ctx(&current));
    let release = Desired::new(1).with(FIRMWARE, v(1, 5, 0));
    agent.transport_mut().offered = Some(release);
    agent.transport_mut().releases.push(release);
    agent.check_in().unwrap();
    assert_eq!(agent.state().phase(), Phase::Verifying);
    let state = *agent.state();
    let telemetry = agent.telemetry().slots().to_vec();

    let admitted = agent.admit(&trusted(), &serial(2)).unwrap();
    agent.accept(&admitted).unwrap();
    let parked = agent.park();
    let next = admitted.into_policy();
    let mut agent = parked.resume(ctx(&next));
    assert_eq!(agent.ctx().policy().artifact().serial, 2);
    assert_eq!(*agent.state(), state, "resuming is not a reboot");
    assert_eq!(agent.telemetry().slots(), &telemetry[..]);

    for _ in 0..200 {
        if agent.state().phase().is_terminal() {
            break;
        }
        let Some(d) = agent.state().deadline() else {
            break;
        };
        agent.clock_mut().now = d.max(agent.clock().now);
        agent.tick().unwrap();
    }
    assert_eq!(agent.state().phase(), Phase::Committed);
    assert!(agent.storage().settled());
    assert_eq!(
        agent.storage().versions()[usize::from(FIRMWARE)],
        v(1, 5, 0)
    );
    // The journal written under the new policy still carries the accepted serial.
    agent.boot().unwrap();
    assert_eq!(accepted_serial(&agent), Some(2));
}

#[test]
fn a_format_1_journal_boots_with_nothing_accepted() {
    let policy = policy();
    let state = *device(policy).state();
    // What an agent before signed artifacts journaled for this state, in the sector of seq 41.
    let mut old = [0u8; journal::RECORD_LEN];
    old[..4].copy_from_slice(b"FGAJ");
    old[4..8].copy_from_slice(&41u32.to_le_bytes());
    old[8..10].copy_from_slice(&1u16.to_le_bytes());
    old[10..12].copy_from_slice(&47u16.to_le_bytes());
    old[12..59].copy_from_slice(&state.to_bytes());
    let crc = journal::crc32(&old[..59]);
    old[59..63].copy_from_slice(&crc.to_le_bytes());
    let mut storage = MemStorage::new(&FACTORY);
    storage.write_journal(1, &old).unwrap();
    let mut agent = Agent::new(
        ctx(policy),
        storage,
        TestClock { now: START },
        TestTransport::default(),
        (),
    );
    agent.boot().unwrap();
    assert_eq!(agent.accepted(), None);
    assert_eq!(*agent.state(), state);
    // The first acceptance writes format 2 after it.
    let admitted = agent.admit(&trusted(), &serial(4)).unwrap();
    agent.accept(&admitted).unwrap();
    let sector = agent.storage().read_journal(0);
    let entry = journal::decode(&sector).unwrap();
    assert_eq!(entry.seq, 42);
    assert_eq!(
        entry.accepted,
        Some(Accepted {
            serial: 4,
            digest: fleetgate_runtime::sign::digest(&serial(4))
        })
    );
}
