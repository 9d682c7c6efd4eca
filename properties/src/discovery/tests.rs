//! Each property on small synthetic histories: one that holds and one that breaks it.

use history::{Call, Event, EventKind, Fault, History, Observation, Outcome};

use super::*;
use crate::Property;

#[derive(Default)]
struct H {
    events: Vec<Event>,
}

impl H {
    fn push(&mut self, at_ms: u64, node: &str, kind: EventKind) -> &mut H {
        let seq = self.events.len() as u64;
        self.events.push(Event { seq, at_ns: at_ms * 1_000_000, node: node.into(), kind });
        self
    }
    fn obs(&mut self, at_ms: u64, what: Observation) -> &mut H {
        self.push(at_ms, "x", EventKind::Observe { process: "x".into(), what })
    }
    fn started(&mut self, at_ms: u64, node: &str) -> &mut H {
        self.push(at_ms, node, EventKind::NodeStarted)
    }
    fn fault(&mut self, at_ms: u64, fault: Fault) -> &mut H {
        self.push(at_ms, "harness", EventKind::Fault { fault })
    }
    fn ack(&mut self, at_ms: u64, server: &str) -> &mut H {
        let op = self.events.len() as u64;
        let call = Call::Publish { server: server.into(), topic: "t".into(), key: format!("k{op}"), defer_ms: 0 };
        self.push(at_ms, "p", EventKind::Invoke { op, process: "p".into(), call });
        self.push(at_ms, "p", EventKind::Complete { op, outcome: Outcome::ok() })
    }
    fn conn(&mut self, at_ms: u64, consumer: &str, server: &str, up: bool) -> &mut H {
        let (server, topic, channel, consumer) = (server.into(), "t".into(), "a".into(), consumer.into());
        self.obs(at_ms, if up { Observation::Subscribed { server, topic, channel, consumer } } else { Observation::Disconnected { server, topic, channel, consumer } })
    }
    fn answer(&mut self, at_ms: u64, lookup: &str, producers: &[&str]) -> &mut H {
        let producers = producers.iter().map(|p| p.to_string()).collect();
        self.obs(at_ms + 5, Observation::LookupAnswer { lookup: lookup.into(), topic: "t".into(), producers, asked_ms: at_ms })
    }
    fn tombstone(&mut self, at_ms: u64, lookup: &str, producer: &str) -> &mut H {
        self.obs(at_ms + 5, Observation::Tombstoned { lookup: lookup.into(), topic: "t".into(), producer: producer.into(), asked_ms: at_ms })
    }
    fn end(&mut self, at_ms: u64) -> History {
        self.push(at_ms, "harness", EventKind::End);
        History { events: std::mem::take(&mut self.events) }
    }
}

fn base() -> H {
    let mut h = H::default();
    h.started(0, "q1").started(0, "l1").started(0, "c1").ack(100, "q1");
    h
}

fn connected() -> ConsumersConnected {
    ConsumersConnected { consumers: vec!["c1".into()], queues: vec!["q1".into()], poll_ms: 1_000, bound_ms: 2_000 }
}

#[test]
fn consumers_must_be_connected_after_the_heal() {
    let ok = base().conn(500, "c1", "q1", true).push(10_000, "harness", EventKind::Healed).end(20_000);
    assert!(connected().check(&ok).passed);
    let never = base().push(10_000, "harness", EventKind::Healed).end(20_000);
    let v = connected().check(&never);
    assert!(!v.passed && v.detail.contains("never connected to q1"), "{}", v.detail);
    let lost = base().conn(500, "c1", "q1", true).conn(11_000, "c1", "q1", false).push(10_000, "harness", EventKind::Healed).end(20_000);
    let v = connected().check(&lost);
    assert!(!v.passed && v.detail.contains("lost its connection"), "{}", v.detail);
    // Too late to judge.
    let late = base().push(10_000, "harness", EventKind::Healed).end(12_000);
    assert!(connected().check(&late).passed);
}

#[test]
fn a_producer_that_cannot_ping_must_expire() {
    let p = InactiveProducersExpire { inactive_timeout_ms: 5_000, slack_ms: 500 };
    let mut h = base();
    h.fault(1_000, Fault::Cut { from: "q1".into(), to: "l1".into() }).answer(4_000, "l1", &["q1"]).answer(6_400, "l1", &["q1"]);
    assert!(p.check(&h.end(10_000)).passed);
    let mut h = base();
    h.fault(1_000, Fault::Cut { from: "q1".into(), to: "l1".into() }).answer(6_600, "l1", &["q1"]);
    let v = p.check(&h.end(10_000));
    assert!(!v.passed && v.detail.contains("could last reach it at 1.000s"), "{}", v.detail);
    // A pause stops pings too; the resume starts them again.
    let mut h = base();
    h.fault(1_000, Fault::Pause { node: "q1".into() }).answer(7_000, "l1", &["q1"]);
    assert!(!p.check(&h.end(10_000)).passed);
    let mut h = base();
    h.fault(1_000, Fault::Pause { node: "q1".into() }).fault(3_000, Fault::Resume { node: "q1".into() }).answer(7_000, "l1", &["q1"]);
    assert!(p.check(&h.end(10_000)).passed);
    // A ping may land between the question (9.000 s) and the answer's arrival (9.005 s): a resume
    // at 9.002 s excuses the listing (seed 577 of `discovery`), a resume after the answer does not.
    let mut h = base();
    h.fault(1_000, Fault::Pause { node: "q1".into() }).fault(9_002, Fault::Resume { node: "q1".into() });
    h.obs(9_005, Observation::LookupAnswer { lookup: "l1".into(), topic: "t".into(), producers: vec!["q1".into()], asked_ms: 9_000 });
    assert!(p.check(&h.end(10_000)).passed);
    let mut h = base();
    h.fault(1_000, Fault::Pause { node: "q1".into() }).answer(9_000, "l1", &["q1"]).fault(9_010, Fault::Resume { node: "q1".into() });
    let v = p.check(&h.end(10_000));
    assert!(!v.passed && v.detail.contains("could last reach it at 1.000s"), "{}", v.detail);
}

#[test]
fn a_ping_held_by_a_partition_arrives_at_the_heal() {
    // Seed 2104 of `discovery`, in small: q1 paused at 1 s; a partition between q1 and l1 at
    // 10 s; q1 resumes at 11 s (pinging into the partition) and is paused again at 12 s; the heal
    // at 15 s delivers the ping, at most 3 s (how long the link stayed blocked after it) later.
    let p = InactiveProducersExpire { inactive_timeout_ms: 5_000, slack_ms: 500 };
    let run = |asked_ms: u64, lookup_restarted: bool| {
        let mut h = base();
        h.fault(1_000, Fault::Pause { node: "q1".into() })
            .fault(10_000, Fault::Partition { groups: vec![vec!["q1".into()], vec!["l1".into()]] })
            .fault(11_000, Fault::Resume { node: "q1".into() })
            .fault(12_000, Fault::Pause { node: "q1".into() });
        if lookup_restarted {
            h.push(13_000, "l1", EventKind::NodeKilled).started(13_500, "l1");
        }
        h.fault(15_000, Fault::Heal).answer(asked_ms, "l1", &["q1"]);
        h.end(30_000)
    };
    // Listed 5 s after the heal: the ping may have landed at the heal (or up to 3 s later).
    let v = p.check(&run(20_000, false));
    assert!(v.passed, "{}", v.detail);
    // Listed 23.6 s: more than timeout + slack after the latest possible arrival (18 s).
    let v = p.check(&run(23_600, false));
    assert!(!v.passed && v.detail.contains("could last reach it at 18.001s"), "{}", v.detail);
    // The lookup restarted during the partition: the held ping went with the old connection.
    let v = p.check(&run(20_000, true));
    assert!(!v.passed && v.detail.contains("could last reach it at 1.000s"), "{}", v.detail);
}

#[test]
fn a_tombstoned_producer_is_hidden_unless_it_reconnected() {
    let p = TombstonedProducersHidden { lifetime_ms: 5_000, reconnect_ms: 2_000 };
    let mut h = base();
    h.answer(3_000, "l1", &["q1"]).tombstone(4_000, "l1", "q1").answer(5_000, "l1", &[]).answer(9_500, "l1", &["q1"]);
    assert!(p.check(&h.end(12_000)).passed);
    let mut h = base();
    h.tombstone(4_000, "l1", "q1").answer(5_000, "l1", &["q1"]);
    let v = p.check(&h.end(12_000));
    assert!(!v.passed && v.detail.contains("listed q1"), "{}", v.detail);
    // q1 restarted after the tombstone: it registered afresh, untombstoned.
    let mut h = base();
    h.tombstone(4_000, "l1", "q1").push(4_500, "q1", EventKind::NodeKilled).started(4_600, "q1").answer(5_000, "l1", &["q1"]);
    assert!(p.check(&h.end(12_000)).passed);
}

#[test]
fn consumers_drop_a_node_no_lookup_lists() {
    let p = UnlistedNodesDropped { lookups: vec!["l1".into(), "l2".into()], bound_ms: 2_000, stale_ms: 4_000 };
    // Listed by both until 3 s, by neither from 3.5 s to 8.5 s: dropped at 4.5 s passes, open at
    // 6 s fails.
    let h = |drop_ms: u64| {
        let mut h = base();
        h.conn(1_200, "c1", "q1", true);
        for t in [1_000, 2_000, 3_000] {
            h.answer(t, "l1", &["q1"]).answer(t + 10, "l2", &["q1"]);
        }
        for t in (3_500..=8_000).step_by(500) {
            h.answer(t, "l1", &[]).answer(t + 10, "l2", &[]);
        }
        h.conn(drop_ms, "c1", "q1", false).answer(9_000, "l1", &["q1"]).answer(9_010, "l2", &["q1"]).conn(9_200, "c1", "q1", true);
        h.end(12_000)
    };
    let v = p.check(&h(4_500));
    assert!(v.passed && v.detail.starts_with("1 "), "{}", v.detail);
    let v = p.check(&h(6_000));
    assert!(!v.passed, "{}", v.detail);
    assert!(v.detail.contains("consumer c1 had a connection to q1 open at 5.515s, though no lookup had listed q1 from 3.515s to 8.000s (bound 2000 ms)"), "{}", v.detail);
    // While one lookup still lists it, nothing is judged.
    let mut h = base();
    h.conn(1_200, "c1", "q1", true);
    for t in (1_000..=8_000).step_by(500) {
        h.answer(t, "l1", &[]).answer(t + 10, "l2", &["q1"]);
    }
    let v = p.check(&h.end(12_000));
    assert!(v.passed && v.detail.starts_with("0 "), "{}", v.detail);
    // A lookup that went down may be remembered by the consumer for stale_ms: the span starts
    // at its kill plus stale_ms (3.2 + 4 s), so a drop at 8.5 s passes and one at 9.5 s fails.
    let h = |drop_ms: u64| {
        let mut h = base();
        h.started(0, "l2").conn(1_200, "c1", "q1", true).answer(1_000, "l1", &["q1"]).answer(1_010, "l2", &["q1"]);
        h.answer(3_000, "l1", &[]).answer(3_010, "l2", &[]).push(3_200, "l1", EventKind::NodeKilled).started(8_000, "l1");
        for t in (3_500..=11_000).step_by(500) {
            if t >= 8_500 {
                h.answer(t, "l1", &[]);
            }
            h.answer(t + 10, "l2", &[]);
        }
        h.conn(drop_ms, "c1", "q1", false);
        h.end(12_000)
    };
    assert!(p.check(&h(8_500)).passed);
    let v = p.check(&h(9_500));
    assert!(!v.passed && v.detail.contains("open at 9.200s, though no lookup had listed q1 from 7.200s"), "{}", v.detail);
    // Seed 3 of `discovery`, in small: q1 killed at 3.2 s and restarted at 5.2 s; it registers
    // and both lookups list it between the observer's answers at 5.5 s and 6.0 s, until the
    // observer tombstones it (acknowledged at 5.805 s): the consumer saw the listing and
    // connected at 5.7 s. Only from the tombstone is q1 certainly unlisted: a drop at 7.5 s
    // passes, one at 8.5 s does not.
    let h = |drop_ms: u64| {
        let mut h = base();
        h.started(0, "l2").conn(1_200, "c1", "q1", true);
        for t in [1_000, 2_000, 3_000] {
            h.answer(t, "l1", &["q1"]).answer(t + 10, "l2", &["q1"]);
        }
        h.push(3_200, "q1", EventKind::NodeKilled).conn(3_200, "c1", "q1", false).started(5_200, "q1");
        for t in (3_500..=10_000).step_by(500) {
            h.answer(t, "l1", &[]).answer(t + 10, "l2", &[]);
        }
        h.tombstone(5_800, "l1", "q1").tombstone(5_800, "l2", "q1");
        h.conn(5_700, "c1", "q1", true).conn(drop_ms, "c1", "q1", false);
        h.end(12_000)
    };
    let v = p.check(&h(7_500));
    assert!(v.passed, "{}", v.detail);
    let v = p.check(&h(8_500));
    assert!(!v.passed && v.detail.contains("open at 7.805s, though no lookup had listed q1 from 5.805s"), "{}", v.detail);
}

#[test]
fn a_tombstoned_producer_comes_back_after_its_lifetime() {
    let p = TombstonesExpire { lifetime_ms: 5_000, inactive_timeout_ms: 3_000, slack_ms: 500 };
    let run = |listed_again: bool| {
        let mut h = base();
        h.answer(3_000, "l1", &["q1"]).tombstone(4_000, "l1", "q1").answer(5_000, "l1", &[]).answer(10_000, "l1", if listed_again { &["q1"] } else { &[] });
        h.end(12_000)
    };
    let v = p.check(&run(true));
    assert!(v.passed && v.detail.contains("1 answers"), "{}", v.detail);
    let v = p.check(&run(false));
    assert!(!v.passed && v.detail.contains("lookup l1 still hid q1 for t in an answer asked at 10.000s"), "{}", v.detail);
    // The producer was cut off from the lookup (it may have expired), or restarted: not judged.
    let mut h = base();
    h.answer(3_000, "l1", &["q1"]).fault(3_500, Fault::Cut { from: "q1".into(), to: "l1".into() }).tombstone(4_000, "l1", "q1").answer(10_000, "l1", &[]);
    assert!(p.check(&h.end(12_000)).passed);
    let mut h = base();
    h.answer(3_000, "l1", &["q1"]).tombstone(4_000, "l1", "q1").push(6_000, "q1", EventKind::NodeKilled).started(6_500, "q1").answer(10_000, "l1", &[]);
    assert!(p.check(&h.end(12_000)).passed);
    // A producer the lookup did not list before the tombstone is not judged.
    let mut h = base();
    h.answer(3_000, "l1", &[]).tombstone(4_000, "l1", "q1").answer(10_000, "l1", &[]);
    assert!(p.check(&h.end(12_000)).passed);
}

/// Whole-system seed 126: an answer while the producer's clean stop is under way (it unregisters
/// first) rightly leaves it out; the node's life ends when the stop begins, not when it is done.
#[test]
fn a_producer_whose_clean_stop_has_begun_is_not_expected_listed() {
    let p = TombstonesExpire { lifetime_ms: 5_000, inactive_timeout_ms: 3_000, slack_ms: 500 };
    let mut h = base();
    h.answer(3_000, "l1", &["q1"]).tombstone(4_000, "l1", "q1").answer(10_000, "l1", &["q1"]);
    h.fault(12_000, Fault::Stop { node: "q1".into() }).answer(12_005, "l1", &[]);
    h.push(12_030, "q1", EventKind::NodeStopped { graceful: true });
    let v = p.check(&h.end(14_000));
    assert!(v.passed, "{}", v.detail);
}
