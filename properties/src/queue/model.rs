//! The queue's history, reshaped for its properties: publishes with their outcomes, deliveries and
//! answers per message and channel, channel existence per node, node downtime, clock faults, and
//! the durability configuration each node ran with.
//!
//! What a queue scenario must record (and what each field means here):
//! - `Invoke`/`Complete` of `Call::Publish { server, topic, key, defer_ms }`: `server` is the world
//!   node name of the queue node; `key` is unique per publish attempt (never retried with the
//!   same key); an `Ok` outcome is the queue's acknowledgement.
//! - `Observation::Subscribed` when a consumer's SUB succeeded: the channel exists on that node.
//! - `Observation::Delivered` when the consumer's handler receives a message, before answering.
//! - `Observation::Finished` / `Requeued` when the consumer sends FIN / REQ for it.
//! - `Observation::QueueNode` from the queue node at every start (its durability config).
//! - Node lifecycle (`NodeKilled`, `NodeStopped`, `NodeStarted`), `Fault`s and `Healed` come from
//!   the harness.

use std::collections::{BTreeMap, BTreeSet};

use history::{Call, EventKind, Fault, History, Observation, Outcome};

/// One publish attempt.
#[derive(Debug, Clone)]
pub struct Publish {
    pub server: String,
    pub topic: String,
    pub key: String,
    pub defer_ms: u64,
    pub invoke_ns: u64,
    /// When the client saw the acknowledgement (None: failed, unknown or never completed).
    pub ack_ns: Option<u64>,
}

/// One observed delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub at_ns: u64,
    pub server: String,
    pub consumer: String,
    pub id: String,
    pub attempts: u16,
    /// When the consumer's SUB to this server and channel last succeeded before the delivery: the
    /// connection it arrived on. `None` if no SUB was recorded.
    pub conn_ns: Option<u64>,
}

/// A consumer's answer to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    Fin,
    Req { delay_ms: u64 },
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub at_ns: u64,
    pub consumer: String,
    /// The server it was sent to and the message id it named (an error frame quotes the id).
    pub server: String,
    pub id: String,
    pub kind: AnswerKind,
}

/// A node going down: `unclean` for a kill (or a stop that timed out and became one).
#[derive(Debug, Clone, Copy)]
pub struct Down {
    pub at_ns: u64,
    pub unclean: bool,
    /// The node's disk had injected faults when it went down (a clean stop could not flush).
    pub disk_faulted: bool,
}

/// A message and a channel: the unit most queue properties judge.
pub type MsgChannel = (String, String);

#[derive(Debug, Default)]
pub struct QueueModel {
    /// Every publish attempt, by key.
    pub publishes: BTreeMap<String, Publish>,
    /// (key, channel) → deliveries in the order they were observed.
    pub deliveries: BTreeMap<MsgChannel, Vec<Delivery>>,
    /// (key, channel) → answers in the order they were sent.
    pub answers: BTreeMap<MsgChannel, Vec<Answer>>,
    /// (server, topic, channel) → first time a SUB to it succeeded.
    pub channel_since: BTreeMap<(String, String, String), u64>,
    /// node → its downs.
    pub downs: BTreeMap<String, Vec<Down>>,
    /// node → times it (re)started.
    pub starts: BTreeMap<String, Vec<u64>>,
    /// node → (time, durable, msg_timeout_ms) at each start.
    pub configs: BTreeMap<String, Vec<(u64, bool, u64)>>,
    /// node → (time, wall-clock error change in ms, drift ppm after) for each clock fault.
    pub clock: BTreeMap<String, Vec<ClockStep>>,
    pub healed_ns: Option<u64>,
    pub end_ns: u64,
    /// Answers sent out of turn (duplicates, answers after the timeout), in order.
    pub strays: Vec<Stray>,
    /// (client, server) → error frames it received from the server, in order.
    pub errors: BTreeMap<(String, String), Vec<ServerError>>,
    /// Connections that ended (or failed to be made), in order.
    pub lost: Vec<Lost>,
    /// (consumer, server) → every successful SUB (a new connection), in order.
    pub sub_times: BTreeMap<(String, String), Vec<u64>>,
    /// The network after each change: (time, directed pairs cut, nodes isolated).
    pub net: Vec<(u64, BTreeSet<(String, String)>, BTreeSet<String>)>,
    /// Time of every fault the harness applied.
    pub fault_times: Vec<u64>,
    /// The nodes paused (frozen) after each pause or resume: (time, paused nodes).
    pub paused: Vec<(u64, BTreeSet<String>)>,
    /// (consumer, server, channel) → its latest successful SUB so far (while building).
    subs: BTreeMap<(String, String, String), u64>,
}

/// An answer a consumer sent out of turn (`Observation::StrayAnswer`).
#[derive(Debug, Clone)]
pub struct Stray {
    pub at_ns: u64,
    pub server: String,
    pub channel: String,
    pub consumer: String,
    pub key: String,
    pub id: String,
    pub attempts: u16,
    pub verb: String,
    pub late: bool,
}

/// An error frame a client received.
#[derive(Debug, Clone)]
pub struct ServerError {
    pub at_ns: u64,
    pub code: String,
    pub desc: String,
}

/// A client's connection that ended.
#[derive(Debug, Clone)]
pub struct Lost {
    pub at_ns: u64,
    pub server: String,
    pub client: String,
    pub role: String,
    pub reason: String,
}

/// One change to a node's clock, as recorded by the harness.
#[derive(Debug, Clone, Copy)]
pub struct ClockStep {
    pub at_ns: u64,
    /// The wall-clock offset after this step (ms).
    pub offset_ms: i64,
    /// The drift rate after this step (ppm).
    pub drift_ppm: i64,
    /// An offset set to 0: the harness's clock heal, which steps the wall clock back to true
    /// time, taking away the drift accumulated so far too (`rt::clock`'s `heal`), and stops the
    /// drift.
    pub heals: bool,
}

pub const MS: u64 = 1_000_000;

/// Seconds, for messages.
pub fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

impl QueueModel {
    pub fn from_history(h: &History) -> QueueModel {
        let mut m = QueueModel { healed_ns: h.healed_at_ns(), end_ns: h.end_ns(), ..Default::default() };
        for (inv, call, done) in h.operations() {
            if let Call::Publish { server, topic, key, defer_ms } = call {
                let ack_ns = match done {
                    Some((e, Outcome::Ok { .. })) => Some(e.at_ns),
                    _ => None,
                };
                m.publishes.insert(
                    key.clone(),
                    Publish { server: server.clone(), topic: topic.clone(), key: key.clone(), defer_ms: *defer_ms, invoke_ns: inv.at_ns, ack_ns },
                );
            }
        }
        let mut disk_faulted: BTreeSet<String> = BTreeSet::new();
        let (mut cut, mut isolated): (BTreeSet<(String, String)>, BTreeSet<String>) = Default::default();
        let mut paused: BTreeSet<String> = BTreeSet::new();
        for e in &h.events {
            if let EventKind::Fault { fault } = &e.kind {
                m.fault_times.push(e.at_ns);
                if net_change(fault, &mut cut, &mut isolated) {
                    m.net.push((e.at_ns, cut.clone(), isolated.clone()));
                }
                if pause_change(fault, &mut paused) {
                    m.paused.push((e.at_ns, paused.clone()));
                }
            }
            match &e.kind {
                EventKind::Observe { what, .. } => m.observe(e.at_ns, what),
                EventKind::NodeKilled => m.downs.entry(e.node.clone()).or_default().push(Down {
                    at_ns: e.at_ns,
                    unclean: true,
                    disk_faulted: disk_faulted.contains(&e.node),
                }),
                EventKind::NodeStopped { graceful } => m.downs.entry(e.node.clone()).or_default().push(Down {
                    at_ns: e.at_ns,
                    unclean: !graceful,
                    disk_faulted: disk_faulted.contains(&e.node),
                }),
                EventKind::NodeStarted => m.starts.entry(e.node.clone()).or_default().push(e.at_ns),
                EventKind::Fault { fault } => match fault {
                    Fault::Disk { node, read_errors, write_errors, full } => {
                        if *read_errors || *write_errors || *full {
                            disk_faulted.insert(node.clone());
                        } else {
                            disk_faulted.remove(node);
                        }
                    }
                    Fault::ClockOffset { node, offset_ms: 0 } => m.clock_step(node, e.at_ns, true, |_, _| (0, 0)),
                    Fault::ClockOffset { node, offset_ms } => m.clock_step(node, e.at_ns, false, |_, d| (*offset_ms, d)),
                    Fault::ClockJump { node, delta_ms } => m.clock_step(node, e.at_ns, false, |o, d| (o + delta_ms, d)),
                    Fault::ClockDrift { node, ppm } => m.clock_step(node, e.at_ns, false, |o, _| (o, *ppm)),
                    _ => {}
                },
                _ => {}
            }
        }
        m
    }

    /// Whether the link between `a` and `b` (either way) was cut, or either end isolated, at any
    /// moment of `[from, to]`.
    pub fn link_blocked(&self, a: &str, b: &str, from: u64, to: u64) -> bool {
        let blocked = |cut: &BTreeSet<(String, String)>, iso: &BTreeSet<String>| {
            iso.contains(a) || iso.contains(b) || cut.contains(&(a.to_string(), b.to_string())) || cut.contains(&(b.to_string(), a.to_string()))
        };
        // The state in force at `from`, then every change up to `to`.
        let before = self.net.iter().rev().find(|(at, _, _)| *at <= from);
        before.is_some_and(|(_, c, i)| blocked(c, i)) || self.net.iter().filter(|(at, _, _)| *at > from && *at <= to).any(|(_, c, i)| blocked(c, i))
    }

    /// Whether `node` was paused at any moment of `[from, to]`. A paused node sends nothing and
    /// reads nothing, but its timers fire on schedule once it resumes: to its peers it is like a
    /// cut link.
    pub fn paused_between(&self, node: &str, from: u64, to: u64) -> bool {
        let before = self.paused.iter().rev().find(|(at, _)| *at <= from);
        before.is_some_and(|(_, p)| p.contains(node)) || self.paused.iter().filter(|(at, _)| *at > from && *at <= to).any(|(_, p)| p.contains(node))
    }

    /// The error frame that answered `a` (a REQ or FIN) with `code`: the first from its server
    /// to its consumer quoting the verb and id after it was sent, before the consumer's next
    /// answer to the same server (which could have drawn the same error).
    pub fn answer_failed(&self, a: &Answer, next_answer_ns: Option<u64>, code: &str) -> bool {
        let verb = match a.kind {
            AnswerKind::Fin => "FIN",
            AnswerKind::Req { .. } => "REQ",
        };
        let prefix = format!("{verb} {} ", a.id);
        let errors = self.errors.get(&(a.consumer.clone(), a.server.clone())).map(|e| e.as_slice()).unwrap_or(&[]);
        errors.iter().filter(|e| e.at_ns >= a.at_ns && next_answer_ns.is_none_or(|n| e.at_ns < n)).any(|e| e.code == code && e.desc.starts_with(&prefix))
    }

    /// Whether the node went down or (re)started in `(from, to]`.
    pub fn lifecycle_between(&self, node: &str, from: u64, to: u64) -> bool {
        self.downs_between(node, from, to).next().is_some() || self.starts.get(node).into_iter().flatten().any(|&s| s > from && s <= to)
    }

    fn clock_step(&mut self, node: &str, at_ns: u64, heals: bool, f: impl Fn(i64, i64) -> (i64, i64)) {
        let steps = self.clock.entry(node.to_string()).or_default();
        let (o, d) = steps.last().map(|s| (s.offset_ms, s.drift_ppm)).unwrap_or((0, 0));
        let (offset_ms, drift_ppm) = f(o, d);
        steps.push(ClockStep { at_ns, offset_ms, drift_ppm, heals });
    }

    fn observe(&mut self, at_ns: u64, what: &Observation) {
        match what {
            Observation::Delivered { server, channel, consumer, key, id, attempts, .. } => {
                let conn_ns = self.subs.get(&(consumer.clone(), server.clone(), channel.clone())).copied();
                self.deliveries.entry((key.clone(), channel.clone())).or_default().push(Delivery {
                    at_ns,
                    server: server.clone(),
                    consumer: consumer.clone(),
                    id: id.clone(),
                    attempts: *attempts,
                    conn_ns,
                })
            }
            Observation::Finished { server, channel, consumer, key, id, .. } => self.answers.entry((key.clone(), channel.clone())).or_default().push(
                Answer { at_ns, consumer: consumer.clone(), server: server.clone(), id: id.clone(), kind: AnswerKind::Fin },
            ),
            Observation::Requeued { server, channel, consumer, key, id, delay_ms, .. } => {
                self.answers.entry((key.clone(), channel.clone())).or_default().push(Answer {
                    at_ns,
                    consumer: consumer.clone(),
                    server: server.clone(),
                    id: id.clone(),
                    kind: AnswerKind::Req { delay_ms: *delay_ms },
                })
            }
            Observation::Subscribed { server, topic, channel, consumer } => {
                self.subs.insert((consumer.clone(), server.clone(), channel.clone()), at_ns);
                self.sub_times.entry((consumer.clone(), server.clone())).or_default().push(at_ns);
                self.channel_since.entry((server.clone(), topic.clone(), channel.clone())).or_insert(at_ns);
            }
            Observation::StrayAnswer { server, channel, consumer, key, id, attempts, verb, late, .. } => self.strays.push(Stray {
                at_ns,
                server: server.clone(),
                channel: channel.clone(),
                consumer: consumer.clone(),
                key: key.clone(),
                id: id.clone(),
                attempts: *attempts,
                verb: verb.clone(),
                late: *late,
            }),
            Observation::ServerError { server, client, code, desc } => self
                .errors
                .entry((client.clone(), server.clone()))
                .or_default()
                .push(ServerError { at_ns, code: code.clone(), desc: desc.clone() }),
            Observation::ConnectionLost { server, client, role, reason } => {
                self.lost.push(Lost { at_ns, server: server.clone(), client: client.clone(), role: role.clone(), reason: reason.clone() })
            }
            Observation::QueueNode { server, sync_every, mem_queue_size, msg_timeout_ms } => self
                .configs
                .entry(server.clone())
                .or_default()
                .push((at_ns, *sync_every == 1 && *mem_queue_size == 0, *msg_timeout_ms)),
            _ => {}
        }
    }

    /// Acknowledged publishes, in key order.
    pub fn acked(&self) -> impl Iterator<Item = &Publish> {
        self.publishes.values().filter(|p| p.ack_ns.is_some())
    }

    /// The channels of the message's topic that existed on its node before it was published (a
    /// SUB to them had succeeded before the publish was invoked).
    pub fn channels_at_publish(&self, p: &Publish) -> Vec<String> {
        self.channel_since
            .iter()
            .filter(|((s, t, _), since)| s == &p.server && t == &p.topic && **since < p.invoke_ns)
            .map(|((_, _, c), _)| c.clone())
            .collect()
    }

    /// First time the message was finished on the channel.
    pub fn first_fin(&self, key: &str, channel: &str) -> Option<u64> {
        self.answers
            .get(&(key.to_string(), channel.to_string()))?
            .iter()
            .find(|a| a.kind == AnswerKind::Fin)
            .map(|a| a.at_ns)
    }

    /// Whether the consumer that got delivery `d` sent a TOUCH out of turn for its id to its node
    /// in `[d.at_ns, to_ns]`. The node knows messages by id, not by attempt: a late TOUCH meant for
    /// an earlier attempt extends this one if it reached the same connection (whole-system seed
    /// 199 of the evening sweep check), so its timeout is no longer known.
    pub fn touched(&self, d: &Delivery, to_ns: u64) -> bool {
        self.strays
            .iter()
            .any(|s| s.verb == "TOUCH" && s.consumer == d.consumer && s.server == d.server && s.id == d.id && s.at_ns >= d.at_ns && s.at_ns <= to_ns)
    }

    /// Whether the message counted as finished on the channel at time `t`: a FIN was sent at or
    /// before `t` and the message was not delivered on the channel again between that FIN and `t`
    /// (a FIN racing a stop of its node may be lost, and the message comes back). A copy seen
    /// after the FIN but sent by an older instance of the node than the one the FIN answered (it
    /// sat stalled in a partitioned connection) is not the message coming back.
    ///
    /// Nor are copies seen after the FIN that the FIN's node instance may have sent before the FIN
    /// reached it ([`Self::fin_may_cover`]): a FIN names the message id, not the attempt, so a FIN
    /// delayed in a stalled connection finishes whichever attempt that connection holds when it
    /// arrives, and attempts sent earlier (to anyone) can still be in the network.
    pub fn finished_at(&self, key: &str, channel: &str, t: u64) -> bool {
        let k = (key.to_string(), channel.to_string());
        let Some(fin) = self.answers.get(&k).and_then(|a| a.iter().rev().find(|a| a.kind == AnswerKind::Fin && a.at_ns <= t)) else {
            return false;
        };
        let ds = self.deliveries.get(&k).map(|d| d.as_slice()).unwrap_or(&[]);
        // The delivery this FIN answered, and the instance that sent it.
        let answered = ds.iter().rev().find(|d| d.consumer == fin.consumer && d.at_ns <= fin.at_ns);
        let answered_start = answered.map(|d| self.sent_start(d));
        let mut later = ds.iter().filter(|d| d.at_ns > fin.at_ns && d.at_ns <= t && answered_start.is_none_or(|a| self.sent_start(d) >= a)).peekable();
        if later.peek().is_none() {
            return true;
        }
        answered.is_some_and(|a| self.fin_may_cover(ds, fin, a, later, t))
    }

    /// Whether a FIN the consumer of delivery `d` sent before it (for an earlier attempt, held in
    /// a cut link) may have finished `d` itself on arriving: [`Self::fin_may_cover`] judged at
    /// `t`, with that FIN (queue seed 2106).
    pub fn earlier_fin_may_finish(&self, key: &str, channel: &str, d: &Delivery, t: u64) -> bool {
        let k = (key.to_string(), channel.to_string());
        let Some(fin) = self.answers.get(&k).and_then(|a| a.iter().rev().find(|a| a.kind == AnswerKind::Fin && a.consumer == d.consumer && a.at_ns < d.at_ns)) else {
            return false;
        };
        let ds = self.deliveries.get(&k).map(|d| d.as_slice()).unwrap_or(&[]);
        let Some(answered) = ds.iter().rev().find(|x| x.consumer == fin.consumer && x.at_ns <= fin.at_ns) else {
            return false;
        };
        let later = ds.iter().filter(|x| x.at_ns > fin.at_ns && x.at_ns <= t);
        self.fin_may_cover(ds, fin, answered, later, t)
    }

    /// Whether FIN `fin` (answering delivery `answered`) may have finished the message although
    /// copies (`later`) were seen after it: every later copy came from the instance that sent
    /// `answered`, and that instance's latest attempt seen up to `t` (attempts grow with every
    /// delivery of one instance) went to the FIN's consumer on the same connection — so every
    /// copy may have been sent before the FIN arrived, and the FIN then finished that attempt.
    /// (If the FIN had arrived first and failed, the message could indeed have come back to that
    /// same connection; the history cannot tell the two apart, so the benefit of the doubt goes
    /// to the node, as a safety property must.)
    fn fin_may_cover<'a>(&self, ds: &[Delivery], fin: &Answer, answered: &Delivery, mut later: impl Iterator<Item = &'a Delivery>, t: u64) -> bool {
        let instance = self.sent_start(answered);
        if answered.conn_ns.is_none() || later.any(|d| d.server != answered.server || self.sent_start(d) != instance) {
            return false;
        }
        let latest = ds
            .iter()
            .filter(|d| d.at_ns <= t && d.server == answered.server && self.sent_start(d) == instance)
            .max_by_key(|d| d.attempts);
        latest.is_some_and(|l| l.consumer == fin.consumer && l.conn_ns == answered.conn_ns)
    }

    /// Whether delivery `d` may be a second copy of the message that `e` delivered, both sent by
    /// the node life that began at `life_ns`: the message was published before an unclean down of
    /// the node that preceded that life, and `e`'s consumer FINed it before `d` was seen.
    ///
    /// The topic's pump writes a round's messages to the channels' disk queues and only then
    /// releases the topic's records; a kill between the two leaves both, and the restart hands
    /// the channel the topic's record again (whole-system seed 8469 of the 10,000-seed sweep).
    /// nsqd's pump has the same window (its read position is synced after the channel's copy is
    /// written): at-least-once across a kill -9, never lost.
    pub fn second_copy_after_kill(&self, key: &str, channel: &str, e: &Delivery, d: &Delivery, life_ns: u64) -> bool {
        let Some(publish) = self.publishes.get(key) else { return false };
        let killed_after_publish =
            self.downs.get(&d.server).into_iter().flatten().any(|x| x.unclean && x.at_ns > publish.invoke_ns && x.at_ns <= life_ns);
        let fined = self
            .answers
            .get(&(key.to_string(), channel.to_string()))
            .into_iter()
            .flatten()
            .any(|a| a.kind == AnswerKind::Fin && a.consumer == e.consumer && a.at_ns >= e.at_ns && a.at_ns <= d.at_ns);
        killed_after_publish && fined
    }

    /// Whether the node ran durably (`--sync-every=1 --mem-queue-size=0`) at time `t`.
    pub fn durable_at(&self, node: &str, t: u64) -> bool {
        self.configs.get(node).and_then(|c| c.iter().rev().find(|(at, _, _)| *at <= t)).map(|c| c.1).unwrap_or(false)
    }

    /// The node's message timeout (the largest it ran with), if it recorded one.
    pub fn msg_timeout_ms(&self, node: &str) -> Option<u64> {
        self.configs.get(node).and_then(|c| c.iter().map(|c| c.2).max())
    }

    /// The allowed-loss rule. A message acknowledged by node N may be lost iff N was not running
    /// durably (`--sync-every=1` and `--mem-queue-size=0`) when it was published, and N went down
    /// uncleanly — killed, or a clean stop that timed out, or a clean stop while N's disk had
    /// injected faults (it cannot flush) — after the publish was invoked, at a time when the
    /// message was not finished ([`Self::finished_at`]) on some channel that existed at the
    /// publish. Returns the down's time.
    pub fn allowed_loss(&self, p: &Publish) -> Option<u64> {
        if self.durable_at(&p.server, p.invoke_ns) {
            return None;
        }
        let channels = self.channels_at_publish(p);
        self.downs
            .get(&p.server)?
            .iter()
            .filter(|d| d.unclean || d.disk_faulted)
            .find(|d| d.at_ns > p.invoke_ns && channels.iter().any(|c| !self.finished_at(&p.key, c, self.down_seen_until(&p.key, c, &p.server, d.at_ns))))
            .map(|d| d.at_ns)
    }

    /// Until when the history shows what the node instance that went down at `down_ns` had sent
    /// of `key` on `channel`: `down_ns`, or later when a delivery it sent before going down was
    /// seen after (it sat in the consumer's socket). Whether the message was finished when the
    /// node went down is judged there (queue seed 22607 of the 25,000-seed sweep: a message
    /// FINed, then redelivered by `q2` on the consumer's new connection in the instant of its
    /// kill, seen 0.3 ms after, was lost with the kill's memory).
    fn down_seen_until(&self, key: &str, channel: &str, server: &str, down_ns: u64) -> u64 {
        let life = self.last_start(server, down_ns);
        self.deliveries
            .get(&(key.to_string(), channel.to_string()))
            .into_iter()
            .flatten()
            .filter(|d| d.server == server && d.at_ns > down_ns && self.sent_start(d) == life)
            .map(|d| d.at_ns)
            .fold(down_ns, u64::max)
    }

    /// The node's last start at or before `t` (0 if none was recorded).
    pub fn last_start(&self, node: &str, t: u64) -> u64 {
        self.starts.get(node).and_then(|s| s.iter().rev().find(|&&s| s <= t)).copied().unwrap_or(0)
    }

    /// The start of the node instance that sent delivery `d`: the one that answered the SUB of
    /// the connection `d` arrived on (a connection does not survive its node's restart, but a
    /// delivery stalled in a partitioned connection can be seen after the node was killed and
    /// restarted), else the last start before it was seen.
    pub fn sent_start(&self, d: &Delivery) -> u64 {
        self.last_start(&d.server, d.conn_ns.unwrap_or(d.at_ns).min(d.at_ns))
    }

    /// Downs of the node in `(from, to]`.
    pub fn downs_between(&self, node: &str, from: u64, to: u64) -> impl Iterator<Item = &Down> {
        self.downs.get(node).into_iter().flatten().filter(move |d| d.at_ns > from && d.at_ns <= to)
    }

    /// The most the node's wall clock can have gained on true time between `from` and `to`:
    /// forward steps of its offset plus fast drift, in ms (never negative).
    pub fn clock_gain_ms(&self, node: &str, from: u64, to: u64) -> u64 {
        let steps = self.clock.get(node).map(|s| s.as_slice()).unwrap_or(&[]);
        let mut offset = steps.iter().rev().find(|s| s.at_ns <= from).map(|s| s.offset_ms).unwrap_or(0);
        let mut drift = steps.iter().rev().find(|s| s.at_ns <= from).map(|s| s.drift_ppm).unwrap_or(0);
        let mut gain: i128 = 0;
        let mut max_drift = drift.max(0);
        for s in steps.iter().filter(|s| s.at_ns > from && s.at_ns <= to) {
            // A heal also takes away the drift accumulated so far: a clock that ran slow steps
            // forward by that much (whole-system seed 17309 of the 25,000-seed sweep: -355 ppm
            // for 56 s, then 20 ms forward at the heal, and a deferred message came due 9 ms
            // early by the true clock).
            let drifted_ms = if s.heals { Self::drift_accumulated_ms(steps, s.at_ns) } else { 0 };
            gain += (s.offset_ms - offset - drifted_ms).max(0) as i128;
            offset = s.offset_ms;
            drift = s.drift_ppm;
            max_drift = max_drift.max(drift);
        }
        let span_ms = (to.saturating_sub(from) / MS) as i128;
        gain += span_ms * max_drift as i128 / 1_000_000 + 1;
        gain.max(0) as u64
    }

    /// The drift a node's clock has accumulated just before `t` since its last heal, in ms
    /// (negative for a slow clock), rounded away from zero.
    fn drift_accumulated_ms(steps: &[ClockStep], t: u64) -> i64 {
        let (mut acc_ns, mut drift, mut since) = (0i128, 0i64, 0u64);
        for s in steps.iter().filter(|s| s.at_ns < t) {
            acc_ns += (s.at_ns - since) as i128 * drift as i128 / 1_000_000;
            since = s.at_ns;
            drift = s.drift_ppm;
            if s.heals {
                acc_ns = 0;
            }
        }
        acc_ns += (t - since) as i128 * drift as i128 / 1_000_000;
        let ms = acc_ns / MS as i128;
        (if acc_ns % MS as i128 == 0 { ms } else { ms + acc_ns.signum() }) as i64
    }
}

/// Applies a pause or resume to the paused nodes; false if the fault is neither. A node that
/// goes down or restarts is no longer paused.
fn pause_change(fault: &Fault, paused: &mut BTreeSet<String>) -> bool {
    match fault {
        Fault::Pause { node } => paused.insert(node.clone()),
        Fault::Resume { node } | Fault::Kill { node, .. } | Fault::Stop { node } | Fault::StopTorn { node } | Fault::Restart { node } => {
            paused.remove(node)
        }
        _ => false,
    }
}

/// Applies a network fault to the cut pairs and isolated nodes; false if it is not one.
fn net_change(fault: &Fault, cut: &mut BTreeSet<(String, String)>, isolated: &mut BTreeSet<String>) -> bool {
    match fault {
        Fault::Partition { groups } => {
            for (i, a) in groups.iter().enumerate() {
                for b in groups.iter().skip(i + 1) {
                    for x in a {
                        for y in b {
                            cut.insert((x.clone(), y.clone()));
                            cut.insert((y.clone(), x.clone()));
                        }
                    }
                }
            }
        }
        Fault::Cut { from, to } => {
            cut.insert((from.clone(), to.clone()));
        }
        Fault::Isolate { node } => {
            isolated.insert(node.clone());
        }
        Fault::Heal => {
            cut.clear();
            isolated.clear();
        }
        _ => return false,
    }
    true
}

/// A small builder of synthetic queue histories for the properties' tests.
#[cfg(test)]
pub mod build {
    use history::{Call, Event, EventKind, Fault, History, Observation, Outcome};

    pub const T: &str = "t";

    #[derive(Default)]
    pub struct H {
        pub events: Vec<Event>,
        op: u64,
    }

    impl H {
        pub fn new() -> H {
            H::default()
        }

        fn push(&mut self, at_ms: u64, node: &str, kind: EventKind) -> &mut H {
            let seq = self.events.len() as u64;
            self.events.push(Event { seq, at_ns: at_ms * 1_000_000, node: node.into(), kind });
            self
        }

        fn obs(&mut self, at_ms: u64, what: Observation) -> &mut H {
            self.push(at_ms, "c", EventKind::Observe { process: "c".into(), what })
        }

        pub fn config(&mut self, at_ms: u64, server: &str, durable: bool, msg_timeout_ms: u64) -> &mut H {
            let (sync_every, mem_queue_size) = if durable { (1, 0) } else { (100, 100) };
            self.obs(at_ms, Observation::QueueNode { server: server.into(), sync_every, mem_queue_size, msg_timeout_ms })
        }

        pub fn sub(&mut self, at_ms: u64, server: &str, channel: &str) -> &mut H {
            self.obs(at_ms, Observation::Subscribed { server: server.into(), topic: T.into(), channel: channel.into(), consumer: "c".into() })
        }

        /// A SUB by a named consumer (its connection: deliveries to it are dated by this SUB).
        pub fn sub_as(&mut self, at_ms: u64, server: &str, channel: &str, consumer: &str) -> &mut H {
            self.obs(at_ms, Observation::Subscribed { server: server.into(), topic: T.into(), channel: channel.into(), consumer: consumer.into() })
        }

        /// An acknowledged publish, invoked at `at_ms` and acked 1 ms later.
        pub fn publish(&mut self, at_ms: u64, server: &str, key: &str, defer_ms: u64) -> &mut H {
            self.publish_outcome(at_ms, server, key, defer_ms, Outcome::ok())
        }

        pub fn publish_outcome(&mut self, at_ms: u64, server: &str, key: &str, defer_ms: u64, outcome: Outcome) -> &mut H {
            self.op += 1;
            let op = self.op;
            let call = Call::Publish { server: server.into(), topic: T.into(), key: key.into(), defer_ms };
            self.push(at_ms, "p", EventKind::Invoke { op, process: "p".into(), call });
            self.push(at_ms + 1, "p", EventKind::Complete { op, outcome })
        }

        pub fn deliver(&mut self, at_ms: u64, server: &str, channel: &str, consumer: &str, key: &str, attempts: u16) -> &mut H {
            self.obs(
                at_ms,
                Observation::Delivered {
                    server: server.into(),
                    topic: T.into(),
                    channel: channel.into(),
                    consumer: consumer.into(),
                    key: key.into(),
                    id: format!("id-{key}"),
                    attempts,
                    server_wall_ms: None,
                },
            )
        }

        pub fn fin(&mut self, at_ms: u64, server: &str, channel: &str, consumer: &str, key: &str) -> &mut H {
            self.obs(
                at_ms,
                Observation::Finished {
                    server: server.into(),
                    topic: T.into(),
                    channel: channel.into(),
                    consumer: consumer.into(),
                    key: key.into(),
                    id: format!("id-{key}"),
                },
            )
        }

        pub fn req(&mut self, at_ms: u64, server: &str, channel: &str, consumer: &str, key: &str, delay_ms: u64) -> &mut H {
            self.obs(
                at_ms,
                Observation::Requeued {
                    server: server.into(),
                    topic: T.into(),
                    channel: channel.into(),
                    consumer: consumer.into(),
                    key: key.into(),
                    id: format!("id-{key}"),
                    delay_ms,
                },
            )
        }

        /// An out-of-turn answer by `consumer` for attempt `attempts` of message `key`.
        pub fn stray(&mut self, at_ms: u64, server: &str, consumer: &str, key: &str, attempts: u16, verb: &str, late: bool) -> &mut H {
            self.obs(
                at_ms,
                Observation::StrayAnswer {
                    server: server.into(),
                    topic: T.into(),
                    channel: "a".into(),
                    consumer: consumer.into(),
                    key: key.into(),
                    id: format!("id-{key}"),
                    attempts,
                    verb: verb.into(),
                    late,
                },
            )
        }

        /// An error frame from `server` to `client`.
        pub fn error(&mut self, at_ms: u64, server: &str, client: &str, code: &str, desc: &str) -> &mut H {
            self.obs(at_ms, Observation::ServerError { server: server.into(), client: client.into(), code: code.into(), desc: desc.into() })
        }

        /// A connection of `client` to `server` ended.
        pub fn lost(&mut self, at_ms: u64, server: &str, client: &str, role: &str) -> &mut H {
            self.obs(at_ms, Observation::ConnectionLost { server: server.into(), client: client.into(), role: role.into(), reason: "EOF".into() })
        }

        pub fn kill(&mut self, at_ms: u64, node: &str) -> &mut H {
            self.push(at_ms, node, EventKind::Fault { fault: Fault::Kill { node: node.into(), tear: false } });
            self.push(at_ms, node, EventKind::NodeKilled)
        }

        pub fn stop(&mut self, at_ms: u64, node: &str) -> &mut H {
            self.push(at_ms, node, EventKind::Fault { fault: Fault::Stop { node: node.into() } });
            self.push(at_ms, node, EventKind::NodeStopped { graceful: true })
        }

        pub fn restart(&mut self, at_ms: u64, node: &str) -> &mut H {
            self.push(at_ms, node, EventKind::Fault { fault: Fault::Restart { node: node.into() } });
            self.push(at_ms, node, EventKind::NodeStarted)
        }

        pub fn fault(&mut self, at_ms: u64, node: &str, fault: Fault) -> &mut H {
            self.push(at_ms, node, EventKind::Fault { fault })
        }

        pub fn healed(&mut self, at_ms: u64) -> &mut H {
            self.push(at_ms, "harness", EventKind::Healed)
        }

        pub fn end(&mut self, at_ms: u64) -> History {
            self.push(at_ms, "harness", EventKind::End);
            History { events: std::mem::take(&mut self.events) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::build::H;
    use super::*;

    #[test]
    fn allowed_losses_follow_the_rule() {
        let h = H::new()
            .config(0, "q1", false, 1000)
            .sub(10, "q1", "a")
            .sub(10, "q1", "b")
            .publish(100, "q1", "done-before-kill", 0)
            .fin(200, "q1", "a", "c1", "done-before-kill")
            .fin(210, "q1", "b", "c2", "done-before-kill")
            .publish(300, "q1", "half-done", 0)
            .fin(310, "q1", "a", "c1", "half-done")
            .kill(400, "q1")
            .restart(500, "q1")
            .publish(600, "q1", "after-kill", 0)
            .end(700);
        let m = QueueModel::from_history(&h);
        assert_eq!(m.allowed_loss(&m.publishes["done-before-kill"]), None);
        assert_eq!(m.allowed_loss(&m.publishes["half-done"]), Some(400 * MS));
        assert_eq!(m.allowed_loss(&m.publishes["after-kill"]), None);

        // Queue seed 22607: FINed, then redelivered by the killed instance in the instant of the
        // kill (seen just after it): unfinished when the node went down, so the kill may lose it.
        // Seen on a connection made after the restart instead, the new instance sent it.
        let redelivered = |by_killed_instance: bool| {
            let mut h = H::new();
            h.config(0, "q1", false, 1000).sub_as(10, "q1", "b", "c2").publish(100, "q1", "k", 0);
            h.deliver(150, "q1", "b", "c2", "k", 1).fin(160, "q1", "b", "c2", "k");
            if by_killed_instance {
                h.sub_as(390, "q1", "b", "c2").kill(400, "q1").deliver(401, "q1", "b", "c2", "k", 2).restart(500, "q1");
            } else {
                h.kill(400, "q1").restart(500, "q1").sub_as(550, "q1", "b", "c2").deliver(600, "q1", "b", "c2", "k", 2);
            }
            let m = QueueModel::from_history(&h.end(700));
            m.allowed_loss(&m.publishes["k"])
        };
        assert_eq!(redelivered(true), Some(400 * MS));
        assert_eq!(redelivered(false), None);

        // The same history on a durable node allows nothing.
        let durable = H::new().config(0, "q1", true, 1000).sub(10, "q1", "a").publish(300, "q1", "k", 0).kill(400, "q1").end(700);
        let m = QueueModel::from_history(&durable);
        assert_eq!(m.allowed_loss(&m.publishes["k"]), None);

        // A clean stop allows nothing, unless the disk was faulted at the stop.
        let stop = H::new().config(0, "q1", false, 1000).sub(10, "q1", "a").publish(300, "q1", "k", 0).stop(400, "q1").end(700);
        let m = QueueModel::from_history(&stop);
        assert_eq!(m.allowed_loss(&m.publishes["k"]), None);
        let faulted = H::new()
            .config(0, "q1", false, 1000)
            .sub(10, "q1", "a")
            .publish(300, "q1", "k", 0)
            .fault(350, "q1", Fault::Disk { node: "q1".into(), read_errors: false, write_errors: true, full: false })
            .stop(400, "q1")
            .end(700);
        let m = QueueModel::from_history(&faulted);
        assert_eq!(m.allowed_loss(&m.publishes["k"]), Some(400 * MS));
    }

    #[test]
    fn a_message_back_after_its_fin_is_unfinished_again() {
        let h = H::new()
            .config(0, "q1", false, 1000)
            .sub(10, "q1", "a")
            .publish(100, "q1", "k", 0)
            .deliver(150, "q1", "a", "c1", "k", 1)
            .fin(160, "q1", "a", "c1", "k")
            .stop(161, "q1")
            .restart(200, "q1")
            .deliver(300, "q1", "a", "c1", "k", 2)
            .kill(400, "q1")
            .end(700);
        let m = QueueModel::from_history(&h);
        assert!(m.finished_at("k", "a", 200 * MS));
        assert!(!m.finished_at("k", "a", 300 * MS));
        assert_eq!(m.allowed_loss(&m.publishes["k"]), Some(400 * MS));
    }

    #[test]
    fn the_heal_of_a_slow_clock_is_a_forward_step() {
        // Whole-system seed 17309: -355 ppm from 3.9 s, healed (offset 0) at 60 s: about 20 ms
        // forward at the heal.
        let h = H::new()
            .fault(3_885, "q2", Fault::ClockDrift { node: "q2".into(), ppm: -355 })
            .fault(60_002, "q2", Fault::ClockOffset { node: "q2".into(), offset_ms: 0 })
            .end(70_000);
        let m = QueueModel::from_history(&h);
        assert_eq!(m.clock_gain_ms("q2", 58_555 * MS, 60_281 * MS), 20 + 1);
        // Before the heal the slow clock gained nothing.
        assert_eq!(m.clock_gain_ms("q2", 50_000 * MS, 60_000 * MS), 1);
        // A fast clock's heal steps back: no gain beyond its drift.
        let h = H::new()
            .fault(0, "q2", Fault::ClockDrift { node: "q2".into(), ppm: 1000 })
            .fault(10_000, "q2", Fault::ClockOffset { node: "q2".into(), offset_ms: 0 })
            .end(20_000);
        let m = QueueModel::from_history(&h);
        assert_eq!(m.clock_gain_ms("q2", 9_000 * MS, 11_000 * MS), 2 + 1);
    }

    #[test]
    fn clock_gain_counts_forward_steps_and_fast_drift() {
        let h = H::new()
            .fault(100, "q1", Fault::ClockJump { node: "q1".into(), delta_ms: 500 })
            .fault(200, "q1", Fault::ClockOffset { node: "q1".into(), offset_ms: -1000 })
            .fault(300, "q1", Fault::ClockJump { node: "q1".into(), delta_ms: 300 })
            .end(400);
        let m = QueueModel::from_history(&h);
        assert_eq!(m.clock_gain_ms("q1", 0, 400 * MS), 801);
        assert_eq!(m.clock_gain_ms("q1", 150 * MS, 250 * MS), 1);
        assert_eq!(m.clock_gain_ms("q2", 0, 400 * MS), 1);
    }
}
