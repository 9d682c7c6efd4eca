//! After healing, every consumer is connected to every live queue node that holds its topic
//! within the lookup poll interval plus a stated bound.
//!
//! A queue node holds the topic once its current instance acknowledged a publish (a node whose
//! topic came back from disk holds it earlier, which only makes this check more lenient). The
//! clock starts at the latest of: the heal, the queue node's last start, the consumer's last
//! start, the first acknowledged publish of that instance. By then plus `poll_ms + bound_ms` the
//! consumer must have a connection to the node that came up after both last started and did not
//! go down again before that deadline. Pairs whose deadline falls after the run's end are not
//! judged.

use history::{History, Scope, Verdict};

use super::model::{secs, ConnEvent, DiscoveryModel, MS};
use crate::Property;

pub struct ConsumersConnected {
    /// The consumers' world node names.
    pub consumers: Vec<String>,
    /// The queue nodes' world node names.
    pub queues: Vec<String>,
    /// The consumers' lookup poll interval (the longest, with jitter).
    pub poll_ms: u64,
    /// What else connecting may take: the queue node re-registering with a lookup (its reconnect
    /// backoff), the HTTP round trip, the TCP connect and IDENTIFY/SUB.
    pub bound_ms: u64,
}

impl Property for ConsumersConnected {
    fn name(&self) -> &str {
        "discovery_consumers_connected"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = DiscoveryModel::from_history(h);
        let Some(healed) = m.healed_ns else {
            return Verdict::pass(self.name(), self.scope(), "never healed: nothing to judge");
        };
        let (mut violations, mut judged, mut unjudged) = (Vec::new(), 0, 0);
        for q in &self.queues {
            let q_start = m.last_start(q, m.end_ns);
            let Some(holds) = m.acks.get(q).and_then(|a| a.iter().find(|&&t| t >= q_start)).copied() else {
                unjudged += self.consumers.len();
                continue;
            };
            for c in &self.consumers {
                let c_start = m.last_start(c, m.end_ns);
                let since = healed.max(q_start).max(c_start).max(holds);
                let due = since + (self.poll_ms + self.bound_ms) * MS;
                if due > m.end_ns {
                    unjudged += 1;
                    continue;
                }
                judged += 1;
                let events = m.conns.get(&(c.clone(), q.clone())).map(|v| v.as_slice()).unwrap_or(&[]);
                let fresh = q_start.max(c_start);
                let window: Vec<&ConnEvent> = events.iter().filter(|e| e.at_ns >= fresh && e.at_ns <= due).collect();
                // The client's events name the address, not the connection: a connection that
                // was dropped while connecting can report Up and Down while its replacement is
                // up. A delivery after the last Down shows a connection outlived it.
                let last_down = window.iter().rev().find(|e| !e.up).map(|e| e.at_ns);
                let delivered_after = |t: u64| {
                    m.delivered.get(&(c.clone(), q.clone())).into_iter().flatten().any(|&d| d > t && d <= due)
                };
                let ever_up = window.iter().any(|e| e.up);
                let lost = last_down.filter(|&d| !window.iter().any(|e| e.up && e.at_ns > d) && !delivered_after(d));
                match (ever_up, lost) {
                    (true, None) => {}
                    (true, Some(d)) => violations.push(format!(
                        "consumer {c} lost its connection to {q} at {} and had none again by {} (clock started {})",
                        secs(d),
                        secs(due),
                        secs(since)
                    )),
                    (false, _) => violations.push(format!(
                        "consumer {c} never connected to {q} between {} and {} ({q} started {}, acked a publish {}, healed {})",
                        secs(fresh),
                        secs(due),
                        secs(q_start),
                        secs(holds),
                        secs(healed)
                    )),
                }
            }
        }
        let checked = format!("{judged} (consumer, queue node) pairs connected in time; {unjudged} not judged");
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
