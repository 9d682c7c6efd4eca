//! The channel's dead-letter policy: unit tests of each path a message can come back by, and a
//! proptest over random sequences of deliveries, answers, timeouts, departures, dead-letter
//! publishes (succeeding or failing) and policy changes, checking that no delivery carries more
//! than `max_attempts`, that only exhausted messages leave through the outbox, and that every
//! message is exactly once finished, dead-lettered or still held.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const TIMEOUT_MS: u64 = 100;

fn msg(n: u64) -> Message {
    Message::new(MessageId::from_u64(n), Bytes::from(format!("body-{n}")), 7)
}

fn channel(max_attempts: u16, late: bool) -> Channel {
    let config = ChannelConfig {
        dead_letter: Some(DeadLetter::new(max_attempts, "{topic}.{channel}.dlq").expect("valid")),
        dead_letter_late: late,
        ..ChannelConfig::default()
    };
    let mut ch = Channel::new("c", config).expect("valid");
    ch.set_dead_letter("t", None);
    ch.add_client(ClientId(1), 0).expect("new");
    ch.set_rdy(ClientId(1), 10).expect("in range");
    ch
}

/// Delivers the next message to client 1 and REQs it; returns the attempts it was delivered with.
fn deliver_and_req(ch: &mut Channel, now_ms: u64) -> Option<(u16, Requeued)> {
    let m = ch.next_delivery(ClientId(1), now_ms, TIMEOUT_MS)?;
    let r = ch.requeue(ClientId(1), &m.id, 0, now_ms, 1_000).expect("in flight");
    Some((m.attempts, r))
}

#[test]
fn off_by_default_and_resolved_per_channel() {
    let mut ch = Channel::new("c", ChannelConfig::default()).expect("valid");
    ch.set_dead_letter("t", None);
    assert!(ch.dead_letter().is_none());
    let ch = channel(3, false);
    assert_eq!(ch.dead_letter().map(|d| d.topic.as_str()), Some("t.c.dlq"));
    assert!(ch.dead_letter_setting().is_none(), "inherited, not set");
}

#[test]
fn a_message_reqd_max_attempts_times_moves_with_body_id_and_attempts() {
    let mut ch = channel(3, false);
    assert!(matches!(ch.put(msg(1)), Ok(PutOutcome::Queued)));
    assert_eq!(deliver_and_req(&mut ch, 0), Some((1, Requeued::Ready)));
    assert_eq!(deliver_and_req(&mut ch, 0), Some((2, Requeued::Ready)));
    assert_eq!(deliver_and_req(&mut ch, 0), Some((3, Requeued::DeadLettered)));
    assert!(ch.next_delivery(ClientId(1), 0, TIMEOUT_MS).is_none(), "never a fourth delivery");
    assert_eq!(ch.next_wakeup_ms(), Some(0), "the outbox wants the shell at once");
    ch.check_invariants();
    let (topic, msgs) = ch.take_dead_letters().expect("one waiting");
    assert_eq!(topic, "t.c.dlq");
    assert_eq!(msgs, vec![Message { attempts: 3, ..msg(1) }]);
    assert!(ch.take_dead_letters().is_none());
    ch.check_invariants();
    // Being published: still held (a duplicate is refused), then gone.
    assert_eq!(ch.put(msg(1)), Err(CoreError::DuplicateId));
    assert_eq!(ch.dead_letters_done(&[msg(1).id], true, 0), 1);
    assert_eq!(ch.dead_letter_count(), 1);
    assert_eq!(ch.dead_letter_backlog(), 0);
    ch.check_invariants();
}

#[test]
fn a_delayed_req_and_a_timeout_move_too() {
    let mut ch = channel(1, false);
    let _ = ch.put(msg(1));
    let _ = ch.put(msg(2));
    let a = ch.next_delivery(ClientId(1), 0, TIMEOUT_MS).expect("ready");
    let b = ch.next_delivery(ClientId(1), 0, TIMEOUT_MS).expect("ready");
    assert_eq!(ch.requeue(ClientId(1), &a.id, 500, 0, 1_000), Ok(Requeued::DeadLettered));
    let report = ch.tick(TIMEOUT_MS);
    assert_eq!(report.timed_out, vec![(ClientId(1), b.id)]);
    assert_eq!(report.dead_lettered, 1);
    assert_eq!(ch.consumer(ClientId(1)).map(|c| c.in_flight), Some(0));
    let (_, msgs) = ch.take_dead_letters().expect("two");
    assert_eq!(msgs.iter().map(|m| m.id).collect::<Vec<_>>(), vec![a.id, b.id]);
    ch.check_invariants();
}

#[test]
fn a_departing_consumer_with_requeue_now_moves_exhausted_messages() {
    let mut ch = channel(1, false);
    let _ = ch.put(msg(1));
    let _ = ch.next_delivery(ClientId(1), 0, TIMEOUT_MS).expect("ready");
    let removed = ch.remove_client(ClientId(1), 0, true).expect("consumer");
    assert_eq!((removed.requeued, removed.left_in_flight), (0, 0));
    assert_eq!(ch.dead_letter_backlog(), 1);
    ch.check_invariants();
}

#[test]
fn a_failed_publish_retries_after_the_delay() {
    let mut ch = channel(1, false);
    let _ = ch.put(msg(1));
    let m = ch.next_delivery(ClientId(1), 0, TIMEOUT_MS).expect("ready");
    let _ = ch.requeue(ClientId(1), &m.id, 0, 0, 1_000);
    let (_, msgs) = ch.take_dead_letters().expect("one");
    assert_eq!(ch.dead_letters_done(&[msgs[0].id], false, 1_000), 0);
    assert_eq!(ch.deferred_count(), 1);
    assert!(ch.next_delivery(ClientId(1), 500, TIMEOUT_MS).is_none(), "not delivered meanwhile");
    ch.check_invariants();
    assert_eq!(ch.tick(1_000).dead_lettered, 1);
    assert_eq!(ch.take_dead_letters().map(|(_, m)| m.len()), Some(1));
    ch.check_invariants();
}

#[test]
fn a_message_read_back_with_its_attempts_used_up_is_never_delivered() {
    let mut ch = channel(2, false);
    let used = Message { attempts: 2, ..msg(9) };
    assert!(ch.exhausted(&used));
    assert!(!ch.exhausted(&Message { attempts: 1, ..msg(9) }));
    ch.dead_letter_from_backend(used.clone()).expect("exhausted");
    assert_eq!(ch.dead_letter_from_backend(used).map_err(|r| r.error), Err(CoreError::DuplicateId));
    assert_eq!(
        ch.dead_letter_from_backend(msg(10)).map_err(|r| r.error),
        Err(CoreError::NotExhausted)
    );
    ch.check_invariants();
    // Drained by a clean stop: the outbox is written to disk with the rest.
    let drained = ch.drain_all();
    assert_eq!(drained, vec![(Message { attempts: 2, ..msg(9) }, None)]);
    ch.check_invariants();
}

#[test]
fn lowering_the_policy_catches_ready_messages_and_off_releases_the_outbox() {
    let mut ch = channel(5, false);
    let _ = ch.put(msg(1));
    let _ = ch.put(msg(2));
    let _ = deliver_and_req(&mut ch, 0);
    let _ = deliver_and_req(&mut ch, 0);
    // msg 1 and msg 2 each delivered once. Now at most 1: both go to the outbox, not to the client.
    ch.set_dead_letter("t", Some(DeadLetter::new(1, "dlq").expect("valid")));
    assert_eq!(ch.dead_letter_setting().map(|d| d.max_attempts), Some(1));
    assert!(ch.next_delivery(ClientId(1), 0, TIMEOUT_MS).is_none());
    assert_eq!(ch.dead_letter_backlog(), 2);
    ch.check_invariants();
    // Off for this channel: the waiting outbox goes back to consumers.
    ch.set_dead_letter("t", Some(DeadLetter::new(0, "").expect("off")));
    assert!(ch.dead_letter().is_none());
    assert_eq!((ch.dead_letter_backlog(), ch.depth()), (0, 2));
    assert_eq!(ch.next_delivery(ClientId(1), 0, TIMEOUT_MS).map(|m| m.attempts), Some(2));
    ch.check_invariants();
}

#[test]
fn the_late_variant_allows_one_delivery_more() {
    let mut ch = channel(2, true);
    let _ = ch.put(msg(1));
    let seen: Vec<_> = std::iter::from_fn(|| deliver_and_req(&mut ch, 0)).take(5).collect();
    assert_eq!(seen, vec![(1, Requeued::Ready), (2, Requeued::Ready), (3, Requeued::DeadLettered)]);
}

#[test]
fn empty_discards_the_outbox() {
    let mut ch = channel(1, false);
    let _ = ch.put(msg(1));
    let _ = ch.put(msg(2));
    let _ = deliver_and_req(&mut ch, 0);
    let _ = deliver_and_req(&mut ch, 0);
    let (_, taken) = ch.take_dead_letters().expect("two");
    let _ = ch.put(msg(3));
    let _ = deliver_and_req(&mut ch, 0);
    assert_eq!(ch.empty().dead_letters, 3);
    // A publish finishing after the empty changes nothing.
    assert_eq!(ch.dead_letters_done(&taken.iter().map(|m| m.id).collect::<Vec<_>>(), true, 0), 0);
    ch.check_invariants();
}

#[derive(Debug, Clone)]
enum Op {
    Put,
    Deliver,
    Fin(usize),
    Req(usize, u64),
    Tick(u64),
    Reconnect,
    Publish(bool),
    SetMax(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Put),
        6 => Just(Op::Deliver),
        2 => any::<usize>().prop_map(Op::Fin),
        4 => (any::<usize>(), prop_oneof![Just(0u64), 1u64..300]).prop_map(|(i, d)| Op::Req(i, d)),
        3 => (0u64..200).prop_map(Op::Tick),
        1 => Just(Op::Reconnect),
        2 => any::<bool>().prop_map(Op::Publish),
        1 => (0u16..5).prop_map(Op::SetMax),
    ]
}

/// Where each message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Held,
    Finished,
    DeadLettered,
}

proptest! {
    #[test]
    fn deliveries_never_exceed_the_policy(max in 1u16..5, ops in proptest::collection::vec(op(), 1..150)) {
        let mut ch = channel(max, false);
        let mut max_now = Some(max);
        let mut now_ms = 0u64;
        let mut next = 0u64;
        let mut client = ClientId(1);
        let mut fates: BTreeMap<MessageId, Fate> = BTreeMap::new();
        let mut taken: Vec<MessageId> = Vec::new();
        for op in ops {
            match op {
                Op::Put => {
                    next += 1;
                    prop_assert!(matches!(ch.put(msg(next)), Ok(PutOutcome::Queued)));
                    fates.insert(msg(next).id, Fate::Held);
                }
                Op::Deliver => {
                    if let Some(m) = ch.next_delivery(client, now_ms, TIMEOUT_MS) {
                        if let Some(n) = max_now {
                            prop_assert!(m.attempts <= n, "delivered with attempts {} under max {}", m.attempts, n);
                        }
                    }
                }
                Op::Fin(i) | Op::Req(i, _) => {
                    let ids: Vec<MessageId> = ch.in_flight_iter().map(|e| e.msg.id).collect();
                    if ids.is_empty() {
                        continue;
                    }
                    let id = ids[i % ids.len()];
                    if let Op::Req(_, delay) = op {
                        let before = ch.in_flight_iter().find(|e| e.msg.id == id).map(|e| e.msg.attempts);
                        let r = ch.requeue(client, &id, delay, now_ms, 1_000).expect("in flight");
                        let exhausted = max_now.zip(before).is_some_and(|(n, a)| a >= n);
                        prop_assert_eq!(r == Requeued::DeadLettered, exhausted);
                    } else {
                        ch.finish(client, &id).expect("in flight");
                        fates.insert(id, Fate::Finished);
                    }
                }
                Op::Tick(ms) => {
                    now_ms += ms;
                    let _ = ch.tick(now_ms);
                }
                Op::Reconnect => {
                    let _ = ch.remove_client(client, now_ms, true).expect("consumer");
                    client = ClientId(client.0 + 1);
                    ch.add_client(client, 0).expect("new");
                    ch.set_rdy(client, 3).expect("in range");
                }
                Op::Publish(ok) => {
                    if !taken.is_empty() {
                        let left = ch.dead_letters_done(&taken, ok, now_ms + 50);
                        if ok {
                            prop_assert_eq!(left, taken.len());
                            for id in &taken {
                                fates.insert(*id, Fate::DeadLettered);
                            }
                        }
                        taken.clear();
                    } else if let Some((_, msgs)) = ch.take_dead_letters() {
                        for m in &msgs {
                            // Only messages whose attempts are used up ever leave this way.
                            let n = max_now.expect("an outbox only under a policy");
                            prop_assert!(m.attempts >= n, "dead-lettered with attempts {} under max {}", m.attempts, n);
                        }
                        taken = msgs.iter().map(|m| m.id).collect();
                    }
                }
                Op::SetMax(n) => {
                    ch.set_dead_letter("t", Some(DeadLetter::new(n, "dlq").expect("valid")));
                    max_now = (n > 0).then_some(n);
                }
            }
            ch.check_invariants();
        }
        // Conservation: every message is exactly once held, finished or dead-lettered.
        let held: std::collections::BTreeSet<MessageId> = ch
            .ready_iter()
            .map(|m| m.id)
            .chain(ch.in_flight_iter().map(|e| e.msg.id))
            .chain(ch.deferred_iter().map(|(_, m)| m.id))
            .chain(ch.dead_letter_ids())
            .collect();
        for (id, fate) in &fates {
            prop_assert_eq!(held.contains(id), *fate == Fate::Held, "message {} is {:?}", id, fate);
        }
    }
}
