//! The discovery scenario's history, reshaped for its properties: when each node ran, when each
//! directed link was cut, each consumer's connections, each lookup's `/lookup` answers and the
//! tombstones lookups acknowledged.
//!
//! What a discovery scenario must record:
//! - `Observation::Subscribed` / `Disconnected` from each consumer's client observer, naming the
//!   queue node (`server`) by its world name.
//! - `Observation::LookupAnswer` from an observer that asks every lookup `/lookup?topic=`.
//! - `Observation::Tombstoned` when a lookup acknowledged `POST /topic/tombstone`.
//! - `Invoke`/`Complete` of `Call::Publish` (a queue node holds the topic once it acked one).
//! - Node lifecycle, `Fault`s and `Healed` come from the harness.

use std::collections::{BTreeMap, BTreeSet};

use history::{Call, EventKind, Fault, History, Observation, Outcome};

pub use crate::queue::model::{secs, MS};

/// One `/lookup` answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub lookup: String,
    pub topic: String,
    pub producers: BTreeSet<String>,
    pub asked_ns: u64,
    pub answered_ns: u64,
}

/// One acknowledged tombstone.
#[derive(Debug, Clone)]
pub struct Tombstone {
    pub lookup: String,
    pub topic: String,
    pub producer: String,
    pub asked_ns: u64,
    pub acked_ns: u64,
}

/// A consumer's connection event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnEvent {
    pub at_ns: u64,
    pub up: bool,
}

#[derive(Debug, Default)]
pub struct DiscoveryModel {
    /// node → [(from, to)) intervals it was running and not paused (`to` = end for the last one).
    pub up: BTreeMap<String, Vec<(u64, u64)>>,
    /// node → times it was resumed after a pause (it runs again, as after a start).
    pub resumes: BTreeMap<String, Vec<u64>>,
    /// node → times it (re)started.
    pub starts: BTreeMap<String, Vec<u64>>,
    /// Every change of the network's cuts: (time, directed (from, to) pairs cut after it, nodes
    /// isolated after it).
    pub net: Vec<(u64, BTreeSet<(String, String)>, BTreeSet<String>)>,
    /// (consumer, server) → connection events in order.
    pub conns: BTreeMap<(String, String), Vec<ConnEvent>>,
    /// (consumer, server) → times a message from the server reached the consumer.
    pub delivered: BTreeMap<(String, String), Vec<u64>>,
    pub answers: Vec<Answer>,
    pub tombstones: Vec<Tombstone>,
    /// server → times it acknowledged a publish.
    pub acks: BTreeMap<String, Vec<u64>>,
    pub healed_ns: Option<u64>,
    pub end_ns: u64,
}

impl DiscoveryModel {
    pub fn from_history(h: &History) -> DiscoveryModel {
        let mut m = DiscoveryModel { healed_ns: h.healed_at_ns(), end_ns: h.end_ns(), ..Default::default() };
        for (_, call, done) in h.operations() {
            if let (Call::Publish { server, .. }, Some((e, Outcome::Ok { .. }))) = (call, done) {
                m.acks.entry(server.clone()).or_default().push(e.at_ns);
            }
        }
        for v in m.acks.values_mut() {
            v.sort_unstable();
        }
        let mut running_since: BTreeMap<String, u64> = BTreeMap::new();
        let (mut cut, mut isolated): (BTreeSet<(String, String)>, BTreeSet<String>) = Default::default();
        for e in &h.events {
            match &e.kind {
                EventKind::NodeStarted => {
                    running_since.insert(e.node.clone(), e.at_ns);
                    m.starts.entry(e.node.clone()).or_default().push(e.at_ns);
                }
                EventKind::NodeKilled | EventKind::NodeStopped { .. } => {
                    if let Some(from) = running_since.remove(&e.node) {
                        m.up.entry(e.node.clone()).or_default().push((from, e.at_ns));
                    }
                }
                EventKind::Fault { fault } => {
                    match fault {
                        // A clean stop ends the node's life as the lookups see it when it
                        // begins, not when the node is gone: its shutdown unregisters from every
                        // lookup first (whole-system seed 126: an answer 7 ms after the stop
                        // began, 13 ms before the node was stopped, rightly left it out).
                        Fault::Pause { node } | Fault::Stop { node } | Fault::StopTorn { node } => {
                            if let Some(from) = running_since.remove(node) {
                                m.up.entry(node.clone()).or_default().push((from, e.at_ns));
                            }
                        }
                        Fault::Resume { node } => {
                            running_since.insert(node.clone(), e.at_ns);
                            m.resumes.entry(node.clone()).or_default().push(e.at_ns);
                        }
                        _ => {}
                    }
                    let changed = match fault {
                        Fault::Partition { groups } => {
                            for (i, a) in groups.iter().enumerate() {
                                for b in groups.iter().skip(i + 1) {
                                    for x in a {
                                        for y in b {
                                            cut.insert((x.clone(), y.clone()));
                                            cut.insert((y.clone(), x.clone()));
                                        }
                                    }
                                }
                            }
                            true
                        }
                        Fault::Cut { from, to } => {
                            cut.insert((from.clone(), to.clone()));
                            true
                        }
                        Fault::Isolate { node } => {
                            isolated.insert(node.clone());
                            true
                        }
                        Fault::Heal => {
                            cut.clear();
                            isolated.clear();
                            true
                        }
                        _ => false,
                    };
                    if changed {
                        m.net.push((e.at_ns, cut.clone(), isolated.clone()));
                    }
                }
                EventKind::Observe { what, .. } => m.observe(e.at_ns, what),
                _ => {}
            }
        }
        for (node, from) in running_since {
            m.up.entry(node).or_default().push((from, m.end_ns));
        }
        m
    }

    fn observe(&mut self, at_ns: u64, what: &Observation) {
        match what {
            Observation::Subscribed { server, consumer, .. } => {
                self.conns.entry((consumer.clone(), server.clone())).or_default().push(ConnEvent { at_ns, up: true })
            }
            Observation::Disconnected { server, consumer, .. } => {
                self.conns.entry((consumer.clone(), server.clone())).or_default().push(ConnEvent { at_ns, up: false })
            }
            Observation::Delivered { server, consumer, .. } => {
                self.delivered.entry((consumer.clone(), server.clone())).or_default().push(at_ns)
            }
            Observation::LookupAnswer { lookup, topic, producers, asked_ms } => self.answers.push(Answer {
                lookup: lookup.clone(),
                topic: topic.clone(),
                producers: producers.iter().cloned().collect(),
                asked_ns: asked_ms * MS,
                answered_ns: at_ns,
            }),
            Observation::Tombstoned { lookup, topic, producer, asked_ms } => self.tombstones.push(Tombstone {
                lookup: lookup.clone(),
                topic: topic.clone(),
                producer: producer.clone(),
                asked_ns: asked_ms * MS,
                acked_ns: at_ns,
            }),
            _ => {}
        }
    }

    /// The node's last start at or before `t` (0 if none was recorded).
    pub fn last_start(&self, node: &str, t: u64) -> u64 {
        self.starts.get(node).and_then(|s| s.iter().rev().find(|&&s| s <= t)).copied().unwrap_or(0)
    }

    /// The intervals `[from, to)` in which `a` could send to `b`: both running (not paused), the link `a → b`
    /// not cut and neither isolated.
    pub fn reachable(&self, a: &str, b: &str) -> Vec<(u64, u64)> {
        let ups = |n: &str| self.up.get(n).cloned().unwrap_or_default();
        intersect(&intersect(&self.link_open(a, b), &ups(a)), &ups(b))
    }

    /// The intervals `[from, to)` in which the network let `a` send to `b`: the link `a → b` not
    /// cut and neither end isolated, whether or not the nodes ran.
    pub fn link_open(&self, a: &str, b: &str) -> Vec<(u64, u64)> {
        let mut open = Vec::new();
        let mut since = Some(0u64);
        for (at, cut, isolated) in &self.net {
            let blocked = cut.contains(&(a.to_string(), b.to_string())) || isolated.contains(a) || isolated.contains(b);
            match (blocked, since) {
                (true, Some(s)) => {
                    open.push((s, *at));
                    since = None;
                }
                (false, None) => since = Some(*at),
                _ => {}
            }
        }
        if let Some(s) = since {
            open.push((s, self.end_ns));
        }
        open
    }

    /// The latest time at or before `t` at which `a` could send to `b`, if any.
    pub fn last_reach(&self, a: &str, b: &str, t: u64) -> Option<u64> {
        self.reachable(a, b).iter().filter(|(from, _)| *from <= t).map(|(_, to)| (*to).min(t)).max()
    }

    /// Sends that a blocked link held back: for each span in which the link `a → b` was cut or an
    /// end isolated, and which then healed, the last moment `a` ran in it (when it may have
    /// written into an open connection to `b`) and the heal. The simulated network keeps what a
    /// stalled connection sent and delivers it once the link heals, retrying with a backoff of
    /// at most [`STALLED_RETRY_MS_MAX`], even when `a` is paused or down by then; the data is
    /// lost only if `b` restarted in between (the connection went with it).
    pub fn stalled_sends(&self, a: &str, b: &str) -> Vec<(u64, u64)> {
        let mut blocked = Vec::new();
        let mut since: Option<u64> = None;
        for (at, cut, isolated) in &self.net {
            let is_blocked = cut.contains(&(a.to_string(), b.to_string())) || isolated.contains(a) || isolated.contains(b);
            match (is_blocked, since) {
                (true, None) => since = Some(*at),
                (false, Some(s)) => {
                    blocked.push((s, *at));
                    since = None;
                }
                _ => {}
            }
        }
        let ups_a = self.up.get(a).cloned().unwrap_or_default();
        blocked
            .into_iter()
            .filter_map(|(b0, b1)| {
                let sent = intersect(&[(b0, b1)], &ups_a).last().map(|&(_, to)| to)?;
                let starts = self.starts.get(b).map(Vec::as_slice).unwrap_or_default();
                let b_was_up = starts.iter().any(|&s| s <= sent);
                let b_restarted = starts.iter().any(|&s| s > sent && s <= b1);
                (b_was_up && !b_restarted).then_some((sent, b1))
            })
            .collect()
    }

    /// The latest time at or before `t` at which something `a` sent could have arrived at `b`:
    /// while `a` could send to `b` ([`Self::reachable`]), or when a link that held back what `a`
    /// sent healed, up to [`STALLED_RETRY_MS_MAX`] (and at most as long as it was blocked after
    /// the send) later ([`Self::stalled_sends`]).
    pub fn last_arrival(&self, a: &str, b: &str, t: u64) -> Option<u64> {
        let stalled = self
            .stalled_sends(a, b)
            .into_iter()
            .filter(|&(_, healed)| healed <= t)
            // The backoff doubles from 1 ms while the link stays blocked after the send, so the
            // next try after the heal comes at most as long after it as the send came before.
            .map(|(sent, healed)| (healed + (healed - sent + MS).min(STALLED_RETRY_MS_MAX * MS)).min(t));
        self.last_reach(a, b, t).into_iter().chain(stalled).max()
    }

    /// Whether anything could have broken or re-made the connection between `a` and `b` in
    /// `[from, to]`: either node started or went down, or a link between them was cut or healed.
    pub fn disrupted(&self, a: &str, b: &str, from: u64, to: u64) -> bool {
        self.disruptions(a, b).iter().any(|&t| t >= from && t <= to)
    }

    /// Every time at which the connection between `a` and `b` could have been broken or re-made
    /// (see [`Self::disrupted`]), sorted.
    pub fn disruptions(&self, a: &str, b: &str) -> Vec<u64> {
        let mut out: Vec<u64> = [a, b]
            .iter()
            .flat_map(|n| {
                let starts = self.starts.get(*n).into_iter().chain(self.resumes.get(*n)).flatten().copied();
                let downs = self.up.get(*n).into_iter().flatten().map(|&(_, down)| down).filter(|&d| d < self.end_ns);
                starts.chain(downs).collect::<Vec<u64>>()
            })
            .chain(self.reachable_net(a, b))
            .chain(self.reachable_net(b, a))
            .collect();
        out.sort_unstable();
        out
    }

    /// Times at which the network state of the link `a → b` changed.
    fn reachable_net(&self, a: &str, b: &str) -> Vec<u64> {
        let mut out = Vec::new();
        let mut blocked_before = false;
        for (at, cut, isolated) in &self.net {
            let blocked = cut.contains(&(a.to_string(), b.to_string())) || isolated.contains(a) || isolated.contains(b);
            if blocked != blocked_before {
                out.push(*at);
            }
            blocked_before = blocked;
        }
        out
    }
}

/// The simulated network's longest wait between two tries to deliver what a blocked link held
/// back (madsim's channel backoff doubles from 1 ms up to 10 s).
pub const STALLED_RETRY_MS_MAX: u64 = 10_000;

/// The intersection of two sorted lists of disjoint `[from, to)` intervals.
pub fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(a0, a1) in a {
        for &(b0, b1) in b {
            let (s, e) = (a0.max(b0), a1.min(b1));
            if s < e {
                out.push((s, e));
            }
        }
    }
    out.sort_unstable();
    out
}

/// `[0, end)` less `spans` (sorted, disjoint).
pub fn complement(spans: &[(u64, u64)], end: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    for &(a, b) in spans {
        if a > at {
            out.push((at, a));
        }
        at = at.max(b);
    }
    if at < end {
        out.push((at, end));
    }
    out
}

/// Sorted, merged union of `spans`.
pub fn union(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}
