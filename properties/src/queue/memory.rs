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
