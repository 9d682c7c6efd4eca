//! The trait between the HTTP layer and the node: every face (native, Consul, Eureka) calls the
//! registry only through [`RegistryApi`], and `node::Node` implements it. Tests can implement it
//! over a bare core. Object-safe: routers hold an `Arc<dyn RegistryApi>`.
//!
//! Stability: faces are written against this trait; add methods, do not change existing ones.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use super::error::ApiError;
use crate::core::{Instance, Key, Registration, Status};

/// A boxed future, as returned by the trait's waits.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a blocking read waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitScope {
    /// The global version.
    Global,
    /// One service's version.
    Service(String),
}

/// Services with at least one live instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServicesView {
    /// The node's global version.
    pub version: u64,
    /// False until a restarted node has synced from a peer (API.md "Until a node is synced").
    pub complete: bool,
    /// name → (service version, live instances).
    pub services: BTreeMap<String, ServiceSummary>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServiceSummary {
    pub version: u64,
    pub instances: usize,
}

/// One service's live instances, sorted by id.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    pub service: String,
    /// The service's version (0 if never seen).
    pub version: u64,
    /// The global version at the time of the read.
    pub global_version: u64,
    pub complete: bool,
    pub instances: Vec<Instance>,
}

/// Every live instance (Eureka's `/eureka/apps`, Consul's agent services).
#[derive(Debug, Clone, PartialEq)]
pub struct AllView {
    pub version: u64,
    pub complete: bool,
    pub instances: Vec<Instance>,
}

/// The node's state for `/api/status`, metrics and the simulator's properties.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeStatus {
    pub node: String,
    pub peers: Vec<String>,
    pub version: u64,
    pub instances: usize,
    /// Renewals received in the last minute (counted; since the window last restarted, see
    /// `renewal_window_ms` and `core::preservation`).
    pub renewals_last_min: u64,
    /// Renewals per minute the live instances promise.
    pub expected_renewals_per_min: u64,
    /// Renewals expected over the same window as `renewals_last_min` (pro-rated for instances
    /// registered within it); below threshold × this, eviction pauses (rule 1).
    pub expected_renewals_last_min: u64,
    /// How far back the renewal count reaches (a minute, or less since it restarted).
    pub renewal_window_ms: u64,
    /// The promised rate of the instances renewing on time (rule 2).
    pub renewing_per_min: u64,
    /// `renewing_per_min` over the rate expected of the instances here for an interval or more;
    /// below the threshold, eviction pauses (rule 2).
    pub on_time_fraction: f64,
    /// The share of the expected rate from instances that renewed within their last interval /
    /// threshold: at or above the threshold for an interval, a shortfall the count saw is over.
    pub recent_fraction: f64,
    pub threshold: f64,
    /// Whether the last sweep found the node in self-preservation.
    pub self_preservation: bool,
    /// Which rule holds now: `none`, `renewal_count`, `on_time` or `both`.
    pub self_preservation_rule: &'static str,
    pub synced: bool,
    pub watchers: usize,
    /// Instances this node's sweeps have evicted since it started.
    pub evictions_total: u64,
    /// Sweeps that found the node in self-preservation since it started.
    pub self_preservation_sweeps_total: u64,
    /// Changes waiting to be replicated, over all peers.
    pub replication_backlog: usize,
}

/// The settings faces need to interpret requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The lease of a registration that names none (`--ttl-default`).
    pub ttl_default_ms: u64,
    /// Largest request body (`--max-body-size`).
    pub body_size_bytes_max: usize,
    /// The change stream's keepalive period (`--watch-keepalive`).
    pub watch_keepalive_ms: u64,
}

/// A registered change stream; dropping it frees the watcher slot.
pub trait WatcherSlot: Send + 'static {}

/// The registry as the HTTP layer sees it. Mutations commit at once (the replication and the
/// persistence of the version high-water mark happen behind them) and return the node's global
/// version after the change.
pub trait RegistryApi: Send + Sync + 'static {
    /// Registers or replaces `key` (400 bad name, 413 metadata too large, 429 instance limit).
    fn register(&self, key: Key, registration: Registration) -> Result<u64, ApiError>;
    /// Renews the lease; with `status`, also sets the owner's status (Consul's check
    /// pass/warn/fail). 404 `unknown_instance` when this node does not hold it.
    fn renew(&self, key: &Key, status: Option<Status>) -> Result<u64, ApiError>;
    /// Sets the owner's status without renewing (Eureka's status overrides).
    fn set_status(&self, key: &Key, status: Status) -> Result<u64, ApiError>;
    /// Deregisters (404 `unknown_instance`).
    fn deregister(&self, key: &Key) -> Result<u64, ApiError>;

    fn services(&self) -> ServicesView;
    fn service(&self, service: &str) -> ServiceView;
    fn instance(&self, key: &Key) -> Option<Instance>;
    /// Live instances with this id in any service.
    fn instances_with_id(&self, id: &str) -> Vec<Instance>;
    fn all_instances(&self) -> AllView;

    /// The current version of `scope`.
    fn version(&self, scope: &WaitScope) -> u64;
    /// Completes with the version of `scope` as soon as it is greater than `index`, or after
    /// `timeout` (of this node's time) with the current one.
    fn wait(&self, scope: WaitScope, index: u64, timeout: Duration) -> BoxFuture<u64>;
    /// Services changed after global version `since`, each with its version; `None` when the
    /// node's log no longer reaches back that far.
    fn changed_since(&self, since: u64) -> Option<BTreeMap<String, u64>>;
    /// Takes a watcher slot for a change stream; `None` at `--max-watchers`.
    fn watcher_slot(&self) -> Option<Box<dyn WatcherSlot>>;
    /// Completes when the node starts to stop (long-lived streams end then).
    fn stopping(&self) -> BoxFuture<()>;

    /// The node's state for `/api/status`: costs a pass over every instance (the
    /// self-preservation arithmetic), so not for a per-request header — see [`Self::synced`].
    fn status(&self) -> NodeStatus;
    /// Whether the node has synced since it started (`X-Weir-Synced`, `complete`): cheap.
    fn synced(&self) -> bool {
        self.status().synced
    }
    fn limits(&self) -> Limits;
    /// Prometheus text exposition of the node's metrics.
    fn metrics(&self) -> String;

    /// Every service this node has seen, with its version, including services now empty (the
    /// change stream's full events list them all).
    fn service_versions(&self) -> BTreeMap<String, u64> {
        self.services().services.into_iter().map(|(k, v)| (k, v.version)).collect()
    }

    /// TESTING (`Testing::watch_skips_versions`): the change stream drops every third event.
    fn testing_watch_skips_versions(&self) -> bool {
        false
    }
}
