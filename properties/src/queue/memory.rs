//! `queue_memory_bounded`: the messages a queue node holds in memory, ready to deliver, per topic
//! and per channel, never exceed `--mem-queue-size` plus a stated slack (issue 11).
//!
//! Reads `Observation::QueueMemory` (a prober's samples of `/stats`: `depth - backend_depth`) and
//! the node's own `Observation::QueueNode` (its `--mem-queue-size` at each start). The slack covers
//! what the node may not refuse: messages coming back from consumers (in-flight timeouts, REQ
//! without delay, a departing consumer's messages), at most one window (`rdy_per_connection`) per
//! connection the node may still hold for the channel. Deferred messages coming due are not in
//! the slack: beyond `--mem-queue-size` they go to disk.
//!
//! Which connections the node may hold is read from the consumers' side: a connection counts from
//! its `Subscribed` until `linger_ms` after the consumer saw it end (`ConnectionLost`,
//! `Disconnected`, a new `Subscribed` of the same consumer to the same node, the consumer's kill
//! or stop) — the node notices a dead connection only by its heartbeats, and what it had in
//! flight there comes back by its timeout — and not past the node's own restart or kill. At
//! least `consumers_per_channel` windows are always allowed (a SUB whose answer was lost leaves
//! no `Subscribed`). A consumer killed and reconnected, or cut off and reconnected, can leave the
//! node three or four connections for one channel at once (`queue-durable` seeds 8864 and 14000
//! of the 25,000-seed sweep: 13 and 15 ready against a fixed slack of 12).

use std::collections::BTreeMap;

use history::{EventKind, History, Observation, Scope, Verdict};

use super::model::{secs, MS};
use super::verdict;
use crate::Property;

pub struct QueueMemoryBounded {
    /// A consumer connection's window: the most it can have in flight (`max_in_flight`).
    pub rdy_per_connection: u64,
    /// Windows always allowed per channel: its consumers.
    pub consumers_per_channel: u64,
    /// How long after a consumer saw its connection end the node may still hold it and have its
    /// messages come back: the node's heartbeat detection plus `msg_timeout`.
    pub linger_ms: u64,
}

/// The consumer a connection name belongs to: `c1#3` → `c1`.
fn consumer_of(name: &str) -> &str {
    name.split('#').next().unwrap_or(name)
}

/// One consumer connection as its consumer saw it: subscribed at `from`, ended at `to` (`None`:
/// open), `cut` when the node itself restarted (nothing lingers then).
#[derive(Debug, Clone, Copy)]
struct Conn {
    from: u64,
    to: Option<u64>,
    cut: bool,
}

impl QueueMemoryBounded {
    /// Connections per (server, topic, channel), from the consumers' side of the history.
    fn connections(h: &History) -> BTreeMap<(String, String, String), Vec<(String, Conn)>> {
        let mut conns: BTreeMap<(String, String, String), Vec<(String, Conn)>> = BTreeMap::new();
        let end = |conns: &mut BTreeMap<(String, String, String), Vec<(String, Conn)>>, at: u64, server: Option<&str>, consumer: Option<&str>, cut: bool| {
            for ((s, _, _), list) in conns.iter_mut() {
                if server.is_some_and(|x| x != s) {
                    continue;
                }
                for (c, conn) in list.iter_mut() {
                    if conn.to.is_none() && consumer.is_none_or(|x| x == consumer_of(c)) {
                        conn.to = Some(at);
                        conn.cut = cut;
                    }
                }
            }
        };
        for e in &h.events {
            match &e.kind {
                EventKind::Observe { what: Observation::Subscribed { server, topic, channel, consumer }, .. } => {
                    // A new connection of the same consumer to the same node: the old one ended.
                    end(&mut conns, e.at_ns, Some(server), Some(consumer_of(consumer)), false);
                    conns.entry((server.clone(), topic.clone(), channel.clone())).or_default().push((consumer.clone(), Conn { from: e.at_ns, to: None, cut: false }));
                }
                EventKind::Observe { what: Observation::ConnectionLost { server, client, role, .. }, .. } if role == "consumer" => {
                    end(&mut conns, e.at_ns, Some(server), Some(consumer_of(client)), false);
                }
                EventKind::Observe { what: Observation::Disconnected { server, consumer, .. }, .. } => {
                    end(&mut conns, e.at_ns, Some(server), Some(consumer_of(consumer)), false);
                }
                EventKind::NodeKilled | EventKind::NodeStopped { .. } | EventKind::NodeStarted => {
                    // The node as a consumer: its connections end, and linger at their servers.
                    end(&mut conns, e.at_ns, None, Some(&e.node), false);
                    // The node as a server: its connections and what they had in flight are gone.
                    end(&mut conns, e.at_ns, Some(&e.node), None, true);
                }
                _ => {}
            }
        }
        conns
    }

    /// Windows allowed for `list`'s channel at `at`.
    fn windows_at(&self, list: Option<&Vec<(String, Conn)>>, at: u64) -> u64 {
        let held = list.map_or(0, |l| {
            l.iter()
                .filter(|(_, c)| {
                    c.from <= at
                        && match c.to {
                            None => true,
                            Some(to) if c.cut => at < to,
                            Some(to) => at <= to + self.linger_ms * MS,
                        }
                })
                .count() as u64
        });
        held.max(self.consumers_per_channel)
    }
}

impl Property for QueueMemoryBounded {
    fn name(&self) -> &str {
        "queue_memory_bounded"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let conns = Self::connections(h);
        let mut mem_queue_size: BTreeMap<String, u64> = BTreeMap::new();
        let (mut violations, mut samples, mut peak, mut widest) = (Vec::new(), 0u64, 0u64, 0u64);
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
                    let windows = match channel {
                        Some(c) => self.windows_at(conns.get(&(server.clone(), topic.clone(), c.clone())), e.at_ns),
                        None => self.consumers_per_channel,
                    };
                    widest = widest.max(windows);
                    let slack = windows * self.rdy_per_connection;
                    if *ready_in_memory > limit + slack {
                        let place = match channel {
                            Some(c) => format!("{topic}/{c}"),
                            None => topic.clone(),
                        };
                        violations.push(format!(
                            "{server} held {ready_in_memory} ready messages of {place} in memory at {} (--mem-queue-size {limit} + slack {slack}: {windows} connections' windows of {})",
                            secs(e.at_ns),
                            self.rdy_per_connection
                        ));
                    }
                }
                _ => {}
            }
        }
        verdict(
            self.name(),
            self.scope(),
            violations,
            format!("{samples} samples, peak {peak}, within --mem-queue-size + windows of {} (at most {widest} connections at once)", self.rdy_per_connection),
        )
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
        let p = QueueMemoryBounded { rdy_per_connection: 5, consumers_per_channel: 1, linger_ms: 1_000 };
        assert!(p.check(&history(&[(None, 20), (Some("c"), 25)])).passed);
        let v = p.check(&history(&[(Some("c"), 26)]));
        assert!(!v.passed && v.detail.contains("26 ready messages of t/c"), "{}", v.detail);
    }

    fn at(ms: u64, node: &str, kind: EventKind) -> Event {
        Event { seq: 0, at_ns: ms * MS, node: node.into(), kind }
    }

    fn obs(ms: u64, node: &str, what: Observation) -> Event {
        at(ms, node, EventKind::Observe { process: node.into(), what })
    }

    fn sub(ms: u64, consumer: &str) -> Event {
        obs(ms, consumer, Observation::Subscribed { server: "q1".into(), topic: "t".into(), channel: "c".into(), consumer: consumer.into() })
    }

    fn sample(ms: u64, n: u64) -> Event {
        obs(ms, "admin", Observation::QueueMemory { server: "q1".into(), topic: "t".into(), channel: Some("c".into()), ready_in_memory: n })
    }

    fn lost(ms: u64, consumer: &str) -> Event {
        obs(ms, consumer, Observation::ConnectionLost { server: "q1".into(), client: consumer.into(), role: "consumer".into(), reason: "timed out".into() })
    }

    fn judge(mut events: Vec<Event>) -> Verdict {
        let config = Observation::QueueNode { server: "q1".into(), sync_every: 1, mem_queue_size: 0, msg_timeout_ms: 3_000 };
        events.insert(0, obs(0, "q1", config));
        for (i, e) in events.iter_mut().enumerate() {
            e.seq = i as u64;
        }
        events.sort_by_key(|e| (e.at_ns, e.seq));
        QueueMemoryBounded { rdy_per_connection: 6, consumers_per_channel: 2, linger_ms: 5_000 }.check(&History { events })
    }

    /// `queue-durable` seed 14000: a consumer that lost its connection and reconnected, then was
    /// killed and restarted, leaves the node its old connections for a while; each may give back
    /// a window.
    #[test]
    fn lingering_connections_widen_the_slack_until_they_cannot_hold_messages() {
        let base = || vec![sub(100, "ca1"), sub(100, "ca2"), lost(1_000, "ca1"), sub(1_100, "ca1")];
        // Three connections within the linger: 18 allowed.
        let v = judge([base(), vec![sample(2_000, 18)]].concat());
        assert!(v.passed, "{}", v.detail);
        assert!(!judge([base(), vec![sample(2_000, 19)]].concat()).passed);
        // Killed and restarted: a fourth (the dead one lingers, the new one is open).
        let kill = vec![at(1_500, "ca1", EventKind::NodeKilled), at(1_600, "ca1", EventKind::NodeStarted), sub(1_700, "ca1")];
        assert!(judge([base(), kill.clone(), vec![sample(2_000, 24)]].concat()).passed);
        // Past the linger, two windows again.
        assert!(!judge([base(), kill.clone(), vec![sample(7_000, 13)]].concat()).passed);
        assert!(judge([base(), kill, vec![sample(7_000, 12)]].concat()).passed);
        // The node's own kill ends every connection at once: nothing of them lingers.
        let restart = vec![at(1_800, "q1", EventKind::NodeKilled), at(1_900, "q1", EventKind::NodeStarted)];
        let v = judge([base(), restart, vec![sample(2_000, 13)]].concat());
        assert!(!v.passed && v.detail.contains("2 connections' windows"), "{}", v.detail);
    }
}
