//! The null queue: the cheapest server a client of this protocol could talk to. Publishes are
//! counted, not stored; subscribers receive that many fixed messages under the same RDY window
//! rule as nsqd. The gap between it and the real queue is what the queue itself costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire::frame::{encode_error, encode_message_frame, encode_response};
use wire::{Command, CommandDecoder, Message, MessageId};

struct Shared {
    /// Published and not yet handed out.
    backlog: AtomicU64,
    next_id: AtomicU64,
    body: Bytes,
}

pub async fn run(bind: &str) -> anyhow::Result<()> {
    let listener = rt::net::TcpListener::bind(bind).await?;
    println!("LISTENING {}", listener.local_addr()?);
    let shared = Arc::new(Shared { backlog: AtomicU64::new(0), next_id: AtomicU64::new(0), body: Bytes::from(vec![b'a'; 200]) });
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        rt::task::spawn(async move {
            let _ = serve(stream, shared).await;
        });
    }
}

async fn serve(stream: rt::net::TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (mut r, mut w) = rt::net::split(stream);
    let mut buf = BytesMut::with_capacity(1 << 16);
    let mut out = BytesMut::with_capacity(1 << 16);
    let mut decoder = CommandDecoder::default();
    let mut magic = false;
    let (mut subscribed, mut rdy, mut in_flight) = (false, 0u64, 0u64);
    loop {
        // Fill the window from the backlog.
        while subscribed && in_flight < rdy && out.len() < 1 << 20 {
            let take = shared.backlog.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| b.checked_sub(1));
            if take.is_err() {
                break;
            }
            let id = MessageId::from_u64(shared.next_id.fetch_add(1, Ordering::Relaxed));
            let msg = Message { id, timestamp_ns: 0, attempts: 1, body: shared.body.clone() };
            encode_message_frame(&msg, &mut out);
            in_flight += 1;
        }
        if !out.is_empty() {
            w.write_all(&out).await?;
            w.flush().await?;
            out.clear();
        }
        let idle = subscribed && in_flight < rdy;
        if idle {
            // Waiting for publishes elsewhere: poll the backlog now and then.
            tokio::select! {
                n = r.read_buf(&mut buf) => if n? == 0 { return Ok(()) },
                _ = rt::time::sleep(std::time::Duration::from_millis(5)) => continue,
            }
        } else if r.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        if !magic {
            if buf.len() < 4 {
                continue;
            }
            let _ = buf.split_to(4);
            magic = true;
        }
        loop {
            let cmd = match decoder.decode(&mut buf) {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    if let Some(pe) = e.protocol_error() {
                        encode_error(pe, &mut out);
                        w.write_all(&out).await?;
                        w.flush().await?;
                    }
                    return Ok(());
                }
            };
            match cmd {
                Command::Identify(body) => {
                    let reply = wire::IdentifyBody::from_json(&body)
                        .and_then(|b| wire::negotiate(&b, &wire::ServerLimits::default()));
                    match reply {
                        Ok(n) => encode_response(&n.reply_body(), &mut out),
                        Err(e) => encode_error(&e, &mut out),
                    }
                }
                Command::Sub { .. } => {
                    subscribed = true;
                    encode_response(b"OK", &mut out);
                }
                Command::Rdy(n) => rdy = n,
                Command::Fin(_) | Command::Req { .. } => in_flight = in_flight.saturating_sub(1),
                Command::Pub { .. } | Command::Dpub { .. } => {
                    shared.backlog.fetch_add(1, Ordering::AcqRel);
                    encode_response(b"OK", &mut out);
                }
                Command::Mpub { bodies, .. } => {
                    shared.backlog.fetch_add(bodies.len() as u64, Ordering::AcqRel);
                    encode_response(b"OK", &mut out);
                }
                Command::Cls => encode_response(b"CLOSE_WAIT", &mut out),
                Command::Touch(_) | Command::Nop | Command::Auth(_) => {}
            }
        }
    }
}
