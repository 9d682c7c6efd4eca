//! Synthetic histories for the whole system's properties: each property passes a healthy history
//! and fails the broken behaviour it exists to catch.

use history::{Call, Event, EventKind, Fault, History, Observation, Outcome};

use super::*;
use crate::Property;

const TIMEOUT_MS: u64 = 6_000;

#[derive(Default)]
struct H {
    events: Vec<Event>,
    op: u64,
}

impl H {
    fn push(&mut self, at_ms: u64, node: &str, kind: EventKind) -> &mut H {
        let seq = self.events.len() as u64;
        self.events.push(Event { seq, at_ns: at_ms * 1_000_000, node: node.into(), kind });
        self
    }

    fn obs(&mut self, at_ms: u64, node: &str, what: Observation) -> &mut H {
        self.push(at_ms, node, EventKind::Observe { process: node.into(), what })
    }

    fn call(&mut self, at_ms: u64, done_ms: u64, process: &str, call: Call, outcome: Outcome) -> &mut H {
        self.op += 1;
        let op = self.op;
        self.push(at_ms, process, EventKind::Invoke { op, process: process.into(), call });
        self.push(done_ms, process, EventKind::Complete { op, outcome })
    }

    fn publish(&mut self, at_ms: u64, key: &str, outcome: Outcome) -> &mut H {
        self.call(at_ms, at_ms + 1, "p1", Call::Publish { server: "q1".into(), topic: "orders".into(), key: key.into(), defer_ms: 0 }, outcome)
    }

    fn deliver(&mut self, at_ms: u64, consumer: &str, key: &str, attempts: u16) -> &mut H {
        let what = Observation::Delivered {
            server: "q1".into(),
            topic: "orders".into(),
            channel: "process".into(),
            consumer: consumer.into(),
            key: key.into(),
            id: format!("id-{key}"),
            attempts,
            server_wall_ms: None,
        };
        self.obs(at_ms, consumer, what)
    }

    /// A call for `key` with request `req` through g1, answered `outcome` after 10 ms.
    fn order_call(&mut self, at_ms: u64, consumer: &str, key: &str, req: &str, outcome: Outcome) -> &mut H {
        let call = Call::GatewayRequest { gateway: "g1".into(), route: "orders".into(), path: order_path(key, req) };
        self.call(at_ms, at_ms + 10, consumer, call, outcome)
    }

    fn processed(&mut self, at_ms: u64, key: &str, req: &str) -> &mut H {
        self.obs(at_ms, "o1", Observation::OrderProcessed { instance: "o1".into(), order: key.into(), request: req.into() })
    }

    fn fin(&mut self, at_ms: u64, consumer: &str, key: &str) -> &mut H {
        let what = Observation::Finished {
            server: "q1".into(),
            topic: "orders".into(),
            channel: "process".into(),
            consumer: consumer.into(),
            key: key.into(),
            id: format!("id-{key}"),
        };
        self.obs(at_ms, consumer, what)
    }

    fn req(&mut self, at_ms: u64, consumer: &str, key: &str) -> &mut H {
        let what = Observation::Requeued {
            server: "q1".into(),
            topic: "orders".into(),
            channel: "process".into(),
            consumer: consumer.into(),
            key: key.into(),
            id: format!("id-{key}"),
            delay_ms: 500,
        };
        self.obs(at_ms, consumer, what)
    }

    fn fault(&mut self, at_ms: u64, node: &str, fault: Fault) -> &mut H {
        self.push(at_ms, node, EventKind::Fault { fault })
    }

    /// One order through the happy path: delivered, called, processed, answered, FINed.
    fn happy(&mut self, at_ms: u64, consumer: &str, key: &str, req: &str, attempts: u16) -> &mut H {
        self.deliver(at_ms, consumer, key, attempts)
            .order_call(at_ms + 1, consumer, key, req, Outcome::Ok { value: Some("o1".into()) })
            .processed(at_ms + 5, key, req)
            .fin(at_ms + 12, consumer, key)
    }

    fn healed_and_end(&mut self, healed_ms: u64, end_ms: u64) -> History {
        self.push(healed_ms, "harness", EventKind::Healed);
        self.push(end_ms, "harness", EventKind::End);
        History { events: std::mem::take(&mut self.events) }
    }
}

fn passes(p: &dyn Property, h: &History) {
    let v = p.check(h);
    assert!(v.passed, "{} should pass: {}", p.name(), v.detail);
}

fn fails(p: &dyn Property, h: &History, needle: &str) {
    let v = p.check(h);
    assert!(!v.passed, "{} should fail: {}", p.name(), v.detail);
    assert!(v.detail.contains(needle), "{}: {:?} lacks {needle:?}", p.name(), v.detail);
}

#[test]
fn order_paths_round_trip_and_reject_junk() {
    assert_eq!(parse_order_path(&order_path("p1-7-3", "c1-2-9")), Some(("p1-7-3".into(), "c1-2-9".into())));
    for bad in ["/orders/", "/orders/k", "/orders/?request=r", "/orders/k?request=", "/id", "/orders/k?request=a&b=c"] {
        assert_eq!(parse_order_path(bad), None, "{bad}");
    }
}

#[test]
fn acked_orders_processed_passes_when_each_is_processed_and_fails_on_a_lost_one() {
    let p = AckedOrdersProcessed { settle_ms: 10_000 };
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok()).publish(200, "k2", Outcome::Unknown { error: "timeout".into() });
    h.happy(300, "c1", "k1", "r1", 1);
    passes(&p, &h.healed_and_end(1_000, 20_000));

    // A consumer that FINs before its call fails: the order is never processed.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok()).publish(150, "k2", Outcome::ok());
    h.happy(300, "c1", "k1", "r1", 1);
    h.deliver(400, "c2", "k2", 1).fin(401, "c2", "k2").order_call(402, "c2", "k2", "r2", Outcome::Failed { error: "504".into() });
    fails(&p, &h.healed_and_end(1_000, 20_000), "order k2");

    // Acknowledged too late to judge: not judged (and nothing else to judge fails loudly).
    let mut h = H::default();
    h.publish(15_000, "k1", Outcome::ok());
    fails(&p, &h.healed_and_end(1_000, 20_000), "no acknowledged order");
}

#[test]
fn no_invented_orders_fails_on_an_order_nobody_published() {
    let p = NoInventedOrders;
    let mut h = H::default();
    h.publish(100, "k1", Outcome::Failed { error: "E_PUB_FAILED".into() }).happy(300, "c1", "k1", "r1", 1);
    passes(&p, &h.healed_and_end(1_000, 2_000));

    // An instance that makes an order up on a restart.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok()).happy(300, "c1", "k1", "r1", 1).processed(500, "journal-o1-1", "replay");
    fails(&p, &h.healed_and_end(1_000, 2_000), "never published");

    // A processing for a request that asked for another order.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok()).publish(110, "k2", Outcome::ok()).happy(300, "c1", "k1", "r1", 1).processed(320, "k2", "r1");
    fails(&p, &h.healed_and_end(1_000, 2_000), "asked for order k1");
}

#[test]
fn duplicates_explained_accepts_req_and_timeouts() {
    let p = DuplicatesExplained { msg_timeout_ms: TIMEOUT_MS };
    // The first call timed out at the gateway but was processed; the consumer REQ'd; the second
    // delivery was processed again.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok());
    h.deliver(300, "c1", "k1", 1).order_call(301, "c1", "k1", "r1", Outcome::Failed { error: "504".into() });
    h.processed(2_500, "k1", "r1").req(312, "c1", "k1");
    h.happy(1_000, "c2", "k1", "r2", 2);
    passes(&p, &h.healed_and_end(3_000, 4_000));

    // No answer at all: the message timed out.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok());
    h.deliver(300, "c1", "k1", 1).order_call(301, "c1", "k1", "r1", Outcome::Ok { value: None }).processed(305, "k1", "r1");
    h.happy(6_500, "c2", "k1", "r2", 2);
    passes(&p, &h.healed_and_end(8_000, 9_000));

    // FINed in time, but the node was killed before the redelivery.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok());
    h.happy(300, "c1", "k1", "r1", 1);
    h.fault(400, "q1", Fault::Kill { node: "q1".into(), tear: false }).push(400, "q1", EventKind::NodeKilled);
    h.fault(900, "q1", Fault::Restart { node: "q1".into() }).push(900, "q1", EventKind::NodeStarted);
    h.happy(1_000, "c2", "k1", "r2", 2);
    passes(&p, &h.healed_and_end(3_000, 4_000));

    // FINed in time on a link that a partition then cut.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok());
    h.happy(300, "c1", "k1", "r1", 1);
    h.fault(320, "c1", Fault::Partition { groups: vec![vec!["c1".into()], vec!["q1".into()]] });
    h.happy(6_500, "c2", "k1", "r2", 2);
    passes(&p, &h.healed_and_end(8_000, 9_000));
}

#[test]
fn duplicates_explained_fails_on_a_replayed_post_a_double_call_and_an_unexplained_redelivery() {
    let p = DuplicatesExplained { msg_timeout_ms: TIMEOUT_MS };
    // A gateway that replays a sent POST: one request processed twice.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok()).happy(300, "c1", "k1", "r1", 1).processed(310, "k1", "r1");
    fails(&p, &h.healed_and_end(1_000, 2_000), "request r1 processed 2 times");

    // A consumer that calls twice for one delivery.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok()).happy(300, "c1", "k1", "r1", 1);
    h.order_call(320, "c1", "k1", "r2", Outcome::ok()).processed(325, "k1", "r2");
    fails(&p, &h.healed_and_end(1_000, 2_000), "both processed for one delivery");

    // A node that hands out a message FINed in time, on a calm link.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok()).happy(300, "c1", "k1", "r1", 1).happy(1_000, "c2", "k1", "r2", 2);
    fails(&p, &h.healed_and_end(3_000, 4_000), "no timeout or REQ");
}

#[test]
fn duplicates_explained_counts_only_the_refusal_of_the_fin_it_judges() {
    let p = DuplicatesExplained { msg_timeout_ms: TIMEOUT_MS };
    let refused = |id: &str| Observation::ServerError {
        server: "q1".into(),
        client: "c1".into(),
        code: "E_FIN_FAILED".into(),
        desc: format!("FIN {id} failed ID not in flight"),
    };
    // The node refused this very FIN: it may have handed the message out again.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok()).happy(300, "c1", "k1", "r1", 1).obs(320, "c1", refused("id-k1"));
    h.happy(1_000, "c2", "k1", "r2", 2);
    passes(&p, &h.healed_and_end(3_000, 4_000));

    // It refused a deliberate duplicate FIN of another message: no excuse for k1.
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok()).happy(300, "c1", "k1", "r1", 1).obs(320, "c1", refused("id-k9"));
    h.happy(1_000, "c2", "k1", "r2", 2);
    fails(&p, &h.healed_and_end(3_000, 4_000), "no timeout or REQ");
}

/// Whole-system seed 340: a delivery the killed life sent, seen after the new life's delivery of
/// the same order, is not a redelivery by one life.
#[test]
fn duplicates_explained_dates_a_delivery_by_the_life_that_sent_it() {
    let p = DuplicatesExplained { msg_timeout_ms: TIMEOUT_MS };
    let sub = |consumer: &str| Observation::Subscribed { server: "q1".into(), topic: "orders".into(), channel: "process".into(), consumer: consumer.into() };
    let mut h = H::default();
    h.push(0, "q1", EventKind::NodeStarted);
    h.publish(100, "k1", Outcome::ok()).obs(150, "c2", sub("c2"));
    h.fault(400, "q1", Fault::Kill { node: "q1".into(), tear: false }).push(400, "q1", EventKind::NodeKilled);
    h.fault(900, "q1", Fault::Restart { node: "q1".into() }).push(900, "q1", EventKind::NodeStarted);
    h.obs(950, "c1", sub("c1")).happy(1_000, "c1", "k1", "r1", 1);
    // c2's old connection hands over what the first life sent before the kill.
    h.happy(1_050, "c2", "k1", "r2", 2);
    passes(&p, &h.healed_and_end(3_000, 4_000));

    // The same deliveries both from the second life: unexplained.
    let mut h = H::default();
    h.push(0, "q1", EventKind::NodeStarted);
    h.publish(100, "k1", Outcome::ok());
    h.fault(400, "q1", Fault::Kill { node: "q1".into(), tear: false }).push(400, "q1", EventKind::NodeKilled);
    h.fault(900, "q1", Fault::Restart { node: "q1".into() }).push(900, "q1", EventKind::NodeStarted);
    h.obs(950, "c1", sub("c1")).obs(960, "c2", sub("c2")).happy(1_000, "c1", "k1", "r1", 1);
    h.happy(1_050, "c2", "k1", "r2", 2);
    fails(&p, &h.healed_and_end(3_000, 4_000), "no timeout or REQ");
}

/// Seed 3859: the node sent attempt 1 to c1, which was paused with it in its socket; it timed out
/// and attempt 2 went to c2 (FINed). c1, resuming, processed its stale copy: a timeout explains
/// the second processing once the pair is taken in sending order (by attempts).
#[test]
fn duplicates_explained_orders_one_lifes_deliveries_by_attempts() {
    let p = DuplicatesExplained { msg_timeout_ms: TIMEOUT_MS };
    let mut h = H::default();
    h.publish(100, "k1", Outcome::ok());
    h.happy(6_500, "c2", "k1", "r2", 2);
    h.deliver(7_000, "c1", "k1", 1).order_call(7_001, "c1", "k1", "r1", Outcome::ok()).processed(7_005, "k1", "r1");
    passes(&p, &h.healed_and_end(20_000, 21_000));
}
