//! The flash model: A/B slots, idempotent boot/confirm/revert, failures, power loss and tears.

use super::*;

const OLD: u64 = 10;
const NEW: u64 = 20;

fn image(release: u32) -> Image {
    Image {
        release,
        plane: 0,
        version: NEW + u64::from(release),
    }
}

#[test]
fn an_update_boots_on_trial_and_confirms() {
    let mut m = MemStorage::new(&[OLD]);
    m.write_inactive(&image(1)).unwrap();
    assert_eq!(m.active_version(0), OLD);
    assert_eq!(m.planes()[0].inactive().state, SlotState::New);
    m.boot(1, 0).unwrap();
    assert_eq!(m.active_version(0), NEW + 1);
    assert_eq!(m.planes()[0].active().state, SlotState::Trial);
    assert!(!m.settled());
    // Booting or confirming again changes nothing.
    m.boot(1, 0).unwrap();
    m.confirm(1, 0).unwrap();
    m.confirm(1, 0).unwrap();
    assert_eq!(m.active_version(0), NEW + 1);
    assert!(m.settled());
}

#[test]
fn revert_is_idempotent_and_only_undoes_its_release() {
    let mut m = MemStorage::new(&[OLD]);
    m.write_inactive(&image(1)).unwrap();
    m.boot(1, 0).unwrap();
    m.confirm(1, 0).unwrap();
    // Release 2 over release 1.
    m.write_inactive(&image(2)).unwrap();
    m.boot(2, 0).unwrap();
    // Reverting a release that is not on the plane, or release 0, does nothing.
    m.revert(3, 0).unwrap();
    m.revert(0, 0).unwrap();
    assert_eq!(m.active_version(0), NEW + 2);
    m.revert(2, 0).unwrap();
    assert_eq!(m.active_version(0), NEW + 1);
    m.revert(2, 0).unwrap();
    assert_eq!(
        m.active_version(0),
        NEW + 1,
        "a second revert must not flip back"
    );
    assert!(m.settled());
    // Release 1 was committed, and can still be reverted (an abort after commit) once.
    m.revert(1, 0).unwrap();
    assert_eq!(
        m.active_version(0),
        NEW + 1,
        "release 1's fallback was overwritten by release 2"
    );
}

#[test]
fn revert_discards_an_unbooted_image() {
    let mut m = MemStorage::new(&[OLD]);
    m.write_inactive(&image(1)).unwrap();
    m.revert(1, 0).unwrap();
    assert_eq!(m.planes()[0].inactive().state, SlotState::Invalid);
    assert_eq!(m.boot(1, 0), Err(Fault::Failed));
    assert_eq!(m.active_version(0), OLD);
}

#[test]
fn failures_and_refusals() {
    let mut m = MemStorage::new(&[OLD]);
    m.fail_writes = 1;
    assert_eq!(m.write_inactive(&image(1)), Err(Fault::Failed));
    assert_eq!(m.planes()[0].inactive().state, SlotState::Invalid);
    m.write_inactive(&image(1)).unwrap();
    m.fail_boots = 1;
    assert_eq!(m.boot(1, 0), Err(Fault::Failed));
    assert_eq!(m.active_version(0), OLD);
    m.boot(1, 0).unwrap();
    // The fallback of a slot on trial may not be overwritten.
    assert_eq!(m.write_inactive(&image(2)), Err(Fault::Failed));
    assert_eq!(
        m.write_inactive(&Image {
            plane: 9,
            ..image(2)
        }),
        Err(Fault::Failed)
    );
}

#[test]
fn power_loss_cuts_operations_and_tears_writes() {
    let mut m = MemStorage::new(&[OLD]);
    m.record_trace();
    m.arm_crash(Crash {
        at_op: 0,
        torn: true,
    });
    assert_eq!(m.write_inactive(&image(1)), Err(Fault::PowerLoss));
    assert_eq!(
        m.planes()[0].inactive().state,
        SlotState::Invalid,
        "torn slot"
    );
    m.arm_crash(Crash {
        at_op: 1,
        torn: false,
    });
    let rec = [7u8; RECORD_LEN];
    assert_eq!(m.write_journal(0, &rec), Err(Fault::PowerLoss));
    assert_eq!(m.read_journal(0), [0; RECORD_LEN], "cut before it wrote");
    m.arm_crash(Crash {
        at_op: 2,
        torn: true,
    });
    assert_eq!(m.write_journal(0, &rec), Err(Fault::PowerLoss));
    let half = m.read_journal(0);
    assert!(half[..RECORD_LEN / 2].iter().all(|&b| b == 7));
    assert!(half[RECORD_LEN / 2..].iter().all(|&b| b == 0));
    m.crash_on_next(OpKind::Boot);
    m.write_inactive(&image(1)).unwrap();
    assert_eq!(m.boot(1, 0), Err(Fault::PowerLoss));
    assert_eq!(m.active_version(0), OLD, "a boot is atomic");
    assert_eq!(
        m.trace(),
        [
            OpKind::Write,
            OpKind::Journal,
            OpKind::Journal,
            OpKind::Write,
            OpKind::Boot
        ]
    );
    assert_eq!(m.ops(), 5);
}
