//! Each property against hand-built histories: passes the good one, fails the bad one.

use history::{Call, Event, EventKind, History, Outcome};

use super::*;
use crate::Property;

struct B(Vec<Event>, u64);

impl B {
    fn new() -> B {
        B(Vec::new(), 0)
    }
    fn at(&mut self, ms: u64, kind: EventKind) -> &mut B {
        let seq = self.0.len() as u64;
        self.0.push(Event { seq, at_ns: ms * MS, node: "c1".into(), kind });
        self
    }
    fn req(&mut self, ms: u64, took_ms: Option<u64>, outcome: Outcome) -> &mut B {
        self.1 += 1;
        let op = self.1;
        let call = Call::GatewayRequest { gateway: "g1".into(), route: "api".into(), path: "/x".into() };
        self.at(ms, EventKind::Invoke { op, process: "c1".into(), call });
        match took_ms {
            Some(t) => self.at(ms + t, EventKind::Complete { op, outcome }),
            None => self,
        }
    }
    fn history(&mut self, end_ms: u64) -> History {
        self.at(end_ms, EventKind::End);
        let mut events = std::mem::take(&mut self.0);
        events.sort_by_key(|e| (e.at_ns, e.seq));
        History { events }
    }
}

fn ok() -> Outcome {
    Outcome::Ok { value: Some("b1".into()) }
}

fn answers() -> AnswersInTime {
    AnswersInTime { route_timeouts_ms: vec![("api".into(), 1_000)], bound_ms: 500 }
}

#[test]
fn answers_within_timeout_plus_bound_pass() {
    let h = B::new()
        .req(0, Some(20), ok())
        .req(100, Some(1_400), Outcome::Failed { error: "504 Gateway Timeout".into() })
        .req(9_800, None, ok())
        .history(10_000);
    assert!(answers().check(&h).passed, "{:?}", answers().check(&h));
}

#[test]
fn late_missing_or_unknown_answers_fail() {
    for h in [
        B::new().req(0, Some(1_600), ok()).history(10_000),
        B::new().req(0, Some(5_000), Outcome::Unknown { error: "client deadline".into() }).history(10_000),
        B::new().req(0, None, ok()).history(10_000),
    ] {
        assert!(!answers().check(&h).passed);
    }
}

#[test]
fn after_heal_every_request_must_succeed() {
    let p = RecoversAfterHeal { bound_ms: 2_000 };
    let mut good = B::new();
    good.req(0, Some(10), Outcome::Failed { error: "502".into() });
    good.at(1_000, EventKind::Healed);
    good.req(1_500, Some(10), Outcome::Failed { error: "503".into() }).req(3_500, Some(10), ok());
    assert!(p.check(&good.history(5_000)).passed);

    let mut bad = B::new();
    bad.at(1_000, EventKind::Healed);
    bad.req(3_500, Some(10), ok()).req(3_600, Some(10), Outcome::Failed { error: "503 no healthy backend".into() });
    assert!(!p.check(&bad.history(5_000)).passed);

    let mut none = B::new();
    none.at(1_000, EventKind::Healed);
    assert!(!p.check(&none.history(5_000)).passed, "no request after the heal proves nothing");
}

#[test]
fn a_post_seen_twice_fails_a_get_seen_twice_does_not() {
    let got = |ms: u64, backend: &str, key: &str, method: &str| Event {
        seq: ms,
        at_ns: ms * MS,
        node: backend.into(),
        kind: EventKind::Observe {
            process: backend.into(),
            what: history::Observation::GatewayBackendGot { backend: backend.into(), key: key.into(), method: method.into() },
        },
    };
    let p = NonIdempotentAtMostOnce;
    let good = History { events: vec![got(1, "b1", "c1-1", "POST"), got(2, "b1", "c1-2", "GET"), got(3, "b2", "c1-2", "GET"), got(4, "b2", "c1-3", "POST")] };
    assert!(p.check(&good).passed);
    let two_backends = History { events: vec![got(1, "b1", "c1-1", "POST"), got(900, "b2", "c1-1", "POST")] };
    assert!(!p.check(&two_backends).passed);
    let twice_on_one = History { events: vec![got(1, "b1", "c1-1", "PATCH"), got(900, "b1", "c1-1", "PATCH")] };
    assert!(!p.check(&twice_on_one).passed);
}

#[test]
fn a_key_on_two_backends_after_the_stable_point_fails() {
    let p = HashStickyWhileStable { route: "sticky".into(), stable_after_ms: 1_000 };
    let mut op = 0;
    let mut req = |b: &mut B, ms: u64, key: &str, backend: &str| {
        op += 1;
        let call = Call::GatewayRequest { gateway: "g1".into(), route: "sticky".into(), path: format!("/s?user={key}") };
        b.at(ms, EventKind::Invoke { op, process: "c1".into(), call });
        b.at(ms + 5, EventKind::Complete { op, outcome: Outcome::Ok { value: Some(backend.into()) } });
    };
    let mut good = B::new();
    req(&mut good, 100, "u1", "b1");
    good.at(500, EventKind::Healed);
    req(&mut good, 200, "u1", "b2"); // before the stable point: allowed to move
    req(&mut good, 1_600, "u1", "b3");
    req(&mut good, 1_700, "u1", "b3");
    req(&mut good, 1_800, "u2", "b1");
    assert!(p.check(&good.history(5_000)).passed);
    let mut bad = B::new();
    bad.at(500, EventKind::Healed);
    req(&mut bad, 1_600, "u1", "b3");
    req(&mut bad, 1_700, "u1", "b4");
    assert!(!p.check(&bad.history(5_000)).passed);
}
