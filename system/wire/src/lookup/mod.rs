//! The lookup protocol V1 (nsqlookupd's TCP side, default port 4160).
//!
//! The queue daemon is the client: on every (re)connect it sends the magic
//! `"  V1"`, `IDENTIFY` with its [`LookupIdentify`] JSON, then `REGISTER`
//! for every topic and channel; afterwards `REGISTER`/`UNREGISTER` on each
//! create/delete and `PING` every 15 s. Commands are lines like V2's, but
//! trimmed of all surrounding whitespace; only IDENTIFY has a body. Replies
//! are `[i32 BE size][data]` — no frame type — so errors are told apart by
//! their `E_` prefix, and every error closes the connection.
//!
//! * [`LookupCommand`]: the commands and their encoding (queue side).
//! * [`LookupCommandDecoder`]: the incremental parser (lookup side).
//! * [`encode_reply`], [`ReplyDecoder`], [`LookupReply`]: the replies.
//! * [`LookupIdentify`]: the IDENTIFY body and its reply.

mod command;
mod decoder;
mod identify;
mod reply;

pub use command::LookupCommand;
pub use decoder::{LookupCommandDecoder, LookupLimits};
pub use identify::LookupIdentify;
pub use reply::{
    encode_error_reply, encode_reply, LookupReply, ReplyDecoder, DEFAULT_MAX_REPLY_SIZE,
};

pub use crate::magic::MAGIC_V1;
