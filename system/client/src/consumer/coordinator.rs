//! The consumer's coordinator task: owns the set of connections, RDY, backoff, reconnects and
//! discovery. Connection tasks, deliveries, lookup pollers and timers all talk to it through one
//! channel, so its state needs no locks and its decisions happen in one deterministic order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::conn::{self, ConnSpec};
use super::delivery::{ConnCmd, Delivery};
use crate::backoff::{self, Action, Backoff, Signal};
use crate::config::ConsumerConfig;
use crate::event::{Event, Observer};
use crate::lookup::{self, Discovery};
use crate::rdy;

pub(crate) enum CoordMsg {
    AddNsqd(String),
    AddLookupd(String),
    SetMaxInFlight(u64),
    Up { key: String, conn_id: u64, max_rdy: u64, tx: mpsc::UnboundedSender<ConnCmd> },
    Down { key: String, conn_id: u64, reason: String },
    Reconnect { key: String, conn_id: u64 },
    Signal(Signal),
    BackoffTimer { generation: u64 },
    RotateRdy,
    /// Time for a discovery round: ask every lookup (see `crate::lookup` for the schedule).
    PollRound,
    Lookup { lookupd: String, answer: Option<BTreeSet<String>> },
    Stop { done: Option<oneshot::Sender<()>> },
    StopTimeout,
}

/// One wanted queue address: connecting, up, or waiting to reconnect.
struct Slot {
    conn_id: u64,
    explicit: bool,
    /// Set while the connection is up.
    tx: Option<mpsc::UnboundedSender<ConnCmd>>,
    max_rdy: u64,
    rdy_sent: u64,
    /// A connection task is running but not up yet.
    connecting: bool,
    /// Consecutive failed or broken connections, for the reconnect delay.
    failures: u32,
}

pub(crate) struct Coordinator {
    pub topic: String,
    pub channel: String,
    pub config: Arc<ConsumerConfig>,
    pub observer: Option<Observer>,
    pub tx: mpsc::UnboundedSender<CoordMsg>,
    pub deliveries: mpsc::Sender<Delivery>,
    pub in_backoff: Arc<AtomicBool>,
    pub max_in_flight: u64,
    slots: BTreeMap<String, Slot>,
    next_conn_id: u64,
    backoff: Backoff,
    backoff_generation: u64,
    probe: Option<String>,
    rotation: usize,
    rotating: bool,
    lookupds: BTreeSet<String>,
    /// Lookups asked and not answered yet: a slow lookup is not asked again until it answers
    /// (or its request times out), so queries never pile up.
    polling: BTreeSet<String>,
    /// Created with the first lookup; shared (pooled) by every query.
    http: Option<rt::http::HttpClient>,
    discovery: Discovery,
    stopping: bool,
    stop_waiters: Vec<oneshot::Sender<()>>,
}

impl Coordinator {
    pub fn new(
        topic: String,
        channel: String,
        config: Arc<ConsumerConfig>,
        observer: Option<Observer>,
        tx: mpsc::UnboundedSender<CoordMsg>,
        deliveries: mpsc::Sender<Delivery>,
    ) -> Self {
        let backoff = Backoff::new(
            Duration::from_millis(config.backoff_multiplier_ms),
            Duration::from_millis(config.max_backoff_ms),
        );
        let forget_after_failures = config.lookup_forget_after_failures;
        Coordinator {
            topic,
            channel,
            max_in_flight: config.max_in_flight,
            config,
            observer,
            tx,
            deliveries,
            in_backoff: Arc::new(AtomicBool::new(false)),
            slots: BTreeMap::new(),
            next_conn_id: 0,
            backoff,
            backoff_generation: 0,
            probe: None,
            rotation: 0,
            rotating: false,
            lookupds: BTreeSet::new(),
            polling: BTreeSet::new(),
            http: None,
            discovery: Discovery::new(forget_after_failures),
            stopping: false,
            stop_waiters: Vec::new(),
        }
    }

    fn emit(&self, make: impl FnOnce() -> Event) {
        if let Some(o) = &self.observer {
            o(&make());
        }
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<CoordMsg>) {
        while let Some(msg) = rx.recv().await {
            self.handle(msg);
            if self.stopping && self.slots.is_empty() {
                break;
            }
        }
        for w in self.stop_waiters.drain(..) {
            let _ = w.send(());
        }
    }

    fn handle(&mut self, msg: CoordMsg) {
        match msg {
            CoordMsg::AddNsqd(key) => {
                if self.stopping {
                    return;
                }
                match self.slots.get_mut(&key) {
                    Some(slot) => slot.explicit = true,
                    None => self.open(key, true, 0),
                }
            }
            CoordMsg::AddLookupd(lookupd) => {
                if self.stopping {
                    return;
                }
                let first = self.lookupds.is_empty();
                // Later lookups join the next round (as in go-nsq).
                if self.lookupds.insert(lookupd) && first {
                    let interval = Duration::from_millis(self.config.lookup_poll_interval_ms.max(1));
                    let delay = lookup::first_poll_delay(interval, self.config.lookup_poll_jitter, rt::rand::range(0.0..1.0));
                    self.after(delay, CoordMsg::PollRound);
                }
            }
            CoordMsg::PollRound => {
                if self.stopping {
                    return;
                }
                self.poll_round();
                self.after(Duration::from_millis(self.config.lookup_poll_interval_ms.max(1)), CoordMsg::PollRound);
            }
            CoordMsg::SetMaxInFlight(n) => {
                self.max_in_flight = n;
                self.rebalance();
            }
            CoordMsg::Up { key, conn_id, max_rdy, tx } => {
                let stopping = self.stopping;
                match self.slots.get_mut(&key) {
                    Some(slot) if slot.conn_id == conn_id => {
                        slot.failures = 0;
                        slot.connecting = false;
                        slot.max_rdy = max_rdy;
                        slot.rdy_sent = 0;
                        if stopping {
                            let _ = tx.send(ConnCmd::Close);
                        }
                        slot.tx = Some(tx);
                    }
                    // Dropped while connecting.
                    _ => {
                        let _ = tx.send(ConnCmd::Close);
                    }
                }
                self.rebalance();
            }
            CoordMsg::Down { key, conn_id, reason } => {
                tracing::debug!(%key, %reason, "connection down");
                let Some(slot) = self.slots.get_mut(&key) else { return };
                if slot.conn_id != conn_id {
                    return;
                }
                slot.tx = None;
                slot.connecting = false;
                slot.rdy_sent = 0;
                let wanted = slot.explicit || self.discovery.wanted().contains(&key);
                if self.stopping || !wanted {
                    self.slots.remove(&key);
                } else {
                    let attempt = slot.failures;
                    slot.failures = slot.failures.saturating_add(1);
                    let delay = backoff::reconnect_delay(
                        attempt,
                        Duration::from_millis(self.config.reconnect_min_ms),
                        Duration::from_millis(self.config.reconnect_max_ms),
                        rt::rand::range(0.5..=1.0),
                    );
                    self.after(delay, CoordMsg::Reconnect { key: key.clone(), conn_id });
                }
                if self.probe.as_deref() == Some(key.as_str()) {
                    self.probe = None;
                }
                self.rebalance();
            }
            CoordMsg::Reconnect { key, conn_id } => {
                if self.stopping {
                    return;
                }
                if let Some(slot) = self.slots.get(&key) {
                    if slot.conn_id == conn_id && slot.tx.is_none() && !slot.connecting {
                        let (explicit, failures) = (slot.explicit, slot.failures);
                        self.open(key, explicit, failures);
                    }
                }
            }
            CoordMsg::Signal(signal) => {
                let action = self.backoff.on_signal(signal);
                self.apply(action);
            }
            CoordMsg::BackoffTimer { generation } => {
                if generation == self.backoff_generation {
                    let action = self.backoff.on_timer();
                    self.apply(action);
                }
            }
            CoordMsg::RotateRdy => {
                self.rotating = false;
                self.rotation = self.rotation.wrapping_add(1);
                self.rebalance();
            }
            CoordMsg::Lookup { lookupd, answer } => {
                self.polling.remove(&lookupd);
                if self.stopping {
                    return;
                }
                self.discovery.record(&lookupd, answer);
                let current: BTreeSet<String> =
                    self.slots.iter().filter(|(_, s)| !s.explicit).map(|(k, _)| k.clone()).collect();
                let plan = self.discovery.plan(&current);
                if plan.connect.is_empty() && plan.drop.is_empty() {
                    return;
                }
                self.emit(|| Event::Discovered { added: plan.connect.clone(), removed: plan.drop.clone() });
                for key in plan.drop {
                    if let Some(slot) = self.slots.remove(&key) {
                        if let Some(tx) = slot.tx {
                            let _ = tx.send(ConnCmd::Close);
                        }
                    }
                }
                for key in plan.connect {
                    self.open(key, false, 0);
                }
                self.rebalance();
            }
            CoordMsg::Stop { done } => {
                if let Some(d) = done {
                    self.stop_waiters.push(d);
                }
                if self.stopping {
                    return;
                }
                self.stopping = true;
                for slot in self.slots.values() {
                    if let Some(tx) = &slot.tx {
                        let _ = tx.send(ConnCmd::Cls);
                    }
                }
                // Slots waiting for a reconnect have no task: forget them. Those connecting
                // report Up (and are closed at once) or Down.
                self.slots.retain(|_, s| s.tx.is_some() || s.connecting);
                self.after(Duration::from_millis(self.config.stop_timeout_ms), CoordMsg::StopTimeout);
            }
            CoordMsg::StopTimeout => {
                for slot in self.slots.values() {
                    if let Some(tx) = &slot.tx {
                        let _ = tx.send(ConnCmd::Close);
                    }
                }
                // Connecting tasks time out by themselves; stop waiting for them.
                self.slots.retain(|_, s| s.tx.is_some());
            }
        }
    }

    /// Spawns a connection task for `key`.
    fn open(&mut self, key: String, explicit: bool, failures: u32) {
        self.next_conn_id += 1;
        let conn_id = self.next_conn_id;
        let slot = Slot { conn_id, explicit, tx: None, max_rdy: 0, rdy_sent: 0, connecting: true, failures };
        self.slots.insert(key.clone(), slot);
        rt::task::spawn(conn::run(ConnSpec {
            key,
            conn_id,
            topic: self.topic.clone(),
            channel: self.channel.clone(),
            config: self.config.clone(),
            observer: self.observer.clone(),
            coord: self.tx.clone(),
            deliveries: self.deliveries.clone(),
            in_backoff: self.in_backoff.clone(),
        }));
    }

    /// Sends `msg` to ourselves after `delay`.
    fn after(&self, delay: Duration, msg: CoordMsg) {
        let tx = self.tx.clone();
        rt::task::spawn(async move {
            rt::time::sleep(delay).await;
            let _ = tx.send(msg);
        });
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::None => return,
            Action::Pause { level, wait } => {
                self.probe = None;
                self.backoff_generation += 1;
                self.after(wait, CoordMsg::BackoffTimer { generation: self.backoff_generation });
                self.emit(|| Event::Backoff { level, duration_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX) });
            }
            Action::Probe => {
                let live: Vec<&String> = self.slots.iter().filter(|(_, s)| s.tx.is_some()).map(|(k, _)| k).collect();
                self.probe = if live.is_empty() { None } else { Some(live[rt::rand::range(0..live.len())].clone()) };
            }
            Action::Resume => {
                self.probe = None;
                self.emit(|| Event::BackoffEnded);
            }
        }
        self.in_backoff.store(self.backoff.in_backoff(), Ordering::Relaxed);
        self.rebalance();
    }

    /// Brings every live connection's RDY to what it should be now.
    fn rebalance(&mut self) {
        let keys: Vec<String> = self.slots.iter().filter(|(_, s)| s.tx.is_some()).map(|(k, _)| k.clone()).collect();
        let desired: Vec<u64> = if self.stopping {
            vec![0; keys.len()]
        } else if self.backoff.in_backoff() {
            keys.iter().map(|k| u64::from(!self.backoff.waiting() && self.probe.as_ref() == Some(k))).collect()
        } else {
            let caps: Vec<u64> = keys.iter().map(|k| self.slots[k].max_rdy).collect();
            rdy::distribute(self.max_in_flight, &caps, self.rotation)
        };
        for (key, want) in keys.iter().zip(desired) {
            let slot = self.slots.get_mut(key).expect("live slot");
            if slot.rdy_sent != want {
                if let Some(tx) = &slot.tx {
                    let _ = tx.send(ConnCmd::Rdy(want));
                }
                slot.rdy_sent = want;
            }
        }
        if !self.rotating && !self.backoff.in_backoff() && rdy::needs_rotation(self.max_in_flight, keys.len()) {
            self.rotating = true;
            self.after(Duration::from_millis(self.config.rdy_redistribute_interval_ms.max(1)), CoordMsg::RotateRdy);
        }
    }

    /// Asks every lookup not still busy with the previous round, each in its own task, so a
    /// slow or failing lookup delays no other; each answer is merged as it arrives.
    fn poll_round(&mut self) {
        let config = &self.config;
        let client = self
            .http
            .get_or_insert_with(|| {
                let timeout = Duration::from_millis(config.lookup_request_timeout_ms.max(1));
                rt::http::HttpClient::new(rt::http::client::ClientConfig {
                    request_timeout: timeout,
                    connect_timeout: timeout,
                    max_response_bytes: config.lookup_response_bytes_max,
                    ..Default::default()
                })
            })
            .clone();
        for lookupd in &self.lookupds {
            if !self.polling.insert(lookupd.clone()) {
                continue;
            }
            let (tx, client, topic, lookupd) = (self.tx.clone(), client.clone(), self.topic.clone(), lookupd.clone());
            let producers_max = self.config.lookup_producers_max;
            rt::task::spawn(async move {
                let answer = lookup::query_bounded(&client, &lookupd, &topic, producers_max).await;
                let _ = tx.send(CoordMsg::Lookup { lookupd, answer });
            });
        }
    }
}
