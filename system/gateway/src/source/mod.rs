//! Where a `service = "name"` route gets its backends. [`registry::RegistrySource`] follows the
//! service through the registry client's watcher and pushes every new instance set through the
//! [`BackendSink`], which swaps the route's backends atomically; when the registry is unreachable
//! it simply pushes nothing, and the route keeps its last known set. [`StaticSource`] serves
//! fixed sets (the config's `[services.NAME]` tables) when no `[registry]` is configured.

pub mod registry;

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use crate::balance::BackendSpec;
use crate::proxy::RouteBackends;

/// The push end a source feeds one route through.
#[derive(Debug, Clone)]
pub struct BackendSink {
    route: Weak<RouteBackends>,
}

impl BackendSink {
    pub fn new(route: &Arc<RouteBackends>) -> Self {
        BackendSink { route: Arc::downgrade(route) }
    }

    /// Swaps the route's backend set. Returns false once the route is gone (removed by a reload):
    /// the source should stop following it.
    pub fn replace(&self, backends: Vec<BackendSpec>) -> bool {
        match self.route.upgrade() {
            Some(r) => {
                r.replace(backends);
                true
            }
            None => false,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.route.strong_count() == 0
    }
}

/// A provider of service backends.
pub trait BackendSource: Send + Sync + std::fmt::Debug {
    /// Starts following `service` for one route: push the current set (if known) through `sink`
    /// now and every change after, until `sink.replace` returns false. Must not block; a source
    /// that needs I/O spawns its own task through rt.
    fn follow(&self, service: &str, sink: BackendSink) -> Result<(), String>;
}

/// Fixed backend sets by service name.
#[derive(Debug, Default, Clone)]
pub struct StaticSource {
    services: BTreeMap<String, Vec<BackendSpec>>,
}

impl StaticSource {
    pub fn new(services: BTreeMap<String, Vec<BackendSpec>>) -> Self {
        StaticSource { services }
    }
}

impl BackendSource for StaticSource {
    fn follow(&self, service: &str, sink: BackendSink) -> Result<(), String> {
        let set = self.services.get(service).ok_or_else(|| format!("no backends known for service {service:?}"))?;
        sink.replace(set.clone());
        Ok(())
    }
}
