//! The spool properties on small synthetic histories: each passes the healthy shape and fails
//! the broken one it guards against.

use history::{Call, Event, EventKind, Fault, History, Observation, Outcome};

use super::model::SPOOLED;
use super::*;
use crate::Property;

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

    fn publish(&mut self, at_ms: u64, producer: &str, key: &str, defer_ms: u64, value: Option<&str>) -> &mut H {
        self.op += 1;
        let op = self.op;
        let call = Call::Publish { server: "any".into(), topic: "t".into(), key: key.into(), defer_ms };
        self.push(at_ms, producer, EventKind::Invoke { op, process: producer.into(), call });
        let outcome = match value {
            Some(v) => Outcome::Ok { value: Some(v.into()) },
            None => Outcome::Failed { error: "spool full".into() },
        };
        self.push(at_ms + 1, producer, EventKind::Complete { op, outcome })
    }

    fn obs(&mut self, at_ms: u64, node: &str, what: Observation) -> &mut H {
        self.push(at_ms, node, EventKind::Observe { process: node.into(), what })
    }

    fn deliver(&mut self, at_ms: u64, key: &str) -> &mut H {
        let what = Observation::Delivered {
            server: "q1".into(),
            topic: "t".into(),
            channel: "a".into(),
            consumer: "c".into(),
            key: key.into(),
            id: format!("id-{key}"),
            attempts: 1,
            server_wall_ms: None,
        };
        self.obs(at_ms, "c", what)
    }

    fn synced(&mut self, at_ms: u64, producer: &str) -> &mut H {
        self.obs(at_ms, producer, Observation::SpoolSynced { producer: producer.into() })
    }

    fn held(&mut self, at_ms: u64, producer: &str, entries: u64, bytes: u64) -> &mut H {
        self.obs(at_ms, producer, Observation::SpoolHeld { producer: producer.into(), entries, bytes, entries_max: 10, bytes_max: 1_000 })
    }

    fn kill(&mut self, at_ms: u64, node: &str) -> &mut H {
        self.push(at_ms, node, EventKind::NodeKilled)
    }

    fn fault(&mut self, at_ms: u64, node: &str, fault: Fault) -> &mut H {
        self.push(at_ms, node, EventKind::Fault { fault })
    }

    fn done(&mut self) -> History {
        History { events: std::mem::take(&mut self.events) }
    }
}

#[test]
fn acked_messages_delivered_pass_and_a_missing_one_fails() {
    let ok = H::default().publish(10, "p1", "a", 0, Some("published:q1")).publish(20, "p1", "b", 0, Some(SPOOLED)).deliver(30, "a").deliver(900, "b").done();
    let v = SpoolAckedDelivered.check(&ok);
    assert!(v.passed, "{}", v.detail);
    assert!(v.detail.starts_with("2 acknowledged"), "{}", v.detail);
    let lost = H::default().publish(10, "p1", "a", 0, Some("published:q1")).publish(20, "p1", "b", 0, Some(SPOOLED)).deliver(30, "a").done();
    let v = SpoolAckedDelivered.check(&lost);
    assert!(!v.passed && v.detail.contains("message b acknowledged to p1") && v.detail.contains("as spooled"), "{}", v.detail);
    // A refused publish owes nothing.
    let refused = H::default().publish(10, "p1", "a", 0, None).done();
    assert!(SpoolAckedDelivered.check(&refused).passed);
}

#[test]
fn a_kill_before_the_spool_synced_excuses_only_spooled_messages() {
    let unsynced = H::default().publish(20, "p1", "b", 0, Some(SPOOLED)).kill(50, "p1").done();
    let v = SpoolAckedDelivered.check(&unsynced);
    assert!(v.passed && v.detail.contains("1 lost"), "{}", v.detail);
    // Synced before the kill: it must survive.
    let synced = H::default().publish(20, "p1", "b", 0, Some(SPOOLED)).synced(30, "p1").kill(50, "p1").done();
    assert!(!SpoolAckedDelivered.check(&synced).passed);
    // A sync before the acknowledgement does not cover it.
    let early_sync = H::default().synced(5, "p1").publish(20, "p1", "b", 0, Some(SPOOLED)).kill(50, "p1").done();
    assert!(SpoolAckedDelivered.check(&early_sync).passed);
    // Another node's kill does not excuse it; nor does a kill of the producer for a message a
    // queue node acknowledged.
    let other = H::default().publish(20, "p1", "b", 0, Some(SPOOLED)).kill(50, "p2").done();
    assert!(!SpoolAckedDelivered.check(&other).passed);
    let published = H::default().publish(20, "p1", "b", 0, Some("published:q1")).kill(50, "p1").done();
    assert!(!SpoolAckedDelivered.check(&published).passed);
}

#[test]
fn spooled_deferred_messages_are_not_delivered_early() {
    let on_time = H::default().publish(100, "p1", "k", 2_000, Some(SPOOLED)).deliver(2_150, "k").done();
    let v = SpoolDeferralRespected.check(&on_time);
    assert!(v.passed && v.detail.starts_with("1 "), "{}", v.detail);
    let early = H::default().publish(100, "p1", "k", 2_000, Some(SPOOLED)).deliver(600, "k").done();
    let v = SpoolDeferralRespected.check(&early);
    assert!(!v.passed && v.detail.contains("message k spooled by p1"), "{}", v.detail);
    // The producer's clock jumping forward makes it due sooner in true time.
    let jumped = H::default()
        .publish(100, "p1", "k", 2_000, Some(SPOOLED))
        .fault(200, "p1", Fault::ClockJump { node: "p1".into(), delta_ms: 1_800 })
        .deliver(600, "k")
        .done();
    assert!(SpoolDeferralRespected.check(&jumped).passed);
    // A message a queue node took (DPUB) is the queue's to defer, not judged here.
    let dpub = H::default().publish(100, "p1", "k", 2_000, Some("published:q1")).deliver(600, "k").done();
    let v = SpoolDeferralRespected.check(&dpub);
    assert!(v.passed && v.detail.starts_with("0 "), "{}", v.detail);
}

#[test]
fn spool_sizes_within_bounds_pass_and_beyond_fail() {
    let within = H::default().held(10, "p1", 10, 1_000).done();
    assert!(SpoolBounded.check(&within).passed);
    let entries = H::default().held(10, "p1", 11, 900).done();
    let v = SpoolBounded.check(&entries);
    assert!(!v.passed && v.detail.contains("p1's spool held 11 messages"), "{}", v.detail);
    let bytes = H::default().held(10, "p1", 3, 1_001).done();
    assert!(!SpoolBounded.check(&bytes).passed);
}
