use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

const LIVE: Liveness = Liveness { inactive_producer_timeout_ms: 300_000, tombstone_lifetime_ms: 45_000 };

fn info(n: u64) -> PeerInfo {
    PeerInfo {
        id: format!("127.0.0.1:{}", 40000 + n),
        remote_address: format!("127.0.0.1:{}", 40000 + n),
        hostname: format!("host{n}"),
        broadcast_address: format!("10.0.0.{n}"),
        tcp_port: 4150,
        http_port: 4151,
        version: "1.3.0".into(),
        last_update_ms: 0,
    }
}

fn db_with(peers: &[u64]) -> RegistrationDb {
    let mut db = RegistrationDb::default();
    for &n in peers {
        db.identify(PeerId(n), info(n), 0).unwrap();
    }
    db
}

#[test]
fn the_golden_probe_session() {
    let mut db = db_with(&[1]);
    let p = PeerId(1);
    db.register(p, "lt1", None).unwrap();
    db.register(p, "lt1", Some("lc1")).unwrap();
    db.register(p, "lt1", Some("lc2#ephemeral")).unwrap();
    let l = db.lookup("lt1", 10, LIVE).unwrap();
    assert_eq!(l.channels, vec!["lc1", "lc2#ephemeral"]);
    assert_eq!(l.producers.len(), 1);
    assert_eq!(l.producers[0].broadcast_address, "10.0.0.1");
    db.unregister(p, "lt1", Some("lc2#ephemeral")).unwrap();
    db.unregister(p, "lt1", Some("lc1")).unwrap();
    // The ephemeral channel went with its last producer; the durable one stays listed.
    assert_eq!(db.channels("lt1"), vec!["lc1"]);
    db.assert_invariants();

    db.register(p, "lt9", Some("lc9")).unwrap();
    db.remove_peer(p);
    assert_eq!(db.channels("lt9"), vec!["lc9"]);
    assert_eq!(db.topics(), vec!["lt1", "lt9"]);
    assert!(db.lookup("lt9", 10, LIVE).unwrap().producers.is_empty());
    assert!(db.nodes(10, LIVE).is_empty());
    db.assert_invariants();
}

#[test]
fn second_identify_and_commands_before_identify_are_refused() {
    let mut db = db_with(&[1]);
    assert_eq!(db.identify(PeerId(1), info(1), 5), Err(DbError::AlreadyIdentified));
    assert_eq!(db.register(PeerId(2), "t", None), Err(DbError::NotIdentified));
    assert_eq!(db.unregister(PeerId(2), "t", None), Err(DbError::NotIdentified));
    // PING before IDENTIFY is fine and does nothing.
    db.ping(PeerId(2), 5);
    assert_eq!(db.peer_count(), 1);
}

#[test]
fn inactive_producers_drop_out_of_lookup_and_nodes_until_they_ping() {
    let mut db = db_with(&[1]);
    db.register(PeerId(1), "t", None).unwrap();
    let live = Liveness { inactive_producer_timeout_ms: 1000, tombstone_lifetime_ms: 45_000 };
    assert_eq!(db.lookup("t", 1000, live).unwrap().producers.len(), 1, "exactly the timeout is still active");
    assert!(db.lookup("t", 1001, live).unwrap().producers.is_empty());
    assert!(db.nodes(1001, live).is_empty());
    db.ping(PeerId(1), 1500);
    assert_eq!(db.lookup("t", 2000, live).unwrap().producers.len(), 1);
    assert_eq!(db.nodes(2000, live).len(), 1);
    // An inactive producer keeps its registrations (only a closed connection removes them).
    assert_eq!(db.registrations_of(PeerId(1)).len(), 2);
}

#[test]
fn tombstones_hide_a_producer_of_one_topic_for_their_lifetime() {
    let mut db = db_with(&[1, 2]);
    for p in [1, 2] {
        db.register(PeerId(p), "t", Some("c")).unwrap();
        db.register(PeerId(p), "u", None).unwrap();
    }
    db.tombstone("t", "10.0.0.1:4151", 100);
    let producers = |db: &RegistrationDb, topic: &str, now| {
        db.lookup(topic, now, LIVE).unwrap().producers.into_iter().map(|p| p.hostname).collect::<Vec<_>>()
    };
    assert_eq!(producers(&db, "t", 100), vec!["host2"]);
    assert_eq!(producers(&db, "u", 100), vec!["host1", "host2"]);
    let nodes = db.nodes(100, LIVE);
    assert_eq!(nodes.len(), 2, "/nodes does not hide tombstoned producers");
    assert_eq!(nodes[0].topics, vec!["t", "u"]);
    assert_eq!(nodes[0].tombstones, vec![true, false]);
    assert_eq!(nodes[1].tombstones, vec![false, false]);
    // Re-registering keeps the tombstone (nsqlookupd keeps the existing producer entry).
    db.register(PeerId(1), "t", None).unwrap();
    assert_eq!(producers(&db, "t", 100 + 44_999), vec!["host2"]);
    assert_eq!(producers(&db, "t", 100 + 45_000), vec!["host1", "host2"]);
    assert_eq!(db.nodes(100 + 45_000, LIVE)[0].tombstones, vec![false, false]);
    // Unknown node or topic: nothing happens.
    db.tombstone("t", "10.0.0.9:4151", 200);
    db.tombstone("nope", "10.0.0.2:4151", 200);
    assert_eq!(producers(&db, "t", 200), vec!["host2"]);
}

#[test]
fn http_actions_manage_keys() {
    let mut db = db_with(&[1]);
    db.create_channel("lt", "lc").unwrap();
    assert_eq!(db.topics(), vec!["lt"]);
    let l = db.lookup("lt", 0, LIVE).unwrap();
    assert_eq!((l.channels, l.producers), (vec!["lc".to_string()], vec![]));
    assert!(db.delete_channel("lt", "lc"));
    assert!(!db.delete_channel("lt", "lc"));
    db.register(PeerId(1), "t1", Some("c1")).unwrap();
    db.delete_topic("t1");
    assert!(db.lookup("t1", 0, LIVE).is_none());
    assert_eq!(db.channels("t1"), Vec::<String>::new());
    assert_eq!(db.registrations_of(PeerId(1)), vec![Registration::client()]);
    db.delete_topic("lt");
    assert!(db.topics().is_empty());
    db.assert_invariants();
}

#[test]
fn unregistering_a_topic_leaves_its_channels() {
    let mut db = db_with(&[1, 2]);
    db.register(PeerId(1), "t", Some("c")).unwrap();
    db.register(PeerId(2), "t", Some("c")).unwrap();
    db.unregister(PeerId(1), "t", None).unwrap();
    assert_eq!(db.registrations_of(PeerId(1)), vec![Registration::client()]);
    assert_eq!(db.channels("t"), vec!["c"]);
    let e = "e#ephemeral";
    db.register(PeerId(1), e, Some("c")).unwrap();
    db.register(PeerId(2), e, None).unwrap();
    db.unregister(PeerId(1), e, None).unwrap();
    assert_eq!(db.topics(), vec![e, "t"], "another producer still has the ephemeral topic");
    db.unregister(PeerId(2), e, None).unwrap();
    assert_eq!(db.topics(), vec!["t"]);
    // nsqlookupd leaves the ephemeral topic's channel keys behind.
    assert_eq!(db.channels(e), vec!["c"]);
    db.assert_invariants();
}

#[test]
fn limits_refuse_new_keys_and_registrations() {
    let mut db = RegistrationDb::new(DbLimits { max_registrations: 3, max_producer_registrations: 3 });
    db.identify(PeerId(1), info(1), 0).unwrap();
    db.register(PeerId(1), "a", None).unwrap();
    db.register(PeerId(1), "b", None).unwrap();
    assert_eq!(db.register(PeerId(1), "c", None), Err(DbError::TooManyProducerRegistrations(3)));
    db.identify(PeerId(2), info(2), 0).unwrap();
    assert_eq!(db.register(PeerId(2), "c", None), Err(DbError::TooManyRegistrations(3)));
    assert_eq!(db.create_topic("d"), Err(DbError::TooManyRegistrations(3)));
    // Existing keys still take producers.
    db.register(PeerId(2), "a", None).unwrap();
    db.assert_invariants();
}

#[derive(Debug, Clone)]
enum Op {
    Identify(u64),
    Ping(u64),
    Register(u64, usize, Option<usize>),
    Unregister(u64, usize, Option<usize>),
    Close(u64),
    CreateTopic(usize),
    DeleteTopic(usize),
    CreateChannel(usize, usize),
    DeleteChannel(usize, usize),
    Tombstone(usize, u64),
    Advance(u64),
}

const TOPICS: [&str; 3] = ["a", "b", "e#ephemeral"];
const CHANNELS: [&str; 3] = ["x", "y", "z#ephemeral"];

fn op() -> impl Strategy<Value = Op> {
    let peer = 0u64..4;
    let topic = 0..TOPICS.len();
    let channel = proptest::option::of(0..CHANNELS.len());
    prop_oneof![
        peer.clone().prop_map(Op::Identify),
        peer.clone().prop_map(Op::Ping),
        (peer.clone(), topic.clone(), channel.clone()).prop_map(|(p, t, c)| Op::Register(p, t, c)),
        (peer.clone(), topic.clone(), channel).prop_map(|(p, t, c)| Op::Unregister(p, t, c)),
        peer.clone().prop_map(Op::Close),
        topic.clone().prop_map(Op::CreateTopic),
        topic.clone().prop_map(Op::DeleteTopic),
        (topic.clone(), 0..CHANNELS.len()).prop_map(|(t, c)| Op::CreateChannel(t, c)),
        (topic.clone(), 0..CHANNELS.len()).prop_map(|(t, c)| Op::DeleteChannel(t, c)),
        (topic, peer).prop_map(|(t, p)| Op::Tombstone(t, p)),
        (0u64..2000).prop_map(Op::Advance),
    ]
}

/// A deliberately naive model: sets of keys and of (peer, key) pairs.
#[derive(Default)]
struct Model {
    keys: BTreeSet<Registration>,
    entries: BTreeSet<(u64, Registration)>,
    peers: BTreeSet<u64>,
}

impl Model {
    fn producers(&self, key: &Registration) -> usize {
        self.entries.iter().filter(|(_, k)| k == key).count()
    }

    fn add(&mut self, p: u64, key: Registration) {
        self.keys.insert(key.clone());
        self.entries.insert((p, key));
    }

    fn drop_key(&mut self, key: &Registration) {
        self.keys.remove(key);
        self.entries.retain(|(_, k)| k != key);
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Identify(p) if self.peers.insert(p) => self.add(p, Registration::client()),
            Op::Register(p, t, c) if self.peers.contains(&p) => {
                if let Some(c) = c {
                    self.add(p, Registration::channel(TOPICS[t], CHANNELS[c]));
                }
                self.add(p, Registration::topic(TOPICS[t]));
            }
            Op::Unregister(p, t, Some(c)) if self.peers.contains(&p) => {
                let key = Registration::channel(TOPICS[t], CHANNELS[c]);
                self.entries.remove(&(p, key.clone()));
                if self.keys.contains(&key) && self.producers(&key) == 0 && CHANNELS[c].ends_with("#ephemeral") {
                    self.keys.remove(&key);
                }
            }
            Op::Unregister(p, t, None) if self.peers.contains(&p) => {
                self.entries.retain(|(q, k)| !(*q == p && k.key == TOPICS[t] && k.category != Category::Client));
                let key = Registration::topic(TOPICS[t]);
                if self.keys.contains(&key) && self.producers(&key) == 0 && TOPICS[t].ends_with("#ephemeral") {
                    self.keys.remove(&key);
                }
            }
            Op::Close(p) => {
                self.peers.remove(&p);
                self.entries.retain(|(q, _)| *q != p);
            }
            Op::CreateTopic(t) => {
                self.keys.insert(Registration::topic(TOPICS[t]));
            }
            Op::DeleteTopic(t) => {
                for c in CHANNELS {
                    self.drop_key(&Registration::channel(TOPICS[t], c));
                }
                self.drop_key(&Registration::topic(TOPICS[t]));
            }
            Op::CreateChannel(t, c) => {
                self.keys.insert(Registration::channel(TOPICS[t], CHANNELS[c]));
                self.keys.insert(Registration::topic(TOPICS[t]));
            }
            Op::DeleteChannel(t, c) => self.drop_key(&Registration::channel(TOPICS[t], CHANNELS[c])),
            _ => {}
        }
    }
}

proptest! {
    #[test]
    fn matches_the_model_and_keeps_its_invariants(ops in proptest::collection::vec(op(), 0..80)) {
        let mut db = RegistrationDb::default();
        let mut model = Model::default();
        model.keys.insert(Registration::client());
        let mut now = 0u64;
        let live = Liveness { inactive_producer_timeout_ms: 3000, tombstone_lifetime_ms: 1500 };
        for op in &ops {
            match *op {
                Op::Identify(p) => {
                    let r = db.identify(PeerId(p), info(p), now);
                    prop_assert_eq!(r.is_ok(), !model.peers.contains(&p));
                }
                Op::Ping(p) => db.ping(PeerId(p), now),
                Op::Register(p, t, c) => {
                    let r = db.register(PeerId(p), TOPICS[t], c.map(|c| CHANNELS[c]));
                    prop_assert_eq!(r.is_ok(), model.peers.contains(&p));
                }
                Op::Unregister(p, t, c) => {
                    let r = db.unregister(PeerId(p), TOPICS[t], c.map(|c| CHANNELS[c]));
                    prop_assert_eq!(r.is_ok(), model.peers.contains(&p));
                }
                Op::Close(p) => db.remove_peer(PeerId(p)),
                Op::CreateTopic(t) => db.create_topic(TOPICS[t]).unwrap(),
                Op::DeleteTopic(t) => db.delete_topic(TOPICS[t]),
                Op::CreateChannel(t, c) => db.create_channel(TOPICS[t], CHANNELS[c]).unwrap(),
                Op::DeleteChannel(t, c) => {
                    let existed = model.keys.contains(&Registration::channel(TOPICS[t], CHANNELS[c]));
                    prop_assert_eq!(db.delete_channel(TOPICS[t], CHANNELS[c]), existed);
                }
                Op::Tombstone(t, p) => db.tombstone(TOPICS[t], &info(p).node_name(), now),
                Op::Advance(ms) => now += ms,
            }
            model.apply(op);
            db.assert_invariants();
            prop_assert_eq!(db.keys(), model.keys.iter().cloned().collect::<Vec<_>>());
            for p in 0..4 {
                let want: Vec<Registration> =
                    model.entries.iter().filter(|(q, _)| *q == p).map(|(_, k)| k.clone()).collect();
                prop_assert_eq!(db.registrations_of(PeerId(p)), want);
            }
            // Listings: sorted, and /nodes' arrays line up.
            let topics = db.topics();
            prop_assert!(topics.windows(2).all(|w| w[0] < w[1]));
            for n in db.nodes(now, live) {
                prop_assert_eq!(n.topics.len(), n.tombstones.len());
                prop_assert!(now - n.info.last_update_ms <= 3000);
            }
            for t in TOPICS {
                match db.lookup(t, now, live) {
                    None => prop_assert!(!topics.contains(&t.to_string())),
                    Some(l) => {
                        prop_assert_eq!(l.channels, db.channels(t));
                        for p in &l.producers {
                            prop_assert!(now - p.last_update_ms <= 3000);
                        }
                        let registered = model.entries.iter()
                            .filter(|(_, k)| *k == Registration::topic(t)).count();
                        prop_assert!(l.producers.len() <= registered);
                    }
                }
            }
        }
    }
}

/// `/metrics`' counts follow time: a quiet producer stays registered but is neither active nor
/// listed; a tombstone counts for its lifetime only.
#[test]
fn metrics_separate_registered_listed_and_tombstoned() {
    let mut db = db_with(&[1, 2]);
    for p in [PeerId(1), PeerId(2)] {
        db.register(p, "t", None).unwrap();
        db.register(p, "t", Some("c")).unwrap();
    }
    db.create_topic("bare").unwrap();
    db.tombstone("t", "10.0.0.2:4151", 1_000);
    let m = db.metrics(2_000, LIVE);
    assert_eq!((m.peers, m.active_peers), (2, 2));
    let names: Vec<&str> = m.topics.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(names, ["bare", "t"]);
    assert_eq!(m.topics[0], TopicMetrics { topic: "bare".into(), ..TopicMetrics::default() });
    let t = &m.topics[1];
    assert_eq!((t.producers, t.listed_producers, t.tombstoned_producers), (2, 1, 1));
    assert_eq!(t.channels, vec![("c".to_string(), 2)]);
    assert_eq!(t.listed_producers as usize, db.lookup("t", 2_000, LIVE).unwrap().producers.len());
    // Past the tombstone lifetime, peer 1 pings and peer 2 goes quiet past the inactivity timeout.
    let later = 1_000 + LIVE.inactive_producer_timeout_ms + 1;
    db.ping(PeerId(1), later);
    let m = db.metrics(later, LIVE);
    assert_eq!((m.peers, m.active_peers), (2, 1));
    let t = &m.topics[1];
    assert_eq!((t.producers, t.listed_producers, t.tombstoned_producers), (2, 1, 0));
}
