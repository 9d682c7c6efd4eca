//! The disk's own sequential write bandwidth, as the queue's disk queue would use it: appends of
//! one MPUB's spill at a time (`--batch` records of `--record-bytes` each, framed as the disk
//! queue frames them), an fdatasync plus an atomic meta-file replace every `--sync-every` records
//! (the queue's `--sync-every` policy), a new segment file every `--max-bytes-per-file`, all
//! through `rt::disk` like the queue. What the queue writes when it spills is then compared with
//! this figure, measured on the same disk in the same run.

use std::time::Duration;

use rt::disk::Disk;

pub struct DiskOpts {
    pub path: String,
    pub duration: Duration,
    pub batch: u64,
    pub record_bytes: u64,
    pub sync_every: u64,
    pub max_bytes_per_file: u64,
}

/// Writes for the duration; prints `RESULT disk <records> <bytes> <secs>`.
pub async fn run(o: DiskOpts) -> anyhow::Result<()> {
    let disk = Disk::new(&o.path);
    disk.create_dir_all("").await?;
    let chunk = vec![b'd'; (o.batch * o.record_bytes) as usize];
    let (mut records, mut bytes, mut unsynced, mut segment, mut in_file) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut file = disk.create(&format!("bench.diskqueue.{segment:06}.dat")).await?;
    let start = rt::time::now();
    while start.elapsed() < o.duration {
        if in_file > 0 && in_file + chunk.len() as u64 > o.max_bytes_per_file {
            file.sync().await?;
            disk.remove(&format!("bench.diskqueue.{segment:06}.dat")).await?;
            segment += 1;
            in_file = 0;
            file = disk.create(&format!("bench.diskqueue.{segment:06}.dat")).await?;
        }
        file.append(&chunk).await?;
        in_file += chunk.len() as u64;
        bytes += chunk.len() as u64;
        records += o.batch;
        unsynced += o.batch;
        if unsynced >= o.sync_every.max(1) {
            file.sync().await?;
            disk.write_atomic("bench.diskqueue.meta.dat", format!("{records}\n0,0\n{segment},{in_file}\n").as_bytes()).await?;
            unsynced = 0;
        }
    }
    file.sync().await?;
    let secs = start.elapsed().as_secs_f64();
    println!("RESULT disk {records} {bytes} {secs:.3}");
    drop(file);
    let _ = disk.remove(&format!("bench.diskqueue.{segment:06}.dat")).await;
    let _ = disk.remove("bench.diskqueue.meta.dat").await;
    Ok(())
}
