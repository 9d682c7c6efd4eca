//! The registry watcher: a local copy of the services it follows, kept current from one registry
//! node at a time, for the gateway and any other consumer of service instances.
//!
//! How it learns of changes ([`run`]): the change stream `GET /api/watch?since=G` (one connection
//! for every followed service; on an event it reads the changed followed services); or, when the
//! stream is refused or keeps failing, blocking reads of `GET /api/services?index=G&wait=…`. A
//! stream silent for 3× the keepalive is stalled (a partition stalls TCP without an error) and
//! reconnected. A node that does not answer is left for the next ([`super::failover`]); versions
//! are per node, so on a switch the index starts again at 0. The merge rule ([`super::local`])
//! keeps versions from one node from going backwards, keeps a complete copy over a syncing node's
//! partial one, and keeps the last known set while the registry is unreachable.
//!
//! For consumers: [`Watcher::snapshot`] reads the current copy, and [`Watcher::subscribe`] gives a
//! [`Changes`] whose `next()` waits for the next change (built on `tokio::sync::Notify`, not a
//! `watch` channel, whose wakeups draw from tokio's unseeded RNG).

mod run;
mod shared;

use std::sync::Arc;

use rt::shutdown::Trigger;

pub use self::shared::Changes;
use self::shared::Shared;
use super::api::{valid_name, Instance};
use super::config::{ConfigError, WatcherConfig};
use super::local::Snapshot;
use crate::event::Observer;

/// A running watcher. Dropping it stops its task.
pub struct Watcher {
    shared: Arc<Shared>,
    stop: Trigger,
    task: Option<rt::task::JoinHandle<()>>,
    services_max: usize,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Watcher {
    pub fn start(config: WatcherConfig, observer: Option<Observer>) -> Result<Watcher, ConfigError> {
        config.nodes.check()?;
        for (v, name) in [(config.keepalive_ms, "keepalive_ms"), (config.wait_ms, "wait_ms"), (config.incomplete_retry_ms, "incomplete_retry_ms")] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if config.services.len() > config.services_max {
            return Err(ConfigError::TooManyServices(config.services_max));
        }
        if let Some(bad) = config.services.iter().find(|s| !valid_name(s)) {
            return Err(ConfigError::BadName(bad.clone()));
        }
        let shared = Arc::new(Shared::new(config.services.iter().cloned()));
        let (stop, shutdown) = rt::shutdown::channel();
        let services_max = config.services_max;
        let task = rt::task::spawn(run::Run::new(config, shared.clone(), observer.unwrap_or_else(crate::event::ignore)).run(shutdown));
        Ok(Watcher { shared, stop, task: Some(task), services_max })
    }

    /// Follows one more service (read at once, then kept current).
    pub fn follow(&self, service: &str) -> Result<(), ConfigError> {
        if !valid_name(service) {
            return Err(ConfigError::BadName(service.to_owned()));
        }
        if !self.shared.follow(service, self.services_max) {
            return Err(ConfigError::TooManyServices(self.services_max));
        }
        Ok(())
    }

    /// The current copy of `service`: None until some node answered for it.
    pub fn snapshot(&self, service: &str) -> Option<Arc<Snapshot>> {
        self.shared.snapshot(service)
    }

    /// The current instances of `service` (empty until known).
    pub fn instances(&self, service: &str) -> Vec<Instance> {
        self.snapshot(service).map(|s| s.instances.clone()).unwrap_or_default()
    }

    /// A subscription to changes from now on.
    pub fn subscribe(&self) -> Changes {
        self.shared.subscribe()
    }

    /// The node the watcher reads from now.
    pub fn node(&self) -> Option<Arc<str>> {
        self.shared.node()
    }

    /// Stops the task and waits for it.
    pub async fn stop(mut self) {
        self.stop.trigger();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}
