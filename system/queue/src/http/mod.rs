//! nsqd's HTTP API (`/ping`, `/info`, `/pub`, `/mpub`, `/topic/*`, `/channel/*`, `/stats`,
//! `/config/:opt`) as an axum `Router` served by `rt::http::serve`.
//!
//! - [`api`]: the [`QueueApi`] trait the daemon implements, and its data types.
//! - [`stats`]: the `/stats` structs (nsqd's JSON field order) and filtering.

pub mod api;
pub mod limits;
pub mod stats;

pub use limits::HttpLimits;
pub use api::{Action, ApiError, ConfigChange, Health, Info, QueueApi};
pub use stats::{
    ChannelStats, ClientStats, MemoryStats, PubCount, StatsDocument, StatsFilter, StatsSnapshot,
    TopicStats,
};

/// The nsqd version Weir reports (`/info`, `/stats`): clients and nsqadmin compare it as semver.
pub const VERSION: &str = "1.3.0";
