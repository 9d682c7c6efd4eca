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
        self.on(ms, "c1", kind)
    }
    fn on(&mut self, ms: u64, node: &str, kind: EventKind) -> &mut B {
        let seq = self.0.len() as u64;
        self.0.push(Event { seq, at_ns: ms * MS, node: node.into(), kind });
        self
    }
    fn fault(&mut self, ms: u64, fault: history::Fault) -> &mut B {
        self.on(ms, "harness", EventKind::Fault { fault })
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

/// The client `c1`, the gateway `g1` and a backend `b1` started at 0, and one request at 1 s
/// whose answer comes 1.6 s later (route timeout 1 s + bound 0.5 s: 0.1 s late), or never.
fn late_request(answered: bool) -> B {
    let mut b = B::new();
    for n in ["c1", "g1", "b1"] {
        b.on(0, n, EventKind::NodeStarted);
    }
    b.req(1_000, answered.then_some(1_600), ok());
    b
}

#[test]
fn a_request_whose_gateway_or_client_was_down_or_paused_is_not_judged() {
    use history::Fault;
    // Without a fault the late answer, or the missing one, fails.
    for answered in [true, false] {
        assert!(!answers().check(&late_request(answered).history(10_000)).passed);
    }
    type Faults = fn(&mut B);
    let faults: [(&str, Faults); 6] = [
        ("g1 paused", |b| {
            b.fault(1_200, Fault::Pause { node: "g1".into() }).fault(1_900, Fault::Resume { node: "g1".into() });
        }),
        ("g1 killed", |b| {
            b.fault(1_100, Fault::Kill { node: "g1".into(), tear: false }).on(1_100, "g1", EventKind::NodeKilled);
            b.fault(3_000, Fault::Restart { node: "g1".into() }).on(3_000, "g1", EventKind::NodeStarted);
        }),
        ("g1 stopped cleanly (from when the stop began)", |b| {
            b.fault(2_400, Fault::Stop { node: "g1".into() }).on(2_600, "g1", EventKind::NodeStopped { graceful: true });
            b.fault(4_000, Fault::Restart { node: "g1".into() }).on(4_000, "g1", EventKind::NodeStarted);
        }),
        ("g1 restarted", |b| {
            b.fault(1_300, Fault::Restart { node: "g1".into() }).on(1_300, "g1", EventKind::NodeKilled).on(1_300, "g1", EventKind::NodeStarted);
        }),
        ("c1 paused", |b| {
            b.fault(2_000, Fault::Pause { node: "c1".into() }).fault(2_550, Fault::Resume { node: "c1".into() });
        }),
        ("c1 killed", |b| {
            b.fault(1_500, Fault::Kill { node: "c1".into(), tear: false }).on(1_500, "c1", EventKind::NodeKilled);
        }),
    ];
    for (what, apply) in faults {
        for answered in [true, false] {
            let mut b = late_request(answered);
            apply(&mut b);
            let v = answers().check(&b.history(10_000));
            assert!(v.passed, "{what} (answered: {answered}): {v:?}");
            assert!(v.detail.contains("0 requests (1 late or unanswered"), "{what}: {}", v.detail);
        }
    }
}

#[test]
fn a_request_whose_client_gateway_link_was_blocked_is_not_judged() {
    use history::Fault;
    type Faults = fn(&mut B);
    let faults: [(&str, Faults); 5] = [
        ("c1 → g1 cut", |b| {
            b.fault(900, Fault::Cut { from: "c1".into(), to: "g1".into() }).fault(1_800, Fault::Heal);
        }),
        ("g1 → c1 cut (the answer's way)", |b| {
            b.fault(2_200, Fault::Cut { from: "g1".into(), to: "c1".into() }).fault(2_450, Fault::Heal);
        }),
        ("c1 and g1 partitioned", |b| {
            b.fault(1_000, Fault::Partition { groups: vec![vec!["c1".into(), "b1".into()], vec!["g1".into()]] }).fault(5_000, Fault::Heal);
        }),
        ("g1 isolated", |b| {
            b.fault(500, Fault::Isolate { node: "g1".into() }).fault(1_100, Fault::Heal);
        }),
        ("c1 isolated", |b| {
            b.fault(2_000, Fault::Isolate { node: "c1".into() }).fault(9_000, Fault::Heal);
        }),
    ];
    for (what, apply) in faults {
        for answered in [true, false] {
            let mut b = late_request(answered);
            apply(&mut b);
            let v = answers().check(&b.history(10_000));
            assert!(v.passed, "{what} (answered: {answered}): {v:?}");
        }
    }
}

#[test]
fn faults_outside_the_window_or_behind_the_gateway_excuse_nothing() {
    use history::Fault;
    type Faults = fn(&mut B);
    let faults: [(&str, Faults); 7] = [
        ("g1 paused and resumed before the request", |b| {
            b.fault(200, Fault::Pause { node: "g1".into() }).fault(900, Fault::Resume { node: "g1".into() });
        }),
        ("g1 restarted before the request", |b| {
            b.fault(300, Fault::Kill { node: "g1".into(), tear: false }).on(300, "g1", EventKind::NodeKilled);
            b.fault(800, Fault::Restart { node: "g1".into() }).on(800, "g1", EventKind::NodeStarted);
        }),
        ("c1 ↔ g1 partitioned and healed before the request", |b| {
            b.fault(100, Fault::Partition { groups: vec![vec!["c1".into()], vec!["g1".into()]] }).fault(950, Fault::Heal);
        }),
        ("g1 paused after the deadline", |b| {
            b.fault(2_600, Fault::Pause { node: "g1".into() }).fault(3_000, Fault::Resume { node: "g1".into() });
        }),
        ("the backend paused", |b| {
            b.fault(1_000, Fault::Pause { node: "b1".into() }).fault(5_000, Fault::Resume { node: "b1".into() });
        }),
        ("g1 → b1 cut", |b| {
            b.fault(900, Fault::Cut { from: "g1".into(), to: "b1".into() }).fault(5_000, Fault::Heal);
        }),
        ("g1 and b1 partitioned", |b| {
            b.fault(900, Fault::Partition { groups: vec![vec!["c1".into(), "g1".into()], vec!["b1".into()]] }).fault(5_000, Fault::Heal);
        }),
    ];
    for (what, apply) in faults {
        for answered in [true, false] {
            let mut b = late_request(answered);
            apply(&mut b);
            assert!(!answers().check(&b.history(10_000)).passed, "{what} (answered: {answered}) excused the late request");
        }
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

/// Builds histories from observations, lifecycle events and faults, in time order.
struct Obs(Vec<Event>);

impl Obs {
    fn new() -> Obs {
        Obs(Vec::new())
    }
    fn push(&mut self, ms: u64, node: &str, kind: EventKind) -> &mut Obs {
        let seq = self.0.len() as u64;
        self.0.push(Event { seq, at_ns: ms * MS, node: node.into(), kind });
        self
    }
    fn obs(&mut self, ms: u64, node: &str, what: history::Observation) -> &mut Obs {
        self.push(ms, node, EventKind::Observe { process: node.into(), what })
    }
    fn pick(&mut self, ms: u64, gateway: &str, backend: &str) -> &mut Obs {
        self.obs(ms, gateway, history::Observation::GatewayPicked { gateway: gateway.into(), route: "api".into(), backend: backend.into() })
    }
    fn started(&mut self, ms: u64, nodes: &[&str]) -> &mut Obs {
        for n in nodes {
            self.push(ms, n, EventKind::NodeStarted);
        }
        self
    }
    fn fault(&mut self, ms: u64, fault: history::Fault) -> &mut Obs {
        self.push(ms, "world", EventKind::Fault { fault })
    }
    fn history(&mut self, end_ms: u64) -> History {
        self.push(end_ms, "world", EventKind::End);
        let mut events = std::mem::take(&mut self.0);
        events.sort_by_key(|e| (e.at_ns, e.seq));
        History { events }
    }
}

fn deregistered() -> NoRequestToDeregistered {
    NoRequestToDeregistered { service: "api".into(), registry_nodes: vec!["r1".into(), "r2".into()], bound_ms: 1_000 }
}

/// `instance`'s register, acknowledged by r2.
fn register(instance: &str) -> history::Observation {
    history::Observation::RegistryAck {
        instance: instance.into(),
        server: "r2".into(),
        service: "api".into(),
        id: instance.into(),
        op: "register".into(),
        version: 9,
        took_ms: 2,
    }
}

fn dereg(b: &mut Obs, ms: u64, instance: &str) {
    b.obs(
        ms,
        instance,
        history::Observation::RegistryAck {
            instance: instance.into(),
            server: "r1".into(),
            service: "api".into(),
            id: instance.into(),
            op: "deregister".into(),
            version: 7,
            took_ms: 3,
        },
    );
}

#[test]
fn a_pick_of_a_deregistered_instance_fails_only_past_the_bound_with_the_registry_reachable() {
    let p = deregistered();
    let nodes = ["g1", "r1", "r2", "b1", "b2"];
    // Within the bound, and then a pick of another instance: fine.
    let mut ok = Obs::new();
    ok.started(0, &nodes);
    dereg(&mut ok, 1_000, "b1");
    ok.pick(1_500, "g1", "b1").pick(2_500, "g1", "b2");
    assert!(p.check(&ok.history(5_000)).passed, "{:?}", p.check(&ok.history(5_000)));

    let mut bad = Obs::new();
    bad.started(0, &nodes);
    dereg(&mut bad, 1_000, "b1");
    bad.pick(2_500, "g1", "b1");
    let v = p.check(&bad.history(5_000));
    assert!(!v.passed, "{v:?}");

    // Evicted by a registry node's sweep counts as a removal too.
    let mut evicted = Obs::new();
    evicted.started(0, &nodes);
    evicted.obs(1_000, "r2", history::Observation::RegistryEvicted { server: "r2".into(), service: "api".into(), id: "b1".into() });
    evicted.pick(2_500, "g1", "b1");
    assert!(!p.check(&evicted.history(5_000)).passed);
}

#[test]
fn a_partition_between_the_gateway_or_inside_the_registry_excuses_a_stale_pick() {
    let p = deregistered();
    let nodes = ["g1", "r1", "r2", "b1"];
    let part = |groups: Vec<Vec<&str>>| history::Fault::Partition { groups: groups.into_iter().map(|g| g.into_iter().map(String::from).collect()).collect() };
    for groups in [vec![vec!["g1"], vec!["r1", "r2"]], vec![vec!["g1", "r2"], vec!["r1"]]] {
        let mut b = Obs::new();
        b.started(0, &nodes);
        dereg(&mut b, 1_000, "b1");
        b.fault(1_200, part(groups.clone()));
        b.fault(3_000, history::Fault::Heal);
        // Within the bound after the heal: excused; a bound after it: not.
        b.pick(3_500, "g1", "b1");
        assert!(p.check(&b.clone_history(5_000)).passed, "{groups:?}");
        b.pick(4_100, "g1", "b1");
        assert!(!p.check(&b.history(5_000)).passed, "{groups:?}");
    }
    // A registry node down excuses it as well.
    let mut down = Obs::new();
    down.started(0, &nodes);
    dereg(&mut down, 1_000, "b1");
    down.push(1_100, "r2", EventKind::NodeKilled);
    down.pick(3_000, "g1", "b1");
    assert!(p.check(&down.history(5_000)).passed);
}

#[test]
fn a_re_registration_or_a_restart_brings_the_instance_back() {
    let p = deregistered();
    let nodes = ["g1", "r1", "r2", "b1"];
    let mut renewed = Obs::new();
    renewed.started(0, &nodes);
    dereg(&mut renewed, 1_000, "b1");
    renewed.obs(1_500, "b1", register("b1"));
    renewed.pick(3_000, "g1", "b1");
    assert!(p.check(&renewed.history(5_000)).passed);
    let mut restarted = Obs::new();
    restarted.started(0, &nodes);
    dereg(&mut restarted, 1_000, "b1");
    restarted.push(1_200, "b1", EventKind::NodeKilled).started(1_800, &["b1"]);
    restarted.pick(3_000, "g1", "b1");
    assert!(p.check(&restarted.history(5_000)).passed);
}

/// Gateway seed 16059: the draining backend's agent started again and its register landed, but
/// the backend was killed 10 ms later, before the ack; the gateways rightly kept picking it.
#[test]
fn an_agent_started_before_a_kill_brings_the_instance_back_without_an_ack() {
    let p = deregistered();
    let nodes = ["g1", "r1", "r2", "b1"];
    let started = history::Observation::RegistryAgentStarted { instance: "b1".into(), service: "api".into(), id: "b1".into() };
    let mut b = Obs::new();
    b.started(0, &nodes);
    dereg(&mut b, 1_000, "b1");
    b.obs(2_000, "b1", started.clone());
    b.push(2_010, "b1", EventKind::NodeKilled);
    b.pick(3_500, "g1", "b1");
    assert!(p.check(&b.history(5_000)).passed);
    // Without the agent's start the same picks are a violation.
    let mut bad = Obs::new();
    bad.started(0, &nodes);
    dereg(&mut bad, 1_000, "b1");
    bad.push(2_010, "b1", EventKind::NodeKilled);
    bad.pick(3_500, "g1", "b1");
    assert!(!p.check(&bad.history(5_000)).passed);
    // An agent started before the deregistration brings nothing back.
    let mut before = Obs::new();
    before.started(0, &nodes);
    before.obs(500, "b1", started);
    dereg(&mut before, 1_000, "b1");
    before.pick(3_500, "g1", "b1");
    assert!(!p.check(&before.history(5_000)).passed);
}

impl Obs {
    fn clone_history(&self, end_ms: u64) -> History {
        Obs(self.0.clone()).history(end_ms)
    }
}

fn set(b: &mut Obs, ms: u64, gateway: &str, weights: &[(&str, u32)]) {
    b.obs(
        ms,
        gateway,
        history::Observation::GatewayBackendSet {
            gateway: gateway.into(),
            route: "api".into(),
            backends: weights.iter().map(|(n, _)| n.to_string()).collect(),
            weights: weights.iter().map(|(_, w)| *w).collect(),
        },
    );
}

fn picks(b: &mut Obs, from_ms: u64, gateway: &str, order: &str, cycles: usize) -> u64 {
    let mut ms = from_ms;
    for _ in 0..cycles {
        for c in order.chars() {
            b.pick(ms, gateway, &format!("b{c}"));
            ms += 10;
        }
    }
    ms
}

fn smooth() -> WrrSmoothWhileStable {
    WrrSmoothWhileStable { route: "api".into(), settle_ms: 500 }
}

#[test]
fn smooth_wrr_passes_and_bursty_or_unweighted_fails() {
    let weights = [("ba", 5), ("bb", 1), ("bc", 1)];
    // nginx's order for 5,1,1 (a a b a c a a), from any point in the cycle.
    let mut good = Obs::new();
    set(&mut good, 0, "g1", &weights);
    picks(&mut good, 100, "g1", "abacaaaabacaaaabacaaaabacaa", 1);
    let v = smooth().check(&good.history(10_000));
    assert!(v.passed && v.detail.starts_with("1 stable"), "{v:?}");

    // Pingora's bursty order: right shares per cycle, five in a row.
    let mut bursty = Obs::new();
    set(&mut bursty, 0, "g1", &weights);
    picks(&mut bursty, 100, "g1", "aaaaabc", 4);
    let v = smooth().check(&bursty.history(10_000));
    assert!(!v.passed && v.detail.contains("in a row"), "{v:?}");

    // Plain round robin: wrong shares.
    let mut unweighted = Obs::new();
    set(&mut unweighted, 0, "g1", &weights);
    picks(&mut unweighted, 100, "g1", "abc", 10);
    let v = smooth().check(&unweighted.history(10_000));
    assert!(!v.passed && v.detail.contains("ba (weight 5) picked 2 times"), "{v:?}");
}

#[test]
fn round_robin_passes_even_and_fails_weighted_or_repeating() {
    let rr = RrEvenWhileStable { route: "api".into(), settle_ms: 500 };
    let weights = [("ba", 5), ("bb", 1), ("bc", 1)];
    // One each per cycle, the weights notwithstanding.
    let mut good = Obs::new();
    set(&mut good, 0, "g1", &weights);
    picks(&mut good, 100, "g1", "abc", 10);
    let v = rr.check(&good.history(10_000));
    assert!(v.passed && v.detail.starts_with("1 stable"), "{v:?}");

    // A round robin that honours the weights (nginx's smooth order): wrong shares.
    let mut weighted = Obs::new();
    set(&mut weighted, 0, "g1", &weights);
    picks(&mut weighted, 100, "g1", "aabacaa", 4);
    let v = rr.check(&weighted.history(10_000));
    assert!(!v.passed && v.detail.contains("(weight 1) picked"), "{v:?}");

    // One that picks each backend twice.
    let mut twice = Obs::new();
    set(&mut twice, 0, "g1", &weights);
    picks(&mut twice, 100, "g1", "aabbcc", 5);
    assert!(!rr.check(&twice.history(10_000)).passed);

    // Too short a stretch is not judged.
    let mut short = Obs::new();
    set(&mut short, 0, "g1", &weights);
    picks(&mut short, 100, "g1", "aabacaa", 1);
    let v = rr.check(&short.history(10_000));
    assert!(v.passed && v.detail.starts_with("0 stable"), "{v:?}");
}

#[test]
fn disturbances_split_stretches_and_short_ones_are_not_judged() {
    let weights = [("ba", 5), ("bb", 1), ("bc", 1)];
    // A failure right before bursty picks: they fall in the settle time, not judged.
    let mut b = Obs::new();
    set(&mut b, 0, "g1", &weights);
    b.obs(90, "g1", history::Observation::GatewayAttemptFailed { gateway: "g1".into(), route: "api".into(), backend: "bb".into() });
    picks(&mut b, 100, "g1", "aaaaabc", 4);
    let v = smooth().check(&b.history(10_000));
    assert!(v.passed && v.detail.starts_with("0 stable"), "{v:?}");

    // An ejection splits too, for its whole length; a new set restarts the count.
    let mut e = Obs::new();
    set(&mut e, 0, "g1", &weights);
    let t = picks(&mut e, 100, "g1", "aabacaa", 2);
    e.obs(t, "g1", history::Observation::GatewayEjected { gateway: "g1".into(), route: "api".into(), backend: "bb".into(), for_ms: 1_000 });
    picks(&mut e, t + 10, "g1", "aaaaac", 5);
    set(&mut e, 5_000, "g1", &[("ba", 1), ("bb", 1)]);
    picks(&mut e, 5_100, "g1", "ab", 6);
    let v = smooth().check(&e.history(10_000));
    assert!(v.passed, "{v:?}");

    // Another gateway's picks and other routes are separate sequences.
    let mut two = Obs::new();
    set(&mut two, 0, "g1", &weights);
    set(&mut two, 0, "g2", &weights);
    for c in "aabacaa".repeat(4).chars() {
        two.pick(100, "g1", &format!("b{c}")).pick(100, "g2", &format!("b{c}"));
        two.obs(100, "g1", history::Observation::GatewayPicked { gateway: "g1".into(), route: "sticky".into(), backend: "bb".into() });
    }
    let v = smooth().check(&two.history(10_000));
    assert!(v.passed && v.detail.starts_with("2 stable"), "{v:?}");
}

#[test]
fn the_longest_run_smooth_wrr_allows() {
    use super::smooth::longest_run_allowed;
    assert_eq!(longest_run_allowed(5, 7), 4, "a a | a a b a c: four in a row across cycles");
    assert_eq!(longest_run_allowed(1, 7), 2);
    assert_eq!(longest_run_allowed(3, 10), 2);
    assert_eq!(longest_run_allowed(4, 5), 5);
    assert_eq!(longest_run_allowed(2, 2), u32::MAX);
}

#[test]
fn a_pick_during_an_ejection_fails() {
    let eject = |b: &mut Obs, ms: u64, g: &str, backend: &str, for_ms: u64| {
        b.obs(ms, g, history::Observation::GatewayEjected { gateway: g.into(), route: "api".into(), backend: backend.into(), for_ms });
    };
    let mut good = Obs::new();
    eject(&mut good, 1_000, "g1", "b1", 500);
    good.pick(1_100, "g2", "b1"); // another gateway's view
    good.pick(1_200, "g1", "b2");
    good.obs(1_300, "g1", history::Observation::GatewayPicked { gateway: "g1".into(), route: "sticky".into(), backend: "b1".into() });
    good.pick(1_499, "g1", "b1"); // the last millisecond: the gateway's clock is in whole ms
    good.pick(1_600, "g1", "b1");
    let v = NoTrafficToEjected.check(&good.history(5_000));
    assert!(v.passed && v.detail == "1 ejections", "{v:?}");

    let mut bad = Obs::new();
    eject(&mut bad, 1_000, "g1", "b1", 500);
    bad.pick(1_200, "g1", "b1");
    assert!(!NoTrafficToEjected.check(&bad.history(5_000)).passed);
    // A second, longer ejection extends it.
    let mut again = Obs::new();
    eject(&mut again, 1_000, "g1", "b1", 500);
    eject(&mut again, 1_100, "g1", "b1", 2_000);
    again.pick(2_000, "g1", "b1");
    assert!(!NoTrafficToEjected.check(&again.history(5_000)).passed);
}

/// Gateway seed 2034: a register sent just before a pause took effect; its ack (the agent's retry)
/// came only after the resume. The pick between is not a violation; without the register after
/// the resume, the pause alone excuses nothing.
#[test]
fn a_register_acknowledged_after_a_pause_may_have_taken_effect_before_it() {
    let p = deregistered();
    let nodes = ["g1", "r1", "r2", "b1"];
    let run = |with_register: bool| {
        let mut b = Obs::new();
        b.started(0, &nodes);
        dereg(&mut b, 1_000, "b1");
        b.fault(2_000, history::Fault::Pause { node: "b1".into() });
        b.pick(3_000, "g1", "b1");
        b.fault(4_000, history::Fault::Resume { node: "b1".into() });
        if with_register {
            b.obs(4_020, "b1", register("b1"));
        }
        b.history(6_000)
    };
    assert!(p.check(&run(true)).passed);
    assert!(!p.check(&run(false)).passed);
}
