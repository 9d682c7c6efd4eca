//! The state one lookup connection task shares with [`super::LookupPeers`]: the bounded queue of
//! changes not yet sent, the overflow flag, and what the lookup announced about itself.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;
use wire::lookup::{LookupCommand, LookupIdentify};

use super::PeerStatus;

pub(crate) struct PeerShared {
    pub address: String,
    queue_max: usize,
    state: Mutex<State>,
    /// Woken on every push (a stored permit covers a push while the task is busy).
    pub wake: Notify,
}

struct State {
    queue: VecDeque<LookupCommand>,
    /// The queue overflowed and was dropped: the connection must restart and replay.
    resync: bool,
    connected: bool,
    remote: Option<LookupIdentify>,
    sessions: u64,
}

/// What the connection task takes from the queue.
pub(crate) enum Pending {
    /// Send these (at most the batch size, in order).
    Commands(Vec<LookupCommand>),
    /// Changes were lost to an overflow: reconnect and replay.
    Resync,
}

impl PeerShared {
    pub fn new(address: String, queue_max: usize) -> Self {
        assert!(queue_max > 0, "a lookup command queue must hold at least one command");
        PeerShared {
            address,
            queue_max,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                resync: false,
                connected: false,
                remote: None,
                sessions: 0,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("lookup peer lock")
    }

    /// Queues a change; on overflow drops the queue and asks for a resync instead of growing.
    pub fn push(&self, command: LookupCommand) {
        {
            let mut s = self.lock();
            if s.resync {
                // Everything is replayed from the snapshot anyway.
            } else if s.queue.len() >= self.queue_max {
                tracing::warn!(lookup = %self.address, "LOOKUP: command queue full; will reconnect and replay");
                s.queue.clear();
                s.resync = true;
            } else {
                s.queue.push_back(command);
            }
        }
        self.wake.notify_one();
    }

    /// Called right before a (re)connect takes its snapshot: whatever was queued is covered by it.
    pub fn reset_for_replay(&self) {
        let mut s = self.lock();
        s.queue.clear();
        s.resync = false;
    }

    /// Takes up to `max` queued changes, or the demand to resync.
    pub fn take(&self, max: usize) -> Pending {
        let mut s = self.lock();
        if s.resync {
            return Pending::Resync;
        }
        let n = s.queue.len().min(max);
        Pending::Commands(s.queue.drain(..n).collect())
    }

    pub fn set_connected(&self, remote: LookupIdentify) {
        let mut s = self.lock();
        s.connected = true;
        s.remote = Some(remote);
        s.sessions += 1;
    }

    pub fn set_disconnected(&self) {
        self.lock().connected = false;
    }

    /// `http://host:port` of the lookup's HTTP API, while connected.
    pub fn http_base(&self) -> Option<String> {
        let s = self.lock();
        let remote = s.remote.as_ref().filter(|_| s.connected)?;
        let port = u16::try_from(remote.http_port).ok().filter(|p| *p != 0)?;
        let host = &remote.broadcast_address;
        if host.is_empty() {
            return None;
        }
        Some(if host.contains(':') && !host.starts_with('[') {
            format!("http://[{host}]:{port}")
        } else {
            format!("http://{host}:{port}")
        })
    }

    pub fn status(&self) -> PeerStatus {
        let s = self.lock();
        PeerStatus {
            address: self.address.clone(),
            connected: s.connected,
            remote: s.remote.clone(),
            sessions: s.sessions,
        }
    }

    #[cfg(test)]
    pub fn queued(&self) -> (usize, bool) {
        let s = self.lock();
        (s.queue.len(), s.resync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(t: &str) -> LookupCommand {
        LookupCommand::Register { topic: t.into(), channel: None }
    }

    #[test]
    fn overflow_drops_the_queue_and_demands_a_resync() {
        let p = PeerShared::new("x:1".into(), 3);
        for t in ["a", "b", "c"] {
            p.push(reg(t));
        }
        assert_eq!(p.queued(), (3, false));
        p.push(reg("d"));
        assert_eq!(p.queued(), (0, true));
        p.push(reg("e"));
        assert_eq!(p.queued(), (0, true), "nothing queues while a resync is pending");
        assert!(matches!(p.take(10), Pending::Resync));
        p.reset_for_replay();
        p.push(reg("f"));
        match p.take(10) {
            Pending::Commands(c) => assert_eq!(c, vec![reg("f")]),
            Pending::Resync => panic!("resync after reset"),
        }
    }

    #[test]
    fn take_respects_the_batch_size_and_order() {
        let p = PeerShared::new("x:1".into(), 10);
        for t in ["a", "b", "c"] {
            p.push(reg(t));
        }
        match p.take(2) {
            Pending::Commands(c) => assert_eq!(c, vec![reg("a"), reg("b")]),
            Pending::Resync => panic!(),
        }
        match p.take(2) {
            Pending::Commands(c) => assert_eq!(c, vec![reg("c")]),
            Pending::Resync => panic!(),
        }
    }

    #[test]
    fn http_base_needs_a_connected_identified_lookup() {
        let p = PeerShared::new("x:1".into(), 1);
        assert_eq!(p.http_base(), None);
        let id = |addr: &str| LookupIdentify {
            broadcast_address: addr.into(),
            hostname: "h".into(),
            http_port: 4161,
            tcp_port: 4160,
            version: "1.3.0".into(),
        };
        p.set_connected(id("10.0.0.1"));
        assert_eq!(p.http_base().as_deref(), Some("http://10.0.0.1:4161"));
        p.set_connected(id("::1"));
        assert_eq!(p.http_base().as_deref(), Some("http://[::1]:4161"));
        p.set_disconnected();
        assert_eq!(p.http_base(), None);
    }
}
