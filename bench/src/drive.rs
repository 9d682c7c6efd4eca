//! The two measurements, written once over the [`Renewer`], [`Watcher`] and [`Changer`] traits
//! that each system implements, so both systems see exactly the same client design:
//!
//! * renewals: one task per connection, each with one request outstanding at a time (no
//!   pipelining), cycling through its share of the instances as fast as answers come back
//!   (closed loop). Renewals/s and latency are taken after a warm-up.
//! * notifications: every watcher on its own connection; one change at a time, and the next only
//!   once every watcher has seen it (or a timeout). The latency of a watcher is the time from just
//!   before the change request is sent to the arrival of the first event at or past the change's
//!   version, so it includes the write itself — as an application waiting for the news would see.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::stats::{Samples, Summary};

/// One connection renewing its share of the instances, one renewal outstanding at a time.
pub trait Renewer: Send + 'static {
    /// Renews the connection's next instance (round robin). `Ok(false)`: the server refused it
    /// (unknown instance or lease).
    fn renew_next(&mut self) -> impl Future<Output = anyhow::Result<bool>> + Send;
}

/// One watcher on its own connection.
pub trait Watcher: Send + 'static {
    /// The version (weir) or revision (etcd) of the next event that arrives.
    fn next_event(&mut self) -> impl Future<Output = anyhow::Result<u64>> + Send;
}

/// Makes one change every watcher is told about.
pub trait Changer {
    /// Makes change number `n`; returns its version or revision.
    fn change(&mut self, n: u64) -> impl Future<Output = anyhow::Result<u64>>;
}

#[derive(Debug)]
pub struct RenewResult {
    pub renewals: u64,
    pub refused: u64,
    pub secs: f64,
    pub latency: Summary,
}

/// Runs every renewer until `warmup + measure` has passed; counts what completed in `measure`.
pub async fn renew<R: Renewer>(conns: Vec<R>, warmup: Duration, measure: Duration) -> anyhow::Result<RenewResult> {
    let start = Instant::now();
    let from = start + warmup;
    let end = from + measure;
    let mut tasks = Vec::with_capacity(conns.len());
    for mut conn in conns {
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut refused = 0u64;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let ok = conn.renew_next().await?;
                let done = Instant::now();
                if t >= from && done <= end {
                    samples.push(done - t);
                    refused += u64::from(!ok);
                }
            }
            anyhow::Ok((samples, refused))
        }));
    }
    let mut all = Samples::default();
    let mut refused = 0;
    for t in tasks {
        let (s, r) = t.await.context("renewer task")??;
        all.extend(s);
        refused += r;
    }
    Ok(RenewResult { renewals: all.len() as u64, refused, secs: measure.as_secs_f64(), latency: all.summary() })
}

#[derive(Debug)]
pub struct WatchResult {
    pub changes: u64,
    /// Watchers that had not seen a change when its timeout ran out, summed over changes.
    pub missed: u64,
    pub latency: Summary,
}

/// Makes changes one after another for `duration` (at most `max_changes`) and measures how long
/// each watcher takes to hear of each.
pub async fn watch<W: Watcher, C: Changer>(
    watchers: Vec<W>,
    changer: &mut C,
    duration: Duration,
    max_changes: u64,
    per_change_timeout: Duration,
) -> anyhow::Result<WatchResult> {
    let n = watchers.len();
    // Bounded: a watcher hears of each change about once, and the loop below drains continuously.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, u64, Instant)>(n.max(1) * 8);
    let mut tasks = Vec::with_capacity(n);
    for (id, mut w) in watchers.into_iter().enumerate() {
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let v = w.next_event().await?;
                if tx.send((id, v, Instant::now())).await.is_err() {
                    return anyhow::Ok(());
                }
            }
        }));
    }
    drop(tx);
    let mut seen = vec![0u64; n];
    let mut samples = Samples::default();
    let (mut changes, mut missed) = (0u64, 0u64);
    let end = Instant::now() + duration;
    while changes < max_changes && Instant::now() < end {
        let t0 = Instant::now();
        let version = changer.change(changes).await.context("change")?;
        changes += 1;
        let mut pending = seen.iter().filter(|v| **v < version).count();
        let deadline = tokio::time::Instant::now() + per_change_timeout;
        while pending > 0 {
            let msg = match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => m,
                Ok(None) => anyhow::bail!("every watcher ended (after {changes} changes)"),
                Err(_) => break,
            };
            let (id, v, at) = msg;
            if v >= version && seen[id] < version {
                samples.push(at.saturating_duration_since(t0));
                pending -= 1;
            }
            seen[id] = seen[id].max(v);
        }
        missed += pending as u64;
    }
    for t in &tasks {
        t.abort();
    }
    if let Some(t) = tasks.into_iter().next() {
        // A watcher that failed (rather than being aborted) says why.
        if let Ok(Err(e)) = t.await {
            anyhow::bail!("watcher: {e:#}");
        }
    }
    Ok(WatchResult { changes, missed, latency: samples.summary() })
}

/// Runs `make(i)` for `0..count` with at most `parallel` at once, in order of completion.
pub async fn in_parallel<T, F, Fut>(count: usize, parallel: usize, make: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    use futures::StreamExt;
    futures::stream::iter((0..count).map(make)).buffer_unordered(parallel.max(1)).collect::<Vec<_>>().await.into_iter().collect()
}
