//! The watcher's local copy of one followed service, and the rule that merges a node's answer
//! into it, sans I/O.
//!
//! Versions are per node (`API.md`): a number from one node says nothing about another's. So the
//! copy remembers, per node, the highest version it took from that node, and:
//! - an answer older than that is stale (a slow answer overtaken by a newer one) and ignored, so
//!   a consumer never sees a version go backwards on one node;
//! - an answer with the same version from the node the copy came from changes nothing (unless
//!   the node has meanwhile finished syncing, which makes the same state complete);
//! - an incomplete answer (a node that has not synced from a peer yet) never replaces a complete
//!   copy: the last complete set is worth more to a gateway than a partial one;
//! - anything else replaces the copy, from whichever node it came (after a failover the new node's
//!   numbers are unrelated, and its answer is the freshest the client can have).
//!
//! When the registry is unreachable nothing is merged and the copy stays as it was.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::api::{Instance, ServiceAnswer};

/// A service's instances as one node reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub service: String,
    /// The node (its configured address) that answered.
    pub node: Arc<str>,
    /// The service's version on that node.
    pub version: u64,
    /// False when that node had not yet synced its state from a peer.
    pub complete: bool,
    /// Sorted by id.
    pub instances: Vec<Instance>,
}

impl Snapshot {
    /// The instance ids, in order.
    pub fn ids(&self) -> Vec<String> {
        self.instances.iter().map(|i| i.id.clone()).collect()
    }
}

/// What a merge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The copy now holds the answer.
    Applied,
    /// Nothing new (same version from the same node).
    Unchanged,
    /// Older than a version already taken from that node: ignored.
    Stale,
    /// Incomplete while the copy is complete: ignored (the node is still syncing).
    KeptComplete,
}

/// One followed service.
#[derive(Debug, Clone, Default)]
pub struct LocalCopy {
    snapshot: Option<Arc<Snapshot>>,
    /// Per node, the highest version taken from it. One entry per configured node at most.
    high: BTreeMap<Arc<str>, u64>,
}

impl LocalCopy {
    /// The current copy (None until some node answered).
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    /// The highest version taken from `node` (0: none).
    pub fn high(&self, node: &str) -> u64 {
        self.high.get(node).copied().unwrap_or(0)
    }

    /// The version to wait past on `node`: the copy's version when it came from that node, else
    /// 0 (anything the node says is news).
    pub fn index_on(&self, node: &str) -> u64 {
        match &self.snapshot {
            Some(s) if &*s.node == node => s.version,
            _ => 0,
        }
    }

    /// Merges `answer` from `node`.
    pub fn merge(&mut self, node: &Arc<str>, mut answer: ServiceAnswer) -> Merge {
        let high = self.high(node);
        if answer.version < high {
            return Merge::Stale;
        }
        if let Some(s) = &self.snapshot {
            if s.node == *node && s.version == answer.version && (s.complete || !answer.complete) {
                return Merge::Unchanged;
            }
            if s.complete && !answer.complete {
                return Merge::KeptComplete;
            }
        }
        answer.instances.sort_by(|a, b| a.id.cmp(&b.id));
        answer.instances.dedup_by(|a, b| a.id == b.id);
        self.high.insert(node.clone(), answer.version);
        self.snapshot = Some(Arc::new(Snapshot {
            service: answer.service,
            node: node.clone(),
            version: answer.version,
            complete: answer.complete,
            instances: answer.instances,
        }));
        Merge::Applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn inst(id: &str) -> Instance {
        Instance {
            service: "s".into(),
            id: id.into(),
            address: "10.0.0.9".into(),
            port: 80,
            weight: 1,
            tags: vec![],
            meta: Default::default(),
            ttl_ms: 1000,
            status: "passing".into(),
            version: 1,
        }
    }

    fn answer(version: u64, complete: bool, ids: &[&str]) -> ServiceAnswer {
        ServiceAnswer { service: "s".into(), version, complete, instances: ids.iter().map(|i| inst(i)).collect() }
    }

    #[test]
    fn never_backwards_on_a_node_but_any_number_from_another() {
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let mut c = LocalCopy::default();
        assert_eq!(c.merge(&a, answer(10, true, &["x"])), Merge::Applied);
        assert_eq!(c.merge(&a, answer(9, true, &[])), Merge::Stale);
        assert_eq!(c.merge(&a, answer(10, true, &["x"])), Merge::Unchanged);
        assert_eq!(c.merge(&b, answer(3, true, &["y"])), Merge::Applied);
        assert_eq!(c.snapshot().unwrap().ids(), vec!["y"]);
        assert_eq!(c.index_on("b"), 3);
        assert_eq!(c.index_on("a"), 0);
        // Back on a: its old high still guards.
        assert_eq!(c.merge(&a, answer(9, true, &[])), Merge::Stale);
        assert_eq!(c.merge(&a, answer(11, true, &["x", "z"])), Merge::Applied);
    }

    #[test]
    fn an_incomplete_answer_never_replaces_a_complete_copy() {
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let mut c = LocalCopy::default();
        assert_eq!(c.merge(&b, answer(2, false, &["p"])), Merge::Applied);
        assert_eq!(c.merge(&b, answer(2, true, &["p"])), Merge::Applied);
        assert!(c.snapshot().unwrap().complete);
        assert_eq!(c.merge(&a, answer(50, false, &[])), Merge::KeptComplete);
        assert_eq!(c.snapshot().unwrap().ids(), vec!["p"]);
    }

    proptest! {
        /// Over any sequence of answers from a few nodes: the versions a consumer sees from one
        /// node never decrease, a complete copy never becomes incomplete, and the copy is always
        /// the last applied answer, sorted and without duplicate ids.
        #[test]
        fn merge_invariants(answers in proptest::collection::vec((0usize..3, 0u64..20, any::<bool>(), proptest::collection::vec(0u8..6, 0..6)), 0..60)) {
            let nodes: Vec<Arc<str>> = ["a", "b", "c"].iter().map(|n| Arc::from(*n)).collect();
            let mut c = LocalCopy::default();
            let mut seen: BTreeMap<Arc<str>, u64> = BTreeMap::new();
            for (n, v, complete, ids) in answers {
                let ids: Vec<String> = ids.iter().map(|i| format!("i{i}")).collect();
                let refs: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
                let was_complete = c.snapshot().is_some_and(|s| s.complete);
                let m = c.merge(&nodes[n], answer(v, complete, &refs));
                let s = c.snapshot();
                if was_complete { prop_assert!(s.as_ref().unwrap().complete); }
                if m == Merge::Applied {
                    let s = s.unwrap();
                    prop_assert_eq!(&s.node, &nodes[n]);
                    prop_assert_eq!(s.version, v);
                    let prev = seen.insert(nodes[n].clone(), v).unwrap_or(0);
                    prop_assert!(v >= prev, "version went back on {}: {} after {}", nodes[n], v, prev);
                    let got = s.ids();
                    let mut want = ids.clone(); want.sort(); want.dedup();
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
