//! A small in-memory node: topics copy messages to channels (or hold them without channels),
//! deferred messages are counted apart, actions fail as the trait says. Enough state to check
//! that the router calls the right thing and renders what comes back.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::core::{Percentile, QuantileReport};
use crate::http::{
    Action, ApiError, ChannelStats, ClientStats, ConfigChange, Health, Info, MemoryStats, QueueApi,
    StatsFilter, StatsSnapshot, TopicStats,
};
use crate::Options;

#[derive(Debug, Default, Clone)]
pub struct FakeChannel {
    pub queued: Vec<Bytes>,
    pub deferred: Vec<(Bytes, u64)>,
    pub message_count: u64,
    pub paused: bool,
    pub clients: Vec<ClientStats>,
}

#[derive(Debug, Default, Clone)]
pub struct FakeTopic {
    pub held: Vec<Bytes>,
    pub channels: BTreeMap<String, FakeChannel>,
    pub message_count: u64,
    pub message_bytes: u64,
    pub paused: bool,
}

#[derive(Debug)]
pub struct State {
    pub topics: BTreeMap<String, FakeTopic>,
    pub producers: Vec<ClientStats>,
    pub exiting: bool,
    pub health: Health,
    pub options: Options,
    pub memory: MemoryStats,
    pub uptime_ns: u64,
    pub e2e_percentiles: Option<Vec<f64>>,
    /// Every call the router made, in order.
    pub calls: Vec<String>,
}

pub struct FakeNode {
    pub state: Mutex<State>,
}

pub const START_TIME: i64 = 1_795_249_920;

impl FakeNode {
    pub fn new() -> FakeNode {
        let options = Options {
            lookupd_tcp_addresses: vec!["127.0.0.1:4160".into()],
            broadcast_address: "127.0.0.1".into(),
            hostname: "vm".into(),
            ..Options::default()
        };
        FakeNode {
            state: Mutex::new(State {
                topics: BTreeMap::new(),
                producers: Vec::new(),
                exiting: false,
                health: Health::Ok,
                options,
                memory: MemoryStats::default(),
                uptime_ns: 0,
                e2e_percentiles: Some(vec![0.99, 0.5]),
                calls: Vec::new(),
            }),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn calls(&self) -> Vec<String> {
        self.with(|s| s.calls.clone())
    }

    fn put(&self, topic: &str, bodies: Vec<Bytes>, defer_ms: u64) -> Result<(), ApiError> {
        self.with(|s| {
            if s.exiting {
                return Err(ApiError::Exiting);
            }
            let t = s.topics.entry(topic.to_string()).or_default();
            for body in bodies {
                t.message_count += 1;
                t.message_bytes += body.len() as u64;
                if t.channels.is_empty() {
                    t.held.push(body);
                    continue;
                }
                for c in t.channels.values_mut() {
                    c.message_count += 1;
                    if defer_ms > 0 {
                        c.deferred.push((body.clone(), defer_ms));
                    } else {
                        c.queued.push(body.clone());
                    }
                }
            }
            Ok(())
        })
    }
}

fn e2e(percentiles: &Option<Vec<f64>>) -> QuantileReport {
    match percentiles {
        None => QuantileReport::disabled(),
        Some(ps) => QuantileReport {
            count: 0,
            percentiles: Some(
                ps.iter()
                    .map(|&quantile| Percentile { quantile, value: 0 })
                    .collect(),
            ),
        },
    }
}

impl QueueApi for FakeNode {
    async fn publish(&self, topic: &str, body: Bytes, defer_ms: u64) -> Result<(), ApiError> {
        self.with(|s| {
            s.calls
                .push(format!("publish {topic} {:?} {defer_ms}", body))
        });
        self.put(topic, vec![body], defer_ms)
    }

    async fn publish_many(&self, topic: &str, bodies: Vec<Bytes>) -> Result<(), ApiError> {
        self.with(|s| s.calls.push(format!("publish_many {topic} {bodies:?}")));
        self.put(topic, bodies, 0)
    }

    async fn topic_action(&self, topic: &str, action: Action) -> Result<(), ApiError> {
        self.with(|s| {
            s.calls.push(format!("topic {action:?} {topic}"));
            if action == Action::Create {
                s.topics.entry(topic.to_string()).or_default();
                return Ok(());
            }
            let t = s.topics.get_mut(topic).ok_or(ApiError::TopicNotFound)?;
            match action {
                Action::Create => {}
                Action::Delete => {
                    s.topics.remove(topic);
                }
                Action::Empty => t.held.clear(),
                Action::Pause => t.paused = true,
                Action::Unpause => t.paused = false,
            }
            Ok(())
        })
    }

    async fn channel_action(
        &self,
        topic: &str,
        channel: &str,
        action: Action,
    ) -> Result<(), ApiError> {
        self.with(|s| {
            s.calls
                .push(format!("channel {action:?} {topic} {channel}"));
            let t = s.topics.get_mut(topic).ok_or(ApiError::TopicNotFound)?;
            if action == Action::Create {
                t.channels.entry(channel.to_string()).or_default();
                return Ok(());
            }
            let c = t
                .channels
                .get_mut(channel)
                .ok_or(ApiError::ChannelNotFound)?;
            match action {
                Action::Create => {}
                Action::Delete => {
                    t.channels.remove(channel);
                }
                Action::Empty => {
                    c.queued.clear();
                    c.deferred.clear();
                }
                Action::Pause => c.paused = true,
                Action::Unpause => c.paused = false,
            }
            Ok(())
        })
    }

    async fn stats(&self, filter: &StatsFilter) -> StatsSnapshot {
        self.with(|s| {
            s.calls.push(format!("stats {filter:?}"));
            // Deliberately unsorted and unfiltered: the router must sort and filter.
            let topics = s
                .topics
                .iter()
                .rev()
                .map(|(name, t)| TopicStats {
                    topic_name: name.clone(),
                    channels: t
                        .channels
                        .iter()
                        .rev()
                        .map(|(cname, c)| ChannelStats {
                            channel_name: cname.clone(),
                            depth: c.queued.len() as i64,
                            backend_depth: 0,
                            in_flight_count: 0,
                            deferred_count: c.deferred.len() as u64,
                            message_count: c.message_count,
                            requeue_count: 0,
                            timeout_count: 0,
                            client_count: c.clients.len() as u64,
                            clients: Some(c.clients.clone()),
                            paused: c.paused,
                            corrupt_count: 0,
                            backend_bytes: None,
                            dead_letter: None,
                            e2e_processing_latency: e2e(&s.e2e_percentiles),
                        })
                        .collect(),
                    depth: t.held.len() as i64,
                    backend_depth: 0,
                    message_count: t.message_count,
                    message_bytes: t.message_bytes,
                    paused: t.paused,
                    corrupt_count: 0,
                    backend_bytes: None,
                    e2e_processing_latency: e2e(&s.e2e_percentiles),
                })
                .collect();
            StatsSnapshot {
                start_time: START_TIME,
                uptime_ns: s.uptime_ns,
                topics,
                producers: s.producers.clone(),
            }
        })
    }

    fn memory(&self) -> MemoryStats {
        self.with(|s| s.memory.clone())
    }

    fn info(&self) -> Info {
        self.with(|s| Info::from_options(&s.options, 4150, 4151, START_TIME))
    }

    fn health(&self) -> Health {
        self.with(|s| s.health.clone())
    }

    fn options(&self) -> Options {
        self.with(|s| s.options.clone())
    }

    async fn put_config(&self, change: ConfigChange) -> Result<(), ApiError> {
        self.with(|s| {
            s.calls.push(format!("config {change:?}"));
            match change {
                ConfigChange::LookupdTcpAddresses(a) => s.options.lookupd_tcp_addresses = a,
                ConfigChange::LogLevel(l) => s.options.log_level = l,
            }
            Ok(())
        })
    }
}
