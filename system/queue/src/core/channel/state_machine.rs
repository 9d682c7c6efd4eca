//! State-machine property test: random operation sequences against a channel, checked step by
//! step against a simple model of where each message must be.
//!
//! Properties: (a) no message is lost or duplicated — every admitted message is exactly once in
//! ready ∪ in flight ∪ deferred ∪ finished; (b) attempts grow by one per delivery; (c) a message is
//! never in flight to two clients at once; (d) deferred messages are never delivered before they
//! are due; (e) timed-out messages come back exactly once their deadline is reached. Plus the
//! channel's own `check_invariants` after every step.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const MAX_RDY: u32 = 3;
const MEM_QUEUE_SIZE: usize = 6;
const DEFERRED_MAX: usize = 4;
const MAX_REQ_MS: u64 = 250;
const MAX_MSG_TIMEOUT_MS: u64 = 400;

#[derive(Debug, Clone)]
enum Op {
    Put,
    PutDeferred {
        delay_ms: u64,
    },
    AddClient,
    SetRdy {
        client: usize,
        rdy: u64,
    },
    Deliver {
        client: usize,
        timeout_ms: u64,
    },
    DeliverPicked {
        timeout_ms: u64,
    },
    Skip {
        client: usize,
    },
    Fin {
        client: usize,
        msg: usize,
    },
    Req {
        client: usize,
        msg: usize,
        delay_ms: u64,
    },
    Touch {
        client: usize,
        msg: usize,
        timeout_ms: u64,
    },
    Tick {
        advance_ms: u64,
    },
    RemoveClient {
        client: usize,
        requeue_now: bool,
    },
    Pause,
    Unpause,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Put),
        2 => (0u64..300).prop_map(|delay_ms| Op::PutDeferred { delay_ms }),
        2 => Just(Op::AddClient),
        3 => (any::<usize>(), 0u64..5).prop_map(|(client, rdy)| Op::SetRdy { client, rdy }),
        6 => (any::<usize>(), 0u64..300).prop_map(|(client, timeout_ms)| Op::Deliver { client, timeout_ms }),
        4 => (0u64..300).prop_map(|timeout_ms| Op::DeliverPicked { timeout_ms }),
        1 => any::<usize>().prop_map(|client| Op::Skip { client }),
        5 => (any::<usize>(), any::<usize>()).prop_map(|(client, msg)| Op::Fin { client, msg }),
        3 => (any::<usize>(), any::<usize>(), prop_oneof![Just(0u64), 0u64..400])
            .prop_map(|(client, msg, delay_ms)| Op::Req { client, msg, delay_ms }),
        2 => (any::<usize>(), any::<usize>(), 0u64..300)
            .prop_map(|(client, msg, timeout_ms)| Op::Touch { client, msg, timeout_ms }),
        5 => (0u64..150).prop_map(|advance_ms| Op::Tick { advance_ms }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(client, requeue_now)| Op::RemoveClient { client, requeue_now }),
        1 => Just(Op::Pause),
        1 => Just(Op::Unpause),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Flight {
    client: ClientId,
    delivered_ms: u64,
    deadline_ms: u64,
}

/// Where every admitted message must be.
#[derive(Default)]
struct Model {
    now_ms: u64,
    paused: bool,
    next_msg: u64,
    next_client: u64,
    clients_ever: Vec<ClientId>,
    rdy: BTreeMap<ClientId, u64>,
    admitted: Vec<MessageId>,
    ready: BTreeSet<MessageId>,
    in_flight: BTreeMap<MessageId, Flight>,
    deferred: BTreeMap<MessageId, u64>,
    finished: BTreeSet<MessageId>,
    /// Came due while the ready queue was full: handed back for the disk queue.
    spilled: BTreeSet<MessageId>,
    skipped: BTreeSet<MessageId>,
    deliveries: BTreeMap<MessageId, u16>,
    not_before_ms: BTreeMap<MessageId, u64>,
}

impl Model {
    fn client(&self, i: usize) -> ClientId {
        // Index into every client ever seen, plus one never-added id, so unknown clients occur.
        let n = self.clients_ever.len() + 1;
        self.clients_ever
            .get(i % n)
            .copied()
            .unwrap_or(ClientId(u64::MAX))
    }

    fn msg(&self, i: usize) -> MessageId {
        if self.admitted.is_empty() {
            return MessageId::from_u64(u64::MAX);
        }
        self.admitted[i % self.admitted.len()]
    }

    fn in_flight_of(&self, client: ClientId) -> u64 {
        self.in_flight
            .values()
            .filter(|f| f.client == client)
            .count() as u64
    }

    fn window_open(&self, client: ClientId) -> bool {
        !self.paused
            && self
                .rdy
                .get(&client)
                .is_some_and(|&r| self.in_flight_of(client) < r)
    }

    fn expect_owned(&self, client: ClientId, id: &MessageId) -> Result<Flight, CoreError> {
        let f = self.in_flight.get(id).ok_or(CoreError::NotInFlight)?;
        if f.client != client {
            return Err(CoreError::NotOwner);
        }
        Ok(*f)
    }

    /// Checks a delivery against properties (b), (c), (d) and records it.
    fn delivered(&mut self, client: ClientId, m: &Message, timeout_ms: u64) {
        assert!(
            self.ready.remove(&m.id),
            "delivered a message that was not ready"
        );
        assert!(!self.in_flight.contains_key(&m.id), "(c) already in flight");
        let count = self.deliveries.entry(m.id).or_default();
        *count += 1;
        assert_eq!(m.attempts, *count, "(b) attempts = deliveries");
        if let Some(&due) = self.not_before_ms.get(&m.id) {
            assert!(
                self.now_ms >= due,
                "(d) delivered at {} before due {due}",
                self.now_ms
            );
        }
        let deadline_ms = self.now_ms + timeout_ms;
        self.in_flight.insert(
            m.id,
            Flight {
                client,
                delivered_ms: self.now_ms,
                deadline_ms,
            },
        );
    }

    /// (a) and exact agreement of the channel's contents with the model.
    fn compare(&self, ch: &Channel) {
        ch.check_invariants();
        let ready: BTreeSet<_> = ch.ready_iter().map(|m| m.id).collect();
        assert_eq!(ready.len(), ch.depth(), "duplicate in ready");
        assert_eq!(ready, self.ready, "ready set");
        let in_flight: BTreeMap<_, _> = ch
            .in_flight_iter()
            .map(|e| (e.msg.id, (e.client, e.delivered_ms, e.deadline_ms)))
            .collect();
        let model_in_flight: BTreeMap<_, _> = self
            .in_flight
            .iter()
            .map(|(&id, f)| (id, (f.client, f.delivered_ms, f.deadline_ms)))
            .collect();
        assert_eq!(in_flight, model_in_flight, "in-flight table");
        let deferred: BTreeMap<_, _> = ch.deferred_iter().map(|(due, m)| (m.id, due)).collect();
        assert_eq!(deferred.len(), ch.deferred_count(), "duplicate in deferred");
        assert_eq!(deferred, self.deferred, "deferred set");
        // (a): every admitted message is in exactly one place.
        let mut places: BTreeMap<MessageId, u32> = BTreeMap::new();
        for id in self
            .ready
            .iter()
            .chain(self.in_flight.keys())
            .chain(self.deferred.keys())
            .chain(self.finished.iter())
            .chain(self.spilled.iter())
            .chain(self.skipped.iter())
        {
            *places.entry(*id).or_default() += 1;
        }
        assert_eq!(places.len(), self.admitted.len(), "(a) a message was lost");
        assert!(
            places.values().all(|&n| n == 1),
            "(a) a message is in two places"
        );
        for &client in self.rdy.keys() {
            let stats = ch.consumer(client).expect("model client is a consumer");
            assert_eq!(u64::from(stats.in_flight), self.in_flight_of(client));
            assert!(stats.in_flight <= MAX_RDY);
        }
        assert_eq!(ch.is_paused(), self.paused);
    }
}

fn run(ops: Vec<Op>) {
    let config = ChannelConfig {
        mem_queue_size: MEM_QUEUE_SIZE,
        deferred_max: DEFERRED_MAX,
        max_rdy_count: MAX_RDY,
        max_consumers: 0,
        due_respects_mem_queue_size: true,
        ..ChannelConfig::default()
    };
    let mut ch = Channel::new("c", config).expect("valid name");
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Put => {
                m.next_msg += 1;
                let msg = Message::new(MessageId::from_u64(m.next_msg), Bytes::new(), 0);
                let id = msg.id;
                match ch.put(msg).expect("fresh id") {
                    PutOutcome::Queued => {
                        assert!(m.ready.len() < MEM_QUEUE_SIZE);
                        m.admitted.push(id);
                        m.ready.insert(id);
                    }
                    PutOutcome::Overflow(back) => {
                        assert!(m.ready.len() >= MEM_QUEUE_SIZE);
                        assert_eq!(back.id, id);
                    }
                    PutOutcome::Dropped(_) => panic!("durable channel dropped"),
                }
            }
            Op::PutDeferred { delay_ms } => {
                m.next_msg += 1;
                let msg = Message::new(MessageId::from_u64(m.next_msg), Bytes::new(), 0);
                let id = msg.id;
                let due = m.now_ms + delay_ms;
                match ch.put_deferred(msg, due).expect("fresh id") {
                    PutOutcome::Queued => {
                        assert!(m.deferred.len() < DEFERRED_MAX);
                        m.admitted.push(id);
                        m.deferred.insert(id, due);
                        m.not_before_ms.insert(id, due);
                    }
                    PutOutcome::Overflow(_) => assert!(m.deferred.len() >= DEFERRED_MAX),
                    PutOutcome::Dropped(_) => panic!("durable channel dropped"),
                }
            }
            Op::AddClient => {
                m.next_client += 1;
                let client = ClientId(m.next_client);
                ch.add_client(client, 0).expect("fresh client");
                m.clients_ever.push(client);
                m.rdy.insert(client, 0);
            }
            Op::SetRdy { client, rdy } => {
                let client = m.client(client);
                let got = ch.set_rdy(client, rdy);
                if rdy > u64::from(MAX_RDY) {
                    assert!(matches!(got, Err(CoreError::RdyOutOfRange { .. })));
                } else if let Some(r) = m.rdy.get_mut(&client) {
                    got.expect("valid RDY for a consumer");
                    *r = rdy;
                } else {
                    assert_eq!(got, Err(CoreError::ClientNotFound(client)));
                }
            }
            Op::Deliver { client, timeout_ms } => {
                let client = m.client(client);
                let expect = m.window_open(client) && !m.ready.is_empty();
                match ch.next_delivery(client, m.now_ms, timeout_ms) {
                    Some(msg) => {
                        assert!(expect, "delivered with a closed window or nothing ready");
                        m.delivered(client, &msg, timeout_ms);
                    }
                    None => assert!(!expect, "nothing delivered although possible"),
                }
            }
            Op::DeliverPicked { timeout_ms } => match ch.pick_ready_client() {
                Some(client) => {
                    assert!(m.window_open(client) && !m.ready.is_empty());
                    let msg = ch
                        .next_delivery(client, m.now_ms, timeout_ms)
                        .expect("picked ⇒ deliverable");
                    m.delivered(client, &msg, timeout_ms);
                }
                None => {
                    let any_open = m.rdy.keys().any(|&c| m.window_open(c));
                    assert!(
                        !any_open || m.ready.is_empty(),
                        "no pick although a client is ready"
                    );
                }
            },
            Op::Skip { client } => {
                let client = m.client(client);
                let expect = m.window_open(client) && !m.ready.is_empty();
                match ch.skip_unsampled(client) {
                    Some(id) => {
                        assert!(expect);
                        assert!(m.ready.remove(&id));
                        m.skipped.insert(id);
                    }
                    None => assert!(!expect),
                }
            }
            Op::Fin { client, msg } => {
                let (client, id) = (m.client(client), m.msg(msg));
                let expected = m.expect_owned(client, &id);
                let got = ch.finish(client, &id);
                assert_eq!(
                    got.as_ref().map(|msg| msg.id).map_err(Clone::clone),
                    expected.map(|_| id)
                );
                if got.is_ok() {
                    m.in_flight.remove(&id);
                    m.finished.insert(id);
                }
            }
            Op::Req {
                client,
                msg,
                delay_ms,
            } => {
                let (client, id) = (m.client(client), m.msg(msg));
                let expected = m.expect_owned(client, &id);
                let got = ch.requeue(client, &id, delay_ms, m.now_ms, MAX_REQ_MS);
                match expected {
                    Err(e) => assert_eq!(got, Err(e)),
                    Ok(_) => {
                        m.in_flight.remove(&id);
                        let delay_ms = delay_ms.min(MAX_REQ_MS);
                        if delay_ms == 0 {
                            assert_eq!(got, Ok(Requeued::Ready));
                            m.ready.insert(id);
                        } else {
                            let due_ms = m.now_ms + delay_ms;
                            assert_eq!(got, Ok(Requeued::Deferred { due_ms }));
                            m.deferred.insert(id, due_ms);
                            m.not_before_ms.insert(id, due_ms);
                        }
                    }
                }
            }
            Op::Touch {
                client,
                msg,
                timeout_ms,
            } => {
                let (client, id) = (m.client(client), m.msg(msg));
                let expected = m.expect_owned(client, &id);
                let got = ch.touch(client, &id, m.now_ms, timeout_ms, MAX_MSG_TIMEOUT_MS);
                match expected {
                    Err(e) => assert_eq!(got, Err(e)),
                    Ok(f) => {
                        let deadline_ms =
                            (m.now_ms + timeout_ms).min(f.delivered_ms + MAX_MSG_TIMEOUT_MS);
                        assert_eq!(got, Ok(deadline_ms));
                        m.in_flight.insert(id, Flight { deadline_ms, ..f });
                    }
                }
            }
            Op::Tick { advance_ms } => {
                m.now_ms += advance_ms;
                let now = m.now_ms;
                let report = ch.tick(now);
                // (e): exactly the expired ones come back, each after its deadline.
                let expired: BTreeSet<_> = m
                    .in_flight
                    .iter()
                    .filter(|(_, f)| f.deadline_ms <= now)
                    .map(|(&id, f)| (f.client, id))
                    .collect();
                let reported: BTreeSet<_> = report.timed_out.iter().copied().collect();
                assert_eq!(reported.len(), report.timed_out.len(), "timed out twice");
                assert_eq!(reported, expired, "(e) timeouts");
                for (_, id) in &expired {
                    m.in_flight.remove(id);
                    m.ready.insert(*id);
                }
                let due: Vec<_> = m
                    .deferred
                    .iter()
                    .filter(|(_, &d)| d <= now)
                    .map(|(&id, _)| id)
                    .collect();
                assert_eq!(report.undeferred + report.spilled.len(), due.len(), "(d) undeferred count");
                assert_eq!(report.dropped, 0, "durable channel");
                let spilled: BTreeSet<_> = report.spilled.iter().map(|msg| msg.id).collect();
                for id in due {
                    m.deferred.remove(&id);
                    if spilled.contains(&id) {
                        // Left the channel for the disk queue: like an overflowed put.
                        m.spilled.insert(id);
                        continue;
                    }
                    m.ready.insert(id);
                }
                assert!(
                    report.spilled.is_empty() || m.ready.len() >= MEM_QUEUE_SIZE,
                    "(d) a due message spilled while memory had room"
                );
                if let Some(wake) = ch.next_wakeup_ms() {
                    assert!(wake > now, "tick left due work behind");
                }
            }
            Op::RemoveClient {
                client,
                requeue_now,
            } => {
                let client = m.client(client);
                let got = ch.remove_client(client, m.now_ms, requeue_now);
                if m.rdy.remove(&client).is_none() {
                    assert_eq!(got, Err(CoreError::ClientNotFound(client)));
                } else {
                    let owned: Vec<_> = m
                        .in_flight
                        .iter()
                        .filter(|(_, f)| f.client == client)
                        .map(|(&id, _)| id)
                        .collect();
                    let r = got.expect("known client");
                    assert_eq!(r.requeued + r.left_in_flight, owned.len());
                    assert_eq!(r.last_consumer_left, m.rdy.is_empty());
                    if requeue_now {
                        for id in owned {
                            m.in_flight.remove(&id);
                            m.ready.insert(id);
                        }
                    }
                }
            }
            Op::Pause => {
                ch.pause();
                m.paused = true;
            }
            Op::Unpause => {
                ch.unpause();
                m.paused = false;
            }
        }
        m.compare(&ch);
    }
    // Clean shutdown hands back exactly what the model says is still held, deferrals kept.
    let drained = ch.drain_all();
    let mut held: BTreeMap<MessageId, Option<u64>> = BTreeMap::new();
    for (msg, due) in drained {
        assert!(held.insert(msg.id, due).is_none(), "drained twice");
    }
    let mut expected: BTreeMap<MessageId, Option<u64>> = BTreeMap::new();
    expected.extend(m.ready.iter().map(|&id| (id, None)));
    expected.extend(m.in_flight.keys().map(|&id| (id, None)));
    expected.extend(m.deferred.iter().map(|(&id, &due)| (id, Some(due))));
    assert_eq!(held, expected);
    ch.check_invariants();
    assert_eq!(ch.depth() + ch.in_flight_count() + ch.deferred_count(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn channel_state_machine(ops in proptest::collection::vec(op(), 1..200)) {
        run(ops);
    }
}

/// A fixed sequence that exercises every branch once, so a regression shows without shrinking.
#[test]
fn state_machine_smoke() {
    run(vec![
        Op::AddClient,
        Op::AddClient,
        Op::SetRdy { client: 0, rdy: 2 },
        Op::SetRdy { client: 1, rdy: 9 },
        Op::SetRdy { client: 1, rdy: 1 },
        Op::Put,
        Op::Put,
        Op::PutDeferred { delay_ms: 50 },
        Op::Deliver {
            client: 0,
            timeout_ms: 100,
        },
        Op::DeliverPicked { timeout_ms: 100 },
        Op::Fin { client: 1, msg: 0 },
        Op::Touch {
            client: 0,
            msg: 0,
            timeout_ms: 300,
        },
        Op::Req {
            client: 1,
            msg: 1,
            delay_ms: 10,
        },
        Op::Tick { advance_ms: 60 },
        Op::Skip { client: 0 },
        Op::Tick { advance_ms: 100 },
        Op::Pause,
        Op::Deliver {
            client: 0,
            timeout_ms: 1,
        },
        Op::Unpause,
        Op::RemoveClient {
            client: 0,
            requeue_now: true,
        },
        Op::RemoveClient {
            client: 1,
            requeue_now: false,
        },
        Op::Tick { advance_ms: 1000 },
    ]);
}
