//! Replication to one peer: every `--replicate-interval`, send what the peer's outbox holds (up
//! to `--replication-batch-max` changes and renewals) in one request with a timeout; keep it on
//! failure and retry with backoff. Changes received from peers are never queued here (the origin
//! sends to each peer itself), so nothing is forwarded twice. The peer answers which forwarded
//! renewals it did not know; each still alive here is re-stamped and sent in full. An outbox that
//! overflowed triggers an anti-entropy exchange with the peer.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Node;
use crate::http::internal::{ReplicateRequest, ReplicateResponse};

/// Retries back off up to this long.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// POSTs JSON to a peer and reads the JSON answer; `Err` on any failure (the client's request
/// timeout bounds it).
pub async fn post_json<Req: Serialize, Resp: DeserializeOwned>(node: &Node, peer: &str, path: &str, body: &Req) -> Result<Resp, String> {
    let url = format!("http://{peer}{path}");
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let limit = Duration::from_millis(node.inner.options.replicate_timeout_ms);
    let resp = rt::time::timeout(limit, node.inner.client.post(&url, bytes))
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("{} answered {}", peer, resp.status()));
    }
    serde_json::from_slice(resp.body()).map_err(|e| format!("bad answer from {peer}: {e}"))
}

pub async fn run(node: Node, peer: String) {
    let interval = Duration::from_millis(node.inner.options.replicate_interval_ms);
    let batch_max = node.inner.options.replication_batch_max;
    let mut stopped = node.inner.stopped.clone();
    let mut backoff = interval;
    let mut failing = false;
    loop {
        rt::select! {
            _ = stopped.wait() => return,
            _ = rt::time::sleep(if failing { backoff } else { interval }) => {},
        }
        // BUGGIFY: a batch of one entry, so a backlog drains over many rounds and a peer sees
        // a registration and its renewals in separate requests.
        let batch_max = if rt::buggify!() { 1 } else { batch_max };
        // BUGGIFY: the batch leaves late (a slow or starved sender): what it carries ages on
        // the way, which the ages in it must account for.
        if rt::buggify!() {
            let delay_ms = rt::rand::range(0..=node.inner.options.replicate_timeout_ms);
            rt::select! {
                _ = stopped.wait() => return,
                _ = rt::time::sleep(Duration::from_millis(delay_ms)) => {},
            }
        }
        let (batch, overflowed) = {
            let mut s = node.lock();
            let Some(o) = s.outboxes.get_mut(&peer) else { return };
            let overflowed = std::mem::take(&mut o.overflowed);
            (o.peek(batch_max, node.now_ms()), overflowed)
        };
        if overflowed && !node.inner.options.testing.no_anti_entropy {
            tracing::warn!(%peer, "replication queue overflowed; running anti-entropy");
            if let Err(e) = super::sync::exchange(&node, &peer).await {
                tracing::debug!(%peer, "anti-entropy failed: {e}");
            }
        }
        if batch.is_empty() {
            continue;
        }
        let req = ReplicateRequest { from: node.inner.options.node_name.clone(), changes: batch.changes.clone(), renewals: batch.renewals.clone() };
        match post_json::<_, ReplicateResponse>(&node, &peer, "/internal/replicate", &req).await {
            Ok(resp) => {
                if failing {
                    tracing::info!(%peer, "replication to peer resumed");
                }
                failing = false;
                backoff = interval;
                let mut s = node.lock();
                if let Some(o) = s.outboxes.get_mut(&peer) {
                    o.acknowledge(&batch);
                }
                if node.inner.options.testing.no_reregister_on_unknown {
                    continue;
                }
                let now = node.now_ms();
                for key in resp.unknown {
                    if let Some(record) = s.core.revive(&key, now) {
                        tracing::debug!(%peer, %key, "peer does not know a renewing instance: sending it in full");
                        node.after_commit(&mut s, Some(record), false);
                    }
                }
            }
            Err(e) => {
                if !failing {
                    tracing::info!(%peer, "replication to peer failing: {e}");
                }
                failing = true;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}
