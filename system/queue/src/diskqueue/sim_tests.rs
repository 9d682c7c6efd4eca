//! The disk queue under the simulator's crashing, failing disk (rt::sim hooks): what a crash may
//! and may not take, and that every injected error reaches the caller.

use super::tests::{config, drain, rec, scratch};
use super::*;
use rt::disk::DiskFaults;
use rt::sim;

fn crash(tear: bool) {
    sim::disk_crash(sim::current_node(), tear);
}

fn faults(f: DiskFaults) {
    sim::disk_set_faults(sim::current_node(), f);
}

/// Asserts `got` is `rec(from)..rec(to)` for some `to` in `to_range`, returns `to`.
fn assert_prefix(got: &[Vec<u8>], from: u32, to_range: std::ops::RangeInclusive<u32>) -> u32 {
    let to = from + got.len() as u32;
    assert!(to_range.contains(&to), "recovered up to {to}, allowed {to_range:?}");
    assert_eq!(got, (from..to).map(rec).collect::<Vec<_>>());
    to
}

#[tokio::test]
async fn a_crash_keeps_every_synced_record_and_may_drop_unsynced_ones() {
    sim::reset();
    let mut lost_some = false;
    for round in 0..24u32 {
        let disk = scratch(&format!("crash{round}"));
        let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
        // Files hold 6 records: 0..6 in file 0, the synced 6 and 7 at the start of file 1.
        for i in 0..8 {
            q.put(&rec(i)).await.unwrap();
        }
        q.sync().await.unwrap();
        // Then 1..=12 unsynced ones: some rounds stay in file 1, others roll (which fsyncs it).
        let end = 8 + 1 + round % 12;
        for i in 8..end {
            q.put(&rec(i)).await.unwrap();
        }
        drop(q);
        crash(round % 2 == 0);
        let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
        let got = drain(&mut q).await;
        let to = assert_prefix(&got, 0, 8..=end);
        lost_some |= to < end;
        // The recovered queue takes writes again.
        q.put(&rec(100)).await.unwrap();
        assert_eq!(q.pop().await.unwrap().unwrap(), rec(100));
    }
    assert!(lost_some, "a crash never dropped an unsynced record: the test does not test");
}

#[tokio::test]
async fn with_sync_every_1_a_crash_loses_nothing_and_rereads_nothing() {
    sim::reset();
    for round in 0..8u32 {
        let disk = scratch(&format!("every1-{round}"));
        let cfg = DiskQueueConfig { sync_every: 1, ..config() };
        let mut q = DiskQueue::open(disk.clone(), "t", cfg.clone()).await.unwrap();
        for i in 0..20 {
            q.put(&rec(i)).await.unwrap();
        }
        for i in 0..round {
            assert_eq!(q.pop().await.unwrap().unwrap(), rec(i));
        }
        drop(q);
        crash(round % 2 == 1);
        let mut q = DiskQueue::open(disk, "t", cfg).await.unwrap();
        assert_eq!(q.depth(), u64::from(20 - round));
        assert_eq!(drain(&mut q).await, (round..20).map(rec).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn the_skip_fsync_variant_loses_acknowledged_records_in_a_crash() {
    sim::reset();
    let disk = scratch("skipfsync");
    let cfg = DiskQueueConfig { sync_every: 1, skip_fsync: true, ..config() };
    let mut q = DiskQueue::open(disk.clone(), "t", cfg.clone()).await.unwrap();
    for i in 0..10 {
        q.put(&rec(i)).await.unwrap();
    }
    drop(q);
    crash(false);
    let mut q = DiskQueue::open(disk, "t", cfg).await.unwrap();
    let got = drain(&mut q).await;
    assert!(got.len() < 10, "every acknowledged record survived: the broken variant is not broken");
    // Whatever is left is still in order and readable.
    assert_prefix(&got, 0, 0..=9);
}

#[tokio::test]
async fn a_clean_stop_keeps_everything_even_unsynced() {
    sim::reset();
    let disk = scratch("clean");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    for i in 0..15 {
        q.put(&rec(i)).await.unwrap();
    }
    q.close().await.unwrap();
    sim::disk_flush_all(sim::current_node());
    crash(true);
    let mut q = DiskQueue::open(disk, "t", config()).await.unwrap();
    assert_eq!(drain(&mut q).await, (0..15).map(rec).collect::<Vec<_>>());
}

#[tokio::test]
async fn write_errors_and_a_full_disk_are_returned_and_leave_the_queue_usable() {
    sim::reset();
    let disk = scratch("werr");
    let cfg = DiskQueueConfig { sync_every: 1, ..config() };
    let mut q = DiskQueue::open(disk.clone(), "t", cfg.clone()).await.unwrap();
    q.put(&rec(0)).await.unwrap();

    faults(DiskFaults { write_errors: true, ..Default::default() });
    assert!(q.put(&rec(1)).await.is_err());
    assert!(q.sync().await.is_err());
    faults(DiskFaults { full: true, ..Default::default() });
    assert_eq!(q.put(&rec(2)).await.unwrap_err().kind(), io::ErrorKind::StorageFull);
    faults(DiskFaults::default());

    q.put(&rec(3)).await.unwrap();
    assert_eq!(q.depth(), 2);
    drop(q);
    crash(false);
    let mut q = DiskQueue::open(disk, "t", cfg).await.unwrap();
    assert_eq!(drain(&mut q).await, vec![rec(0), rec(3)], "failed puts left nothing behind");
}

#[tokio::test]
async fn a_failing_sync_fails_the_put_that_needed_it() {
    sim::reset();
    let disk = scratch("syncerr");
    let cfg = DiskQueueConfig { sync_every: 2, ..config() };
    let mut q = DiskQueue::open(disk, "t", cfg).await.unwrap();
    q.put(&rec(0)).await.unwrap();
    faults(DiskFaults { write_errors: true, ..Default::default() });
    // The append itself fails first here; either way the caller hears of it.
    assert!(q.put(&rec(1)).await.is_err());
    faults(DiskFaults::default());
    q.put(&rec(1)).await.unwrap();
    assert_eq!(drain(&mut q).await, vec![rec(0), rec(1)]);
}

#[tokio::test]
async fn read_errors_are_returned_and_the_read_is_retried() {
    sim::reset();
    let disk = scratch("rerr");
    let mut q = DiskQueue::open(disk, "t", config()).await.unwrap();
    q.put(&rec(0)).await.unwrap();
    q.put(&rec(1)).await.unwrap();
    faults(DiskFaults { read_errors: true, ..Default::default() });
    assert!(q.pop().await.is_err());
    faults(DiskFaults::default());
    assert_eq!(drain(&mut q).await, vec![rec(0), rec(1)]);
}

#[tokio::test]
async fn a_torn_record_in_a_finished_file_skips_to_the_next_file() {
    sim::reset();
    let disk = scratch("torn-skip");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    for i in 0..12 {
        q.put(&rec(i)).await.unwrap(); // 19-byte records: file 0: 0..5, file 1: 5..10, file 2: 10..12
    }
    q.close().await.unwrap();
    // Tear file 0 in the middle of its fifth record (as a lost write of a finished file would).
    let mut f = disk.open("t.diskqueue.000000.dat").await.unwrap();
    f.set_len(85).await.unwrap();
    f.sync().await.unwrap();
    drop(f);
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    let got = drain(&mut q).await;
    let want: Vec<Vec<u8>> = (0..4).chain(5..12).map(rec).collect();
    assert_eq!(got, want);
    assert!(disk.exists("t.diskqueue.000000.dat.bad").await.unwrap());
}

#[tokio::test]
async fn a_torn_tail_after_a_crash_is_cut_and_the_queue_goes_on() {
    sim::reset();
    let mut torn_mid_record = false;
    for round in 0..24u32 {
        let disk = scratch(&format!("tear{round}"));
        let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
        for i in 0..3 {
            q.put(&rec(i)).await.unwrap();
        }
        q.sync().await.unwrap();
        for i in 3..6 {
            q.put(&rec(i)).await.unwrap();
        }
        drop(q);
        crash(true);
        let len = disk.read("t.diskqueue.000000.dat").await.unwrap().len();
        torn_mid_record |= len % 15 != 0;
        let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
        let kept = q.depth() as u32;
        q.put(&rec(50)).await.unwrap();
        let got = drain(&mut q).await;
        let mut want: Vec<Vec<u8>> = (0..kept).map(rec).collect();
        want.push(rec(50));
        assert!((3..=6).contains(&kept));
        assert_eq!(got, want);
    }
    assert!(torn_mid_record, "no crash tore a record in half: the test does not test");
}

#[tokio::test]
async fn with_sync_every_1_a_taken_but_unacked_record_survives_a_crash() {
    sim::reset();
    for round in 0..8u32 {
        let disk = scratch(&format!("unacked-{round}"));
        let cfg = DiskQueueConfig { sync_every: 1, ..config() };
        let mut q = DiskQueue::open(disk.clone(), "t", cfg.clone()).await.unwrap();
        // Spread over files so acks also free (and remove) segments.
        for i in 0..14 {
            q.put(&rec(i)).await.unwrap();
        }
        let mut taken = Vec::new();
        for _ in 0..(4 + round) {
            taken.push(q.pop_unacked().await.unwrap().unwrap().0);
        }
        // Ack every other taken record (out of order): those below the first unacked one are
        // gone for good, the rest come back.
        for at in taken.iter().step_by(2) {
            assert!(q.ack(*at).await);
        }
        drop(q);
        crash(round % 2 == 0);
        let mut q = DiskQueue::open(disk, "t", cfg).await.unwrap();
        let got = drain(&mut q).await;
        // Record 0 was acked (and synced: sync_every 1), record 1 was not: reading resumes at 1.
        assert_prefix(&got, 1, 14..=14);
    }
}
