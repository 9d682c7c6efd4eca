//! The global version and the per-service versions of one node, and the recent change log the
//! change stream describes.
//!
//! The global version is +1 per committed change on this node (local or replicated); a service's
//! version is the global version of its last change. Neither ever decreases: the node starts at a
//! persisted high-water mark (see `node::persist`) above every version it has handed out. The log
//! keeps the last `log_len_max` commits so a watcher reconnecting with `since=v` can be told what
//! changed after `v`; older `since` get a full event.

use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone)]
pub struct Versions {
    global: u64,
    services: BTreeMap<String, u64>,
    /// (version, service) of recent commits, oldest first.
    log: VecDeque<(u64, String)>,
    log_len_max: usize,
    /// The global version at which this node's history starts: `since` below it cannot be
    /// described by the log.
    floor: u64,
}

impl Versions {
    /// Versions starting at `start` (at least 1: Consul's index is never 0).
    pub fn starting_at(start: u64, log_len_max: usize) -> Versions {
        let start = start.max(1);
        Versions { global: start, services: BTreeMap::new(), log: VecDeque::new(), log_len_max: log_len_max.max(1), floor: start }
    }

    pub fn global(&self) -> u64 {
        self.global
    }

    /// A service's version (0 if this node never saw it).
    pub fn service(&self, service: &str) -> u64 {
        self.services.get(service).copied().unwrap_or(0)
    }

    pub fn services(&self) -> &BTreeMap<String, u64> {
        &self.services
    }

    /// Commits one change to `service`; returns the new global version.
    pub fn commit(&mut self, service: &str) -> u64 {
        self.global = self.global.saturating_add(1);
        match self.services.get_mut(service) {
            Some(v) => *v = self.global,
            None => {
                self.services.insert(service.to_owned(), self.global);
            }
        }
        self.log.push_back((self.global, service.to_owned()));
        while self.log.len() > self.log_len_max {
            if let Some((v, _)) = self.log.pop_front() {
                self.floor = v;
            }
        }
        self.global
    }

    /// The services changed after `since`, each with its version; `None` when `since` is older
    /// than the log can describe (the caller then sends everything).
    pub fn changed_since(&self, since: u64) -> Option<BTreeMap<String, u64>> {
        if since < self.floor {
            return None;
        }
        let mut out = BTreeMap::new();
        for (v, s) in self.log.iter().rev() {
            if *v <= since {
                break;
            }
            out.entry(s.clone()).or_insert(*v);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_bump_global_and_service_and_the_log_describes_them() {
        let mut v = Versions::starting_at(0, 3);
        assert_eq!(v.global(), 1);
        assert_eq!(v.commit("a"), 2);
        assert_eq!(v.commit("b"), 3);
        assert_eq!(v.commit("a"), 4);
        assert_eq!(v.service("a"), 4);
        assert_eq!(v.service("b"), 3);
        assert_eq!(v.service("zzz"), 0);
        let since2 = v.changed_since(2).expect("describable");
        assert_eq!(since2.into_iter().collect::<Vec<_>>(), vec![("a".into(), 4), ("b".into(), 3)]);
        assert_eq!(v.changed_since(4).expect("describable").len(), 0);
        v.commit("c");
        assert!(v.changed_since(1).is_none(), "the log forgot version 2");
        assert!(v.changed_since(2).is_some());
    }
}
