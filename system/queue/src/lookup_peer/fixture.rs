//! A minimal lookup (protocol V1 over TCP, plus HTTP `/channels`, `/topics`, `/ping`) that records
//! everything it receives. Tests and the simulator use it to see what a queue node told its
//! lookups, and to play a lookup that restarts, stalls (`set_silent`) or already knows channels
//! (`add_channel`). It answers with the real codecs from `wire::lookup`, so a queue that satisfies
//! it speaks the protocol; it is not a lookup service (no producers list, no expiry).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use bytes::BytesMut;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use wire::lookup::{encode_error_reply, encode_reply, LookupCommand, LookupCommandDecoder, LookupIdentify};
use wire::magic::take_magic;

use rt::net::{TcpListener, TcpStream};
use rt::shutdown::{Shutdown, Trigger};
use rt::task::JoinHandle;

use super::Registration;

/// Events recorded before the fixture stops recording (a test fixture still gets a limit).
pub const EVENTS_MAX: usize = 100_000;

/// What one connection sent, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The connection was accepted (from this peer).
    Connected(SocketAddr),
    /// IDENTIFY with this body.
    Identify(LookupIdentify),
    Ping,
    Register(Registration),
    Unregister(Registration),
    /// The fixture answered with this error and closed.
    Error(String),
    /// The connection ended.
    Closed,
}

/// One recorded event: connection number (from 1, per fixture) and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureEvent {
    pub conn: u64,
    pub what: Received,
}

/// Everything the fixture knows; [`LookupFixture::state`] returns a copy.
#[derive(Debug, Clone, Default)]
pub struct FixtureState {
    pub events: Vec<FixtureEvent>,
    pub events_dropped: u64,
    /// Per open, identified connection: its current registrations.
    pub live: BTreeMap<u64, BTreeSet<Registration>>,
    /// nsqlookupd's channel keys: registered channels stay listed after their producer leaves,
    /// except ephemeral ones unregistered by their last producer.
    pub channels: BTreeMap<String, BTreeSet<String>>,
    /// Connections accepted so far.
    pub connections: u64,
    /// While true the fixture holds whatever it reads unprocessed and unanswered (a stalled
    /// lookup); clearing it processes the held input.
    pub silent: bool,
}

impl FixtureState {
    /// What connection `conn` sent, in order (without the Connected/Closed markers).
    pub fn commands_of(&self, conn: u64) -> Vec<Received> {
        self.events
            .iter()
            .filter(|e| e.conn == conn && !matches!(e.what, Received::Connected(_) | Received::Closed))
            .map(|e| e.what.clone())
            .collect()
    }

    /// The newest open, identified connection.
    pub fn latest_live(&self) -> Option<u64> {
        self.live.keys().next_back().copied()
    }

    /// The registrations of the newest open connection (empty if none).
    pub fn latest_registrations(&self) -> BTreeSet<Registration> {
        self.latest_live().and_then(|c| self.live.get(&c).cloned()).unwrap_or_default()
    }

    /// PINGs received on any connection.
    pub fn pings(&self) -> usize {
        self.events.iter().filter(|e| e.what == Received::Ping).count()
    }

    fn record(&mut self, conn: u64, what: Received) {
        if self.events.len() < EVENTS_MAX {
            self.events.push(FixtureEvent { conn, what });
        } else {
            self.events_dropped += 1;
        }
    }
}

struct Shared {
    state: Mutex<FixtureState>,
    /// Bumped on every change so waiters re-check.
    version: watch::Sender<u64>,
    identity: LookupIdentify,
}

impl Shared {
    fn update<R>(&self, f: impl FnOnce(&mut FixtureState) -> R) -> R {
        let r = f(&mut self.state.lock().expect("fixture lock"));
        self.version.send_modify(|v| *v += 1);
        r
    }
}

impl Shared {
    async fn wait_until_not_silent(&self) {
        let mut rx = self.version.subscribe();
        while self.state.lock().expect("fixture lock").silent {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// A running fixture lookup.
pub struct LookupFixture {
    tcp_addr: SocketAddr,
    http_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Trigger,
    tasks: Vec<JoinHandle<()>>,
}

impl LookupFixture {
    /// Binds TCP and HTTP (port 0 picks a free port) and starts serving.
    pub async fn start(tcp: SocketAddr, http: SocketAddr) -> std::io::Result<LookupFixture> {
        let tcp_listener = TcpListener::bind(tcp).await?;
        let http_listener = TcpListener::bind(http).await?;
        let tcp_addr = tcp_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        let identity = LookupIdentify {
            broadcast_address: http_addr.ip().to_string(),
            hostname: "weir-lookup-fixture".into(),
            http_port: i64::from(http_addr.port()),
            tcp_port: i64::from(tcp_addr.port()),
            version: "1.3.0".into(),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(FixtureState::default()),
            version: watch::channel(0).0,
            identity,
        });
        let (stop, stopped) = rt::shutdown::channel();
        let accept = rt::task::spawn(accept_loop(tcp_listener, shared.clone(), stopped.clone()));
        let router = router(shared.clone());
        let http_task = rt::task::spawn(async move {
            if let Err(e) = rt::http::serve(http_listener, router, stopped).await {
                tracing::warn!("fixture http: {e}");
            }
        });
        Ok(LookupFixture { tcp_addr, http_addr, shared, stop, tasks: vec![accept, http_task] })
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// A copy of everything recorded so far.
    pub fn state(&self) -> FixtureState {
        self.shared.state.lock().expect("fixture lock").clone()
    }

    /// Waits until `pred` holds on the state (checked after every change).
    pub async fn wait_until(&self, mut pred: impl FnMut(&FixtureState) -> bool) {
        let mut rx = self.shared.version.subscribe();
        loop {
            if pred(&self.state()) {
                return;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Like [`Self::wait_until`] with a deadline; returns whether `pred` came true in time.
    pub async fn wait_for(&self, timeout: Duration, pred: impl FnMut(&FixtureState) -> bool) -> bool {
        rt::time::timeout(timeout, self.wait_until(pred)).await.is_ok()
    }

    /// Stall (or resume): while silent, input is held, not processed or answered.
    pub fn set_silent(&self, silent: bool) {
        self.shared.update(|s| s.silent = silent);
    }

    /// Lists `channel` under `topic` as if another node had registered it.
    pub fn add_channel(&self, topic: &str, channel: &str) {
        self.shared.update(|s| {
            s.channels.entry(topic.to_string()).or_default().insert(channel.to_string());
        });
    }

    /// Stops accepting and closes every connection and the HTTP server; the ports are free once
    /// this returns.
    pub async fn stop(self) {
        self.stop.trigger();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: Shutdown) {
    loop {
        let (stream, peer) = rt::select! {
            _ = stop.wait() => return,
            a = listener.accept() => match a {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("fixture accept: {e}");
                    rt::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let conn = shared.update(|s| {
            s.connections += 1;
            let conn = s.connections;
            s.record(conn, Received::Connected(peer));
            conn
        });
        let shared = shared.clone();
        let mut stop = stop.clone();
        rt::task::spawn(async move {
            rt::select! {
                _ = stop.wait() => {}
                _ = serve_conn(stream, conn, &shared) => {}
            }
            shared.update(|s| {
                s.live.remove(&conn);
                s.record(conn, Received::Closed);
            });
        });
    }
}

/// Serves one V1 connection until it ends or errs.
async fn serve_conn(stream: TcpStream, conn: u64, shared: &Shared) {
    let (mut rd, mut wr) = rt::net::split(stream);
    let mut buf = BytesMut::with_capacity(1024);
    let mut decoder = LookupCommandDecoder::default();
    let mut have_magic = false;
    let mut identified = false;
    loop {
        let mut out = BytesMut::new();
        let mut fatal = false;
        if !have_magic {
            match take_magic(&mut buf, &wire::MAGIC_V1) {
                Ok(true) => have_magic = true,
                Ok(false) => {}
                Err(e) => {
                    shared.update(|s| s.record(conn, Received::Error(e.to_string())));
                    encode_error_reply(&e, &mut out);
                    fatal = true;
                }
            }
        }
        while have_magic && !fatal {
            let command = match decoder.decode(&mut buf, identified) {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    shared.update(|s| s.record(conn, Received::Error(e.to_string())));
                    if let Some(p) = e.protocol_error() {
                        encode_error_reply(p, &mut out);
                    }
                    fatal = true;
                    break;
                }
            };
            match handle(command, conn, &mut identified, shared) {
                Ok(data) => encode_reply(&data, &mut out),
                Err(e) => {
                    encode_error_reply(&e, &mut out);
                    fatal = true;
                }
            }
        }
        if !out.is_empty() && (wr.write_all(&out).await.is_err() || wr.flush().await.is_err()) {
            return;
        }
        if fatal {
            return;
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        shared.wait_until_not_silent().await;
    }
}

/// Applies one command to the state; the reply data or the (fatal) error.
fn handle(
    command: LookupCommand,
    conn: u64,
    identified: &mut bool,
    shared: &Shared,
) -> Result<Vec<u8>, wire::ProtocolError> {
    match command {
        LookupCommand::Ping => {
            shared.update(|s| s.record(conn, Received::Ping));
            Ok(b"OK".to_vec())
        }
        LookupCommand::Identify(body) => match LookupIdentify::from_json(&body) {
            Ok(id) => {
                *identified = true;
                shared.update(|s| {
                    s.record(conn, Received::Identify(id));
                    s.live.insert(conn, BTreeSet::new());
                });
                Ok(shared.identity.to_json())
            }
            Err(e) => {
                shared.update(|s| s.record(conn, Received::Error(e.to_string())));
                Err(e)
            }
        },
        LookupCommand::Register { topic, channel } => {
            shared.update(|s| {
                if let Some(c) = &channel {
                    s.channels.entry(topic.clone()).or_default().insert(c.clone());
                }
                s.live.entry(conn).or_default().insert((topic.clone(), channel.clone()));
                s.record(conn, Received::Register((topic, channel)));
            });
            Ok(b"OK".to_vec())
        }
        LookupCommand::Unregister { topic, channel } => {
            shared.update(|s| {
                match &channel {
                    Some(c) => {
                        s.live.entry(conn).or_default().remove(&(topic.clone(), Some(c.clone())));
                        let still_held = s.live.values().any(|l| l.contains(&(topic.clone(), Some(c.clone()))));
                        if wire::names::is_ephemeral(c) && !still_held {
                            if let Some(set) = s.channels.get_mut(&topic) {
                                set.remove(c);
                            }
                        }
                    }
                    None => s.live.entry(conn).or_default().retain(|(t, _)| *t != topic),
                }
                s.record(conn, Received::Unregister((topic, channel)));
            });
            Ok(b"OK".to_vec())
        }
    }
}

#[derive(Deserialize)]
struct TopicQuery {
    topic: Option<String>,
}

fn router(shared: Arc<Shared>) -> Router {
    let for_channels = shared.clone();
    Router::new()
        .route("/ping", get(|| async { "OK" }))
        .route(
            "/channels",
            get(move |Query(q): Query<TopicQuery>| {
                let shared = for_channels.clone();
                async move {
                    let state = shared.state.lock().expect("fixture lock");
                    let channels: Vec<String> = q
                        .topic
                        .and_then(|t| state.channels.get(&t).cloned())
                        .map(|set| set.into_iter().collect())
                        .unwrap_or_default();
                    Json(serde_json::json!({ "channels": channels }))
                }
            }),
        )
        .route(
            "/topics",
            get(move || {
                let shared = shared.clone();
                async move {
                    let state = shared.state.lock().expect("fixture lock");
                    let mut topics: BTreeSet<String> = state.channels.keys().cloned().collect();
                    topics.extend(state.live.values().flat_map(|l| l.iter().map(|(t, _)| t.clone())));
                    Json(serde_json::json!({ "topics": topics }))
                }
            }),
        )
}
