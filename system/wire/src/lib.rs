//! wire: sans-I/O codecs for the NSQ protocols Weir speaks.
//!
//! Everything here is pure — no sockets, no tasks, no clocks, no randomness —
//! so the queue daemon, the lookup daemon, the Rust clients and the simulator
//! share one definition of the bytes, and the tests can pin that definition
//! to the transcripts of real nsqd/nsqlookupd 1.3.0.
//!
//! Queue protocol V2 (TCP 4150):
//! * [`magic`]: the `"  V2"`/`"  V1"` opening and `E_BAD_PROTOCOL`.
//! * [`command`]: client → server [`Command`]s and their encoding.
//! * [`decoder`]: the server's incremental [`CommandDecoder`], with nsqd's
//!   order of checks, exact error texts and limits ([`limits::Limits`]),
//!   consulting a [`session::SessionView`] for state-dependent checks.
//! * [`frame`]: server → client frames, encoders and the client's
//!   [`FrameDecoder`]; [`message`]: the message-frame payload.
//! * [`identify`]: IDENTIFY body, validation ([`identify::negotiate`]) and
//!   the negotiated JSON reply; [`auth`]: the AUTH reply.
//! * [`errors`]: every nsqd/nsqlookupd error text, including the ones only
//!   the daemons can decide (FIN failures, auth, channel limits).
//!
//! Lookup protocol V1 (TCP 4160): [`lookup`].
//!
//! HTTP: [`mpub`] (`/mpub` binary and text, `/pub` checks); bodies a server keeps: [`pack`]; [`http_params`] (query strings);
//! names: [`names`]; Go-exact number handling: [`numbers`]; `/metrics`' Prometheus text:
//! [`prometheus`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod command;
pub mod decoder;
mod error;
pub mod errors;
pub mod frame;
mod gojson;
pub mod http_params;
mod goquote;
pub mod identify;
pub mod limits;
pub mod lookup;
pub mod prometheus;
pub mod magic;
pub mod message;
pub mod mpub;
pub mod names;
pub mod numbers;
pub mod pack;
pub mod session;

pub use auth::AuthResponse;
pub use command::{Command, Verb};
pub use decoder::{CommandDecoder, ServerEvent};
pub use error::{CommandError, ProtocolError, RemoteError, WireError};
pub use frame::{Frame, FrameDecoder, FrameType};
pub use goquote::go_quote;
pub use identify::{negotiate, IdentifyBody, IdentifyResponse, Negotiated, ServerLimits};
pub use limits::Limits;
pub use magic::{MAGIC_V1, MAGIC_V2};
pub use message::{Message, MessageId};
pub use session::{Admission, ClientState, SessionView};
