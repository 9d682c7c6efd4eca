//! Whether a client and a gateway could talk throughout a request: the excuse
//! `gateway_answers_in_time` gives a request the faults, not the gateway, left unanswered.
//!
//! A gateway can only be held to its deadline while it runs and the client's request and its
//! answer can cross the network. Where gateways are killed, stopped, paused or cut off from their
//! clients (the `whole-system` scenario), a request sent into such a fault gets no answer, or
//! one that arrives late, through no fault of the gateway's; the same goes for a client that is
//! down or paused itself (a killed client never records the answer; a paused one records it when
//! it resumes). So a request is judged only if, throughout its window, both ends ran unpaused
//! and the links both ways were open; otherwise this names what stood in the way.
//!
//! Node lives and link states come from the harness's events through [`DiscoveryModel`]: a node
//! is up from each `NodeStarted` or `Resume` to the next kill, clean stop (from the moment it
//! began), or pause; a link is blocked while a partition separates its ends, it is cut in that
//! direction, or either end is isolated, until the next heal. A node with no recorded life at all
//! (hand-built histories; the harness records every world node's start) is taken to run
//! throughout.

use std::collections::BTreeMap;

use crate::discovery::model::DiscoveryModel;

use super::secs;

/// The lives and links of a history, with each client/gateway pair's open links cached.
pub(crate) struct Reach {
    model: DiscoveryModel,
    /// (client, gateway) → the intervals in which the links both ways were open.
    links: BTreeMap<(String, String), Vec<(u64, u64)>>,
}

impl Reach {
    pub fn from_history(h: &history::History) -> Reach {
        Reach { model: DiscoveryModel::from_history(h), links: BTreeMap::new() }
    }

    /// What kept `client` and `gateway` from talking at some time in `[from_ns, to_ns]` (cut at
    /// the end of the history), if anything: either was down or paused, or a link between them
    /// was blocked.
    pub fn cut_off(&mut self, client: &str, gateway: &str, from_ns: u64, to_ns: u64) -> Option<String> {
        let to_ns = to_ns.min(self.model.end_ns).max(from_ns);
        let covers = |spans: &[(u64, u64)]| spans.iter().any(|&(a, b)| a <= from_ns && to_ns <= b);
        for node in [gateway, client] {
            if let Some(ups) = self.model.up.get(node) {
                if !covers(ups) {
                    return Some(format!("{node} was down or paused between {} and {}", secs(from_ns), secs(to_ns)));
                }
            }
        }
        let model = &self.model;
        let open = self.links.entry((client.to_string(), gateway.to_string())).or_insert_with(|| {
            crate::discovery::model::intersect(&model.link_open(client, gateway), &model.link_open(gateway, client))
        });
        if !covers(open) {
            return Some(format!("the network between {client} and {gateway} was cut between {} and {}", secs(from_ns), secs(to_ns)));
        }
        None
    }
}
