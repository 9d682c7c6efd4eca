//! `queue_memory_bounded`: the messages a queue node holds in memory, ready to deliver, per topic
//! and per channel, never exceed `--mem-queue-size` plus a stated slack (issue 11).
//!
//! Reads `Observation::QueueMemory` (a prober's samples of `/stats`: `depth - backend_depth`) and
//! the node's own `Observation::QueueNode` (its `--mem-queue-size` at each start). The slack covers
//! what the node may not refuse: messages coming back from consumers (in-flight timeouts, REQ
//! without delay, a departing consumer's messages), at most the channel's consumers' RDY in total.
//! Deferred messages coming due are not in the slack: beyond `--mem-queue-size` they go to disk.

use std::collections::BTreeMap;

use history::{History, Observation, Scope, Verdict};

use super::model::secs;
use super::verdict;
use crate::Property;

pub struct QueueMemoryBounded {
    /// Messages allowed beyond `--mem-queue-size` (the channel's consumers' total RDY).
    pub slack: u64,
}

impl Property for QueueMemoryBounded {
    fn name(&self) -> &str {
        "queue_memory_bounded"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let mut mem_queue_size: BTreeMap<String, u64> = BTreeMap::new();
        let (mut violations, mut samples, mut peak) = (Vec::new(), 0u64, 0u64);
        for (e, what) in h.observations() {
            match what {
                Observation::QueueNode { server, mem_queue_size: m, .. } => {
                    mem_queue_size.insert(server.clone(), *m);
                }
                Observation::QueueMemory { server, topic, channel, ready_in_memory } => {
                    samples += 1;
                    peak = peak.max(*ready_in_memory);
                    let Some(&limit) = mem_queue_size.get(server) else {
                        violations.push(format!("{server}: a memory sample before the node reported its configuration"));
                        continue;
                    };
                    if *ready_in_memory > limit + self.slack {
                        let place = match channel {
                            Some(c) => format!("{topic}/{c}"),
                            None => topic.clone(),
                        };
                        violations.push(format!(
                            "{server} held {ready_in_memory} ready messages of {place} in memory at {} (--mem-queue-size {limit} + slack {})",
                            secs(e.at_ns),
                            self.slack
                        ));
                    }
                }
                _ => {}
            }
        }
        verdict(self.name(), self.scope(), violations, format!("{samples} samples, peak {peak}, within --mem-queue-size + {}", self.slack))
    }
}

#[cfg(test)]
mod tests {
    use history::{Event, EventKind};

    use super::*;

    fn history(samples: &[(Option<&str>, u64)]) -> History {
        let mut events = Vec::new();
        let config = Observation::QueueNode { server: "q1".into(), sync_every: 10, mem_queue_size: 20, msg_timeout_ms: 3_000 };
        let mut whats = vec![config];
        for (channel, n) in samples {
            whats.push(Observation::QueueMemory {
                server: "q1".into(),
                topic: "t".into(),
                channel: channel.map(String::from),
                ready_in_memory: *n,
            });
        }
        for (i, what) in whats.into_iter().enumerate() {
            events.push(Event { seq: i as u64, at_ns: i as u64 * 1_000_000, node: "admin".into(), kind: EventKind::Observe { process: "admin".into(), what } });
        }
        History { events }
    }

    #[test]
    fn judges_samples_against_mem_queue_size_plus_slack() {
        let p = QueueMemoryBounded { slack: 5 };
        assert!(p.check(&history(&[(None, 20), (Some("c"), 25)])).passed);
        let v = p.check(&history(&[(Some("c"), 26)]));
        assert!(!v.passed && v.detail.contains("26 ready messages of t/c"), "{}", v.detail);
    }
}
