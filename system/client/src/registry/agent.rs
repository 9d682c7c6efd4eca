//! The registry agent: keeps one instance registered while its process lives.
//!
//! It registers, then heartbeats every `heartbeat_ms` (a third of the ttl by default). A heartbeat
//! answered 404 `unknown_instance` (the node evicted the lease, or never had it) registers again
//! at once on the same node. A node that does not answer in `request_timeout_ms`, refuses, or
//! answers 5xx is marked down ([`super::failover`]) and the same beat is retried at once on the
//! next node — first as a heartbeat, since the registry replicates and the new node may well
//! know the instance, then (on 404) as a registration. With every node down the agent waits for
//! the first to come back. A clean stop ([`Agent::stop`]) deregisters before returning.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rt::shutdown::{Shutdown, Trigger};
use rt::time::Instant;

use super::call::{node_name, Api, CallError};
use super::config::{AgentConfig, ConfigError};
use super::event::RegistryEvent;
use super::failover::{Failover, Pick};
use crate::event::{Event, Observer};

/// What the agent last achieved (for status pages and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStatus {
    /// The node that last acknowledged a registration or heartbeat.
    pub node: Option<Arc<str>>,
    /// Its version in that answer.
    pub version: u64,
    /// Acknowledged heartbeats and registrations so far.
    pub acks: u64,
}

/// A running agent. Dropping it without [`Agent::stop`] stops heartbeating without
/// deregistering (the lease then expires), like a crash.
pub struct Agent {
    stop: Trigger,
    task: Option<rt::task::JoinHandle<()>>,
    status: Arc<Mutex<AgentStatus>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Agent {
    /// Starts the agent's task (registration happens at once, in the background).
    pub fn start(config: AgentConfig, observer: Option<Observer>) -> Result<Agent, ConfigError> {
        config.nodes.check()?;
        for name in [&config.service, &config.id] {
            if !super::api::valid_name(name) {
                return Err(ConfigError::BadName(name.clone()));
            }
        }
        let (stop, shutdown) = rt::shutdown::channel();
        let status = Arc::new(Mutex::new(AgentStatus::default()));
        let run = Run {
            api: Api::new(&config.nodes),
            failover: Failover::new(&config.nodes.addresses, config.nodes.backoff_min_ms, config.nodes.backoff_max_ms),
            name: Arc::from(format!("agent:{}/{}", config.service, config.id)),
            observer: observer.unwrap_or_else(crate::event::ignore),
            status: status.clone(),
            started: rt::time::now(),
            registered: false,
            config,
        };
        let task = rt::task::spawn(run.run(shutdown));
        Ok(Agent { stop, task: Some(task), status })
    }

    pub fn status(&self) -> AgentStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops heartbeating and deregisters (one attempt per node at most, each bounded by the
    /// request timeout), then returns.
    pub async fn stop(mut self) {
        self.stop.trigger();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

struct Run {
    config: AgentConfig,
    api: Api,
    failover: Failover,
    name: Arc<str>,
    observer: Observer,
    status: Arc<Mutex<AgentStatus>>,
    started: Instant,
    /// Whether some node has acknowledged a registration (until then a beat is a registration).
    registered: bool,
}

/// What one beat achieved.
enum Beat {
    /// Acknowledged: next beat after the interval.
    Done,
    /// Every node down: try again after this.
    Wait(Duration),
    /// The node rejected the request (4xx): try again after the interval.
    Rejected,
}

impl Run {
    fn now_ms(&self) -> u64 {
        u64::try_from(rt::time::now().saturating_duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    fn emit(&self, e: RegistryEvent) {
        (self.observer)(&Event::Registry(e));
    }

    fn acked(&self, node: &Arc<str>, version: u64) {
        let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
        s.node = Some(node.clone());
        s.version = version;
        s.acks += 1;
    }

    async fn run(mut self, mut shutdown: Shutdown) {
        let interval = Duration::from_millis(self.config.heartbeat_ms());
        let mut next = rt::time::now();
        loop {
            rt::select! {
                _ = shutdown.wait() => break,
                _ = rt::time::sleep_until(next) => {}
            }
            let beat = rt::select! {
                _ = shutdown.wait() => break,
                b = self.beat() => b,
            };
            next = rt::time::now()
                + match beat {
                    Beat::Done | Beat::Rejected => interval,
                    Beat::Wait(d) => d,
                };
        }
        self.deregister().await;
    }

    /// One heartbeat (or registration), failing over as needed. Bounded: each node is tried at
    /// most once, plus one re-registration after a 404.
    async fn beat(&mut self) -> Beat {
        for _ in 0..self.failover.len() {
            let addr = match self.failover.pick(self.now_ms()) {
                Pick::Wait { ms } => return Beat::Wait(Duration::from_millis(ms)),
                Pick::Node { addr, switched_from } => {
                    if let Some(from) = switched_from {
                        self.emit(RegistryEvent::Failover { client: self.name.clone(), from: node_name(&from), to: node_name(&addr) });
                    }
                    addr
                }
            };
            let node = node_name(&addr);
            let mut result = if self.registered { self.heartbeat(&node).await } else { Err(CallError::UnknownInstance) };
            if matches!(result, Err(CallError::UnknownInstance)) {
                result = self.register(&node).await;
            }
            match result {
                Ok(()) => {
                    self.failover.succeeded(&addr);
                    return Beat::Done;
                }
                Err(e) if e.node_failed() => {
                    let jitter = rt::rand::range(0.0..1.0);
                    self.failover.failed(&addr, self.now_ms(), jitter);
                }
                Err(_) => return Beat::Rejected,
            }
        }
        match self.failover.pick(self.now_ms()) {
            Pick::Wait { ms } => Beat::Wait(Duration::from_millis(ms)),
            // Another node is up again already: go at once.
            Pick::Node { .. } => Beat::Wait(Duration::ZERO),
        }
    }

    fn failed(&self, node: &Arc<str>, op: &'static str, e: &CallError) {
        let (service, id) = (self.config.service.clone(), self.config.id.clone());
        let reason = e.to_string();
        tracing::debug!(%node, op, %reason, "registry agent request failed");
        self.emit(RegistryEvent::AgentRequestFailed { service, id, node: node.clone(), op, reason, node_failed: e.node_failed() });
    }

    async fn heartbeat(&mut self, node: &Arc<str>) -> Result<(), CallError> {
        let t0 = rt::time::now();
        let (service, id) = (self.config.service.clone(), self.config.id.clone());
        match self.api.heartbeat(node, &service, &id).await {
            Ok(version) => {
                let took_ms = ms_since(t0);
                self.acked(node, version);
                self.emit(RegistryEvent::Renewed { service, id, node: node.clone(), version, took_ms });
                Ok(())
            }
            Err(CallError::UnknownInstance) => {
                self.emit(RegistryEvent::UnknownInstance { service, id, node: node.clone() });
                Err(CallError::UnknownInstance)
            }
            Err(e) => {
                self.failed(node, "heartbeat", &e);
                Err(e)
            }
        }
    }

    async fn register(&mut self, node: &Arc<str>) -> Result<(), CallError> {
        let t0 = rt::time::now();
        let (service, id) = (self.config.service.clone(), self.config.id.clone());
        match self.api.register(node, &service, &id, &self.config.registration).await {
            Ok(version) => {
                let took_ms = ms_since(t0);
                self.registered = true;
                self.acked(node, version);
                self.emit(RegistryEvent::Registered { service, id, node: node.clone(), version, took_ms });
                Ok(())
            }
            Err(e) => {
                self.failed(node, "register", &e);
                Err(e)
            }
        }
    }

    /// The clean stop: deregister on the current node, or the next that answers.
    async fn deregister(&mut self) {
        if !self.registered {
            return;
        }
        for _ in 0..self.failover.len() {
            let Pick::Node { addr, .. } = self.failover.pick(self.now_ms()) else { return };
            let node = node_name(&addr);
            let (service, id) = (self.config.service.clone(), self.config.id.clone());
            match self.api.deregister(&addr, &service, &id).await {
                Ok(version) => {
                    self.emit(RegistryEvent::Deregistered { service, id, node, version });
                    return;
                }
                // Already gone there: nothing to do.
                Err(CallError::UnknownInstance) => return,
                Err(e) => {
                    self.failed(&node, "deregister", &e);
                    if !e.node_failed() {
                        return;
                    }
                    self.failover.failed(&addr, self.now_ms(), 1.0);
                }
            }
        }
    }
}

fn ms_since(t0: Instant) -> u64 {
    u64::try_from(rt::time::now().saturating_duration_since(t0).as_millis()).unwrap_or(u64::MAX)
}
