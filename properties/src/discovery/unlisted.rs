//! A consumer stops using a queue node that no lookup has listed for longer than `bound_ms`.
//!
//! The consumer connects to the queue nodes its lookups list and drops those that every lookup
//! stopped listing (tombstoned, expired after a pause, unregistered by a stop or kill). The
//! observer asks every lookup twice a second. A lookup certainly did not list a node between two
//! consecutive answers of it that both left the node out (from the first's arrival to the second's
//! question), unless something that can end a listing happened between them (the node's
//! connection to the lookup broken or re-made, or a tombstone): then the node may have registered
//! after the first answer and gone before the second, unseen, so the lookup certainly did not list
//! it only from that event on. Where that holds for every lookup at once, starting at `u`, no
//! consumer may hold an open connection to the node after `u + bound_ms` (the consumer's poll
//! interval, the round trip and closing the connection). A lookup that went down counts as not listing the node when the
//! answers around its downtime both leave it out, but only from `stale_ms` after it went down: a
//! consumer keeps the last answer of a lookup it cannot ask for a few failed polls, and its last
//! answer may be older than the observer's.
//!
//! A consumer acts on what its lookups say only while it runs and can reach them: a consumer is
//! judged at a moment only if, for `bound_ms` before it, it was up (not down, not paused) and
//! could exchange packets with every lookup that was up (so it polled one since, and a
//! consumer cut from a lookup keeps that lookup's last answer until it forgets it). A consumer's
//! (re)start ends the connections of its earlier life, which record no close of their own. (The
//! `whole-system` scenario kills, stops and pauses consumers and cuts them from the lookups; the
//! `discovery` scenario does neither.)

use std::collections::BTreeSet;

use history::{History, Scope, Verdict};

use super::model::{secs, DiscoveryModel, MS};
use crate::Property;

pub struct UnlistedNodesDropped {
    /// The lookups' world node names.
    pub lookups: Vec<String>,
    /// From the moment no lookup lists a node to the end of every connection to it.
    pub bound_ms: u64,
    /// How long a consumer keeps the last answer of a lookup that went down (its
    /// `lookup_forget_after_failures` × poll interval, plus a poll).
    pub stale_ms: u64,
}

impl Property for UnlistedNodesDropped {
    fn name(&self) -> &str {
        "discovery_unlisted_nodes_dropped"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = DiscoveryModel::from_history(h);
        let queues: BTreeSet<&String> = m.conns.keys().map(|(_, q)| q).collect();
        let (mut violations, mut spans_judged) = (Vec::new(), 0u64);
        for q in queues {
            for (u0, u1) in unlisted_spans(&m, &self.lookups, q, self.stale_ms) {
                let from = u0 + self.bound_ms * MS;
                if from >= u1 {
                    continue;
                }
                spans_judged += 1;
                for ((c, server), events) in &m.conns {
                    if server != q {
                        continue;
                    }
                    let restarts = m.starts.get(c).map(Vec::as_slice).unwrap_or_default();
                    let judged = super::model::intersect(&[(from, u1)], &self.informed(&m, c));
                    if let Some(open_at) = judged.iter().find_map(|&(a, b)| open_during(events, restarts, a, b, m.end_ns)) {
                        violations.push(format!(
                            "consumer {c} had a connection to {q} open at {}, though no lookup had listed {q} from {} to {} (bound {} ms)",
                            secs(open_at),
                            secs(u0),
                            secs(u1),
                            self.bound_ms
                        ));
                    }
                }
            }
        }
        let checked = format!("{spans_judged} spans in which no lookup listed a queue node for longer than the bound: no consumer kept using it");
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}

impl UnlistedNodesDropped {
    /// The intervals in which consumer `c` is judged: from `bound_ms` into each stretch in which
    /// it ran unpaused and could reach every lookup and be reached by it (while a lookup is
    /// down, the stretch goes on: the spans handle a down lookup by `stale_ms`).
    fn informed(&self, m: &DiscoveryModel, c: &str) -> Vec<(u64, u64)> {
        let mut good = m.up.get(c).cloned().unwrap_or_default();
        for l in &self.lookups {
            let lookup_down: Vec<(u64, u64)> = super::model::complement(m.up.get(l).map(Vec::as_slice).unwrap_or_default(), m.end_ns);
            let mut talk = super::model::intersect(&m.reachable(c, l), &m.reachable(l, c));
            talk.extend(lookup_down);
            good = super::model::intersect(&good, &super::model::union(talk));
        }
        good.into_iter().filter_map(|(a, b)| (a + self.bound_ms * MS < b).then_some((a + self.bound_ms * MS, b))).collect()
    }
}

/// The spans `(u0, u1)` in which no lookup listed `q`, as far as the observer's answers show:
/// for each lookup, from the arrival of an answer without `q` to the question of its next answer,
/// when that one is without `q` too (a lookup's answers flip between two questions, when the
/// consumer may see the new state first), intersected across the lookups.
fn unlisted_spans(m: &DiscoveryModel, lookups: &[String], q: &str, stale_ms: u64) -> Vec<(u64, u64)> {
    let mut spans: Option<Vec<(u64, u64)>> = None;
    for l in lookups {
        let mut answers: Vec<&super::model::Answer> = m.answers.iter().filter(|a| &a.lookup == l).collect();
        answers.sort_by_key(|a| a.asked_ns);
        // What could end a listing of `q` by `l` between two answers: the connection between
        // them broken (a stop, kill, pause or resume of either, a cut or heal; a start only
        // begins one) or `q` tombstoned there (effective by its acknowledgement).
        let starts: BTreeSet<u64> = [q, l.as_str()].iter().flat_map(|n| m.starts.get(*n).into_iter().flatten().copied()).collect();
        let mut ends: Vec<u64> = m.disruptions(q, l).into_iter().filter(|t| !starts.contains(t)).collect();
        ends.extend(m.tombstones.iter().filter(|t| &t.lookup == l && t.producer == q).map(|t| t.acked_ns));
        ends.sort_unstable();
        let mine: Vec<(u64, u64)> = answers
            .windows(2)
            .filter(|w| !w[0].producers.contains(q) && !w[1].producers.contains(q))
            .filter_map(|w| {
                // Both answers leave `q` out, but `q` may have been listed in between, unseen, if
                // something ended that listing before the second answer: only from the last such
                // end is the lookup certainly not listing `q` (seed 3: q1 restarted and
                // registered after one answer and was tombstoned before the next).
                let last_end = ends.iter().filter(|&&t| t >= w[0].asked_ns && t <= w[1].answered_ns).next_back();
                let from = last_end.map_or(w[0].answered_ns, |&t| t.max(w[0].answered_ns));
                (w[1].asked_ns > from).then_some((from, w[1].asked_ns))
            })
            .collect();
        // Adjacent spans share an answer: merge them.
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (a, b) in mine {
            match merged.last_mut() {
                Some(last) if a <= last.1 + OBSERVER_GAP_NS => last.1 = b,
                _ => merged.push((a, b)),
            }
        }
        // A consumer may keep what the lookup listed before it went down for `stale_ms`.
        for (_, down) in m.up.get(l).into_iter().flatten().filter(|(_, to)| *to < m.end_ns) {
            let stale_until = down + stale_ms * MS;
            merged = merged
                .into_iter()
                .flat_map(|(a, b)| {
                    let before = (a < *down).then_some((a, b.min(*down)));
                    let after = (b > stale_until).then_some((a.max(stale_until), b));
                    before.into_iter().chain(after)
                })
                .collect();
        }
        spans = Some(match spans {
            None => merged,
            Some(prev) => super::model::intersect(&prev, &merged),
        });
    }
    spans.unwrap_or_default()
}

/// Within one answer's round trip: two spans this close are one (the answer between them was
/// without the node too).
const OBSERVER_GAP_NS: u64 = 100 * MS;

/// The first moment in `[from, to)` at which the connection was open, if any. A restart of the
/// consumer (`restarts`) closes a connection of its earlier life.
fn open_during(events: &[super::model::ConnEvent], restarts: &[u64], from: u64, to: u64, end: u64) -> Option<u64> {
    let mut open_since: Option<u64> = None;
    let mut intervals = Vec::new();
    let mut evs: Vec<super::model::ConnEvent> = events.to_vec();
    evs.extend(restarts.iter().map(|&at| super::model::ConnEvent { at_ns: at, up: false }));
    // At one instant a restart's close comes before the new life's connection.
    evs.sort_by_key(|e| (e.at_ns, e.up));
    for e in &evs {
        match (e.up, open_since) {
            (true, None) => open_since = Some(e.at_ns),
            (false, Some(s)) => {
                intervals.push((s, e.at_ns));
                open_since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = open_since {
        intervals.push((s, end));
    }
    intervals.into_iter().filter(|&(s, e)| s < to && e > from).map(|(s, _)| s.max(from)).min()
}
