//! The HTTP API's view of the node: [`crate::http::QueueApi`] over [`Node`].
//!
//! A thin wrapper (`Api`) owns an `Arc<Node>` because the node's creating/deleting methods need
//! the `Arc` to spawn their helpers, while the trait hands out `&self`.

use std::sync::Arc;

use bytes::Bytes;

use crate::core::{QuantileReport, Quantiles};
use crate::http::stats::{ChannelStats, MemoryStats, ClientStats, PubCount, StatsFilter, StatsSnapshot, TopicStats};
use crate::http::{Action, ApiError, ConfigChange, Health, Info, QueueApi};
use crate::options::Options;

use super::{ClientEntry, Node, PublishError, State};

/// BUGGIFY: a slow admin answer. The request waits between its existence check and its action,
/// so a concurrent delete, pause or empty of the same topic or channel (another operator, the
/// simulator's admin workload) lands in between, and the client sees a slow reply.
async fn slow_answer() {
    if rt::buggify!() {
        rt::time::sleep(std::time::Duration::from_millis(rt::rand::range(50..500))).await;
    }
}

/// The node as the HTTP router sees it.
pub struct Api(pub Arc<Node>);

fn publish_error(e: PublishError) -> ApiError {
    match e {
        PublishError::Exiting => ApiError::Exiting,
        PublishError::Disk(r) | PublishError::Invalid(r) => ApiError::Internal(r),
    }
}

impl QueueApi for Api {
    async fn publish(&self, topic: &str, body: Bytes, defer_ms: u64) -> Result<(), ApiError> {
        // The body is a slice of the request hyper read: copy it (`Node::publish`).
        self.0.publish(topic, vec![Bytes::copy_from_slice(&body)], defer_ms).await.map_err(publish_error)
    }

    async fn publish_many(&self, topic: &str, bodies: Vec<Bytes>) -> Result<(), ApiError> {
        if bodies.is_empty() {
            return self.0.ensure_topic(topic).await.map(|_| ()).map_err(publish_error);
        }
        // Slices of the request: copied into shared chunks (`Node::publish`).
        self.0.publish(topic, wire::pack::pack_all(&bodies), 0).await.map_err(publish_error)
    }

    async fn topic_action(&self, topic: &str, action: Action) -> Result<(), ApiError> {
        let node = &self.0;
        if action == Action::Create {
            return node.ensure_topic(topic).await.map(|_| ()).map_err(publish_error);
        }
        if !node.lock().topics.contains_key(topic) {
            return Err(ApiError::TopicNotFound);
        }
        slow_answer().await;
        let r = match action {
            Action::Create => unreachable!("handled above"),
            Action::Delete => node.delete_topic(topic).await,
            Action::Empty => node.empty_topic(topic).await,
            Action::Pause => node.set_topic_paused(topic, true).await,
            Action::Unpause => node.set_topic_paused(topic, false).await,
        };
        r.map_err(|_| ApiError::TopicNotFound)
    }

    async fn channel_action(&self, topic: &str, channel: &str, action: Action) -> Result<(), ApiError> {
        let node = &self.0;
        let exists = {
            let state = node.lock();
            let t = state.topics.get(topic).ok_or(ApiError::TopicNotFound)?;
            t.channels.contains_key(channel)
        };
        if action == Action::Create {
            return node.ensure_channel(topic, channel).await.map(|_| ()).map_err(publish_error);
        }
        if !exists {
            return Err(ApiError::ChannelNotFound);
        }
        slow_answer().await;
        let r = match action {
            Action::Create => unreachable!("handled above"),
            Action::Delete => node.delete_channel(topic, channel).await,
            Action::Empty => node.empty_channel(topic, channel).await,
            Action::Pause => node.set_channel_paused(topic, channel, true).await,
            Action::Unpause => node.set_channel_paused(topic, channel, false).await,
        };
        r.map_err(|_| ApiError::ChannelNotFound)
    }

    async fn stats(&self, filter: &StatsFilter) -> StatsSnapshot {
        let node = &self.0;
        let now_ms = node.now_ms();
        let state = node.lock();
        snapshot(node, &state, filter, now_ms)
    }

    fn memory(&self) -> MemoryStats {
        let usage = rt::process::memory();
        MemoryStats {
            heap_objects: self.0.messages_in_memory(),
            heap_in_use_bytes: usage.anon_bytes,
            heap_idle_bytes: usage.data_bytes.saturating_sub(usage.anon_bytes),
            ..MemoryStats::default()
        }
    }

    fn info(&self) -> Info {
        let (tcp, http) = self.0.ports();
        Info::from_options(&self.0.current_options(), tcp, http, self.0.start_time_secs())
    }

    fn health(&self) -> Health {
        match self.0.health() {
            None => Health::Ok,
            Some(r) => Health::Unhealthy(r),
        }
    }

    fn options(&self) -> Options {
        self.0.current_options()
    }

    async fn channel_dead_letter(&self, topic: &str, channel: &str, policy: crate::core::DeadLetter) -> Result<(), ApiError> {
        let node = &self.0;
        {
            let state = node.lock();
            let t = state.topics.get(topic).ok_or(ApiError::TopicNotFound)?;
            if !t.channels.contains_key(channel) {
                return Err(ApiError::ChannelNotFound);
            }
        }
        node.set_channel_dead_letter(topic, channel, policy).await.map_err(|_| ApiError::ChannelNotFound)
    }

    async fn put_config(&self, change: ConfigChange) -> Result<(), ApiError> {
        match change {
            ConfigChange::LookupdTcpAddresses(addrs) => self.0.set_lookupd_addresses(addrs),
            ConfigChange::LogLevel(level) => self.0.set_log_level(level),
        }
        Ok(())
    }
}

fn client_stats(entry: &ClientEntry, consumer: Option<&crate::core::ConsumerStats>) -> ClientStats {
    let i = &entry.info;
    ClientStats {
        client_id: i.client_id.clone(),
        hostname: i.hostname.clone(),
        version: "V2".into(),
        remote_address: i.remote_address.clone(),
        state: i.state,
        ready_count: consumer.map_or(0, |c| i64::from(c.rdy)),
        in_flight_count: consumer.map_or(0, |c| i64::from(c.in_flight)),
        message_count: consumer.map_or(0, |c| c.message_count),
        finish_count: consumer.map_or(0, |c| c.finish_count),
        requeue_count: consumer.map_or(0, |c| c.requeue_count),
        connect_ts: i.connect_ts_secs,
        sample_rate: i32::from(i.sample_rate),
        deflate: i.deflate,
        snappy: i.snappy,
        user_agent: i.user_agent.clone(),
        pub_counts: i
            .pub_counts
            .iter()
            .map(|(topic, &count)| PubCount { topic: topic.clone(), count })
            .collect(),
        tls: i.tls,
        tls_cipher_suite: i.tls_info.as_ref().map(|t| t.cipher_suite.clone()).unwrap_or_default(),
        tls_version: i.tls_info.as_ref().map(|t| t.version.clone()).unwrap_or_default(),
        tls_negotiated_protocol: i.tls_info.as_ref().map(|t| t.negotiated_protocol.clone()).unwrap_or_default(),
        tls_negotiated_protocol_is_mutual: i.tls_info.as_ref().is_some_and(|t| t.negotiated_protocol_is_mutual),
        ..ClientStats::default()
    }
}

fn snapshot(node: &Node, state: &State, filter: &StatsFilter, now_ms: u64) -> StatsSnapshot {
    let percentiles = &node.opts.e2e_processing_latency_percentiles;
    let report = |parts: Vec<&Quantiles>| {
        if percentiles.is_empty() {
            QuantileReport::disabled()
        } else {
            Quantiles::merged_report(parts, now_ms, percentiles)
        }
    };
    let mut topics = Vec::new();
    for (name, t) in &state.topics {
        if filter.topic.as_deref().is_some_and(|f| !f.is_empty() && f != name) {
            continue;
        }
        let mut channels = Vec::new();
        for ch in t.topic.channels() {
            let extra = t.channels.get(ch.name());
            let backend_depth = extra.and_then(|e| e.backend.as_ref()).map_or(0, |b| b.depth());
            let clients = filter.include_clients.then(|| {
                ch.consumers()
                    .filter_map(|(id, c)| state.clients.get(&id).map(|e| client_stats(e, Some(c))))
                    .collect()
            });
            channels.push(ChannelStats {
                channel_name: ch.name().to_owned(),
                depth: (ch.depth() as u64 + backend_depth) as i64,
                backend_depth: backend_depth as i64,
                in_flight_count: ch.in_flight_count() as u64,
                deferred_count: ch.deferred_count() as u64,
                message_count: ch.message_count(),
                requeue_count: ch.requeue_count(),
                timeout_count: ch.timeout_count(),
                client_count: ch.client_count() as u64,
                clients,
                paused: ch.is_paused(),
                e2e_processing_latency: report(extra.and_then(|e| e.e2e.as_ref()).into_iter().collect()),
                corrupt_count: extra.and_then(|e| e.backend.as_ref()).map_or(0, |b| b.corrupt_records()),
                backend_bytes: extra.and_then(|e| e.backend.as_ref()).map(|b| b.bytes()),
                dead_letter: ch.dead_letter().map(|d| crate::http::stats::DeadLetterStats {
                    dead_letter_topic: d.topic.clone(),
                    max_attempts: d.max_attempts,
                    dead_letter_count: ch.dead_letter_count(),
                }),
            });
        }
        let backend_depth = t.backend.as_ref().map_or(0, |b| b.depth());
        topics.push(TopicStats {
            topic_name: name.clone(),
            channels,
            depth: (t.topic.depth() as u64 + backend_depth) as i64,
            backend_depth: backend_depth as i64,
            message_count: t.topic.message_count(),
            message_bytes: t.topic.message_bytes(),
            paused: t.topic.is_paused(),
            e2e_processing_latency: report(t.channels.values().filter_map(|c| c.e2e.as_ref()).collect()),
            corrupt_count: t.backend.as_ref().map_or(0, |b| b.corrupt_records()),
            backend_bytes: t.backend.as_ref().map(|b| b.bytes()),
        });
    }
    let producers = state
        .clients
        .values()
        .filter(|c| !c.info.pub_counts.is_empty())
        .map(|c| client_stats(c, None))
        .collect();
    StatsSnapshot {
        start_time: node.start_time_secs(),
        uptime_ns: node.now_ms().saturating_mul(1_000_000),
        topics,
        producers,
    }
}
