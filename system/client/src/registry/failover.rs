//! Which registry node to talk to, sans I/O: the configured nodes in order of preference, each
//! with its failures and the time before which it is not tried again.
//!
//! A failed request (connection refused, timeout, 5xx) marks its node down for
//! `backoff_min × 2^(failures-1)` (capped at `backoff_max`, scaled by a jitter in [0.5, 1]) and
//! the client moves to the next node in order that is not down. A node is never given up on: once
//! its backoff has passed it is eligible again, and since nodes are tried in order of
//! preference the client comes back to its first node when that one answers again. With every
//! node down, the client waits for the earliest to come back. Time is explicit milliseconds on
//! the caller's monotonic clock.

use std::time::Duration;

/// One configured node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeState {
    addr: String,
    /// Consecutive failed requests (0 after a success).
    failures: u32,
    /// Not tried before this time (ms); 0 when up.
    down_until_ms: u64,
}

/// The choice of node.
#[derive(Debug, Clone)]
pub struct Failover {
    nodes: Vec<NodeState>,
    current: usize,
    backoff_min_ms: u64,
    backoff_max_ms: u64,
}

/// What [`Failover::pick`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// Talk to this node now; `switched_from` is the previous node when this is a change.
    Node { addr: String, switched_from: Option<String> },
    /// Every node is down: wait this long, then pick again.
    Wait { ms: u64 },
}

impl Failover {
    /// `nodes` in order of preference (at least one; duplicates are dropped).
    pub fn new(nodes: &[String], backoff_min_ms: u64, backoff_max_ms: u64) -> Failover {
        assert!(!nodes.is_empty(), "a registry client needs at least one node");
        let mut seen = std::collections::BTreeSet::new();
        let nodes: Vec<NodeState> = nodes
            .iter()
            .filter(|a| seen.insert(a.as_str()))
            .map(|a| NodeState { addr: a.clone(), failures: 0, down_until_ms: 0 })
            .collect();
        Failover { nodes, current: 0, backoff_min_ms: backoff_min_ms.max(1), backoff_max_ms: backoff_max_ms.max(backoff_min_ms.max(1)) }
    }

    /// The node in use.
    pub fn current(&self) -> &str {
        &self.nodes[self.current].addr
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Consecutive failures of `addr`.
    pub fn failures(&self, addr: &str) -> u32 {
        self.nodes.iter().find(|n| n.addr == addr).map_or(0, |n| n.failures)
    }

    /// The node to use at `now_ms`: the first in order of preference that is not down (so a
    /// recovered preferred node wins back), or a wait when every node is down.
    pub fn pick(&mut self, now_ms: u64) -> Pick {
        let Some(i) = self.nodes.iter().position(|n| n.down_until_ms <= now_ms) else {
            let soonest = self.nodes.iter().map(|n| n.down_until_ms).min().unwrap_or(now_ms);
            return Pick::Wait { ms: soonest.saturating_sub(now_ms).max(1) };
        };
        let switched_from = (i != self.current).then(|| self.nodes[self.current].addr.clone());
        self.current = i;
        Pick::Node { addr: self.nodes[i].addr.clone(), switched_from }
    }

    /// A request to `addr` succeeded.
    pub fn succeeded(&mut self, addr: &str) {
        if let Some(n) = self.nodes.iter_mut().find(|n| n.addr == addr) {
            n.failures = 0;
            n.down_until_ms = 0;
        }
    }

    /// A request to `addr` failed at `now_ms` (it did not answer, or answered 5xx): it is down for
    /// its backoff. `jitter` in [0, 1] (drawn by the caller) spreads clients that failed together.
    pub fn failed(&mut self, addr: &str, now_ms: u64, jitter: f64) {
        let (min, max) = (self.backoff_min_ms, self.backoff_max_ms);
        if let Some(n) = self.nodes.iter_mut().find(|n| n.addr == addr) {
            n.failures = n.failures.saturating_add(1);
            let d = crate::backoff::reconnect_delay(
                n.failures - 1,
                Duration::from_millis(min),
                Duration::from_millis(max),
                0.5 + 0.5 * if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 1.0 },
            );
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
            n.down_until_ms = now_ms.saturating_add(ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("r{i}:8500")).collect()
    }

    fn node(addr: &str, from: Option<&str>) -> Pick {
        Pick::Node { addr: addr.into(), switched_from: from.map(Into::into) }
    }

    #[test]
    fn fails_over_in_order_and_comes_back_to_the_first() {
        let mut f = Failover::new(&nodes(3), 100, 1_000);
        assert_eq!(f.pick(0), node("r0:8500", None));
        f.failed("r0:8500", 0, 1.0);
        assert_eq!(f.pick(0), node("r1:8500", Some("r0:8500")));
        f.failed("r1:8500", 10, 1.0);
        assert_eq!(f.pick(10), node("r2:8500", Some("r1:8500")));
        f.succeeded("r2:8500");
        assert_eq!(f.pick(50), node("r2:8500", None));
        // r0's backoff (100 ms) is over: back to it.
        assert_eq!(f.pick(100), node("r0:8500", Some("r2:8500")));
    }

    #[test]
    fn all_down_waits_for_the_soonest_and_backoff_grows() {
        let mut f = Failover::new(&nodes(2), 100, 1_000);
        f.failed("r0:8500", 0, 1.0);
        f.failed("r1:8500", 0, 1.0);
        f.failed("r1:8500", 0, 1.0);
        assert_eq!(f.pick(0), Pick::Wait { ms: 100 });
        assert_eq!(f.pick(100), node("r0:8500", None));
        f.failed("r0:8500", 100, 1.0);
        assert_eq!(f.pick(100), Pick::Wait { ms: 100 }); // r1 back at 200
        assert_eq!(f.failures("r0:8500"), 2);
        assert_eq!(f.pick(200), node("r1:8500", Some("r0:8500")));
    }

    #[test]
    fn a_single_node_is_never_given_up() {
        let mut f = Failover::new(&nodes(1), 100, 400);
        for i in 0..20 {
            f.failed("r0:8500", i * 1000, 1.0);
        }
        assert_eq!(f.pick(19_000), Pick::Wait { ms: 400 });
        assert_eq!(f.pick(19_400), node("r0:8500", None));
    }

    proptest! {
        /// Against a model that remembers when each node last failed (and forgets at a success):
        /// a picked node is never one that failed less than half the minimum backoff ago, every
        /// node preferred to it is down, a wait happens only with every node down and is bounded,
        /// and a node that just succeeded (or a preferred one) is picked next.
        #[test]
        fn picks_follow_the_model(n in 1usize..5, ops in proptest::collection::vec((0u8..3, 0usize..5, 0u64..500, 0.0f64..1.0), 0..100)) {
            let addrs = nodes(n);
            let mut f = Failover::new(&addrs, 50, 800);
            let mut now = 0u64;
            let mut failed_at: Vec<Option<u64>> = vec![None; n];
            for (op, who, dt, jitter) in ops {
                now += dt;
                let who = who % n;
                match op {
                    0 => { f.failed(&addrs[who], now, jitter); failed_at[who] = Some(now); }
                    1 => {
                        f.succeeded(&addrs[who]);
                        failed_at[who] = None;
                        match f.pick(now) {
                            Pick::Node { addr, .. } => prop_assert!(addrs.iter().position(|a| *a == addr).unwrap() <= who),
                            Pick::Wait { .. } => prop_assert!(false, "a node just succeeded"),
                        }
                    }
                    _ => match f.pick(now) {
                        Pick::Node { addr, .. } => {
                            prop_assert_eq!(f.current(), addr.as_str());
                            let i = addrs.iter().position(|a| *a == addr).unwrap();
                            if let Some(t) = failed_at[i] { prop_assert!(now >= t + 25); }
                            prop_assert!(failed_at[..i].iter().all(|t| t.is_some()));
                        }
                        Pick::Wait { ms } => {
                            prop_assert!((1..=800).contains(&ms));
                            prop_assert!(failed_at.iter().all(|t| t.is_some_and(|t| now < t + 800)));
                        }
                    },
                }
            }
        }
    }
}
