//! Appending many records at once (the spill of one MPUB): one write per segment file touched
//! instead of one per record, and at most one sync for the whole batch.
//!
//! Kept beside [`DiskQueue::put`] rather than inside it so the batch path reads on its own; it
//! follows `put`'s rules exactly (size limits, file roll, `sync_every`).

use std::io;

use super::{frame_checksummed, DiskQueue, CHECKSUMMED_HEADER_LEN};

impl DiskQueue {
    /// Appends `records` in order, as many [`DiskQueue::put`]s would, but with one append per
    /// segment file and the `sync_every` rule applied once at the end: with `sync_every = 1`
    /// every record is durable when this returns `Ok`, after a single fsync.
    ///
    /// Every size is checked before anything is written, so an invalid record writes nothing. An
    /// I/O error is returned; records appended before it stay queued (at least once, never
    /// silently dropped), as with `put`.
    pub async fn put_many(&mut self, records: &[&[u8]]) -> io::Result<()> {
        let (min, max) = (self.config.min_msg_size_bytes as usize, self.config.max_msg_size_bytes as usize);
        if let Some(bad) = records.iter().find(|r| r.len() < min || r.len() > max) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid message write size ({}) minMsgSize={min} maxMsgSize={max}", bad.len()),
            ));
        }
        let mut chunk = Vec::new();
        let mut chunk_records = 0u64;
        for data in records {
            let total = CHECKSUMMED_HEADER_LEN + data.len() as u64;
            let pos = self.write.pos + chunk.len() as u64;
            if pos > 0 && pos + total > self.config.max_bytes_per_file {
                self.append_chunk(&mut chunk, &mut chunk_records).await?;
                self.roll_write_file().await?;
            }
            frame_checksummed(&mut chunk, data);
            chunk_records += 1;
        }
        self.append_chunk(&mut chunk, &mut chunk_records).await?;
        if self.unsynced_ops >= self.config.sync_every.max(1) {
            self.sync().await.map_err(super::written_not_synced)?;
        }
        Ok(())
    }

    /// Writes the buffered records at the write position in one append and counts them.
    async fn append_chunk(&mut self, chunk: &mut Vec<u8>, records: &mut u64) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.ensure_write_file().await?;
        let file = self.write_file.as_mut().expect("ensure_write_file opened it");
        self.write_file_dirty = true;
        if let Err(e) = file.append(chunk).await {
            // The append may have left part of the chunk behind: reopen (and cut) next time.
            self.write_file = None;
            return Err(e);
        }
        self.write.pos += chunk.len() as u64;
        self.unread_bytes += chunk.len() as u64;
        self.depth += *records;
        self.unsynced_ops += *records;
        chunk.clear();
        *records = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, drain, rec, scratch};
    use super::super::DiskQueue;

    #[tokio::test]
    async fn a_batch_comes_back_in_order_across_segment_rolls() {
        let mut q = DiskQueue::open(scratch("batch-roll"), "t", config()).await.unwrap();
        q.put(&rec(0)).await.unwrap();
        // 15-byte records in 100-byte files: the batch spans several segments.
        let batch: Vec<Vec<u8>> = (1..20).map(rec).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        q.put_many(&refs).await.unwrap();
        assert_eq!(q.depth(), 20);
        assert!(q.write.file >= 2, "rolled: {:?}", q.write);
        q.put(&rec(20)).await.unwrap();
        assert_eq!(drain(&mut q).await, (0..21).map(rec).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn an_invalid_record_writes_nothing() {
        let mut q = DiskQueue::open(scratch("batch-invalid"), "t", config()).await.unwrap();
        let too_big = vec![b'x'; 65];
        let err = q.put_many(&[&rec(0), &too_big]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(q.depth(), 0);
        assert_eq!(drain(&mut q).await, Vec::<Vec<u8>>::new());
    }

    #[tokio::test]
    async fn a_batch_syncs_once_when_sync_every_is_reached() {
        let cfg = super::super::DiskQueueConfig { sync_every: 3, max_bytes_per_file: 10_000, ..config() };
        let mut q = DiskQueue::open(scratch("batch-sync"), "t", cfg).await.unwrap();
        let batch: Vec<Vec<u8>> = (0..10).map(rec).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        q.put_many(&refs[..2]).await.unwrap();
        assert_eq!(q.unsynced_ops, 2, "below sync_every: no sync");
        q.put_many(&refs[2..]).await.unwrap();
        assert_eq!(q.unsynced_ops, 0, "the whole batch is synced when it returns");
        assert!(!q.write_file_dirty);
        // Reopening sees every record (the meta was written by the sync).
        drop(q);
        let mut q = DiskQueue::open(scratch_reopen("batch-sync"), "t", cfg_reopen()).await.unwrap();
        assert_eq!(drain(&mut q).await, batch);
    }

    fn cfg_reopen() -> super::super::DiskQueueConfig {
        super::super::DiskQueueConfig { sync_every: 3, max_bytes_per_file: 10_000, ..config() }
    }

    /// The same directory as `scratch(name)` without wiping it.
    fn scratch_reopen(name: &str) -> rt::disk::Disk {
        #[cfg(not(madsim))]
        {
            rt::disk::Disk::new(std::env::temp_dir().join(format!("weir-diskqueue-{}-{name}", std::process::id())))
        }
        #[cfg(madsim)]
        {
            rt::disk::Disk::new(format!("/data/{name}"))
        }
    }
}
