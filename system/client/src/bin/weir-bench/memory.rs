//! `weir-bench memory --bytes N`: how fast this machine gives a process fresh memory.
//!
//! A queue that holds its messages in memory touches every page of them for the first time, and
//! on a virtual machine whose host backs guest memory lazily (and takes freed guest pages back
//! after a while) that first touch is the host's page fault, not a memset: on the development
//! machine 75 % of an in-memory publish run's time was the kernel's `clear_page_erms`, and the
//! same 2 M-message run took 2.2 s with cold memory and 0.8 s right after another process had
//! touched and freed as much. The null queue stores nothing and never pays it. This measures the
//! rate, so the bench can say how much of a run it explains, and leaves the pages it freed warm
//! for the next process.

use std::time::Instant;

/// The page size the touch strides by (a write per page faults it in).
const PAGE_BYTES: usize = 4096;

pub fn run(bytes: u64) -> anyhow::Result<()> {
    let bytes = usize::try_from(bytes)?;
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::with_capacity(bytes);
    // Bounded by `bytes / PAGE_BYTES` writes; the capacity is reserved, never initialised
    // through `set_len`, so the writes go through the spare capacity.
    let spare = buf.spare_capacity_mut();
    for i in (0..spare.len()).step_by(PAGE_BYTES) {
        spare[i].write(1);
    }
    let secs = started.elapsed().as_secs_f64();
    // Keep the writes observable, so the loop is not optimised away.
    std::hint::black_box(&buf);
    println!("RESULT memory 0 {bytes} {secs:.6}");
    Ok(())
}
