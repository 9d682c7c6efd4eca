//! The consumer: one topic/channel, fed by explicit queue addresses and/or lookup discovery.
//!
//! Messages arrive through [`Deliveries`]; the application answers each [`Delivery`] with FIN,
//! REQ or TOUCH (or drops it). Behind it: a coordinator task (connections, RDY spread, backoff,
//! reconnects, discovery — see `coordinator`) and one task per connection (see `conn`).

mod conn;
mod coordinator;
mod delivery;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub use delivery::{Delivery, OutOfTurn, StrayAnswer};

use crate::config::ConsumerConfig;
use crate::error::ConfigError;
use crate::event::Observer;
use coordinator::{CoordMsg, Coordinator};

/// The stream of messages for the application.
pub struct Deliveries {
    rx: mpsc::Receiver<Delivery>,
}

impl Deliveries {
    /// The next message; `None` once the consumer has stopped and every connection is closed.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// A message if one is waiting.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok()
    }
}

/// A running consumer. Dropping it closes every connection at once; [`Consumer::stop`] closes
/// them gracefully (CLS, then waits for in-flight answers up to `stop_timeout_ms`).
pub struct Consumer {
    tx: mpsc::UnboundedSender<CoordMsg>,
}

impl Consumer {
    /// Starts a consumer of `topic`/`channel` with no connections yet; add queues with
    /// [`Consumer::connect_to_nsqd`] or lookups with [`Consumer::connect_to_lookupd`].
    pub fn start(
        topic: &str,
        channel: &str,
        config: ConsumerConfig,
        observer: Option<Observer>,
    ) -> Result<(Consumer, Deliveries), ConfigError> {
        if !wire::names::is_valid_topic_name(topic) {
            return Err(ConfigError::BadTopic(topic.to_owned()));
        }
        if !wire::names::is_valid_channel_name(channel) {
            return Err(ConfigError::BadChannel(channel.to_owned()));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let capacity = usize::try_from(config.max_in_flight).unwrap_or(usize::MAX).clamp(1, 1 << 16);
        let (dtx, drx) = mpsc::channel(capacity);
        let coord = Coordinator::new(topic.to_owned(), channel.to_owned(), Arc::new(config), observer, tx.clone(), dtx);
        rt::task::spawn(coord.run(rx));
        Ok((Consumer { tx }, Deliveries { rx: drx }))
    }

    /// Connects to a queue's TCP address (`host:port`); it is reconnected whenever it drops.
    pub fn connect_to_nsqd(&self, addr: impl Into<String>) {
        let _ = self.tx.send(CoordMsg::AddNsqd(addr.into()));
    }

    /// Polls a lookup's HTTP address (`host:port` or `http://host:port`) for the topic's queues.
    pub fn connect_to_lookupd(&self, addr: impl Into<String>) {
        let _ = self.tx.send(CoordMsg::AddLookupd(addr.into()));
    }

    /// Changes the in-flight budget (0 pauses the consumer).
    pub fn set_max_in_flight(&self, max_in_flight: u64) {
        let _ = self.tx.send(CoordMsg::SetMaxInFlight(max_in_flight));
    }

    /// Graceful stop: CLS to every connection, wait for in-flight messages to be answered (up to
    /// `stop_timeout_ms`), close. Returns when every connection is closed.
    pub async fn stop(self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(CoordMsg::Stop { done: Some(done) }).is_ok() {
            let _ = wait.await;
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.tx.send(CoordMsg::Stop { done: None });
        let _ = self.tx.send(CoordMsg::StopTimeout);
    }
}
