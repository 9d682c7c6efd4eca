//! Every error text nsqd 1.3.0 and nsqlookupd 1.3.0 send, as constructors.
//!
//! The decoders use the syntactic ones; the daemons use the rest (the ones
//! that depend on server state such as in-flight messages, auth or channel
//! limits). Keeping all of them here means one place to compare against the
//! golden transcripts, and no daemon ever formats an error text by hand.
//!
//! Quoting matters and differs by origin: V2 quotes names with Go's `%q`
//! (`"x"`, escaped), lookup V1 with `'%s'` (raw), and raw client bytes in
//! other texts (`invalid command FOO`) are copied as they are (non-UTF-8 bytes
//! are replaced, the only place where a text can differ from nsqd's).

use std::fmt;

use crate::error::ProtocolError;
use crate::goquote::go_quote;
use crate::message::MessageId;

/// Generic invalid-request code.
pub const E_INVALID: &str = "E_INVALID";
/// Wrong magic.
pub const E_BAD_PROTOCOL: &str = "E_BAD_PROTOCOL";
/// Invalid topic name.
pub const E_BAD_TOPIC: &str = "E_BAD_TOPIC";
/// Invalid channel name.
pub const E_BAD_CHANNEL: &str = "E_BAD_CHANNEL";
/// Malformed command body (IDENTIFY, AUTH, MPUB framing).
pub const E_BAD_BODY: &str = "E_BAD_BODY";
/// Malformed message (PUB, DPUB, MPUB messages).
pub const E_BAD_MESSAGE: &str = "E_BAD_MESSAGE";
/// IDENTIFY could not complete (compression conflict, failed upgrade).
pub const E_IDENTIFY_FAILED: &str = "E_IDENTIFY_FAILED";
/// SUB refused by the channel.
pub const E_SUB_FAILED: &str = "E_SUB_FAILED";
/// PUB could not enqueue.
pub const E_PUB_FAILED: &str = "E_PUB_FAILED";
/// MPUB could not enqueue.
pub const E_MPUB_FAILED: &str = "E_MPUB_FAILED";
/// DPUB could not enqueue.
pub const E_DPUB_FAILED: &str = "E_DPUB_FAILED";
/// FIN of a message not in flight for this client (non-fatal).
pub const E_FIN_FAILED: &str = "E_FIN_FAILED";
/// REQ of a message not in flight for this client (non-fatal).
pub const E_REQ_FAILED: &str = "E_REQ_FAILED";
/// TOUCH of a message not in flight for this client (non-fatal).
pub const E_TOUCH_FAILED: &str = "E_TOUCH_FAILED";
/// AUTH sent while auth is off.
pub const E_AUTH_DISABLED: &str = "E_AUTH_DISABLED";
/// The auth server refused or failed.
pub const E_AUTH_FAILED: &str = "E_AUTH_FAILED";
/// A command needing authorization before AUTH.
pub const E_AUTH_FIRST: &str = "E_AUTH_FIRST";
/// Authorized, but not for this topic/channel (or for nothing).
pub const E_UNAUTHORIZED: &str = "E_UNAUTHORIZED";
/// The auth reply could not be produced.
pub const E_AUTH_ERROR: &str = "E_AUTH_ERROR";

/// Whether a client may keep the connection after an error with this code.
pub fn is_non_fatal_code(code: &str) -> bool {
    matches!(code, E_FIN_FAILED | E_REQ_FAILED | E_TOUCH_FAILED)
}

fn raw(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

// ---------------------------------------------------------------------------
// Connection level.

/// `E_BAD_PROTOCOL` (no description): the magic was wrong.
pub fn bad_protocol() -> ProtocolError {
    ProtocolError::fatal(E_BAD_PROTOCOL, "")
}

/// `E_INVALID invalid command <CMD>` (the raw first token, possibly empty).
pub fn invalid_command(name: &[u8]) -> ProtocolError {
    ProtocolError::fatal(E_INVALID, format!("invalid command {}", raw(name)))
}

/// `E_INVALID cannot <VERB> in current state`.
pub fn cannot_in_state(verb: &str) -> ProtocolError {
    ProtocolError::fatal(E_INVALID, format!("cannot {verb} in current state"))
}

/// `E_INVALID cannot <CMD> in current state (TLS required)`: with
/// `--tls-required`, anything but IDENTIFY before the TLS upgrade (the raw
/// token, so unknown commands get it too).
pub fn tls_required(name: &[u8]) -> ProtocolError {
    ProtocolError::fatal(
        E_INVALID,
        format!("cannot {} in current state (TLS required)", raw(name)),
    )
}

// ---------------------------------------------------------------------------
// Parameters.

/// `E_INVALID <VERB> insufficient number of parameters` (SUB, PUB, MPUB,
/// DPUB word it this way).
pub fn insufficient_parameters(verb: &str) -> ProtocolError {
    ProtocolError::fatal(
        E_INVALID,
        format!("{verb} insufficient number of parameters"),
    )
}

/// `E_INVALID <VERB> insufficient number of params` (FIN, REQ, TOUCH and the
/// lookup's REGISTER/UNREGISTER word it this way).
pub fn insufficient_params(verb: &str) -> ProtocolError {
    ProtocolError::fatal(E_INVALID, format!("{verb} insufficient number of params"))
}

/// `E_BAD_TOPIC <VERB> topic name "<name>" is not valid` (Go `%q`). MPUB's
/// text repeats the code: `E_BAD_TOPIC E_BAD_TOPIC MPUB topic name …`.
pub fn bad_topic(verb: &str, name: &[u8]) -> ProtocolError {
    let prefix = if verb == "MPUB" { "E_BAD_TOPIC " } else { "" };
    ProtocolError::fatal(
        E_BAD_TOPIC,
        format!("{prefix}{verb} topic name {} is not valid", go_quote(name)),
    )
}

/// `E_BAD_CHANNEL <VERB> channel name "<name>" is not valid` (Go `%q`).
pub fn bad_channel(verb: &str, name: &[u8]) -> ProtocolError {
    ProtocolError::fatal(
        E_BAD_CHANNEL,
        format!("{verb} channel name {} is not valid", go_quote(name)),
    )
}

/// `E_INVALID cannot SUB with heartbeats disabled`.
pub fn sub_heartbeats_disabled() -> ProtocolError {
    ProtocolError::fatal(E_INVALID, "cannot SUB with heartbeats disabled")
}

/// `E_INVALID invalid message ID` (not exactly 16 bytes).
pub fn invalid_message_id() -> ProtocolError {
    ProtocolError::fatal(E_INVALID, "invalid message ID")
}

/// `E_INVALID RDY could not parse count <raw>`.
pub fn rdy_parse(raw_count: &[u8]) -> ProtocolError {
    ProtocolError::fatal(
        E_INVALID,
        format!("RDY could not parse count {}", raw(raw_count)),
    )
}

/// `E_INVALID RDY count <n> out of range 0-<max>`.
pub fn rdy_out_of_range(count: i64, max: i64) -> ProtocolError {
    ProtocolError::fatal(E_INVALID, format!("RDY count {count} out of range 0-{max}"))
}

/// `E_INVALID <VERB> could not parse timeout <raw>` (REQ, DPUB).
pub fn timeout_parse(verb: &str, raw_timeout: &[u8]) -> ProtocolError {
    ProtocolError::fatal(
        E_INVALID,
        format!("{verb} could not parse timeout {}", raw(raw_timeout)),
    )
}

/// `E_INVALID DPUB timeout <ms> out of range 0-<max ms>`.
pub fn dpub_out_of_range(ms: u64, max_ms: i64) -> ProtocolError {
    ProtocolError::fatal(
        E_INVALID,
        format!("DPUB timeout {ms} out of range 0-{max_ms}"),
    )
}

/// `E_INVALID AUTH invalid number of parameters` (AUTH takes none).
pub fn auth_invalid_parameters() -> ProtocolError {
    ProtocolError::fatal(E_INVALID, "AUTH invalid number of parameters")
}

// ---------------------------------------------------------------------------
// Bodies of IDENTIFY, AUTH and the MPUB envelope (E_BAD_BODY).

/// `E_BAD_BODY <VERB> failed to read body size`.
pub fn body_size_unreadable(verb: &str) -> ProtocolError {
    ProtocolError::fatal(E_BAD_BODY, format!("{verb} failed to read body size"))
}

/// `E_BAD_BODY <VERB> invalid body size <n>`.
pub fn body_size_invalid(verb: &str, size: i64) -> ProtocolError {
    ProtocolError::fatal(E_BAD_BODY, format!("{verb} invalid body size {size}"))
}

/// `E_BAD_BODY <VERB> body too big <n> > <max>`.
pub fn body_too_big(verb: &str, size: i64, max: i64) -> ProtocolError {
    ProtocolError::fatal(E_BAD_BODY, format!("{verb} body too big {size} > {max}"))
}

/// `E_BAD_BODY <VERB> failed to read body`.
pub fn body_unreadable(verb: &str) -> ProtocolError {
    ProtocolError::fatal(E_BAD_BODY, format!("{verb} failed to read body"))
}

/// `E_BAD_BODY MPUB failed to read message count`.
pub fn mpub_count_unreadable() -> ProtocolError {
    ProtocolError::fatal(E_BAD_BODY, "MPUB failed to read message count")
}

/// `E_BAD_BODY MPUB invalid message count <n>`.
pub fn mpub_count_invalid(count: i32) -> ProtocolError {
    ProtocolError::fatal(E_BAD_BODY, format!("MPUB invalid message count {count}"))
}

// ---------------------------------------------------------------------------
// Messages of PUB, DPUB and MPUB (E_BAD_MESSAGE).

/// `E_BAD_MESSAGE <VERB> failed to read message body size` (PUB, DPUB).
pub fn message_size_unreadable(verb: &str) -> ProtocolError {
    ProtocolError::fatal(
        E_BAD_MESSAGE,
        format!("{verb} failed to read message body size"),
    )
}

/// `E_BAD_MESSAGE <VERB> invalid message body size <n>` (PUB, DPUB).
pub fn message_size_invalid(verb: &str, size: i64) -> ProtocolError {
    ProtocolError::fatal(
        E_BAD_MESSAGE,
        format!("{verb} invalid message body size {size}"),
    )
}

/// `E_BAD_MESSAGE <VERB> message too big <n> > <max>` (PUB, DPUB, MPUB).
pub fn message_too_big(verb: &str, size: i64, max: i64) -> ProtocolError {
    ProtocolError::fatal(
        E_BAD_MESSAGE,
        format!("{verb} message too big {size} > {max}"),
    )
}

/// `E_BAD_MESSAGE <VERB> failed to read message body` (PUB, DPUB, MPUB).
pub fn message_unreadable(verb: &str) -> ProtocolError {
    ProtocolError::fatal(E_BAD_MESSAGE, format!("{verb} failed to read message body"))
}

/// `E_BAD_MESSAGE MPUB failed to read message(<i>) body size`.
pub fn mpub_message_size_unreadable(index: i32) -> ProtocolError {
    ProtocolError::fatal(
        E_BAD_MESSAGE,
        format!("MPUB failed to read message({index}) body size"),
    )
}

/// `E_BAD_MESSAGE MPUB invalid message(<i>) body size <n>`.
pub fn mpub_message_size_invalid(index: i32, size: i32) -> ProtocolError {
    ProtocolError::fatal(
        E_BAD_MESSAGE,
        format!("MPUB invalid message({index}) body size {size}"),
    )
}

// ---------------------------------------------------------------------------
// IDENTIFY.

/// `E_BAD_BODY IDENTIFY failed to decode JSON body` (queue and lookup).
pub fn identify_bad_json() -> ProtocolError {
    ProtocolError::fatal(E_BAD_BODY, "IDENTIFY failed to decode JSON body")
}

/// `E_BAD_BODY IDENTIFY <what> (<n>) is invalid`, e.g. `heartbeat interval`.
pub fn identify_invalid(what: &str, value: i64) -> ProtocolError {
    ProtocolError::fatal(E_BAD_BODY, format!("IDENTIFY {what} ({value}) is invalid"))
}

/// `E_IDENTIFY_FAILED cannot enable both deflate and snappy compression`.
pub fn identify_compression_conflict() -> ProtocolError {
    ProtocolError::fatal(
        E_IDENTIFY_FAILED,
        "cannot enable both deflate and snappy compression",
    )
}

/// `E_IDENTIFY_FAILED IDENTIFY failed <reason>`: a TLS/snappy/deflate
/// upgrade or the reply failed.
pub fn identify_failed(reason: &str) -> ProtocolError {
    ProtocolError::fatal(E_IDENTIFY_FAILED, format!("IDENTIFY failed {reason}"))
}

// ---------------------------------------------------------------------------
// In-flight commands (non-fatal).

/// Why FIN/REQ/TOUCH found no message to act on (nsqd's channel errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFlightError {
    /// `ID not in flight`.
    NotInFlight,
    /// `client does not own message`.
    NotOwner,
}

impl fmt::Display for InFlightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InFlightError::NotInFlight => "ID not in flight",
            InFlightError::NotOwner => "client does not own message",
        })
    }
}

/// `E_FIN_FAILED FIN <id> failed <reason>` (non-fatal).
pub fn fin_failed(id: &MessageId, reason: InFlightError) -> ProtocolError {
    ProtocolError::non_fatal(E_FIN_FAILED, format!("FIN {id} failed {reason}"))
}

/// `E_REQ_FAILED REQ <id> failed <reason>` (non-fatal).
pub fn req_failed(id: &MessageId, reason: InFlightError) -> ProtocolError {
    ProtocolError::non_fatal(E_REQ_FAILED, format!("REQ {id} failed {reason}"))
}

/// `E_TOUCH_FAILED TOUCH <id> failed <reason>` (non-fatal).
pub fn touch_failed(id: &MessageId, reason: InFlightError) -> ProtocolError {
    ProtocolError::non_fatal(E_TOUCH_FAILED, format!("TOUCH {id} failed {reason}"))
}

// ---------------------------------------------------------------------------
// SUB and publishing, server-side failures.

/// `E_SUB_FAILED SUB failed consumers for <t>:<c> exceeds limit of <n>`.
pub fn sub_failed_consumer_limit(topic: &str, channel: &str, limit: i64) -> ProtocolError {
    ProtocolError::fatal(
        E_SUB_FAILED,
        format!("SUB failed consumers for {topic}:{channel} exceeds limit of {limit}"),
    )
}

/// `E_SUB_FAILED SUB failed to deleted topic/channel` (sic): the ephemeral
/// topic/channel was exiting twice in a row while subscribing.
pub fn sub_failed_exiting() -> ProtocolError {
    ProtocolError::fatal(E_SUB_FAILED, "SUB failed to deleted topic/channel")
}

/// `E_PUB_FAILED PUB failed <reason>`, `E_MPUB_FAILED MPUB failed …`,
/// `E_DPUB_FAILED DPUB failed …`; nsqd's only reason is `exiting`.
pub fn publish_failed(verb: &str, reason: &str) -> ProtocolError {
    let code = match verb {
        "MPUB" => E_MPUB_FAILED,
        "DPUB" => E_DPUB_FAILED,
        _ => E_PUB_FAILED,
    };
    ProtocolError::fatal(code, format!("{verb} failed {reason}"))
}

// ---------------------------------------------------------------------------
// AUTH.

/// `E_INVALID AUTH already set`.
pub fn auth_already_set() -> ProtocolError {
    ProtocolError::fatal(E_INVALID, "AUTH already set")
}

/// `E_AUTH_DISABLED AUTH disabled`.
pub fn auth_disabled() -> ProtocolError {
    ProtocolError::fatal(E_AUTH_DISABLED, "AUTH disabled")
}

/// `E_AUTH_FAILED AUTH failed` (the auth server refused or could not be
/// reached; the reason is deliberately not leaked).
pub fn auth_failed() -> ProtocolError {
    ProtocolError::fatal(E_AUTH_FAILED, "AUTH failed")
}

/// `E_UNAUTHORIZED AUTH no authorizations found`.
pub fn auth_no_authorizations() -> ProtocolError {
    ProtocolError::fatal(E_UNAUTHORIZED, "AUTH no authorizations found")
}

/// `E_AUTH_FIRST AUTH required before <CMD>` (SUB, PUB, MPUB, DPUB).
pub fn auth_first(verb: &str) -> ProtocolError {
    ProtocolError::fatal(E_AUTH_FIRST, format!("AUTH required before {verb}"))
}

/// `E_UNAUTHORIZED AUTH failed for <CMD> on "<topic>" "<channel>"` (Go `%q`;
/// the channel is empty for publishing).
pub fn unauthorized(verb: &str, topic: &str, channel: &str) -> ProtocolError {
    ProtocolError::fatal(
        E_UNAUTHORIZED,
        format!(
            "AUTH failed for {verb} on {} {}",
            go_quote(topic.as_bytes()),
            go_quote(channel.as_bytes())
        ),
    )
}

/// `E_AUTH_ERROR AUTH error <reason>`: the AUTH reply could not be sent.
pub fn auth_error(reason: &str) -> ProtocolError {
    ProtocolError::fatal(E_AUTH_ERROR, format!("AUTH error {reason}"))
}

// ---------------------------------------------------------------------------
// Lookup V1 (every error is fatal).

/// `E_INVALID cannot IDENTIFY again`.
pub fn lookup_identify_again() -> ProtocolError {
    ProtocolError::fatal(E_INVALID, "cannot IDENTIFY again")
}

/// `E_INVALID client must IDENTIFY` (REGISTER/UNREGISTER first).
pub fn lookup_must_identify() -> ProtocolError {
    ProtocolError::fatal(E_INVALID, "client must IDENTIFY")
}

/// `E_BAD_TOPIC <CMD> topic name '<name>' is not valid` (single quotes, raw).
pub fn lookup_bad_topic(verb: &str, name: &[u8]) -> ProtocolError {
    ProtocolError::fatal(
        E_BAD_TOPIC,
        format!("{verb} topic name '{}' is not valid", raw(name)),
    )
}

/// `E_BAD_CHANNEL <CMD> channel name '<name>' is not valid` (single quotes).
pub fn lookup_bad_channel(verb: &str, name: &[u8]) -> ProtocolError {
    ProtocolError::fatal(
        E_BAD_CHANNEL,
        format!("{verb} channel name '{}' is not valid", raw(name)),
    )
}

/// `E_BAD_BODY IDENTIFY missing fields`.
pub fn lookup_identify_missing_fields() -> ProtocolError {
    ProtocolError::fatal(E_BAD_BODY, "IDENTIFY missing fields")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_texts() {
        let cases: Vec<(ProtocolError, &str)> = vec![
            (invalid_command(b"ASDF"), "E_INVALID invalid command ASDF"),
            (invalid_command(b""), "E_INVALID invalid command "),
            (
                cannot_in_state("RDY"),
                "E_INVALID cannot RDY in current state",
            ),
            (
                bad_topic("PUB", b"bad!t"),
                "E_BAD_TOPIC PUB topic name \"bad!t\" is not valid",
            ),
            (
                bad_topic("MPUB", b"x"),
                "E_BAD_TOPIC E_BAD_TOPIC MPUB topic name \"x\" is not valid",
            ),
            (
                bad_channel("SUB", b"bad!c"),
                "E_BAD_CHANNEL SUB channel name \"bad!c\" is not valid",
            ),
            (
                insufficient_parameters("PUB"),
                "E_INVALID PUB insufficient number of parameters",
            ),
            (
                insufficient_params("FIN"),
                "E_INVALID FIN insufficient number of params",
            ),
            (
                message_size_invalid("PUB", 0),
                "E_BAD_MESSAGE PUB invalid message body size 0",
            ),
            (
                message_too_big("PUB", 105, 100),
                "E_BAD_MESSAGE PUB message too big 105 > 100",
            ),
            (
                timeout_parse("DPUB", b"-1"),
                "E_INVALID DPUB could not parse timeout -1",
            ),
            (
                dpub_out_of_range(3_600_001, 3_600_000),
                "E_INVALID DPUB timeout 3600001 out of range 0-3600000",
            ),
            (
                rdy_out_of_range(2501, 2500),
                "E_INVALID RDY count 2501 out of range 0-2500",
            ),
            (auth_disabled(), "E_AUTH_DISABLED AUTH disabled"),
            (auth_already_set(), "E_INVALID AUTH already set"),
            (auth_failed(), "E_AUTH_FAILED AUTH failed"),
            (
                auth_no_authorizations(),
                "E_UNAUTHORIZED AUTH no authorizations found",
            ),
            (auth_first("PUB"), "E_AUTH_FIRST AUTH required before PUB"),
            (
                unauthorized("PUB", "authx", ""),
                "E_UNAUTHORIZED AUTH failed for PUB on \"authx\" \"\"",
            ),
            (
                unauthorized("SUB", "authx", "nope"),
                "E_UNAUTHORIZED AUTH failed for SUB on \"authx\" \"nope\"",
            ),
            (
                identify_invalid("heartbeat interval", 100),
                "E_BAD_BODY IDENTIFY heartbeat interval (100) is invalid",
            ),
            (
                body_size_invalid("IDENTIFY", 0),
                "E_BAD_BODY IDENTIFY invalid body size 0",
            ),
            (
                identify_bad_json(),
                "E_BAD_BODY IDENTIFY failed to decode JSON body",
            ),
            (
                identify_compression_conflict(),
                "E_IDENTIFY_FAILED cannot enable both deflate and snappy compression",
            ),
            (
                sub_heartbeats_disabled(),
                "E_INVALID cannot SUB with heartbeats disabled",
            ),
            (invalid_message_id(), "E_INVALID invalid message ID"),
            (
                sub_failed_consumer_limit("t", "c", 3),
                "E_SUB_FAILED SUB failed consumers for t:c exceeds limit of 3",
            ),
            (
                publish_failed("PUB", "exiting"),
                "E_PUB_FAILED PUB failed exiting",
            ),
            (
                publish_failed("MPUB", "exiting"),
                "E_MPUB_FAILED MPUB failed exiting",
            ),
            (
                publish_failed("DPUB", "exiting"),
                "E_DPUB_FAILED DPUB failed exiting",
            ),
            (
                tls_required(b"SUB"),
                "E_INVALID cannot SUB in current state (TLS required)",
            ),
            (lookup_must_identify(), "E_INVALID client must IDENTIFY"),
            (lookup_identify_again(), "E_INVALID cannot IDENTIFY again"),
            (
                lookup_bad_topic("REGISTER", b"bad!topic"),
                "E_BAD_TOPIC REGISTER topic name 'bad!topic' is not valid",
            ),
            (
                insufficient_params("REGISTER"),
                "E_INVALID REGISTER insufficient number of params",
            ),
            (
                lookup_identify_missing_fields(),
                "E_BAD_BODY IDENTIFY missing fields",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
            assert!(err.fatal, "{text} must be fatal");
        }
    }

    #[test]
    fn in_flight_failures_are_non_fatal() {
        let id = MessageId::from_u64(0x18a2_ec53_0da6_9000);
        let e = fin_failed(&id, InFlightError::NotInFlight);
        assert_eq!(
            e.to_string(),
            "E_FIN_FAILED FIN 18a2ec530da69000 failed ID not in flight"
        );
        assert!(!e.fatal);
        let zero = MessageId(*b"0000000000000000");
        assert_eq!(
            req_failed(&zero, InFlightError::NotInFlight).to_string(),
            "E_REQ_FAILED REQ 0000000000000000 failed ID not in flight"
        );
        assert_eq!(
            touch_failed(&zero, InFlightError::NotOwner).to_string(),
            "E_TOUCH_FAILED TOUCH 0000000000000000 failed client does not own message"
        );
        assert!(!req_failed(&zero, InFlightError::NotOwner).fatal);
        assert!(is_non_fatal_code("E_TOUCH_FAILED"));
        assert!(!is_non_fatal_code("E_INVALID"));
    }
}
