//! A raw-frame V2 test client and a daemon fixture, shared by the end-to-end tests.
#![allow(dead_code)]

#[cfg(madsim)]
pub mod sim;
#[cfg(not(madsim))]
pub mod upgraded;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use queue::{Daemon, Options};
use wire::{Command, Frame, FrameDecoder, FrameType, MessageId};

/// How long a test waits for a frame it expects (generous: not a timing assertion).
pub const WAIT: Duration = Duration::from_secs(10);

pub fn opts(data_path: &str) -> Options {
    Options {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        data_path: data_path.to_owned(),
        queue_scan_interval_ms: 10,
        ..Options::default()
    }
}

/// A fresh, empty data directory per test (name + a random suffix).
pub fn data_dir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("weir-queue-test-{name}-{}", rt::rand::u64()));
    dir.to_string_lossy().into_owned()
}

pub struct Running {
    pub node: std::sync::Arc<queue::node::Node>,
    pub tcp: SocketAddr,
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    pub stop: rt::shutdown::Trigger,
    pub done: rt::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn start(opts: Options) -> Running {
    let d = Daemon::start(opts).await.expect("daemon starts");
    let (tcp, http, https) = (d.tcp_addr(), d.http_addr(), d.https_addr());
    let node = d.node().clone();
    let (stop, shutdown) = rt::shutdown::channel();
    let done = rt::task::spawn(d.run_until(shutdown));
    Running { node, tcp, http, https, stop, done }
}

impl Running {
    /// Clean stop; returns once the daemon has drained to disk.
    pub async fn stop(self) {
        self.stop.trigger();
        self.done.await.expect("join").expect("clean stop");
    }
}

pub struct Client {
    pub stream: rt::net::TcpStream,
    buf: BytesMut,
    dec: FrameDecoder,
}

impl Client {
    /// Connects and sends the V2 magic.
    pub async fn connect(addr: SocketAddr) -> Client {
        let mut c = Self::connect_raw(addr).await;
        c.send_raw(b"  V2").await;
        c
    }

    pub async fn connect_raw(addr: SocketAddr) -> Client {
        let stream = rt::net::connect_timeout(addr, WAIT).await.expect("connect");
        Client {
            stream,
            buf: BytesMut::new(),
            dec: FrameDecoder::default(),
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
        self.stream.flush().await.expect("flush");
    }

    pub async fn send(&mut self, cmd: Command) {
        let mut b = BytesMut::new();
        cmd.encode(&mut b);
        self.send_raw(&b).await;
    }

    /// The next frame, skipping heartbeats; `None` if the server closed the connection.
    pub async fn frame(&mut self) -> Option<Frame> {
        self.frame_wait(WAIT).await.expect("a frame within the wait")
    }

    /// The next non-heartbeat frame within `wait` (`Err` if none came; `Ok(None)` at EOF).
    pub async fn frame_wait(&mut self, wait: Duration) -> Result<Option<Frame>, rt::time::Elapsed> {
        let until = rt::time::now() + wait;
        loop {
            let left = until.saturating_duration_since(rt::time::now());
            match rt::time::timeout(left, self.frame_or_heartbeat()).await? {
                Some(f) if f.is_heartbeat() => continue,
                other => return Ok(other),
            }
        }
    }

    /// The next frame including heartbeats; `None` at EOF. Panics after [`WAIT`].
    pub async fn frame_or_heartbeat(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.dec.decode(&mut self.buf).expect("valid frames") {
                return Some(f);
            }
            let n = rt::time::timeout(WAIT * 10, self.stream.read_buf(&mut self.buf))
                .await
                .expect("a frame within the wait")
                .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    /// Whether a frame (other than a heartbeat) arrives within `d` — for "nothing is sent" checks.
    pub async fn frame_within(&mut self, d: Duration) -> Option<Frame> {
        self.frame_wait(d).await.ok().flatten()
    }

    pub async fn expect_ok(&mut self) {
        let f = self.frame().await.expect("a response");
        assert_eq!(
            (f.frame_type, &f.data[..]),
            (FrameType::Response, &b"OK"[..]),
            "expected OK, got {:?}",
            String::from_utf8_lossy(&f.data)
        );
    }

    pub async fn expect_response(&mut self, data: &[u8]) {
        let f = self.frame().await.expect("a response");
        assert_eq!(
            (f.frame_type, String::from_utf8_lossy(&f.data).into_owned()),
            (FrameType::Response, String::from_utf8_lossy(data).into_owned())
        );
    }

    /// Expects an error frame with exactly `text`.
    pub async fn expect_error(&mut self, text: &str) {
        let f = self.frame().await.expect("an error frame");
        assert_eq!(
            (f.frame_type, String::from_utf8_lossy(&f.data).into_owned()),
            (FrameType::Error, text.to_owned())
        );
    }

    /// Expects the server to close the connection (EOF) without further frames.
    pub async fn expect_closed(&mut self) {
        let f = self.frame().await;
        assert!(f.is_none(), "expected close, got {f:?}");
    }

    pub async fn expect_message(&mut self) -> wire::Message {
        let f = self.frame().await.expect("a message frame");
        assert_eq!(f.frame_type, FrameType::Message, "got {:?}", String::from_utf8_lossy(&f.data));
        f.message().expect("message").expect("valid message")
    }

    pub async fn publish(&mut self, topic: &str, body: &[u8]) {
        self.send(Command::Pub {
            topic: topic.into(),
            body: Bytes::copy_from_slice(body),
        })
        .await;
        self.expect_ok().await;
    }

    pub async fn sub(&mut self, topic: &str, channel: &str) {
        self.send(Command::Sub {
            topic: topic.into(),
            channel: channel.into(),
        })
        .await;
        self.expect_ok().await;
    }

    pub async fn identify(&mut self, json: &str) -> Frame {
        self.send(Command::Identify(Bytes::copy_from_slice(json.as_bytes())))
            .await;
        self.frame().await.expect("identify reply")
    }

    pub async fn rdy(&mut self, n: u64) {
        self.send(Command::Rdy(n)).await;
    }

    pub async fn fin(&mut self, id: MessageId) {
        self.send(Command::Fin(id)).await;
    }

    pub async fn req(&mut self, id: MessageId, timeout_ms: u64) {
        self.send(Command::Req { id, timeout_ms }).await;
    }
}

/// Polls `f` until it holds (the daemon acts asynchronously on a disconnect), panicking after
/// [`WAIT`].
pub async fn eventually(mut f: impl FnMut() -> bool) {
    let until = rt::time::now() + WAIT;
    while !f() {
        assert!(rt::time::now() < until, "condition not reached within the wait");
        rt::time::sleep(Duration::from_millis(10)).await;
    }
}
