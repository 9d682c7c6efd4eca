//! The connection state the V2 decoder must consult, and nsqd's rules on it.
//!
//! nsqd checks a command's admissibility in the current state *before* it
//! looks at the parameters or reads the body: `RDY x` before SUB is
//! `cannot RDY in current state`, not a parse error; IDENTIFY after SUB is
//! refused before its body is read; RDY after CLS is silently ignored whatever
//! its count. To reproduce those answers the decoder needs a snapshot of the
//! state, which is what [`SessionView`] is. The daemon owns the state and
//! hands the decoder a fresh view for every command.

use crate::command::Verb;
use crate::error::ProtocolError;
use crate::errors;

/// nsqd's client state machine: init → (SUB) subscribed → (CLS) closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// Connected; may IDENTIFY, AUTH, SUB, publish.
    Init,
    /// Subscribed to a channel (after SUB).
    Subscribed,
    /// Closing (after CLS).
    Closing,
}

impl ClientState {
    /// The number nsqd reports in `/stats` (`state`): 0, 3 or 4.
    pub fn stats_code(self) -> i32 {
        match self {
            ClientState::Init => 0,
            ClientState::Subscribed => 3,
            ClientState::Closing => 4,
        }
    }
}

/// A snapshot of what admissibility depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView {
    /// The client state.
    pub state: ClientState,
    /// Whether heartbeats are on (IDENTIFY `heartbeat_interval: -1` turns
    /// them off, and then SUB is refused).
    pub heartbeats_enabled: bool,
    /// `--tls-required` is in force and this connection has not upgraded to
    /// TLS yet: everything but IDENTIFY is refused.
    pub tls_required: bool,
}

impl Default for SessionView {
    fn default() -> Self {
        Self {
            state: ClientState::Init,
            heartbeats_enabled: true,
            tls_required: false,
        }
    }
}

/// The outcome of an admissible command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Parse and execute the command.
    Proceed,
    /// Drop the command without an answer (RDY while closing).
    Ignore,
}

impl SessionView {
    /// nsqd's checks that precede parameter parsing, in nsqd's order.
    ///
    /// `verb` is `None` for an unknown token; `token` is the raw first token
    /// (used in the TLS and unknown-command texts).
    pub fn admit(&self, verb: Option<Verb>, token: &[u8]) -> Result<Admission, ProtocolError> {
        if verb == Some(Verb::Identify) {
            return if self.state == ClientState::Init {
                Ok(Admission::Proceed)
            } else {
                Err(errors::cannot_in_state("IDENTIFY"))
            };
        }
        if self.tls_required {
            return Err(errors::tls_required(token));
        }
        let Some(verb) = verb else {
            return Err(errors::invalid_command(token));
        };
        let state = self.state;
        let in_flight_ok = matches!(state, ClientState::Subscribed | ClientState::Closing);
        match verb {
            Verb::Identify => Ok(Admission::Proceed),
            Verb::Fin | Verb::Req | Verb::Touch if !in_flight_ok => {
                Err(errors::cannot_in_state(verb.as_str()))
            }
            Verb::Rdy => match state {
                ClientState::Closing => Ok(Admission::Ignore),
                ClientState::Init => Err(errors::cannot_in_state("RDY")),
                ClientState::Subscribed => Ok(Admission::Proceed),
            },
            Verb::Sub if state != ClientState::Init => Err(errors::cannot_in_state("SUB")),
            Verb::Sub if !self.heartbeats_enabled => Err(errors::sub_heartbeats_disabled()),
            Verb::Cls if state != ClientState::Subscribed => Err(errors::cannot_in_state("CLS")),
            Verb::Auth if state != ClientState::Init => Err(errors::cannot_in_state("AUTH")),
            _ => Ok(Admission::Proceed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: ClientState) -> SessionView {
        SessionView {
            state,
            ..SessionView::default()
        }
    }

    fn admit(v: SessionView, token: &str) -> Result<Admission, String> {
        v.admit(Verb::from_bytes(token.as_bytes()), token.as_bytes())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn init_state() {
        let v = view(ClientState::Init);
        for t in ["IDENTIFY", "AUTH", "SUB", "PUB", "MPUB", "DPUB", "NOP"] {
            assert_eq!(admit(v, t), Ok(Admission::Proceed), "{t}");
        }
        assert_eq!(
            admit(v, "RDY"),
            Err("E_INVALID cannot RDY in current state".into())
        );
        assert_eq!(
            admit(v, "FIN"),
            Err("E_INVALID cannot FIN in current state".into())
        );
        assert_eq!(
            admit(v, "REQ"),
            Err("E_INVALID cannot REQ in current state".into())
        );
        assert_eq!(
            admit(v, "TOUCH"),
            Err("E_INVALID cannot TOUCH in current state".into())
        );
        assert_eq!(
            admit(v, "CLS"),
            Err("E_INVALID cannot CLS in current state".into())
        );
        assert_eq!(
            admit(v, "ASDF"),
            Err("E_INVALID invalid command ASDF".into())
        );
    }

    #[test]
    fn subscribed_and_closing() {
        let s = view(ClientState::Subscribed);
        assert_eq!(
            admit(s, "SUB"),
            Err("E_INVALID cannot SUB in current state".into())
        );
        assert_eq!(
            admit(s, "IDENTIFY"),
            Err("E_INVALID cannot IDENTIFY in current state".into())
        );
        assert_eq!(
            admit(s, "AUTH"),
            Err("E_INVALID cannot AUTH in current state".into())
        );
        for t in ["RDY", "FIN", "REQ", "TOUCH", "CLS", "PUB", "NOP"] {
            assert_eq!(admit(s, t), Ok(Admission::Proceed), "{t}");
        }
        let c = view(ClientState::Closing);
        assert_eq!(admit(c, "RDY"), Ok(Admission::Ignore));
        assert_eq!(admit(c, "FIN"), Ok(Admission::Proceed));
        assert_eq!(
            admit(c, "CLS"),
            Err("E_INVALID cannot CLS in current state".into())
        );
    }

    #[test]
    fn heartbeats_and_tls() {
        let v = SessionView {
            heartbeats_enabled: false,
            ..SessionView::default()
        };
        assert_eq!(
            admit(v, "SUB"),
            Err("E_INVALID cannot SUB with heartbeats disabled".into())
        );
        let v = SessionView {
            tls_required: true,
            ..SessionView::default()
        };
        assert_eq!(admit(v, "IDENTIFY"), Ok(Admission::Proceed));
        assert_eq!(
            admit(v, "PUB"),
            Err("E_INVALID cannot PUB in current state (TLS required)".into())
        );
        assert_eq!(
            admit(v, "FOO"),
            Err("E_INVALID cannot FOO in current state (TLS required)".into())
        );
        assert_eq!(ClientState::Closing.stats_code(), 4);
    }
}
