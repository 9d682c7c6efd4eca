//! The seam between the HTTP API and the daemon: [`QueueApi`] is everything the HTTP handlers ask
//! of the node. The daemon implements it over its node state; the router only parses requests,
//! validates them as nsqd does, calls one method and renders the answer. Keeping the trait narrow
//! lets the HTTP layer be tested against an in-memory fake with no sockets, disk or clock.

use std::future::Future;

use bytes::Bytes;

use super::stats::{MemoryStats, StatsFilter, StatsSnapshot};
use crate::Options;

/// What the daemon can fail with. Each maps to nsqd's status and `{"message":"CODE"}`
/// (see [`ApiError::code`] / [`ApiError::status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 404 `TOPIC_NOT_FOUND`: the topic does not exist (every action but topic create).
    #[error("TOPIC_NOT_FOUND")]
    TopicNotFound,
    /// 404 `CHANNEL_NOT_FOUND`: the channel does not exist (channel delete/empty/pause/unpause).
    #[error("CHANNEL_NOT_FOUND")]
    ChannelNotFound,
    /// 503 `EXITING`: the node is shutting down and refuses new messages.
    #[error("EXITING")]
    Exiting,
    /// 400 `INVALID_VALUE`: a `/config` PUT value the node rejects.
    #[error("INVALID_VALUE")]
    InvalidValue,
    /// 500 `INTERNAL_ERROR`: anything else (e.g. a disk failure while emptying); the reason is
    /// for the log only, nsqd does not send it.
    #[error("INTERNAL_ERROR: {0}")]
    Internal(String),
}

impl ApiError {
    /// nsqd's `message` text for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::TopicNotFound => "TOPIC_NOT_FOUND",
            ApiError::ChannelNotFound => "CHANNEL_NOT_FOUND",
            ApiError::Exiting => "EXITING",
            ApiError::InvalidValue => "INVALID_VALUE",
            ApiError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// nsqd's HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::TopicNotFound | ApiError::ChannelNotFound => 404,
            ApiError::Exiting => 503,
            ApiError::InvalidValue => 400,
            ApiError::Internal(_) => 500,
        }
    }
}

/// The five actions nsqd offers on a topic and on a channel (`/topic/<action>`,
/// `/channel/<action>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Topic: create if missing (never fails with `TopicNotFound`). Channel: the topic must
    /// exist (`TopicNotFound`), the channel is created if missing.
    Create,
    /// Delete with everything it holds; `TopicNotFound` / `ChannelNotFound` if missing.
    Delete,
    /// Drop every queued message (memory and disk; channel: also in-flight and deferred).
    Empty,
    /// Stop delivering (messages keep queueing); persisted in the metadata.
    Pause,
    /// Resume delivering; persisted in the metadata.
    Unpause,
}

impl Action {
    /// The action for a path segment (`create`, `delete`, ...).
    pub fn from_segment(segment: &str) -> Option<Action> {
        Some(match segment {
            "create" => Action::Create,
            "delete" => Action::Delete,
            "empty" => Action::Empty,
            "pause" => Action::Pause,
            "unpause" => Action::Unpause,
            _ => return None,
        })
    }
}

/// The node's health as `/ping` and `/stats` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `OK`.
    Ok,
    /// Unhealthy (e.g. a disk write failed); `/ping` answers 500 `NOK - <reason>`.
    Unhealthy(String),
}

impl Health {
    /// The text nsqd reports: `OK` or `NOK - <reason>`.
    pub fn text(&self) -> String {
        match self {
            Health::Ok => "OK".to_string(),
            Health::Unhealthy(reason) => format!("NOK - {reason}"),
        }
    }
}

/// `/info`'s answer (field order is the JSON order nsqd sends).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Info {
    /// Always [`super::VERSION`] (a semver nsqadmin accepts).
    pub version: String,
    pub broadcast_address: String,
    pub hostname: String,
    /// The HTTP port actually bound.
    pub http_port: u16,
    /// The TCP port actually bound.
    pub tcp_port: u16,
    /// Unix seconds.
    pub start_time: i64,
    /// Nanoseconds.
    pub max_heartbeat_interval: u64,
    pub max_output_buffer_size: u64,
    /// Nanoseconds.
    pub max_output_buffer_timeout: u64,
    pub max_deflate_level: u8,
}

impl Info {
    /// The `/info` answer for a node running with `opts`, bound to these ports, started at
    /// `start_time` (unix seconds).
    pub fn from_options(opts: &Options, tcp_port: u16, http_port: u16, start_time: i64) -> Info {
        Info {
            version: super::VERSION.to_string(),
            broadcast_address: opts.broadcast_address.clone(),
            hostname: opts.hostname.clone(),
            http_port,
            tcp_port,
            start_time,
            max_heartbeat_interval: opts.max_heartbeat_interval_ms.saturating_mul(1_000_000),
            max_output_buffer_size: opts.max_output_buffer_size_bytes,
            max_output_buffer_timeout: opts.max_output_buffer_timeout_ms.saturating_mul(1_000_000),
            max_deflate_level: opts.max_deflate_level,
        }
    }
}

/// The options `/config/:opt` may change at run time (nsqd allows exactly these two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// `PUT /config/nsqlookupd_tcp_addresses` with a JSON array: the node must (re)connect to
    /// exactly these lookups.
    LookupdTcpAddresses(Vec<String>),
    /// `PUT /config/log_level` with `debug|info|warn|error|fatal` (already validated, lowercase).
    LogLevel(String),
}

/// Everything the HTTP API needs from the node. Implemented by the daemon over its node state.
///
/// Names reaching these methods are already validated (`wire::names`) where nsqd validates them;
/// bodies are already size-checked. Async methods may await disk writes (metadata persistence).
pub trait QueueApi: Send + Sync + 'static {
    /// Publishes one message to `topic` (creating the topic if missing), deferred by `defer_ms`
    /// when non-zero (already checked `<= max_req_timeout`). `Exiting` while shutting down.
    fn publish(
        &self,
        topic: &str,
        body: Bytes,
        defer_ms: u64,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Publishes all of `bodies` to `topic` atomically (all or none), creating the topic if
    /// missing — also when `bodies` is empty, as nsqd does. `Exiting` while shutting down.
    fn publish_many(
        &self,
        topic: &str,
        bodies: Vec<Bytes>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `/topic/<action>?topic=`. See [`Action`] for what each must do and fail with.
    fn topic_action(
        &self,
        topic: &str,
        action: Action,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `/channel/<action>?topic=&channel=`. `TopicNotFound` before `ChannelNotFound`.
    fn channel_action(
        &self,
        topic: &str,
        channel: &str,
        action: Action,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// A snapshot for `/stats`. The filter is a hint: the router applies it again (and sorts), so
    /// returning everything is correct, just slower. See [`StatsSnapshot`] for each field.
    fn stats(&self, filter: &StatsFilter) -> impl Future<Output = StatsSnapshot> + Send;

    /// `/stats`'s `memory` object (only asked for when `include_mem` is on); see [`MemoryStats`]
    /// for what each field means here.
    fn memory(&self) -> MemoryStats {
        MemoryStats::default()
    }

    /// `/info`'s answer (see [`Info::from_options`]).
    fn info(&self) -> Info;

    /// The node's health, for `/ping` and `/stats`.
    fn health(&self) -> Health;

    /// The node's current options, for `GET /config/:opt` (rendered as nsqd does).
    fn options(&self) -> Options;

    /// Applies a `PUT /config/:opt` change; the router then answers with the new value read back
    /// through [`QueueApi::options`], so the node must store it there.
    fn put_config(&self, change: ConfigChange)
        -> impl Future<Output = Result<(), ApiError>> + Send;

    /// `POST /channel/dead-letter`: the channel's own dead-letter policy (`policy.max_attempts`
    /// 0: off for this channel), already validated. `TopicNotFound` before `ChannelNotFound`.
    /// Weir's own endpoint; an API without dead letters answers 500.
    fn channel_dead_letter(
        &self,
        topic: &str,
        channel: &str,
        policy: crate::core::DeadLetter,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        let _ = (topic, channel, policy);
        async { Err(ApiError::Internal("dead letters not supported".into())) }
    }
}
