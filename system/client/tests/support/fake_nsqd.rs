//! A tiny fake queue speaking just enough V2 (IDENTIFY, SUB, RDY, PUB/MPUB/DPUB, FIN, REQ,
//! TOUCH, NOP, CLS) to exercise the client's I/O. A TEST FIXTURE: one shared queue per topic, one
//! channel, no timeouts, DPUB/REQ delays ignored. Real-queue tests live in tests/daemon.rs.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use wire::frame::{encode_error, encode_message_frame, encode_response};
use wire::{Command, CommandDecoder, Message, MessageId};

#[derive(Default)]
pub struct State {
    pub queues: BTreeMap<String, VecDeque<Message>>,
    pub in_flight: BTreeMap<MessageId, (u64, Message)>,
    pub finished: Vec<MessageId>,
    pub requeued: Vec<MessageId>,
    pub touched: Vec<MessageId>,
    pub published: Vec<(String, Bytes)>,
    pub deferred: Vec<(String, u64)>,
    pub rdy: BTreeMap<u64, u64>,
    pub nops: u64,
    pub next_id: u64,
    pub next_conn: u64,
    pub connections: u64,
    /// While set, the fake answers nothing (models a stalled server).
    pub mute: bool,
}

#[derive(Clone)]
pub struct Fake {
    pub state: Arc<Mutex<State>>,
    pub wake: Arc<Notify>,
    pub addr: SocketAddr,
    stop: Arc<Notify>,
}

impl Fake {
    pub async fn start(bind: SocketAddr) -> Fake {
        let listener = rt::net::TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = Fake {
            state: Default::default(),
            wake: Arc::new(Notify::new()),
            addr,
            stop: Arc::new(Notify::new()),
        };
        let f = fake.clone();
        rt::task::spawn(async move {
            loop {
                tokio::select! {
                    acc = listener.accept() => {
                        let Ok((stream, _)) = acc else { return };
                        let f2 = f.clone();
                        rt::task::spawn(async move { serve(f2, stream).await });
                    }
                    _ = f.stop.notified() => return,
                }
            }
        });
        fake
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Stops accepting (existing connections are cut too).
    pub fn shutdown(&self) {
        self.stop.notify_waiters();
        self.stop.notify_one();
    }

    pub fn enqueue(&self, topic: &str, body: &str) {
        self.with(|s| push(s, topic, Bytes::copy_from_slice(body.as_bytes())));
        self.wake.notify_waiters();
    }
}

fn push(s: &mut State, topic: &str, body: Bytes) {
    s.next_id += 1;
    let msg = Message {
        id: MessageId::from_u64(s.next_id),
        timestamp_ns: 1,
        attempts: 0,
        body,
    };
    s.queues.entry(topic.to_owned()).or_default().push_back(msg);
}

async fn serve(fake: Fake, stream: rt::net::TcpStream) {
    let (mut r, mut w) = rt::net::split(stream);
    let conn = fake.with(|s| {
        s.next_conn += 1;
        s.connections += 1;
        s.next_conn
    });
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    let mut decoder = CommandDecoder::default();
    let mut magic = false;
    let mut sub: Option<String> = None;
    let mut heartbeat = rt::time::Ticker::new(Duration::from_secs(30));
    let result: Result<(), ()> = async {
        loop {
            // Deliver while the window allows.
            if let Some(topic) = &sub {
                fake.with(|s| {
                    if s.mute {
                        return;
                    }
                    let rdy = s.rdy.get(&conn).copied().unwrap_or(0);
                    let mine = s.in_flight.values().filter(|(c, _)| *c == conn).count() as u64;
                    for _ in mine..rdy {
                        let Some(mut m) = s.queues.get_mut(topic).and_then(|q| q.pop_front())
                        else {
                            break;
                        };
                        m.attempts += 1;
                        encode_message_frame(&m, &mut out);
                        s.in_flight.insert(m.id, (conn, m));
                    }
                });
            }
            if !out.is_empty() {
                w.write_all(&out).await.map_err(|_| ())?;
                w.flush().await.map_err(|_| ())?;
                out.clear();
            }
            tokio::select! {
                n = r.read_buf(&mut buf) => { if n.map_err(|_| ())? == 0 { return Err(()); } }
                _ = fake.wake.notified() => continue,
                // A notification can slip between the check above and this wait: poll too.
                _ = rt::time::sleep(Duration::from_millis(20)) => continue,
                _ = heartbeat.tick() => {
                    if !fake.with(|s| s.mute) { encode_response(b"_heartbeat_", &mut out); }
                    continue;
                }
                _ = fake.stop.notified() => return Err(()),
            }
            if !magic {
                if buf.len() < 4 {
                    continue;
                }
                let _ = buf.split_to(4);
                magic = true;
            }
            if fake.with(|s| s.mute) {
                buf.clear();
                continue;
            }
            loop {
                let cmd = match decoder.decode(&mut buf) {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => {
                        if let Some(pe) = e.protocol_error() {
                            encode_error(pe, &mut out);
                        }
                        w.write_all(&out).await.map_err(|_| ())?;
                        w.flush().await.map_err(|_| ())?;
                        return Err(());
                    }
                };
                match cmd {
                    Command::Identify(body) => {
                        let b = wire::IdentifyBody::from_json(&body).unwrap();
                        if b.heartbeat_interval > 0 {
                            heartbeat = rt::time::Ticker::new(Duration::from_millis(
                                b.heartbeat_interval as u64,
                            ));
                        }
                        let neg = wire::negotiate(&b, &wire::ServerLimits::default()).unwrap();
                        encode_response(&neg.reply_body(), &mut out);
                    }
                    Command::Sub { topic, .. } => {
                        sub = Some(topic);
                        encode_response(b"OK", &mut out);
                    }
                    Command::Rdy(n) => {
                        fake.with(|s| s.rdy.insert(conn, n));
                    }
                    Command::Pub { topic, body } => {
                        if topic == "reject" {
                            encode_error(
                                &wire::ProtocolError::fatal("E_PUB_FAILED", "PUB failed exiting"),
                                &mut out,
                            );
                            w.write_all(&out).await.map_err(|_| ())?;
                            w.flush().await.map_err(|_| ())?;
                            return Err(());
                        }
                        fake.with(|s| {
                            s.published.push((topic.clone(), body.clone()));
                            push(s, &topic, body)
                        });
                        encode_response(b"OK", &mut out);
                        fake.wake.notify_waiters();
                    }
                    Command::Mpub { topic, bodies } => {
                        fake.with(|s| {
                            for b in bodies {
                                s.published.push((topic.clone(), b.clone()));
                                push(s, &topic, b)
                            }
                        });
                        encode_response(b"OK", &mut out);
                        fake.wake.notify_waiters();
                    }
                    Command::Dpub {
                        topic,
                        defer_ms,
                        body,
                    } => {
                        fake.with(|s| {
                            s.deferred.push((topic.clone(), defer_ms));
                            s.published.push((topic.clone(), body.clone()));
                            push(s, &topic, body)
                        });
                        encode_response(b"OK", &mut out);
                        fake.wake.notify_waiters();
                    }
                    Command::Fin(id) => fake.with(|s| {
                        if s.in_flight.remove(&id).is_some() {
                            s.finished.push(id)
                        }
                    }),
                    Command::Req { id, .. } => fake.with(|s| {
                        if let Some((_, m)) = s.in_flight.remove(&id) {
                            s.requeued.push(id);
                            let topic = sub.clone().unwrap();
                            s.queues.entry(topic).or_default().push_back(m);
                        }
                    }),
                    Command::Touch(id) => fake.with(|s| s.touched.push(id)),
                    Command::Nop => fake.with(|s| s.nops += 1),
                    Command::Cls => encode_response(b"CLOSE_WAIT", &mut out),
                    Command::Auth(_) => encode_error(
                        &wire::ProtocolError::fatal("E_AUTH_DISABLED", "AUTH disabled"),
                        &mut out,
                    ),
                }
            }
        }
    }
    .await;
    let _ = result;
    // Like nsqd-with-the-allowed-improvement: a closed connection's in-flight messages go back.
    fake.with(|s| {
        s.connections -= 1;
        s.rdy.remove(&conn);
        let mine: Vec<MessageId> = s
            .in_flight
            .iter()
            .filter(|(_, (c, _))| *c == conn)
            .map(|(id, _)| *id)
            .collect();
        for id in mine {
            let (_, m) = s.in_flight.remove(&id).unwrap();
            let topic = sub.clone().unwrap_or_default();
            s.queues.entry(topic).or_default().push_back(m);
        }
    });
    fake.wake.notify_waiters();
}
