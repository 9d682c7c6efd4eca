//! nsqd's HTTP API (`/ping`, `/info`, `/pub`, `/mpub`, `/topic/*`, `/channel/*`, `/stats`,
//! `/config/:opt`, and Weir's `/metrics`) as an axum `Router` served by `rt::http::serve`.
//!
//! - [`api`]: the [`QueueApi`] trait the daemon implements, and its data types.
//! - [`router`]: the routes and nsqd's order of checks; [`params`], [`body`], [`reply`] are the
//!   query string, the capped body read and nsqd's response conventions.
//! - [`stats`] / [`stats_text`]: the `/stats` structs (nsqd's JSON field order), filtering, and
//!   the text rendering; [`metrics`]: the same snapshot as Prometheus text (`/metrics`);
//!   [`config`]: option names and values for `/config/:opt`.

pub mod api;
pub mod body;
pub mod config;
pub mod gofmt;
pub mod limits;
pub mod metrics;
pub mod params;
pub mod reply;
pub mod router;
pub mod stats;
pub mod stats_text;

#[cfg(test)]
mod tests;

pub use api::{Action, ApiError, ConfigChange, Health, Info, QueueApi};
pub use limits::HttpLimits;
pub use router::{router, tls_required_router};
pub use stats::{
    ChannelStats, ClientStats, MemoryStats, PubCount, StatsDocument, StatsFilter, StatsSnapshot,
    TopicStats,
};

/// The nsqd version Weir reports (`/info`, `/stats`): clients and nsqadmin compare it as semver.
pub const VERSION: &str = "1.3.0";
