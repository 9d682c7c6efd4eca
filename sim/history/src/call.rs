//! Client operations, their outcomes, and things clients observe.
//!
//! One enum per family, grown by each service's issue. Serialised with a `"type"` tag so a run
//! record reads naturally as JSON.

use serde::{Deserialize, Serialize};

/// An operation a client invokes against the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Call {
    /// Fixture key-value store: write `key=value` (durable once synced by the server).
    KvPut { server: String, key: String, value: String },
    /// Fixture: read `key`.
    KvGet { server: String, key: String },
    /// Fixture: ask the server for its wall clock.
    KvTime { server: String },
    /// Queue: publish a message (identified by the workload's own unique `key` in its body).
    Publish { server: String, topic: String, key: String, defer_ms: u64 },
    /// Queue: an administrative HTTP request (`POST <path>`: topic/channel create, delete, pause,
    /// empty, or a deferred `/pub`). Ok = 200; Failed = another HTTP status (in `error`);
    /// Unknown = no answer.
    QueueAdmin { server: String, path: String },
    /// Queue: `GET /ping`. Ok = 200; Failed = an HTTP answer with another status (`error` starts
    /// with the status code); Unknown = no HTTP answer (refused, timed out).
    QueuePing { server: String },
    /// Gateway: an HTTP request through gateway `gateway` (world node name) to route `route`.
    /// Ok = a 2xx from a backend (`value`: the backend that answered); Failed = another HTTP
    /// status, the backend's or the gateway's own (`error` starts with the status code);
    /// Unknown = no HTTP answer before the client's own deadline.
    GatewayRequest { gateway: String, route: String, path: String },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// Acknowledged by the system, with an optional value.
    Ok { value: Option<String> },
    /// Definitely did not take effect (the system said no).
    Failed { error: String },
    /// Unknown: the client gave up (timeout, connection lost). It may or may not have taken effect.
    Unknown { error: String },
}

impl Outcome {
    pub fn ok() -> Outcome {
        Outcome::Ok { value: None }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }
}

/// Something a client saw that is not the answer to one of its calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Observation {
    /// Queue: a message was delivered to a consumer.
    Delivered {
        server: String,
        topic: String,
        channel: String,
        consumer: String,
        key: String,
        id: String,
        attempts: u16,
        /// The delivering node's wall clock when it sent the message, if known.
        server_wall_ms: Option<i64>,
    },
    /// Queue: the consumer finished (FIN) a message; acknowledged by the absence of an error.
    Finished { server: String, topic: String, channel: String, consumer: String, key: String, id: String },
    /// Queue: the consumer requeued (REQ) a message.
    Requeued { server: String, topic: String, channel: String, consumer: String, key: String, id: String, delay_ms: u64 },
    /// Queue: a consumer's SUB to `channel` succeeded, so the channel exists on `server` from now
    /// on. `consumer` names the consumer and, when known, its connection (`c1#3`).
    Subscribed { server: String, topic: String, channel: String, consumer: String },
    /// Queue: a queue node (re)started with this configuration. Recorded by the node itself at
    /// every start, so properties can tell which durability promise applied to each message.
    QueueNode { server: String, sync_every: u64, mem_queue_size: u64, msg_timeout_ms: u64 },
    /// Discovery: a consumer's connection to `server` (a queue node) ended, or a connect attempt
    /// failed. `Subscribed` is its counterpart (the connection is up and subscribed).
    Disconnected { server: String, topic: String, channel: String, consumer: String },
    /// Discovery: lookup `lookup` answered `/lookup?topic=` with these producers (world node
    /// names, sorted; empty for 404 `TOPIC_NOT_FOUND`). The request was sent at `asked_ms` (sim
    /// time); the event's own time is when the answer arrived, so the lookup computed it in
    /// between.
    LookupAnswer { lookup: String, topic: String, producers: Vec<String>, asked_ms: u64 },
    /// Discovery: lookup `lookup` acknowledged `POST /topic/tombstone` of `producer` (a queue
    /// node's world name) for `topic`. Sent at `asked_ms`; the event's time is the acknowledgement.
    Tombstoned { lookup: String, topic: String, producer: String, asked_ms: u64 },
    /// Registry: registry node `server` acknowledged an agent's write for instance `service/id`
    /// (`op`: `register`, `renew` or `deregister`) with its version `version`; the request took
    /// `took_ms`, so it reached the node in the last `took_ms` before this event. `instance` is
    /// the world node running the agent.
    RegistryAck { instance: String, server: String, service: String, id: String, op: String, version: u64, took_ms: u64 },
    /// Registry: the workload started an agent for instance `service/id` on world node
    /// `instance`. Its register may take effect at the registry from now on, before (or without)
    /// an acknowledgement: a kill a few milliseconds later loses the ack but not the write
    /// (gateway seed 16059).
    RegistryAgentStarted { instance: String, service: String, id: String },
    /// Registry: watcher `watcher` took this state of `service` from registry node `server`:
    /// the service's version there, whether the node was synced, the instance ids (sorted).
    RegistrySaw { watcher: String, server: String, service: String, version: u64, complete: bool, instances: Vec<String> },
    /// Registry: node `server`'s sweep evicted `service/id` (its lease ran out on that node).
    RegistryEvicted { server: String, service: String, id: String },
    /// Registry: self-preservation engaged (`active`) or ended on `server`, with its arithmetic.
    RegistrySelfPreservation { server: String, active: bool, renewals_last_min: u64, expected_per_min: u64 },
    /// Registry: node `server` has pulled the state from a peer (or gave up waiting).
    RegistrySynced { server: String },
    /// Queue: messages a node held in memory for one topic (`channel: None`: the topic's own
    /// backlog) or channel, ready to deliver (not in flight, not deferred), as `/stats` reported
    /// them (`depth - backend_depth`), sampled by a prober.
    QueueMemory { server: String, topic: String, channel: Option<String>, ready_in_memory: u64 },
    /// Gateway: backend `backend` received request `key` (the client's unique `x-request-key`)
    /// with `method`, before answering it.
    GatewayBackendGot { backend: String, key: String, method: String },
    /// Whole system: an instance of the `orders` service processed order `order` (the queue
    /// message's key) for request `request` (the caller's unique `x-request-key`), before
    /// answering it. Recorded by the service itself, so a processing whose answer was lost is
    /// still in the history.
    OrderProcessed { instance: String, order: String, request: String },
    /// Gateway: gateway `gateway` picked backend `backend` (world node name) for an attempt of a
    /// request on route `route`; recorded under the route's balancer lock, so the order of these
    /// events is the order of the picks.
    GatewayPicked { gateway: String, route: String, backend: String },
    /// Gateway: route `route` of gateway `gateway` swapped in a new backend set (only when it
    /// differs from the one in force): the backends (world node names) and their weights, in the
    /// route's order.
    GatewayBackendSet { gateway: String, route: String, backends: Vec<String>, weights: Vec<u32> },
    /// Gateway: the outlier layer of route `route` ejected `backend` for `for_ms` from this event.
    GatewayEjected { gateway: String, route: String, backend: String, for_ms: u64 },
    /// Gateway: an attempt on route `route` to `backend` failed (connect error, timeout, broken
    /// exchange, cancelled) and was booked against it (passive health, effective weight).
    GatewayAttemptFailed { gateway: String, route: String, backend: String },
    /// Free-form note from a workload (kept out of property logic).
    Note { text: String },
    /// Queue: a consumer sent `verb` (`FIN`, `REQ` or `TOUCH`) for message `id` out of turn, on
    /// the connection that delivered attempt `attempts` of it: a duplicate of the answer it had
    /// just sent (`late: false`), or an answer sent after holding the message past its timeout
    /// (`late: true`). Recorded once the command was queued on that connection. The id is no
    /// longer in flight to the consumer unless the node delivered the message to it again, so
    /// the node owes the protocol's error (`E_FIN_FAILED` …).
    StrayAnswer { server: String, topic: String, channel: String, consumer: String, key: String, id: String, attempts: u16, verb: String, late: bool },
    /// Queue: `client` (a consumer or producer) received an error frame from queue node `server`:
    /// `code` is its first token (`E_FIN_FAILED`), `desc` the rest (`FIN <id> failed …`).
    ServerError { server: String, client: String, code: String, desc: String },
    /// Queue: a connection of `client` (`role` is `consumer` or `producer`) to queue node
    /// `server` ended, or a connect attempt failed; `reason` as the client saw it.
    ConnectionLost { server: String, client: String, role: String, reason: String },
    /// Spool: producer `producer`'s spool file was synced (or rewritten whole): everything it
    /// spooled before this event survives a crash of the producer.
    SpoolSynced { producer: String },
    /// Spool: producer `producer`'s spool admitted messages and now holds `entries` messages of
    /// `bytes` bytes, under its bounds `entries_max` and `bytes_max`.
    SpoolHeld { producer: String, entries: u64, bytes: u64, entries_max: u64, bytes_max: u64 },
}
