//! The sans-I/O core of the queue daemon (nsqd semantics).
//!
//! Everything here is a plain data structure driven by explicit events and an explicit monotonic
//! clock (`now_ms: u64`, milliseconds of the node's monotonic clock). There is no tokio, no
//! `Instant::now`, no randomness and no I/O in this module, so that:
//!
//! - the behaviour can be tested exhaustively with unit tests and proptest state machines,
//! - the same code runs identically in production and under the deterministic simulator,
//! - the I/O shell (TCP protocol, disk queue, HTTP) stays a thin translation layer.
//!
//! Where the core would need something from the outside world it asks for it as an argument:
//! the time (`now_ms`), a random draw (`sample_accepts(rate, draw)`), a wall-clock timestamp for
//! new messages (`timestamp_ns`). Where the outside world must act (write to disk, unregister
//! from lookups, close a channel) the core returns a value saying so ([`PutOutcome::Overflow`],
//! [`topic::Spill`], [`topic::TopicEvent`]).
//!
//! Iteration order never depends on a `HashMap`: hash maps are used for membership and lookup by
//! message id only; anything iterated (consumers, deadlines, deferrals, channels) is a `BTreeMap`
//! or a `VecDeque`, so two runs with the same inputs make the same decisions.
//!
//! Invariants are asserted (TigerBeetle style): a broken internal invariant is a bug and panics;
//! bad input from a peer is never a panic, it is a [`CoreError`].

pub mod channel;
pub mod dead_letter;
pub mod deferred;
pub mod id_hash;
pub mod inflight;
pub mod message;
pub mod quantiles;
pub mod topic;

pub use channel::{
    Channel, ChannelConfig, ClientRemoved, ConsumerStats, Drained, Emptied, Refused, Requeued,
    TickReport,
};
pub use dead_letter::DeadLetter;
pub use message::{parse_message_id, IdGenerator, Message, MessageId, MESSAGE_ID_LEN, NODE_ID_MAX};
pub use quantiles::{Percentile, QuantileReport, Quantiles};
pub use topic::{PublishOutcome, Spill, Topic, TopicConfig, TopicDrain, TopicEvent};

/// Identifies one client connection. The shell hands out a fresh id per connection and never
/// reuses one: in-flight messages of a departed client keep its id as their owner until they
/// time out, and a reused id would let a new connection FIN them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ClientId(pub u64);

/// What happened to a message handed to a channel or topic memory queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an overflowing message must be written to the disk queue or it is lost"]
pub enum PutOutcome {
    /// The message is now held in memory.
    Queued,
    /// The memory queue is full (or `mem_queue_size` is 0): the message is handed back so the
    /// shell writes it to the disk queue of this channel/topic.
    Overflow(Message),
    /// The memory queue is full and the channel/topic is ephemeral: ephemeral queues never touch
    /// disk, so the message is dropped (handed back only so the shell may log/count it).
    Dropped(Message),
}

/// Errors the core reports for bad input. The `Display` texts of the FIN/REQ/TOUCH errors are the
/// exact descriptions nsqd uses after `E_FIN_FAILED FIN <id> failed ` (clients assert them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// FIN/REQ/TOUCH of an id that is not in flight in this channel.
    #[error("ID not in flight")]
    NotInFlight,
    /// FIN/REQ/TOUCH of an id that is in flight to another client.
    #[error("client does not own message")]
    NotOwner,
    /// A message id that is not exactly 16 bytes.
    #[error("invalid message ID")]
    InvalidMessageId,
    /// The id is already held (ready, in flight or deferred) by this channel; accepting it would
    /// make two messages indistinguishable to FIN.
    #[error("ID already present")]
    DuplicateId,
    /// The client is not a consumer of this channel.
    #[error("client {0:?} is not a consumer of this channel")]
    ClientNotFound(ClientId),
    /// The channel is paused or the client's in-flight count has reached its RDY.
    #[error("client {0:?} is not ready")]
    NotReady(ClientId),
    /// The client is already a consumer of this channel.
    #[error("client {0:?} is already a consumer of this channel")]
    ClientExists(ClientId),
    /// RDY above `--max-rdy-count`; text as nsqd's `E_INVALID RDY count N out of range 0-MAX`.
    #[error("RDY count {count} out of range 0-{max}")]
    RdyOutOfRange { count: u64, max: u32 },
    /// SUB beyond `--max-channel-consumers`; the shell prefixes `SUB failed consumers for t:c`.
    #[error("exceeds limit of {limit}")]
    TooManyConsumers { limit: usize },
    /// `sample_rate` outside 0..=99.
    #[error("sample rate ({0}) is invalid")]
    InvalidSampleRate(u32),
    /// A topic or channel name that does not match `^[.a-zA-Z0-9_-]+(#ephemeral)?$`, 1–64 chars.
    #[error("name {0:?} is not valid")]
    InvalidName(String),
    /// No channel of that name in the topic.
    #[error("channel {0:?} not found")]
    ChannelNotFound(String),
    /// `--node-id` outside 0..=1023.
    #[error("node id {0} out of range 0-1023")]
    InvalidNodeId(u16),
    /// A message handed to the dead-letter outbox that has not used up its attempts.
    #[error("attempts not exhausted")]
    NotExhausted,
    /// Bad configuration of a quantile estimator.
    #[error("invalid quantile configuration: {0}")]
    InvalidQuantiles(&'static str),
}

/// Topic and channel names: one rule for TCP, HTTP and lookup, kept in `wire::names`.
pub use wire::names::{EPHEMERAL_SUFFIX, MAX_NAME_LEN as NAME_LEN_MAX};

/// Whether `name` is a valid topic or channel name (`^[.a-zA-Z0-9_-]+(#ephemeral)?$`, 1–64).
pub fn is_valid_name(name: &str) -> bool {
    wire::names::is_valid_name(name.as_bytes())
}

/// Whether a name carries the `#ephemeral` suffix.
pub fn is_ephemeral_name(name: &str) -> bool {
    wire::names::is_ephemeral(name)
}

/// Whether a client with `sample_rate` (0..=99, 0 = off) receives a message, given a uniform
/// random draw in 0..100 that the shell makes (the core holds no RNG, so runs stay replayable).
///
/// Mirrors nsqd exactly: it skips when `rand.Int31n(100) > sampleRate`, so a rate of `r` keeps
/// `r + 1` draws out of 100. A draw outside 0..100 is treated as the largest draw (99).
pub fn sample_accepts(sample_rate: u8, draw_0_to_99: u8) -> bool {
    sample_rate == 0 || draw_0_to_99.min(99) <= sample_rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_valid_name("a"));
        assert!(is_valid_name("my_topic.v1-x"));
        assert!(is_valid_name("t#ephemeral"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("#ephemeral"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("a#b"));
        assert!(!is_valid_name("a#ephemeral#ephemeral"));
        assert!(is_valid_name(&"x".repeat(64)));
        assert!(!is_valid_name(&"x".repeat(65)));
        assert!(is_valid_name(&format!("{}#ephemeral", "x".repeat(54))));
        assert!(!is_valid_name(&format!("{}#ephemeral", "x".repeat(55))));
        assert!(is_ephemeral_name("c#ephemeral"));
        assert!(!is_ephemeral_name("c"));
    }

    #[test]
    fn sampling_matches_nsqd() {
        // Rate 0 = sampling off: everything is delivered.
        assert!((0..100).all(|d| sample_accepts(0, d)));
        // Rate r keeps draws 0..=r, i.e. r+1 of 100.
        assert_eq!((0..100).filter(|&d| sample_accepts(50, d)).count(), 51);
        assert_eq!((0..100).filter(|&d| sample_accepts(1, d)).count(), 2);
        assert_eq!((0..100).filter(|&d| sample_accepts(99, d)).count(), 100);
        // Out-of-range draws never panic.
        assert!(!sample_accepts(10, 255));
    }

    #[test]
    fn error_texts_match_nsqd() {
        assert_eq!(CoreError::NotInFlight.to_string(), "ID not in flight");
        assert_eq!(
            CoreError::NotOwner.to_string(),
            "client does not own message"
        );
        assert_eq!(
            CoreError::InvalidMessageId.to_string(),
            "invalid message ID"
        );
        assert_eq!(
            CoreError::RdyOutOfRange {
                count: 2501,
                max: 2500
            }
            .to_string(),
            "RDY count 2501 out of range 0-2500"
        );
    }
}
