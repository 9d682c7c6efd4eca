//! Disk queue behaviour through the seam, identical in both builds (real files / simulated disk).

use super::*;

pub(super) fn scratch(name: &str) -> Disk {
    #[cfg(not(madsim))]
    {
        let dir = std::env::temp_dir().join(format!("weir-diskqueue-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Disk::new(dir)
    }
    #[cfg(madsim)]
    {
        Disk::new(format!("/data/{name}"))
    }
}

pub(super) fn config() -> DiskQueueConfig {
    DiskQueueConfig {
        max_bytes_per_file: 100,
        min_msg_size_bytes: 1,
        max_msg_size_bytes: 64,
        sync_every: 1000,
        sync_timeout_ms: 2_000,
        skip_fsync: false,
    }
}

pub(super) fn rec(i: u32) -> Vec<u8> {
    format!("record-{i:04}").into_bytes()
}

pub(super) async fn drain(q: &mut DiskQueue) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(b) = q.pop().await.unwrap() {
        out.push(b.to_vec());
    }
    out
}

async fn segment_files(disk: &Disk, name: &str) -> Vec<String> {
    disk.list("").await.unwrap().into_iter().filter(|f| f.starts_with(name) && !f.contains("meta")).collect()
}

#[tokio::test]
async fn records_come_back_in_order_and_depth_counts_them() {
    let disk = scratch("fifo");
    let mut q = DiskQueue::open(disk, "t", config()).await.unwrap();
    assert_eq!(q.pop().await.unwrap(), None);
    for i in 0..5 {
        q.put(&rec(i)).await.unwrap();
    }
    assert_eq!(q.depth(), 5);
    assert_eq!(q.pop().await.unwrap().unwrap(), rec(0));
    assert_eq!(q.depth(), 4);
    assert_eq!(drain(&mut q).await, (1..5).map(rec).collect::<Vec<_>>());
    assert_eq!(q.depth(), 0);
}

#[tokio::test]
async fn files_roll_at_max_bytes_and_finished_files_are_removed() {
    let disk = scratch("roll");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    // 8 + 11 = 19 bytes per record (size, checksum, data): 5 records fit in 100 bytes, the 6th
    // rolls.
    for i in 0..20 {
        q.put(&rec(i)).await.unwrap();
    }
    let files = segment_files(&disk, "t.").await;
    assert_eq!(
        files,
        vec!["t.diskqueue.000000.dat", "t.diskqueue.000001.dat", "t.diskqueue.000002.dat", "t.diskqueue.000003.dat"]
    );
    assert_eq!(disk.read("t.diskqueue.000000.dat").await.unwrap().len(), 95);
    for i in 0..7 {
        assert_eq!(q.pop().await.unwrap().unwrap(), rec(i));
    }
    assert_eq!(segment_files(&disk, "t.").await.len(), 3, "the fully read first file is gone");
    assert_eq!(drain(&mut q).await, (7..20).map(rec).collect::<Vec<_>>());
    assert_eq!(segment_files(&disk, "t.").await, vec!["t.diskqueue.000003.dat"]);
}

#[tokio::test]
async fn a_record_larger_than_a_file_goes_alone_into_a_fresh_file() {
    let disk = scratch("big");
    let mut cfg = config();
    cfg.max_bytes_per_file = 20;
    let mut q = DiskQueue::open(disk.clone(), "t", cfg).await.unwrap();
    q.put(b"a").await.unwrap();
    q.put(&[b'x'; 40]).await.unwrap();
    q.put(b"b").await.unwrap();
    assert_eq!(segment_files(&disk, "t.").await.len(), 3);
    assert_eq!(drain(&mut q).await, vec![b"a".to_vec(), vec![b'x'; 40], b"b".to_vec()]);
}

#[tokio::test]
async fn sizes_outside_the_limits_are_refused() {
    let disk = scratch("limits");
    let mut q = DiskQueue::open(disk, "t", config()).await.unwrap();
    assert_eq!(q.put(b"").await.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    assert_eq!(q.put(&[0; 65]).await.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    q.put(&[0; 64]).await.unwrap();
    assert_eq!(q.depth(), 1);
}

#[tokio::test]
async fn a_clean_close_and_reopen_resumes_where_reading_stopped() {
    let disk = scratch("reopen");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    for i in 0..10 {
        q.put(&rec(i)).await.unwrap();
    }
    for i in 0..3 {
        assert_eq!(q.pop().await.unwrap().unwrap(), rec(i));
    }
    q.close().await.unwrap();
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.depth(), 7);
    q.put(&rec(10)).await.unwrap();
    assert_eq!(drain(&mut q).await, (3..11).map(rec).collect::<Vec<_>>());
}

#[tokio::test]
async fn reopening_without_a_sync_reads_unsynced_pops_again_and_finds_unsynced_puts() {
    let disk = scratch("dirty");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    for i in 0..4 {
        q.put(&rec(i)).await.unwrap();
    }
    q.sync().await.unwrap();
    assert_eq!(q.pop().await.unwrap().unwrap(), rec(0));
    for i in 4..12 {
        q.put(&rec(i)).await.unwrap(); // rolls into a second file, never synced
    }
    drop(q); // like a kill: the meta says depth 4 at 0/0
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.depth(), 12, "rec(0) again (at least once), plus everything the files hold");
    assert_eq!(drain(&mut q).await, (0..12).map(rec).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_writing_continues_after_the_last_whole_record() {
    let disk = scratch("torn");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    q.put(&rec(0)).await.unwrap();
    q.sync().await.unwrap();
    q.put(&rec(1)).await.unwrap();
    drop(q);
    // Half a record at the end, as a crash mid-append leaves it.
    let mut f = disk.open("t.diskqueue.000000.dat").await.unwrap();
    f.append(&[0, 0, 0, 11, b'r', b'e']).await.unwrap();
    drop(f);
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.depth(), 2);
    q.put(&rec(2)).await.unwrap();
    assert_eq!(drain(&mut q).await, vec![rec(0), rec(1), rec(2)]);
}

#[tokio::test]
async fn a_corrupt_record_skips_to_the_next_file_and_renames_the_bad_one() {
    let disk = scratch("corrupt");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    for i in 0..12 {
        q.put(&rec(i)).await.unwrap(); // file 0: 0..5, file 1: 5..10, file 2: 10..12
    }
    q.close().await.unwrap();
    // Overwrite the size of the third record in file 0 with an impossible one.
    let mut bytes = disk.read("t.diskqueue.000000.dat").await.unwrap();
    bytes[38..42].copy_from_slice(&1_000_000i32.to_be_bytes());
    let mut f = disk.create("t.diskqueue.000000.dat").await.unwrap();
    f.append(&bytes).await.unwrap();
    f.sync().await.unwrap();
    drop(f);
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.pop().await.unwrap().unwrap(), rec(0));
    assert_eq!(q.pop().await.unwrap().unwrap(), rec(1));
    assert_eq!(q.pop().await.unwrap().unwrap(), rec(5), "the rest of file 0 is skipped");
    assert_eq!(q.depth(), 6, "depth recounted from the next file");
    assert!(disk.exists("t.diskqueue.000000.dat.bad").await.unwrap());
    assert_eq!(drain(&mut q).await, (6..12).map(rec).collect::<Vec<_>>());
}

#[tokio::test]
async fn corruption_in_the_write_file_moves_writing_to_a_fresh_file() {
    let disk = scratch("corrupt-write");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    q.put(&rec(0)).await.unwrap();
    q.put(&rec(1)).await.unwrap();
    q.close().await.unwrap();
    let mut bytes = disk.read("t.diskqueue.000000.dat").await.unwrap();
    bytes[0..4].copy_from_slice(&(-5i32).to_be_bytes());
    let mut f = disk.create("t.diskqueue.000000.dat").await.unwrap();
    f.append(&bytes).await.unwrap();
    f.sync().await.unwrap();
    drop(f);
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.pop().await.unwrap(), None);
    assert_eq!(q.depth(), 0);
    q.put(&rec(2)).await.unwrap();
    assert_eq!(drain(&mut q).await, vec![rec(2)]);
    assert!(disk.exists("t.diskqueue.000001.dat").await.unwrap());
}

#[tokio::test]
async fn without_a_meta_file_the_segments_are_recounted() {
    let disk = scratch("nometa");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    for i in 0..9 {
        q.put(&rec(i)).await.unwrap();
    }
    q.close().await.unwrap();
    disk.remove("t.diskqueue.meta.dat").await.unwrap();
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.depth(), 9);
    assert_eq!(drain(&mut q).await, (0..9).map(rec).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_nsqd_data_directory_opens() {
    let disk = scratch("nsqd");
    disk.create_dir_all("").await.unwrap();
    let mut seg = Vec::new();
    for body in [&b"hello"[..], b"world"] {
        seg.extend_from_slice(&(body.len() as i32).to_be_bytes());
        seg.extend_from_slice(body);
    }
    disk.write_atomic("orders.diskqueue.000000.dat", &seg).await.unwrap();
    disk.write_atomic("orders.diskqueue.meta.dat", b"2\n0,0\n0,18\n").await.unwrap();
    let mut q = DiskQueue::open(disk.clone(), "orders", config()).await.unwrap();
    assert_eq!(q.depth(), 2);
    // New records go to a fresh, checksummed file; the meta says so.
    q.put(b"later").await.unwrap();
    q.sync().await.unwrap();
    assert_eq!(disk.read("orders.diskqueue.meta.dat").await.unwrap(), b"3\n0,0\n1,13\nweir-crc32c,1\n");
    assert_eq!(drain(&mut q).await, vec![b"hello".to_vec(), b"world".to_vec(), b"later".to_vec()]);
}

#[tokio::test]
async fn an_nsqd_queue_without_its_meta_is_recognised_too() {
    let disk = scratch("nsqd-nometa");
    disk.create_dir_all("").await.unwrap();
    let mut seg = Vec::new();
    for body in [&b"hello"[..], b"world"] {
        seg.extend_from_slice(&(body.len() as i32).to_be_bytes());
        seg.extend_from_slice(body);
    }
    disk.write_atomic("orders.diskqueue.000000.dat", &seg).await.unwrap();
    let mut q = DiskQueue::open(disk.clone(), "orders", config()).await.unwrap();
    q.put(b"later").await.unwrap();
    q.close().await.unwrap();
    // Reopened without a meta once more: file 0 is nsqd's, file 1 checksummed.
    disk.remove("orders.diskqueue.meta.dat").await.unwrap();
    let mut q = DiskQueue::open(disk, "orders", config()).await.unwrap();
    assert_eq!(q.depth(), 3);
    assert_eq!(drain(&mut q).await, vec![b"hello".to_vec(), b"world".to_vec(), b"later".to_vec()]);
}

#[tokio::test]
async fn a_record_failing_its_checksum_is_skipped_counted_and_never_delivered() {
    let disk = scratch("checksum");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    for i in 0..4 {
        q.put(&rec(i)).await.unwrap();
    }
    q.close().await.unwrap();
    // Flip one bit in the data of the second record (offset 19 + 8 = 27 is its first data byte).
    let mut bytes = disk.read("t.diskqueue.000000.dat").await.unwrap();
    bytes[27 + 3] ^= 0x10;
    let mut f = disk.create("t.diskqueue.000000.dat").await.unwrap();
    f.append(&bytes).await.unwrap();
    f.sync().await.unwrap();
    drop(f);
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.depth(), 4, "the frame is intact: counted until read");
    assert_eq!(drain(&mut q).await, vec![rec(0), rec(2), rec(3)]);
    assert_eq!((q.corrupt_records(), q.depth()), (1, 0));
    assert!(!disk.exists("t.diskqueue.000000.dat.bad").await.unwrap(), "only the record is skipped, not the file");
}

#[tokio::test]
async fn queues_sharing_a_directory_keep_apart() {
    let disk = scratch("shared");
    let mut a = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    let mut b = DiskQueue::open(disk.clone(), "t:c", config()).await.unwrap();
    let mut c = DiskQueue::open(disk.clone(), "t.diskqueue", config()).await.unwrap();
    a.put(b"a").await.unwrap();
    b.put(b"b").await.unwrap();
    c.put(b"c").await.unwrap();
    for q in [a, b, c] {
        q.close().await.unwrap();
    }
    let mut a = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(drain(&mut a).await, vec![b"a".to_vec()]);
}

#[tokio::test]
async fn the_timed_sync_runs_once_the_timeout_has_passed_and_only_when_dirty() {
    let disk = scratch("timed");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.next_sync_due_ms(), None);
    q.maybe_sync(1_000).await.unwrap();
    q.put(&rec(0)).await.unwrap();
    assert_eq!(q.next_sync_due_ms(), Some(2_000));
    q.maybe_sync(1_500).await.unwrap();
    assert!(!disk.exists("t.diskqueue.meta.dat").await.unwrap(), "not yet");
    q.maybe_sync(2_000).await.unwrap();
    assert_eq!(disk.read("t.diskqueue.meta.dat").await.unwrap(), b"1\n0,0\n0,19\nweir-crc32c,0\n");
    assert_eq!(q.next_sync_due_ms(), None);
    q.put(&rec(1)).await.unwrap();
    assert_eq!(q.next_sync_due_ms(), Some(4_000));
}

#[tokio::test]
async fn sync_every_counts_puts_and_pops() {
    let disk = scratch("every");
    let mut cfg = config();
    cfg.sync_every = 3;
    let mut q = DiskQueue::open(disk.clone(), "t", cfg).await.unwrap();
    q.put(&rec(0)).await.unwrap();
    q.put(&rec(1)).await.unwrap();
    assert!(!disk.exists("t.diskqueue.meta.dat").await.unwrap(), "a fresh queue writes no meta before its first sync");
    q.pop().await.unwrap();
    assert_eq!(disk.read("t.diskqueue.meta.dat").await.unwrap(), b"1\n0,19\n0,38\nweir-crc32c,0\n");
}

#[tokio::test]
async fn empty_drops_everything_and_delete_removes_the_files() {
    let disk = scratch("empty");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    for i in 0..10 {
        q.put(&rec(i)).await.unwrap();
    }
    q.empty().await.unwrap();
    assert_eq!(q.depth(), 0);
    assert_eq!(q.pop().await.unwrap(), None);
    assert!(segment_files(&disk, "t.").await.is_empty());
    q.put(&rec(99)).await.unwrap();
    q.close().await.unwrap();
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(drain(&mut q).await, vec![rec(99)]);
    q.put(&rec(100)).await.unwrap();
    q.delete().await.unwrap();
    assert!(disk.list("").await.unwrap().iter().all(|f| !f.starts_with("t.")));
}

/// Model-based: random put/pop/sync/reopen sequences against a `VecDeque`.
#[cfg(not(madsim))]
mod model {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8),
        Pop,
        Sync,
        /// Close cleanly and open again.
        Reopen,
        /// Drop without closing (process killed; the OS keeps the written bytes) and open again.
        Kill,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1u8..40).prop_map(Op::Put),
            5 => Just(Op::Pop),
            1 => Just(Op::Sync),
            1 => Just(Op::Reopen),
            1 => Just(Op::Kill),
        ]
    }

    fn body(seq: u32, len: u8) -> Vec<u8> {
        let mut b = seq.to_be_bytes().to_vec();
        b.resize(4 + usize::from(len), len);
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn behaves_like_a_fifo(ops in proptest::collection::vec(op(), 1..120), sync_every in 1u64..6) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let disk = scratch("model");
                let cfg = DiskQueueConfig { sync_every, ..config() };
                let mut q = DiskQueue::open(disk.clone(), "m", cfg.clone()).await.unwrap();
                // Every record ever put, and the model: the suffix of it still queued.
                let mut log: Vec<Vec<u8>> = Vec::new();
                let mut model: VecDeque<Vec<u8>> = VecDeque::new();
                // Records popped since the last explicit sync/reopen: a kill may bring them back.
                let mut popped_unsynced = 0u64;
                for op in ops {
                    match op {
                        Op::Put(len) => {
                            let b = body(log.len() as u32, len);
                            q.put(&b).await.unwrap();
                            log.push(b.clone());
                            model.push_back(b);
                        }
                        Op::Pop => {
                            let got = q.pop().await.unwrap().map(|b| b.to_vec());
                            let want = model.pop_front();
                            if want.is_some() {
                                popped_unsynced += 1;
                            }
                            assert_eq!(got, want);
                        }
                        Op::Sync => {
                            q.sync().await.unwrap();
                            popped_unsynced = 0;
                        }
                        Op::Reopen => {
                            q.close().await.unwrap();
                            q = DiskQueue::open(disk.clone(), "m", cfg.clone()).await.unwrap();
                            popped_unsynced = 0;
                        }
                        Op::Kill => {
                            drop(q);
                            q = DiskQueue::open(disk.clone(), "m", cfg.clone()).await.unwrap();
                            let depth = q.depth();
                            let lo = model.len() as u64;
                            assert!(depth >= lo && depth <= lo + popped_unsynced,
                                "depth {depth} after a kill, model {lo}, popped since sync {popped_unsynced}");
                            model = log[log.len() - depth as usize..].iter().cloned().collect();
                            popped_unsynced = 0;
                        }
                    }
                    assert_eq!(q.depth(), model.len() as u64);
                }
                assert_eq!(drain(&mut q).await, Vec::from(model));
            });
        }
    }
}

#[tokio::test]
async fn a_record_taken_but_not_acked_is_read_again_after_a_reopen() {
    let disk = scratch("ack-reopen");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    for i in 0..4 {
        q.put(&rec(i)).await.unwrap();
    }
    let (a0, b0) = q.pop_unacked().await.unwrap().unwrap();
    let (a1, b1) = q.pop_unacked().await.unwrap().unwrap();
    let (a2, _) = q.pop_unacked().await.unwrap().unwrap();
    assert_eq!((b0.to_vec(), b1.to_vec()), (rec(0), rec(1)));
    assert_eq!(q.depth(), 1);
    assert_eq!(q.unacked_count(), 3);
    // Out of order: acking 1 does not move the ack position past the unacked 0.
    assert!(q.ack(a1).await);
    assert!(!q.ack(a1).await, "a second ack of the same record is refused");
    assert_eq!(q.ack_position(), a0);
    q.close().await.unwrap();
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.depth(), 4, "0 unacked, 1 acked out of order (read again), 2 unacked, 3 unread");
    assert_eq!(drain(&mut q).await, (0..4).map(rec).collect::<Vec<_>>());
    // Acked in order: nothing comes back.
    q.put(&rec(9)).await.unwrap();
    let (a9, _) = q.pop_unacked().await.unwrap().unwrap();
    assert!(q.ack(a9).await);
    assert!(!q.ack(a2).await, "positions from before the reopen are unknown");
    q.close().await.unwrap();
    let mut q = DiskQueue::open(disk, "t", config()).await.unwrap();
    assert_eq!(q.depth(), 0);
    assert_eq!(q.pop().await.unwrap(), None);
}

#[tokio::test]
async fn a_segment_stays_while_a_record_in_it_is_unacked() {
    let disk = scratch("ack-segments");
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    // 6 records per 100-byte file: 0..6 in file 0, 6..12 in file 1, 12 in file 2.
    for i in 0..13 {
        q.put(&rec(i)).await.unwrap();
    }
    let (first, _) = q.pop_unacked().await.unwrap().unwrap();
    let mut rest = Vec::new();
    while let Some((at, _)) = q.pop_unacked().await.unwrap() {
        rest.push(at);
    }
    for at in rest {
        assert!(q.ack(at).await);
    }
    q.sync().await.unwrap();
    assert_eq!(segment_files(&disk, "t.").await.len(), 3, "file 0 holds an unacked record, so files 1.. stay too");
    assert!(q.ack(first).await);
    q.sync().await.unwrap();
    assert_eq!(segment_files(&disk, "t.").await.len(), 1, "only the write file is left");
    q.close().await.unwrap();
    let mut q = DiskQueue::open(disk, "t", config()).await.unwrap();
    assert_eq!(q.pop().await.unwrap(), None);
}

/// Model-based at-least-once: random take/ack/sync/reopen/kill sequences. After a reopen the
/// queue holds exactly a suffix of everything put, starting no later than the lowest record not
/// acked (nothing lost) and no earlier than the ack position of the last sync (nothing acked
/// before a sync is read again).
#[cfg(not(madsim))]
mod ack_model {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8),
        Take,
        /// Ack the n-th (mod count) unacked record.
        Ack(usize),
        Sync,
        Reopen,
        Kill,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1u8..40).prop_map(Op::Put),
            5 => Just(Op::Take),
            5 => any::<usize>().prop_map(Op::Ack),
            1 => Just(Op::Sync),
            1 => Just(Op::Reopen),
            1 => Just(Op::Kill),
        ]
    }

    fn body(seq: u32, len: u8) -> Vec<u8> {
        let mut b = seq.to_be_bytes().to_vec();
        b.resize(4 + usize::from(len), len);
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn every_unacked_record_comes_back_and_no_synced_ack_does(
            ops in proptest::collection::vec(op(), 1..150),
            sync_every in 1u64..6,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let disk = scratch("ack-model");
                let cfg = DiskQueueConfig { sync_every, ..config() };
                let mut q = DiskQueue::open(disk.clone(), "m", cfg.clone()).await.unwrap();
                let mut log: Vec<Vec<u8>> = Vec::new();
                // Index in `log` of the next record to take; taken-not-acked records by index.
                let mut next = 0usize;
                let mut unacked: BTreeMap<usize, Position> = BTreeMap::new();
                // The ack floor at the last explicit sync (an automatic one may have moved it on).
                let mut synced_floor = 0usize;
                for op in ops {
                    let floor = unacked.keys().next().copied().unwrap_or(next);
                    match op {
                        Op::Put(len) => {
                            let b = body(log.len() as u32, len);
                            q.put(&b).await.unwrap();
                            log.push(b);
                        }
                        Op::Take => {
                            let got = q.pop_unacked().await.unwrap();
                            match got {
                                Some((at, b)) => {
                                    assert_eq!(Some(&b.to_vec()), log.get(next));
                                    unacked.insert(next, at);
                                    next += 1;
                                }
                                None => assert_eq!(next, log.len()),
                            }
                        }
                        Op::Ack(n) => {
                            if !unacked.is_empty() {
                                let k = *unacked.keys().nth(n % unacked.len()).unwrap();
                                let at = unacked.remove(&k).unwrap();
                                assert!(q.ack(at).await);
                            }
                        }
                        Op::Sync => {
                            q.sync().await.unwrap();
                            synced_floor = floor;
                        }
                        Op::Reopen | Op::Kill => {
                            let clean = matches!(op, Op::Reopen);
                            if clean {
                                q.close().await.unwrap();
                            } else {
                                drop(q);
                            }
                            q = DiskQueue::open(disk.clone(), "m", cfg.clone()).await.unwrap();
                            let from = log.len() - q.depth() as usize;
                            assert!(from <= floor, "lost records {from}..{floor} (not acked)");
                            if clean {
                                assert_eq!(from, floor, "a clean reopen resumes at the ack position");
                            } else {
                                assert!(from >= synced_floor, "record {from} acked before a sync came back");
                            }
                            next = from;
                            unacked.clear();
                            synced_floor = from;
                        }
                    }
                    assert_eq!(q.depth() as usize, log.len() - next);
                    assert_eq!(q.unacked_count(), unacked.len());
                }
                let rest: Vec<Vec<u8>> = drain(&mut q).await;
                assert_eq!(rest, log[next..].to_vec());
            });
        }
    }
}

/// `unread_bytes` (reported as `nsq_diskqueue_bytes`) is the framed size of the records not yet
/// read: it follows puts, batches across segment rolls, pops and a reopen, and is 0 when empty.
#[tokio::test]
async fn unread_bytes_follow_puts_pops_and_reopen() {
    let disk = scratch("unread-bytes");
    let framed = |i: u32| rec(i).len() as u64 + super::CHECKSUMMED_HEADER_LEN;
    let mut q = DiskQueue::open(disk.clone(), "t", config()).await.unwrap();
    assert_eq!(q.unread_bytes(), 0);
    q.put(&rec(0)).await.unwrap();
    assert_eq!(q.unread_bytes(), framed(0));
    // 20 bytes a record in 100-byte files: the batch spans several segments.
    let batch: Vec<Vec<u8>> = (1..12).map(rec).collect();
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    q.put_many(&refs).await.unwrap();
    let all: u64 = (0..12).map(framed).sum();
    assert_eq!(q.unread_bytes(), all);
    for i in 0..3 {
        assert!(q.pop().await.unwrap().is_some());
        assert_eq!(q.unread_bytes(), all - (0..=i).map(framed).sum::<u64>());
    }
    let left = q.unread_bytes();
    q.sync().await.unwrap();
    drop(q);
    let mut q = DiskQueue::open(disk, "t", config()).await.unwrap();
    assert_eq!(q.unread_bytes(), left, "a reopen finds the same bytes");
    assert_eq!(drain(&mut q).await.len(), 9);
    assert_eq!(q.unread_bytes(), 0);
    q.put(&rec(99)).await.unwrap();
    q.empty().await.unwrap();
    assert_eq!(q.unread_bytes(), 0);
}
