//! Unit tests: one or more per channel operation and error.

use super::*;
use crate::core::sample_accepts;
use bytes::Bytes;

const TIMEOUT_MS: u64 = 60_000;
const MAX_MSG_TIMEOUT_MS: u64 = 900_000;
const MAX_REQ_MS: u64 = 3_600_000;
const A: ClientId = ClientId(1);
const B: ClientId = ClientId(2);
const C: ClientId = ClientId(3);

fn msg(n: u64) -> Message {
    Message::new(
        MessageId::from_u64(n),
        Bytes::from(format!("body-{n}")),
        1_000 + n as i64,
    )
}

fn id(n: u64) -> MessageId {
    MessageId::from_u64(n)
}

fn channel() -> Channel {
    Channel::new("c", ChannelConfig::default()).expect("valid name")
}

fn with_clients(rdy: &[(ClientId, u64)]) -> Channel {
    let mut ch = channel();
    for &(client, n) in rdy {
        ch.add_client(client, 0).expect("new client");
        ch.set_rdy(client, n).expect("in range");
    }
    ch
}

fn put(ch: &mut Channel, n: u64) {
    assert_eq!(ch.put(msg(n)), Ok(PutOutcome::Queued));
}

#[test]
fn new_validates_name_and_ephemeral() {
    assert!(matches!(
        Channel::new("bad name", ChannelConfig::default()),
        Err(CoreError::InvalidName(_))
    ));
    assert!(Channel::new("x#ephemeral", ChannelConfig::default())
        .expect("valid")
        .is_ephemeral());
    assert!(!channel().is_ephemeral());
    assert_eq!(channel().name(), "c");
}

#[test]
fn put_and_depth() {
    let mut ch = channel();
    put(&mut ch, 1);
    put(&mut ch, 2);
    assert_eq!(
        (
            ch.depth(),
            ch.in_flight_count(),
            ch.deferred_count(),
            ch.message_count()
        ),
        (2, 0, 0, 2)
    );
    assert_eq!(ch.put(msg(1)), Err(CoreError::DuplicateId));
    assert_eq!(ch.message_count(), 2);
    ch.check_invariants();
}

#[test]
fn overflow_durable_and_ephemeral() {
    let config = ChannelConfig {
        mem_queue_size: 1,
        ..ChannelConfig::default()
    };
    let mut ch = Channel::new("c", config.clone()).expect("valid");
    put(&mut ch, 1);
    assert_eq!(ch.mem_room(), 0);
    assert_eq!(ch.put(msg(2)), Ok(PutOutcome::Overflow(msg(2))));
    assert_eq!(ch.message_count(), 2); // counted: it goes to the disk queue
                                       // The overflowed id is not held, so it can come back later (from disk).
    assert_eq!(ch.depth(), 1);
    ch.check_invariants();

    let mut e = Channel::new("c#ephemeral", config).expect("valid");
    put(&mut e, 1);
    assert_eq!(e.put(msg(2)), Ok(PutOutcome::Dropped(msg(2))));
    e.check_invariants();

    let mut zero = Channel::new(
        "z",
        ChannelConfig {
            mem_queue_size: 0,
            ..ChannelConfig::default()
        },
    )
    .expect("valid");
    assert_eq!(zero.put(msg(1)), Ok(PutOutcome::Overflow(msg(1))));
}

#[test]
fn deferred_overflow() {
    let config = ChannelConfig {
        deferred_max: 1,
        ..ChannelConfig::default()
    };
    let mut ch = Channel::new("c", config).expect("valid");
    assert_eq!(ch.put_deferred(msg(1), 10), Ok(PutOutcome::Queued));
    assert_eq!(
        ch.put_deferred(msg(2), 10),
        Ok(PutOutcome::Overflow(msg(2)))
    );
    assert_eq!(ch.put_deferred(msg(1), 10), Err(CoreError::DuplicateId));
    assert_eq!(ch.deferred_count(), 1);
    ch.check_invariants();
}

#[test]
fn add_client_errors() {
    let mut ch = Channel::new(
        "c",
        ChannelConfig {
            max_consumers: 2,
            ..ChannelConfig::default()
        },
    )
    .expect("valid");
    assert_eq!(
        ch.add_client(A, 100),
        Err(CoreError::InvalidSampleRate(100))
    );
    ch.add_client(A, 0).expect("new");
    assert_eq!(ch.add_client(A, 0), Err(CoreError::ClientExists(A)));
    ch.add_client(B, 99).expect("new");
    assert_eq!(
        ch.add_client(C, 0),
        Err(CoreError::TooManyConsumers { limit: 2 })
    );
    assert_eq!(ch.client_count(), 2);
    assert_eq!(ch.consumer(B).map(|c| c.sample_rate), Some(99));
}

#[test]
fn set_rdy_errors() {
    let mut ch = with_clients(&[(A, 0)]);
    assert_eq!(
        ch.set_rdy(A, 2501),
        Err(CoreError::RdyOutOfRange {
            count: 2501,
            max: 2500
        })
    );
    assert_eq!(
        ch.set_rdy(A, u64::MAX),
        Err(CoreError::RdyOutOfRange {
            count: u64::MAX,
            max: 2500
        })
    );
    assert_eq!(ch.set_rdy(B, 1), Err(CoreError::ClientNotFound(B)));
    ch.set_rdy(A, 2500).expect("max is allowed");
    assert_eq!(ch.consumer(A).map(|c| c.rdy), Some(2500));
}

#[test]
fn delivery_sets_attempts_and_deadline() {
    let mut ch = with_clients(&[(A, 10)]);
    put(&mut ch, 1);
    let m = ch
        .next_delivery(A, 100, TIMEOUT_MS)
        .expect("ready and open");
    assert_eq!((m.id, m.attempts, m.timestamp_ns), (id(1), 1, 1001));
    let e = ch.in_flight_iter().next().expect("in flight");
    assert_eq!(
        (e.client, e.delivered_ms, e.deadline_ms),
        (A, 100, 100 + TIMEOUT_MS)
    );
    assert_eq!((ch.depth(), ch.in_flight_count()), (0, 1));
    assert_eq!(
        ch.consumer(A).map(|c| (c.in_flight, c.message_count)),
        Some((1, 1))
    );
    assert_eq!(ch.next_wakeup_ms(), Some(100 + TIMEOUT_MS));
    assert!(
        ch.next_delivery(A, 100, TIMEOUT_MS).is_none(),
        "nothing ready"
    );
    ch.check_invariants();
}

#[test]
fn rdy_is_a_window_not_a_countdown() {
    let mut ch = with_clients(&[(A, 2)]);
    for n in 1..=5 {
        put(&mut ch, n);
    }
    assert!(ch.next_delivery(A, 0, TIMEOUT_MS).is_some());
    assert!(ch.next_delivery(A, 0, TIMEOUT_MS).is_some());
    assert!(!ch.client_has_window(A));
    assert!(ch.next_delivery(A, 0, TIMEOUT_MS).is_none(), "window full");
    ch.finish(A, &id(1)).expect("owned");
    // One FIN reopens one slot without a new RDY.
    assert_eq!(
        ch.next_delivery(A, 0, TIMEOUT_MS).map(|m| m.id),
        Some(id(3))
    );
    assert!(ch.next_delivery(A, 0, TIMEOUT_MS).is_none());
    // Lowering RDY below in flight is allowed; nothing more is sent.
    ch.set_rdy(A, 0).expect("in range");
    ch.finish(A, &id(2)).expect("owned");
    assert!(ch.next_delivery(A, 0, TIMEOUT_MS).is_none());
    ch.check_invariants();
}

#[test]
fn unknown_client_gets_nothing() {
    let mut ch = channel();
    put(&mut ch, 1);
    assert!(ch.next_delivery(A, 0, TIMEOUT_MS).is_none());
    assert!(ch.skip_unsampled(A).is_none());
    assert_eq!(ch.depth(), 1);
}

#[test]
fn pause_stops_delivery() {
    let mut ch = with_clients(&[(A, 1)]);
    put(&mut ch, 1);
    ch.pause();
    assert!(ch.is_paused());
    assert!(ch.pick_ready_client().is_none());
    assert!(ch.next_delivery(A, 0, TIMEOUT_MS).is_none());
    ch.unpause();
    assert_eq!(ch.pick_ready_client(), Some(A));
    assert!(ch.next_delivery(A, 0, TIMEOUT_MS).is_some());
}

#[test]
fn round_robin_is_deterministic() {
    let mut ch = with_clients(&[(A, 5), (B, 5), (C, 0)]);
    for n in 1..=6 {
        put(&mut ch, n);
    }
    let mut order = Vec::new();
    while let Some(client) = ch.pick_ready_client() {
        order.push(client);
        ch.next_delivery(client, 0, TIMEOUT_MS)
            .expect("picked client is ready");
    }
    assert_eq!(order, vec![A, B, A, B, A, B]);
    assert!(ch.pick_ready_client().is_none(), "nothing ready");
    put(&mut ch, 7);
    // B was served last; C has RDY 0, so A is next.
    assert_eq!(ch.pick_ready_client(), Some(A));
    ch.check_invariants();
}

#[test]
fn finish_errors_match_nsqd() {
    let mut ch = with_clients(&[(A, 1), (B, 1)]);
    put(&mut ch, 1);
    ch.next_delivery(A, 0, TIMEOUT_MS).expect("delivered");
    assert_eq!(ch.finish(A, &id(9)), Err(CoreError::NotInFlight));
    assert_eq!(ch.finish(B, &id(1)), Err(CoreError::NotOwner));
    assert_eq!(
        ch.finish(B, &id(1)).map_err(|e| e.to_string()),
        Err("client does not own message".into())
    );
    let done = ch.finish(A, &id(1)).expect("owned");
    assert_eq!((done.id, done.attempts), (id(1), 1));
    assert_eq!(ch.finish(A, &id(1)), Err(CoreError::NotInFlight));
    assert_eq!(
        ch.consumer(A).map(|c| (c.in_flight, c.finish_count)),
        Some((0, 1))
    );
    // A ready (not yet delivered) message is not in flight either.
    put(&mut ch, 2);
    assert_eq!(ch.finish(A, &id(2)), Err(CoreError::NotInFlight));
    // A finished id may be put again (it left the channel).
    put(&mut ch, 1);
    ch.check_invariants();
}

#[test]
fn requeue_now_and_deferred_with_clamp() {
    let mut ch = with_clients(&[(A, 2), (B, 1)]);
    put(&mut ch, 1);
    put(&mut ch, 2);
    ch.next_delivery(A, 0, TIMEOUT_MS).expect("delivered");
    ch.next_delivery(A, 0, TIMEOUT_MS).expect("delivered");
    assert_eq!(
        ch.requeue(B, &id(1), 0, 10, MAX_REQ_MS),
        Err(CoreError::NotOwner)
    );
    assert_eq!(
        ch.requeue(A, &id(7), 0, 10, MAX_REQ_MS),
        Err(CoreError::NotInFlight)
    );
    assert_eq!(
        ch.requeue(A, &id(1), 0, 10, MAX_REQ_MS),
        Ok(Requeued::Ready)
    );
    assert_eq!(
        ch.requeue(A, &id(2), u64::MAX, 10, MAX_REQ_MS),
        Ok(Requeued::Deferred {
            due_ms: 10 + MAX_REQ_MS
        })
    );
    assert_eq!(
        (
            ch.depth(),
            ch.in_flight_count(),
            ch.deferred_count(),
            ch.requeue_count()
        ),
        (1, 0, 1, 2)
    );
    assert_eq!(
        ch.consumer(A).map(|c| (c.in_flight, c.requeue_count)),
        Some((0, 2))
    );
    ch.check_invariants();
    // Redelivery counts another attempt.
    assert_eq!(
        ch.next_delivery(A, 20, TIMEOUT_MS)
            .map(|m| (m.id, m.attempts)),
        Some((id(1), 2))
    );
    ch.finish(A, &id(1)).expect("owned");
    // The deferred one is not delivered before it is due.
    assert!(ch.tick(10 + MAX_REQ_MS - 1).is_empty());
    assert_eq!(ch.tick(10 + MAX_REQ_MS).undeferred, 1);
    assert_eq!(
        ch.next_delivery(A, 10 + MAX_REQ_MS, TIMEOUT_MS)
            .map(|m| (m.id, m.attempts)),
        Some((id(2), 2))
    );
    ch.check_invariants();
}

#[test]
fn touch_extends_but_caps_at_max_msg_timeout() {
    let mut ch = with_clients(&[(A, 1), (B, 1)]);
    put(&mut ch, 1);
    ch.next_delivery(A, 1_000, TIMEOUT_MS).expect("delivered");
    assert_eq!(
        ch.touch(B, &id(1), 2_000, TIMEOUT_MS, MAX_MSG_TIMEOUT_MS),
        Err(CoreError::NotOwner)
    );
    assert_eq!(
        ch.touch(A, &id(2), 2_000, TIMEOUT_MS, MAX_MSG_TIMEOUT_MS),
        Err(CoreError::NotInFlight)
    );
    assert_eq!(
        ch.touch(A, &id(1), 2_000, TIMEOUT_MS, MAX_MSG_TIMEOUT_MS),
        Ok(2_000 + TIMEOUT_MS)
    );
    assert_eq!(ch.next_wakeup_ms(), Some(2_000 + TIMEOUT_MS));
    // Touching late cannot push past delivery + max_msg_timeout.
    assert_eq!(
        ch.touch(A, &id(1), 880_000, TIMEOUT_MS, MAX_MSG_TIMEOUT_MS),
        Ok(1_000 + MAX_MSG_TIMEOUT_MS)
    );
    // A touch with a short timeout may also shorten it (deadline = now + timeout, as nsqd).
    assert_eq!(
        ch.touch(A, &id(1), 3_000, 1_000, MAX_MSG_TIMEOUT_MS),
        Ok(4_000)
    );
    assert!(ch.tick(3_999).is_empty());
    assert_eq!(ch.tick(4_000).timed_out, vec![(A, id(1))]);
    ch.check_invariants();
}

#[test]
fn tick_times_out_in_flight() {
    let mut ch = with_clients(&[(A, 2)]);
    put(&mut ch, 1);
    put(&mut ch, 2);
    ch.next_delivery(A, 0, 100).expect("delivered");
    ch.next_delivery(A, 50, 100).expect("delivered");
    assert!(ch.tick(99).is_empty());
    let r = ch.tick(100);
    assert_eq!(r.timed_out, vec![(A, id(1))]);
    assert_eq!(
        (ch.timeout_count(), ch.depth(), ch.in_flight_count()),
        (1, 1, 1)
    );
    assert_eq!(ch.consumer(A).map(|c| c.in_flight), Some(1));
    assert_eq!(
        ch.finish(A, &id(1)),
        Err(CoreError::NotInFlight),
        "timed out = no longer in flight"
    );
    assert_eq!(ch.next_wakeup_ms(), Some(150));
    let r = ch.tick(1_000);
    assert_eq!((r.timed_out.len(), r.undeferred), (1, 0));
    assert_eq!(ch.next_wakeup_ms(), None);
    ch.check_invariants();
}

#[test]
fn put_deferred_not_ready_before_due() {
    let mut ch = with_clients(&[(A, 1)]);
    assert_eq!(ch.put_deferred(msg(1), 500), Ok(PutOutcome::Queued));
    assert_eq!(
        (ch.depth(), ch.deferred_count(), ch.message_count()),
        (0, 1, 1)
    );
    assert!(ch.pick_ready_client().is_none());
    assert!(ch.next_delivery(A, 499, TIMEOUT_MS).is_none());
    assert_eq!(ch.next_wakeup_ms(), Some(500));
    assert_eq!(ch.tick(499), TickReport::default());
    assert_eq!(
        ch.tick(500),
        TickReport {
            timed_out: vec![],
            undeferred: 1,
            ..TickReport::default()
        }
    );
    assert_eq!(
        ch.next_delivery(A, 500, TIMEOUT_MS).map(|m| m.attempts),
        Some(1)
    );
    ch.check_invariants();
}

#[test]
fn remove_client_leaves_in_flight_to_time_out() {
    let mut ch = with_clients(&[(A, 2), (B, 1)]);
    put(&mut ch, 1);
    put(&mut ch, 2);
    ch.next_delivery(A, 0, 100).expect("delivered");
    let r = ch.remove_client(A, 10, false).expect("known");
    assert_eq!(
        r,
        ClientRemoved {
            requeued: 0,
            left_in_flight: 1,
            last_consumer_left: false
        }
    );
    assert_eq!(ch.in_flight_count(), 1);
    assert_eq!(
        ch.remove_client(A, 10, false),
        Err(CoreError::ClientNotFound(A))
    );
    // B cannot finish A's orphan.
    assert_eq!(ch.finish(B, &id(1)), Err(CoreError::NotOwner));
    ch.check_invariants();
    assert_eq!(ch.tick(100).timed_out, vec![(A, id(1))]);
    assert_eq!(ch.depth(), 2);
    ch.check_invariants();
}

#[test]
fn remove_client_requeue_now() {
    let mut ch = with_clients(&[(A, 2)]);
    put(&mut ch, 1);
    put(&mut ch, 2);
    ch.next_delivery(A, 0, 100).expect("delivered");
    ch.next_delivery(A, 0, 100).expect("delivered");
    let r = ch.remove_client(A, 10, true).expect("known");
    assert_eq!(
        r,
        ClientRemoved {
            requeued: 2,
            left_in_flight: 0,
            last_consumer_left: true
        }
    );
    assert_eq!(
        (ch.depth(), ch.in_flight_count(), ch.requeue_count()),
        (2, 0, 2)
    );
    assert_eq!(ch.next_wakeup_ms(), None);
    ch.check_invariants();
}

#[test]
fn sampling_skip_drops_message() {
    let mut ch = Channel::new("c", ChannelConfig::default()).expect("valid");
    ch.add_client(A, 50).expect("new");
    ch.set_rdy(A, 1).expect("in range");
    put(&mut ch, 1);
    put(&mut ch, 2);
    let rate = ch.consumer(A).map(|c| c.sample_rate).unwrap_or(0);
    assert!(!sample_accepts(rate, 80));
    assert_eq!(ch.skip_unsampled(A), Some(id(1)));
    assert_eq!(ch.depth(), 1);
    assert!(sample_accepts(rate, 10));
    assert_eq!(
        ch.next_delivery(A, 0, TIMEOUT_MS).map(|m| m.id),
        Some(id(2))
    );
    // Window full: no skip either.
    put(&mut ch, 3);
    assert_eq!(ch.skip_unsampled(A), None);
    ch.check_invariants();
}

#[test]
fn deliver_from_backend_checks() {
    let mut ch = with_clients(&[(A, 1)]);
    assert_eq!(
        ch.deliver_from_backend(B, msg(1), 0, TIMEOUT_MS)
            .map_err(|r| r.error),
        Err(CoreError::ClientNotFound(B))
    );
    let sent = ch
        .deliver_from_backend(A, msg(1), 0, TIMEOUT_MS)
        .expect("open window");
    assert_eq!(sent.attempts, 1);
    let refused = ch
        .deliver_from_backend(A, msg(2), 0, TIMEOUT_MS)
        .expect_err("window full");
    assert_eq!(
        (refused.error, refused.msg),
        (CoreError::NotReady(A), msg(2))
    );
    assert_eq!(
        ch.deliver_from_backend(A, msg(1), 0, TIMEOUT_MS)
            .map_err(|r| r.error),
        Err(CoreError::DuplicateId)
    );
    ch.finish(A, &id(1)).expect("owned");
    // Works with mem_queue_size 0 too: disk → client.
    let mut zero = Channel::new(
        "z",
        ChannelConfig {
            mem_queue_size: 0,
            ..ChannelConfig::default()
        },
    )
    .expect("valid");
    zero.add_client(A, 0).expect("new");
    zero.set_rdy(A, 1).expect("in range");
    assert!(zero.deliver_from_backend(A, msg(5), 0, TIMEOUT_MS).is_ok());
    zero.check_invariants();
    ch.check_invariants();
}

#[test]
fn empty_discards_everything() {
    let mut ch = with_clients(&[(A, 1)]);
    put(&mut ch, 1);
    put(&mut ch, 2);
    assert_eq!(ch.put_deferred(msg(3), 100), Ok(PutOutcome::Queued));
    ch.next_delivery(A, 0, TIMEOUT_MS).expect("delivered");
    assert_eq!(
        ch.empty(),
        Emptied {
            ready: 1,
            in_flight: 1,
            deferred: 1,
            dead_letters: 0
        }
    );
    assert_eq!(
        (ch.depth(), ch.in_flight_count(), ch.deferred_count()),
        (0, 0, 0)
    );
    assert_eq!(ch.consumer(A).map(|c| c.in_flight), Some(0));
    assert_eq!(ch.finish(A, &id(1)), Err(CoreError::NotInFlight));
    assert_eq!(ch.next_wakeup_ms(), None);
    ch.check_invariants();
}

#[test]
fn drain_all_keeps_deferral_and_attempts() {
    let mut ch = with_clients(&[(A, 1)]);
    put(&mut ch, 1);
    put(&mut ch, 2);
    assert_eq!(ch.put_deferred(msg(3), 100), Ok(PutOutcome::Queued));
    ch.next_delivery(A, 0, TIMEOUT_MS).expect("delivered");
    let drained = ch.drain_all();
    let view: Vec<_> = drained
        .iter()
        .map(|(m, due)| (m.id, m.attempts, *due))
        .collect();
    assert_eq!(
        view,
        vec![(id(2), 0, None), (id(1), 1, None), (id(3), 0, Some(100))]
    );
    assert_eq!(
        (ch.depth(), ch.in_flight_count(), ch.deferred_count()),
        (0, 0, 0)
    );
    assert_eq!(ch.consumer(A).map(|c| c.in_flight), Some(0));
    ch.check_invariants();
}

#[test]
fn attempts_saturate() {
    let mut ch = with_clients(&[(A, 1)]);
    let mut m = msg(1);
    m.attempts = u16::MAX;
    assert_eq!(ch.put(m), Ok(PutOutcome::Queued));
    assert_eq!(
        ch.next_delivery(A, 0, TIMEOUT_MS).map(|m| m.attempts),
        Some(u16::MAX)
    );
}

#[test]
fn huge_times_do_not_overflow() {
    let mut ch = with_clients(&[(A, 1)]);
    put(&mut ch, 1);
    ch.next_delivery(A, u64::MAX - 1, u64::MAX)
        .expect("delivered");
    assert_eq!(ch.next_wakeup_ms(), Some(u64::MAX));
    assert_eq!(
        ch.touch(A, &id(1), u64::MAX, u64::MAX, u64::MAX),
        Ok(u64::MAX)
    );
    assert_eq!(
        ch.requeue(A, &id(1), u64::MAX, u64::MAX, u64::MAX),
        Ok(Requeued::Deferred { due_ms: u64::MAX })
    );
    assert_eq!(ch.tick(u64::MAX).undeferred, 1);
    ch.check_invariants();
}

#[test]
fn reused_client_id_reclaims_orphans() {
    let mut ch = with_clients(&[(A, 1)]);
    put(&mut ch, 1);
    ch.next_delivery(A, 0, TIMEOUT_MS).expect("delivered");
    ch.remove_client(A, 0, false).expect("known");
    ch.add_client(A, 0).expect("re-added");
    assert_eq!(ch.consumer(A).map(|c| c.in_flight), Some(1));
    ch.check_invariants();
    ch.finish(A, &id(1)).expect("owned again");
    assert_eq!(ch.consumer(A).map(|c| c.in_flight), Some(0));
    ch.check_invariants();
}

#[test]
fn finish_after_remove_client_is_harmless() {
    // CLS then FIN of a message still in flight: ownership holds, counters are gone.
    let mut ch = with_clients(&[(A, 1)]);
    put(&mut ch, 1);
    ch.next_delivery(A, 0, TIMEOUT_MS).expect("delivered");
    ch.remove_client(A, 0, false).expect("known");
    assert!(ch.finish(A, &id(1)).is_ok());
    ch.check_invariants();
}

#[test]
fn defer_from_backend_ignores_deferred_max_and_is_not_counted() {
    // The durable configuration: nothing deferred is admitted from a publish...
    let config = ChannelConfig {
        mem_queue_size: 0,
        deferred_max: 0,
        ..ChannelConfig::default()
    };
    let mut ch = Channel::new("c", config).expect("valid name");
    ch.add_client(A, 0).expect("new client");
    ch.set_rdy(A, 1).expect("in range");
    assert_eq!(ch.put_deferred(msg(1), 500), Ok(PutOutcome::Overflow(msg(1))));
    assert_eq!(ch.message_count(), 1);
    // ...but the copy read back from disk (its record held there) waits in memory until due.
    assert_eq!(ch.defer_from_backend(msg(1), 500), Ok(()));
    assert_eq!((ch.deferred_count(), ch.message_count()), (1, 1));
    ch.check_invariants();
    let dup = ch.defer_from_backend(msg(1), 600).expect_err("already present");
    assert_eq!((dup.error, dup.msg.id), (CoreError::DuplicateId, id(1)));
    assert!(ch.next_delivery(A, 499, TIMEOUT_MS).is_none());
    assert_eq!(ch.tick(499).undeferred, 0);
    // Due with no room in memory (mem_queue_size 0): handed back for the disk queue.
    let r = ch.tick(500);
    assert_eq!((r.undeferred, r.spilled.iter().map(|m| m.id).collect::<Vec<_>>()), (0, vec![id(1)]));
    assert!(ch.next_delivery(A, 500, TIMEOUT_MS).is_none());
    assert_eq!(ch.deferred_count() + ch.depth(), 0);
    ch.check_invariants();
}

#[test]
fn due_deferrals_respect_mem_queue_size_and_spill_the_rest() {
    let config = ChannelConfig { mem_queue_size: 2, ..ChannelConfig::default() };
    let mut ch = Channel::new("c", config.clone()).expect("valid name");
    for i in 1..=5 {
        assert_eq!(ch.put_deferred(msg(i), 100), Ok(PutOutcome::Queued));
    }
    let r = ch.tick(100);
    assert_eq!(r.undeferred, 2);
    assert_eq!(r.spilled.iter().map(|m| m.id).collect::<Vec<_>>(), vec![id(3), id(4), id(5)]);
    assert_eq!((ch.depth(), ch.deferred_count()), (2, 0));
    ch.check_invariants();
    // The spilled ones left the channel: the same ids may come back from disk.
    assert_eq!(ch.put(msg(3)), Ok(PutOutcome::Overflow(msg(3))));
    // Ephemeral channels drop them, as any overflow.
    let mut eph = Channel::new("c#ephemeral", config.clone()).expect("valid name");
    for i in 1..=3 {
        eph.put_deferred(msg(i), 10).expect("fresh");
    }
    let r = eph.tick(10);
    assert_eq!((r.undeferred, r.spilled.len(), r.dropped), (2, 0, 1));
    // The broken variant keeps everything in memory.
    let mut unbounded = Channel::new("c", ChannelConfig { due_respects_mem_queue_size: false, ..config }).expect("valid");
    for i in 1..=5 {
        unbounded.put_deferred(msg(i), 10).expect("fresh");
    }
    assert_eq!(unbounded.tick(10).undeferred, 5);
    assert_eq!(unbounded.depth(), 5);
}
