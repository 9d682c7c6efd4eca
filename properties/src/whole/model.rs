//! The whole system's history, reshaped for its end-to-end properties: orders published, their
//! deliveries and answers, the calls consumers made to the `orders` service through the gateways,
//! and the service's processings.
//!
//! What the `whole-system` scenario must record (and what each means here):
//! - `Invoke`/`Complete` of `Call::Publish { key, .. }`: the order `key` (unique per publish,
//!   never retried with the same key); an `Ok` outcome is the queue's acknowledgement.
//! - `Observation::Delivered { consumer, key, id, server, .. }` when a consumer's handler gets the
//!   message, before it calls the service; `Finished` / `Requeued` when it sends FIN / REQ.
//! - `Invoke`/`Complete` of `Call::GatewayRequest { route, path, .. }` for each call of the
//!   service, with `path` = [`order_path`]`(order, request)`: the request key is unique per call,
//!   and the call belongs to the latest delivery of the order to the invoking process before it.
//! - `Observation::OrderProcessed { instance, order, request }` from the service, per processing.
//! - `Observation::ServerError` (an `E_FIN_FAILED` names a FIN the node refused) and
//!   `Observation::ConnectionLost` / `Disconnected` for a consumer's connections; node lifecycle,
//!   faults and `Healed` from the harness (through [`QueueModel`]).

use std::collections::BTreeMap;

use history::{Call, EventKind, Fault, History, Observation, Outcome};

use crate::queue::model::QueueModel;
pub use crate::queue::model::{secs, MS};

/// The path of a call for `order` with request key `request`; [`parse_order_path`] reads it back.
pub fn order_path(order: &str, request: &str) -> String {
    format!("/orders/{order}?request={request}")
}

/// `(order, request)` from a path made by [`order_path`].
pub fn parse_order_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/orders/")?;
    let (order, query) = rest.split_once("?request=")?;
    if order.is_empty() || query.is_empty() || query.contains('&') {
        return None;
    }
    Some((order.to_string(), query.to_string()))
}

/// One delivery of an order to a consumer, with the consumer's answer to it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub at_ns: u64,
    pub consumer: String,
    pub server: String,
    pub id: String,
    pub attempts: u16,
    /// The consumer's first FIN or REQ for this delivery (before the next delivery of the order
    /// to the same consumer): `(time, is_req)`.
    pub answer: Option<(u64, bool)>,
    /// When the consumer's connection it arrived on subscribed (its latest SUB to the node).
    pub conn_ns: Option<u64>,
}

/// A consumer's call of the orders service.
#[derive(Debug, Clone)]
pub struct OrderCall {
    pub order: String,
    pub request: String,
    pub consumer: String,
    pub gateway: String,
    pub invoke_ns: u64,
    pub outcome: Option<(u64, Outcome)>,
    /// Index into the order's deliveries of the delivery this call was made for.
    pub delivery: Option<usize>,
}

/// A processing by the service.
#[derive(Debug, Clone)]
pub struct Processing {
    pub at_ns: u64,
    pub instance: String,
    pub order: String,
    pub request: String,
}

#[derive(Debug, Default)]
pub struct WholeModel {
    pub queue: QueueModel,
    /// Order key → (publish invoked, acknowledged at).
    pub publishes: BTreeMap<String, (u64, Option<u64>)>,
    /// Order key → its deliveries in the order they were observed.
    pub deliveries: BTreeMap<String, Vec<Delivery>>,
    /// Request key → the call.
    pub calls: BTreeMap<String, OrderCall>,
    /// Every processing, in order.
    pub processings: Vec<Processing>,
    /// (consumer, server) → times an `E_FIN_FAILED` arrived.
    /// (Each time with the id the refused FIN named: the consumers also send deliberate
    /// duplicate FINs, whose refusals say nothing about other messages.)
    pub fin_failed: BTreeMap<(String, String), Vec<(u64, String)>>,
    /// (consumer, server) → times a connection ended or a connect failed.
    pub conn_lost: BTreeMap<(String, String), Vec<u64>>,
    /// node → [from, to) pauses.
    pub pauses: BTreeMap<String, Vec<(u64, u64)>>,
    /// (consumer, server) → its latest SUB so far (while building).
    subs: BTreeMap<(String, String), u64>,
}

impl WholeModel {
    pub fn from_history(h: &History) -> WholeModel {
        let mut m = WholeModel { queue: QueueModel::from_history(h), ..Default::default() };
        let mut done: BTreeMap<u64, (u64, Outcome)> = BTreeMap::new();
        for e in &h.events {
            if let EventKind::Complete { op, outcome } = &e.kind {
                done.insert(*op, (e.at_ns, outcome.clone()));
            }
        }
        let mut paused: BTreeMap<String, u64> = BTreeMap::new();
        for e in &h.events {
            match &e.kind {
                EventKind::Invoke { op, process, call } => match call {
                    Call::Publish { key, .. } => {
                        let ack = match done.get(op) {
                            Some((at, Outcome::Ok { .. })) => Some(*at),
                            _ => None,
                        };
                        m.publishes.insert(key.clone(), (e.at_ns, ack));
                    }
                    Call::GatewayRequest { gateway, path, .. } => {
                        let Some((order, request)) = parse_order_path(path) else { continue };
                        let delivery = m.deliveries.get(&order).and_then(|ds| ds.iter().rposition(|d| d.consumer == *process));
                        m.calls.insert(
                            request.clone(),
                            OrderCall {
                                order,
                                request,
                                consumer: process.clone(),
                                gateway: gateway.clone(),
                                invoke_ns: e.at_ns,
                                outcome: done.get(op).cloned(),
                                delivery,
                            },
                        );
                    }
                    _ => {}
                },
                EventKind::Observe { what, .. } => m.observe(e.at_ns, what),
                EventKind::Fault { fault: Fault::Pause { node } } => {
                    paused.insert(node.clone(), e.at_ns);
                }
                EventKind::Fault { fault: Fault::Resume { node } } | EventKind::Fault { fault: Fault::Stop { node } } => {
                    if let Some(from) = paused.remove(node) {
                        m.pauses.entry(node.clone()).or_default().push((from, e.at_ns));
                    }
                }
                EventKind::NodeKilled | EventKind::NodeStopped { .. } => {
                    if let Some(from) = paused.remove(&e.node) {
                        m.pauses.entry(e.node.clone()).or_default().push((from, e.at_ns));
                    }
                }
                _ => {}
            }
        }
        let end = h.end_ns();
        for (node, from) in paused {
            m.pauses.entry(node).or_default().push((from, end));
        }
        m
    }

    fn observe(&mut self, at_ns: u64, what: &Observation) {
        match what {
            Observation::Delivered { consumer, server, key, id, attempts, .. } => {
                let conn_ns = self.subs.get(&(consumer.clone(), server.clone())).copied();
                self.deliveries.entry(key.clone()).or_default().push(Delivery {
                    at_ns,
                    consumer: consumer.clone(),
                    server: server.clone(),
                    id: id.clone(),
                    attempts: *attempts,
                    answer: None,
                    conn_ns,
                });
            }
            Observation::Subscribed { consumer, server, .. } => {
                self.subs.insert((consumer.clone(), server.clone()), at_ns);
            }
            Observation::Finished { consumer, key, .. } | Observation::Requeued { consumer, key, .. } => {
                let is_req = matches!(what, Observation::Requeued { .. });
                // The consumer's latest delivery of the order takes the answer, if still open.
                if let Some(d) = self.deliveries.get_mut(key).and_then(|ds| ds.iter_mut().rev().find(|d| d.consumer == *consumer)) {
                    if d.answer.is_none() {
                        d.answer = Some((at_ns, is_req));
                    }
                }
            }
            Observation::OrderProcessed { instance, order, request } => self.processings.push(Processing {
                at_ns,
                instance: instance.clone(),
                order: order.clone(),
                request: request.clone(),
            }),
            Observation::ServerError { server, client, code, desc } if code == "E_FIN_FAILED" => {
                // nsqd's text: `FIN <id> failed <reason>`.
                let id = desc.split_whitespace().nth(1).unwrap_or_default().to_string();
                self.fin_failed.entry((client.clone(), server.clone())).or_default().push((at_ns, id))
            }
            Observation::ConnectionLost { server, client, .. } => self.conn_lost.entry((client.clone(), server.clone())).or_default().push(at_ns),
            Observation::Disconnected { server, consumer, .. } => {
                self.conn_lost.entry((consumer.clone(), server.clone())).or_default().push(at_ns)
            }
            _ => {}
        }
    }

    /// The start of the node instance that sent delivery `d`: the one that answered the SUB of
    /// its connection. A delivery stalled in a cut connection can be seen after its node was
    /// killed and restarted, after deliveries the new instance made (whole-system seed 340).
    pub fn sent_start(&self, d: &Delivery) -> u64 {
        self.queue.last_start(&d.server, d.conn_ns.unwrap_or(d.at_ns).min(d.at_ns))
    }

    /// Whether `node` was paused at any moment of `[from, to]`.
    pub fn paused_within(&self, node: &str, from: u64, to: u64) -> bool {
        self.pauses.get(node).into_iter().flatten().any(|&(a, b)| a <= to && b >= from)
    }

    /// Why the node may have handed delivery `d` out again, as the history shows it — a REQ, a
    /// timeout (no FIN within `msg_timeout_ms`), or a FIN that may never have arrived in time (the
    /// node refused it, the connection ended, the consumer–node link was cut or either end paused
    /// within the timeout, the node went down or restarted before `until_ns`) — or `None`.
    pub fn release(&self, d: &Delivery, msg_timeout_ms: u64, until_ns: u64) -> Option<&'static str> {
        let deadline = d.at_ns + msg_timeout_ms * MS;
        match d.answer {
            Some((_, true)) => return Some("REQ"),
            None => return Some("timeout (no FIN)"),
            Some((at, false)) if at > deadline => return Some("timeout (FIN after msg_timeout)"),
            Some(_) => {}
        }
        let key = (d.consumer.clone(), d.server.clone());
        // Evidence of a lost FIN may arrive late (a stalled link delivers it at the heal).
        let late = until_ns.max(deadline) + 20_000 * MS;
        let within = |ts: Option<&Vec<u64>>| ts.into_iter().flatten().any(|&t| t >= d.at_ns && t <= late);
        if self.fin_failed.get(&key).into_iter().flatten().any(|(t, id)| *id == d.id && *t >= d.at_ns && *t <= late) {
            return Some("E_FIN_FAILED");
        }
        if within(self.conn_lost.get(&key)) {
            return Some("connection lost");
        }
        if self.queue.link_blocked(&d.consumer, &d.server, d.at_ns, deadline) {
            return Some("consumer–node link cut");
        }
        if self.paused_within(&d.consumer, d.at_ns, deadline) || self.paused_within(&d.server, d.at_ns, deadline) {
            return Some("pause");
        }
        if self.queue.lifecycle_between(&d.server, d.at_ns, until_ns.max(d.at_ns)) || self.queue.lifecycle_between(&d.consumer, d.at_ns, deadline) {
            return Some("node down or restarted");
        }
        None
    }
}
