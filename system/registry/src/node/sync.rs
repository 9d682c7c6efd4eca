//! Pulling state from peers: the starting node's sync and periodic anti-entropy. Both are the
//! same exchange: send this node's digest (every key with its stamp), apply the records the peer
//! holds newer, repeat while the peer says there are more.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::replicate::post_json;
use super::{Node, NodeEvent};
use crate::http::internal::{DigestRequest, DigestResponse, DIGEST_ANSWER_RECORDS_MAX};

/// Rounds of one exchange at most (each brings up to `DIGEST_ANSWER_RECORDS_MAX` records).
const ROUNDS_MAX: usize = 1_000;

/// One exchange with `peer`; returns whether the peer was itself synced.
pub async fn exchange(node: &Node, peer: &str) -> Result<bool, String> {
    for _ in 0..ROUNDS_MAX {
        let digest = node.lock().core.digest();
        let req = DigestRequest { from: node.inner.options.node_name.clone(), digest, max: DIGEST_ANSWER_RECORDS_MAX };
        let resp: DigestResponse = post_json(node, peer, "/internal/digest", &req).await?;
        let (now, wall) = (node.now_ms(), Node::wall_ms());
        {
            let mut s = node.lock();
            let before = s.core.versions().global();
            let n = resp.records.len();
            for r in resp.records {
                s.core.apply(r, now, wall);
            }
            let changed = s.core.versions().global() > before;
            node.after_commit(&mut s, None, changed);
            if n > 0 {
                tracing::debug!(%peer, records = n, "pulled records from peer");
            }
        }
        if !resp.more {
            return Ok(resp.synced);
        }
    }
    Ok(false)
}

/// A starting node with peers: pull from a synced peer, or after `--sync-timeout` serve what it
/// has. Until then every read says `complete: false`. When every peer answers and none is synced
/// either, the whole cluster is starting together (nobody has more than what was just pulled from
/// all of them), so the node is synced at once; if some peer is unreachable it may hold state the
/// others lack, so the node waits for it or the timeout.
pub async fn startup(node: Node) {
    let started = rt::time::now();
    let timeout = Duration::from_millis(node.inner.options.sync_timeout_ms);
    let mut stopped = node.inner.stopped.clone();
    loop {
        let mut all_answered = true;
        for peer in node.inner.options.peers.clone() {
            match exchange(&node, &peer).await {
                Ok(true) => {
                    tracing::info!(%peer, "synced from peer");
                    node.inner.synced.store(true, Ordering::SeqCst);
                    node.emit(NodeEvent::Synced { from: Some(peer) });
                    return;
                }
                Ok(false) => tracing::debug!(%peer, "peer is not synced itself; trying another"),
                Err(e) => {
                    all_answered = false;
                    tracing::debug!(%peer, "sync from peer failed: {e}");
                }
            }
        }
        if all_answered {
            tracing::info!("every peer is starting too: synced with all of them");
            node.inner.synced.store(true, Ordering::SeqCst);
            node.emit(NodeEvent::Synced { from: None });
            return;
        }
        if rt::time::now().saturating_duration_since(started) >= timeout {
            tracing::warn!("no synced peer reachable within the sync timeout; serving what this node has");
            node.inner.synced.store(true, Ordering::SeqCst);
            node.emit(NodeEvent::Synced { from: None });
            return;
        }
        rt::select! {
            _ = stopped.wait() => return,
            _ = rt::time::sleep(Duration::from_millis(500)) => {},
        }
    }
}

/// Periodic anti-entropy with every peer, jittered so nodes do not exchange in lockstep.
pub async fn anti_entropy(node: Node) {
    let interval_ms = node.inner.options.anti_entropy_interval_ms;
    let mut stopped = node.inner.stopped.clone();
    loop {
        let jitter = rt::rand::range(0..=interval_ms / 4);
        rt::select! {
            _ = stopped.wait() => return,
            _ = rt::time::sleep(Duration::from_millis(interval_ms + jitter)) => {},
        }
        // BUGGIFY: a round skipped (the node was busy): repair waits for the next one.
        if rt::buggify!() {
            continue;
        }
        for peer in node.inner.options.peers.clone() {
            if let Err(e) = exchange(&node, &peer).await {
                tracing::debug!(%peer, "anti-entropy failed: {e}");
            }
        }
    }
}
