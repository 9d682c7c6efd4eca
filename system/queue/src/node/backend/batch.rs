//! Writing many messages to one backend under one lock and one disk append (an MPUB's spill).

use std::io;
use std::sync::atomic::Ordering;

use crate::core::Message;
use crate::diskqueue::record;

use super::{deleted, BackendHandle};

impl BackendHandle {
    /// Appends `msgs` (message + optional deferral as unix ms) in order, then syncs if the sync
    /// policy says so: one lock, one append per segment file, at most one fsync per call.
    pub async fn put_many(&self, msgs: &[(&Message, Option<i64>)], now_ms: u64) -> io::Result<()> {
        let records: Vec<Vec<u8>> = msgs.iter().map(|(m, due)| record::encode(m, *due)).collect();
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let mut q = self.queue.lock().await;
        let put = match q.dq.as_mut() {
            Some(dq) => dq.put_many(&refs).await,
            None => Err(deleted()),
        };
        self.depth.store(q.depth(), Ordering::Release);
        self.bytes.store(q.unread_bytes(), Ordering::Release);
        put?;
        q.maybe_sync(now_ms).await.map_err(crate::diskqueue::written_not_synced)
    }
}
