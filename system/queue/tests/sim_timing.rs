//! Behaviour that depends on time, under the simulator: heartbeats and the read deadline, output
//! buffering, DPUB, REQ with a delay, in-flight timeouts and TOUCH (capped at
//! `--max-msg-timeout`).
//!
//! Time is virtual, so the assertions can be tight in both directions without being flaky: every
//! check allows only madsim's network latency (1–10 ms per packet, [`NET`]) and one
//! `--queue-scan-interval` ([`SCAN`]). Lower bounds are exact wherever every delay on the path
//! is positive (a deferred message can never arrive before its defer has passed since it was
//! sent). The real-time versions of these tests could only check order and presence.
//!
//! Each scenario is a function returning what it measured, so the broken `queue::Testing`
//! variants (`ignore_defer`, `no_timeout_requeue`) can be run through the same scenario and shown
//! to fail the check.
#![cfg(madsim)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{sim, Client};
use madsim::runtime::Handle;
use queue::{Daemon, Options};
use rt::time::Instant;
use wire::{Command, Frame, FrameType};

const SERVER_IP: &str = "10.0.0.1";
const CLIENT_IP: &str = "10.0.0.2";
/// madsim's largest one-way packet latency (its default `send_latency` is 1..10 ms).
const NET: Duration = Duration::from_millis(10);
/// `--queue-scan-interval` of the server under test.
const SCAN: Duration = Duration::from_millis(10);
/// Upper slack for a round trip plus one scan (and the core's whole-millisecond clock).
const SLACK: Duration = Duration::from_millis(2 * 10 + 10 + 1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn server_opts() -> Options {
    Options { queue_scan_interval_ms: SCAN.as_millis() as u64, ..sim::node_opts(SERVER_IP) }
}

fn addr() -> SocketAddr {
    sim::tcp_addr(SERVER_IP)
}

/// Starts the daemon on its own node and runs `test` on a client node; returns its result.
async fn run<T: Send + 'static, F>(opts: Options, test: impl FnOnce() -> F + Send + 'static) -> T
where
    F: std::future::Future<Output = T> + Send + 'static,
{
    rt::sim::reset();
    let h = Handle::current();
    let _server = h
        .create_node()
        .name("queue")
        .ip(SERVER_IP.parse().unwrap())
        .init(move || {
            let opts = opts.clone();
            async move {
                let (_trigger, shutdown) = rt::shutdown::on_signal();
                let d = Daemon::start(opts).await.expect("daemon starts");
                d.run_until(shutdown).await.expect("clean stop");
            }
        })
        .build();
    let client = h.create_node().name("client").ip(CLIENT_IP.parse().unwrap()).build();
    client.spawn(async move { test().await }).await.expect("client task")
}

/// Connects, retrying while the server starts.
async fn connect() -> Client {
    sim::connect_when_up(addr()).await
}

/// The next frame including heartbeats, and when it arrived (`None` at EOF).
async fn next_at(c: &mut Client) -> (Option<Frame>, Instant) {
    let f = c.frame_or_heartbeat().await;
    (f, rt::time::now())
}

/// Asserts `d` lies in `[lo, hi]`, naming what was measured.
#[track_caller]
fn assert_within(what: &str, d: Duration, lo: Duration, hi: Duration) {
    assert!(lo <= d && d <= hi, "{what}: {d:?} not within [{lo:?}, {hi:?}]");
}

async fn identify_ok(c: &mut Client, json: &str) {
    let f = c.identify(json).await;
    assert_eq!((f.frame_type, &f.data[..]), (FrameType::Response, &b"OK"[..]), "IDENTIFY {json}");
}

// ---- heartbeats and the read deadline ---------------------------------------------------------

#[madsim::test]
async fn heartbeat_every_interval_and_silent_client_closed_at_twice_the_interval() {
    run(server_opts(), || async {
        // A publisher-only connection gets heartbeats too.
        let mut c = connect().await;
        identify_ok(&mut c, r#"{"heartbeat_interval":1000}"#).await;
        let mut last = rt::time::now();
        // Answered heartbeats: one per interval, and the connection outlives 2× the interval.
        for i in 0..4 {
            let (f, at) = next_at(&mut c).await;
            assert!(f.expect("a heartbeat").is_heartbeat());
            assert_within(&format!("heartbeat {i} after the previous"), at - last, ms(1000) - NET, ms(1000) + NET);
            last = at;
            c.send(Command::Nop).await;
        }
        // Silence from here: exactly two more heartbeats (at +1 s and +2 s, both before the
        // deadline), then the close at 2× the interval after the last NOP was read.
        let nop_sent = rt::time::now();
        let mut heartbeats = 0;
        let closed_at = loop {
            match next_at(&mut c).await {
                (Some(f), _) => {
                    assert!(f.is_heartbeat(), "unexpected frame {f:?}");
                    heartbeats += 1;
                }
                (None, at) => break at,
            }
        };
        assert_eq!(heartbeats, 2, "heartbeats while silent");
        assert_within("close after the last NOP", closed_at - nop_sent, ms(2000), ms(2000) + SLACK);
    })
    .await;
}

#[madsim::test]
async fn default_heartbeat_is_30s_and_default_read_deadline_60s() {
    run(server_opts(), || async {
        let mut c = connect().await;
        let connected = rt::time::now();
        // No IDENTIFY: nsqd's defaults (--client-timeout 60 s, heartbeats at half of it).
        let (f, first) = next_at(&mut c).await;
        assert!(f.expect("a heartbeat").is_heartbeat());
        assert_within("first default heartbeat", first - connected, ms(30_000) - NET, ms(30_000) + SLACK);
        let (f, second) = next_at(&mut c).await;
        assert!(f.expect("a heartbeat").is_heartbeat());
        assert_within("second default heartbeat", second - first, ms(30_000) - NET, ms(30_000) + NET);
        // Never answered: closed 60 s after the last read (the magic, before the first heartbeat).
        let (f, closed) = next_at(&mut c).await;
        assert!(f.is_none(), "expected the close, got {f:?}");
        assert_within("default read deadline", closed - connected, ms(60_000), ms(60_000) + SLACK);
    })
    .await;
}

#[madsim::test]
async fn heartbeats_off_means_no_heartbeat_and_no_read_deadline() {
    run(server_opts(), || async {
        let mut c = connect().await;
        identify_ok(&mut c, r#"{"heartbeat_interval":-1}"#).await;
        // 90 s of silence (3× the default interval): nothing at all is sent, not even a
        // heartbeat, and the connection stays.
        let silent = rt::time::timeout(ms(90_000), c.frame_or_heartbeat()).await;
        assert!(silent.is_err(), "got {silent:?}");
        c.publish("t", b"still here").await;
    })
    .await;
}

// ---- output buffering -------------------------------------------------------------------------

#[madsim::test]
async fn output_buffer_flushes_at_its_timeout_while_the_window_is_open() {
    run(server_opts(), || async {
        let mut p = connect().await;
        let mut c = connect().await;
        identify_ok(&mut c, r#"{"output_buffer_timeout":2000}"#).await;
        c.sub("t", "c").await;
        c.rdy(10).await;
        let sent = rt::time::now();
        p.publish("t", b"first").await;
        // A second message 500 ms later joins the same buffer: the timer runs from the first.
        rt::time::sleep(ms(500)).await;
        p.publish("t", b"second").await;
        let (f, first_at) = next_at(&mut c).await;
        let m = f.expect("a frame").message().expect("a message").expect("valid");
        assert_eq!(&m.body[..], b"first");
        assert_within("buffered delivery after PUB", first_at - sent, ms(2000), ms(2000) + SLACK);
        let (f, second_at) = next_at(&mut c).await;
        let m = f.expect("a frame").message().expect("a message").expect("valid");
        assert_eq!(&m.body[..], b"second");
        assert_eq!(second_at, first_at, "both messages left in the same flush");
    })
    .await;
}

#[madsim::test]
async fn output_buffer_flushes_at_once_when_the_window_closes_or_it_fills() {
    run(server_opts(), || async {
        let mut p = connect().await;
        // RDY 1: the window closes with the first message, so it is flushed at once even though
        // the buffer timeout is 30 s.
        let mut c = connect().await;
        identify_ok(&mut c, r#"{"output_buffer_timeout":30000}"#).await;
        c.sub("t", "c").await;
        c.rdy(1).await;
        // A full buffer (64 bytes, less than one frame) is flushed at once too.
        let mut full = connect().await;
        identify_ok(&mut full, r#"{"output_buffer_timeout":30000,"output_buffer_size":64}"#).await;
        full.sub("t", "full").await;
        full.rdy(10).await;
        let sent = rt::time::now();
        p.publish("t", &[b'x'; 100]).await;
        let (f, at) = next_at(&mut c).await;
        assert_eq!(f.expect("a frame").frame_type, FrameType::Message);
        assert_within("window-closed flush after PUB", at - sent, Duration::ZERO, SLACK);
        let (f, at) = next_at(&mut full).await;
        assert_eq!(f.expect("a frame").frame_type, FrameType::Message);
        assert_within("full-buffer flush after PUB", at - sent, Duration::ZERO, SLACK);
    })
    .await;
}

// ---- DPUB and REQ delays ----------------------------------------------------------------------

/// DPUB 1500 ms, then REQ of the delivered message with 1000 ms; returns how long after the
/// DPUB was sent the message arrived, and how long after the REQ it came back (and its attempts).
async fn dpub_then_req(opts: Options) -> (Duration, Duration, u16) {
    run(opts, || async {
        let mut p = connect().await;
        let mut c = connect().await;
        // No output buffering: delivery times are the server's.
        identify_ok(&mut c, r#"{"output_buffer_timeout":-1}"#).await;
        c.sub("t", "c").await;
        c.rdy(10).await;
        let dpub_sent = rt::time::now();
        p.send(Command::Dpub {
            topic: "t".into(),
            defer_ms: 1500,
            body: Bytes::from_static(b"later"),
        })
        .await;
        p.expect_ok().await;
        // A plain PUB after it overtakes it (unless deferral is broken).
        p.publish("t", b"now").await;
        let mut later = None;
        for _ in 0..2 {
            let m = c.expect_message().await;
            if &m.body[..] == b"later" {
                later = Some((m, rt::time::now() - dpub_sent));
            }
        }
        let (m, dpub_delay) = later.expect("the DPUB message");
        let req_sent = rt::time::now();
        c.req(m.id, 1000).await;
        let again = c.expect_message().await;
        assert_eq!(again.id, m.id);
        (dpub_delay, rt::time::now() - req_sent, again.attempts)
    })
    .await
}

#[madsim::test]
async fn dpub_and_req_delay_deliver_when_due_never_before() {
    let (dpub, req, attempts) = dpub_then_req(server_opts()).await;
    assert_within("DPUB 1500 delivery", dpub, ms(1500), ms(1500) + SLACK);
    assert_within("REQ 1000 redelivery", req, ms(1000), ms(1000) + SLACK);
    assert_eq!(attempts, 2);
}

/// The broken `ignore_defer` variant delivers at once: the check above catches it.
#[madsim::test]
async fn ignore_defer_variant_is_caught() {
    let mut opts = server_opts();
    opts.testing.ignore_defer = true;
    let (dpub, req, _) = dpub_then_req(opts).await;
    assert!(dpub < ms(1500) && req < ms(1000), "the broken variant deferred: {dpub:?} {req:?}");
}

// ---- in-flight timeout and TOUCH --------------------------------------------------------------

#[madsim::test]
async fn msg_timeout_redelivers_and_touch_extends_from_the_last_touch() {
    run(server_opts(), || async {
        let mut p = connect().await;
        let mut c = connect().await;
        identify_ok(&mut c, r#"{"msg_timeout":1000,"output_buffer_timeout":-1}"#).await;
        c.sub("t", "c").await;
        c.rdy(1).await;
        p.publish("t", b"x").await;
        // Untouched: back after the client's 1 s msg_timeout, attempts 2.
        let m = c.expect_message().await;
        let delivered = rt::time::now();
        let again = c.expect_message().await;
        assert_eq!((again.id, again.attempts), (m.id, 2));
        assert_within("timeout redelivery", rt::time::now() - delivered, ms(1000) - NET, ms(1000) + SLACK);
        // Touched every 500 ms for 2.5 s: not redelivered meanwhile...
        let mut last_touch = rt::time::now();
        for _ in 0..5 {
            assert!(c.frame_within(ms(500)).await.is_none(), "redelivered while touched");
            c.send(Command::Touch(again.id)).await;
            last_touch = rt::time::now();
        }
        // ...then back 1 s after the last TOUCH.
        let third = c.expect_message().await;
        assert_eq!((third.id, third.attempts), (m.id, 3));
        assert_within("timeout after the last TOUCH", rt::time::now() - last_touch, ms(1000), ms(1000) + SLACK);
    })
    .await;
}

/// Delivers one message (msg_timeout 1 s, `--max-msg-timeout` 3 s) and TOUCHes it every 500 ms
/// for up to 20 s; returns how long after its delivery it was redelivered, if it was.
async fn touch_forever(opts: Options) -> Option<Duration> {
    run(opts, || async {
        let mut p = connect().await;
        let mut c = connect().await;
        identify_ok(&mut c, r#"{"msg_timeout":1000,"output_buffer_timeout":-1}"#).await;
        c.sub("t", "c").await;
        c.rdy(1).await;
        p.publish("t", b"x").await;
        let m = c.expect_message().await;
        let delivered = rt::time::now();
        for _ in 0..40 {
            if let Some(f) = c.frame_within(ms(500)).await {
                let again = f.message().expect("a message").expect("valid");
                assert_eq!((again.id, again.attempts), (m.id, 2));
                return Some(rt::time::now() - delivered);
            }
            c.send(Command::Touch(m.id)).await;
        }
        None
    })
    .await
}

#[madsim::test]
async fn touch_cannot_extend_past_max_msg_timeout() {
    let opts = Options { max_msg_timeout_ms: 3000, ..server_opts() };
    let redelivered = touch_forever(opts).await.expect("redelivered despite the touches");
    assert_within("redelivery at --max-msg-timeout", redelivered, ms(3000) - NET, ms(3000) + SLACK);
}

/// The broken `no_timeout_requeue` variant never redelivers: the check above catches it.
#[madsim::test]
async fn no_timeout_requeue_variant_is_caught() {
    let mut opts = Options { max_msg_timeout_ms: 3000, ..server_opts() };
    opts.testing.no_timeout_requeue = true;
    assert_eq!(touch_forever(opts).await, None, "the broken variant redelivered");
}
