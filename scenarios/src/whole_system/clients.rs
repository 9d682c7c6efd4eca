//! The whole system's clients: publishers that put orders on their local queue node, and
//! consumers that find the queue nodes only through the lookups and process each order by
//! calling the `orders` service through a gateway — FIN once it answered 2xx, else REQ with a
//! delay and fail over to the other gateway for the next call.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use history::{Call, Observation, Outcome};
use properties::whole::order_path;
use sim::NodeCtx;

use super::services::{ROUTE, ROUTE_TIMEOUT_MS};
use super::{Topology, CHANNEL, HEARTBEAT_MS, LOOKUP_HTTP_PORT, MSG_TIMEOUT_MS, PUBLISH_UNTIL_MS, TOPIC};

/// The consumer's own deadline for a call: past the route's timeout, so that a gateway that
/// answers in time is told from one that does not; well within `--msg-timeout`.
const CALL_TIMEOUT_MS: u64 = ROUTE_TIMEOUT_MS + 2_000;
/// The share of orders published deferred.
const DEFER_SHARE: f64 = 0.1;
/// The share of deliveries whose handler hangs before calling the service and never answers
/// (the message times out and comes back).
const HANG_SHARE: f64 = 0.03;
/// Share of FINed deliveries answered a second time, out of turn.
const STRAY_SHARE: f64 = 0.05;

/// Publishes unique order keys to the local queue node until [`PUBLISH_UNTIL_MS`], then stays
/// connected, idle.
pub async fn publisher(ctx: NodeCtx, server: String, addr: SocketAddr) {
    let mut config = client::ProducerConfig { connect_timeout_ms: 1_000, request_timeout_ms: 2_000, ..Default::default() };
    config.identify.heartbeat_interval_ms = HEARTBEAT_MS;
    let (rec, me, s) = (ctx.recorder.clone(), ctx.name.clone(), server.clone());
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        if let client::Event::ConnectionDown { reason, .. } = e {
            let what = Observation::ConnectionLost { server: s.clone(), client: me.clone(), role: "producer".into(), reason: reason.clone() };
            rec.observe(&me, &me, what);
        }
    });
    let producer = client::Producer::lazy(addr, config).with_observer(observer);
    // Let the consumers find the nodes first.
    rt::time::sleep(Duration::from_millis(1_000)).await;
    let incarnation = rt::rand::u64() % 1_000_000;
    let mut i = 0u64;
    while rt::sim::elapsed() < Duration::from_millis(PUBLISH_UNTIL_MS) {
        i += 1;
        let key = format!("{}-{incarnation}-{i}", ctx.name);
        // Some orders are for later (DPUB).
        let defer_ms = if rt::rand::chance(DEFER_SHARE) { rt::rand::range(500..3_000) } else { 0 };
        let call = Call::Publish { server: server.clone(), topic: TOPIC.into(), key: key.clone(), defer_ms };
        let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
        let r = if defer_ms > 0 { producer.deferred_publish(TOPIC, defer_ms, key).await } else { producer.publish(TOPIC, key).await };
        let outcome = crate::queue_node::outcome(r);
        ctx.recorder.complete(&ctx.name, op, outcome);
        rt::time::sleep(Duration::from_millis(rt::rand::range(250..600))).await;
    }
    std::future::pending::<()>().await
}

/// How a consumer treats an order.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsumerBehaviour {
    /// Deliberately broken: FIN first, then call the service (an order whose call fails is lost).
    pub fin_first: bool,
}

/// What a consumer needs: the lookups, the gateways (its preferred one first), and the queue
/// nodes' names by the address the lookups announce.
#[derive(Clone)]
pub struct ConsumerSetup {
    pub topo: Topology,
    pub gateways: Vec<(String, String)>,
    pub behaviour: ConsumerBehaviour,
}

pub async fn consumer(ctx: NodeCtx, setup: ConsumerSetup) {
    let names: Arc<BTreeMap<String, String>> = Arc::new(setup.topo.queue_names());
    let (rec, me, ns) = (ctx.recorder.clone(), ctx.name.clone(), names.clone());
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        let name = |addr: &str| ns.get(addr).cloned().unwrap_or_else(|| addr.to_string());
        let (topic, channel, consumer) = (TOPIC.to_string(), CHANNEL.to_string(), me.clone());
        match e {
            client::Event::ConnectionUp { addr } => rec.observe(&me, &me, Observation::Subscribed { server: name(addr), topic, channel, consumer }),
            client::Event::ConnectionDown { addr, reason } => {
                rec.observe(&me, &me, Observation::Disconnected { server: name(addr), topic, channel, consumer });
                let what = Observation::ConnectionLost { server: name(addr), client: me.clone(), role: "consumer".into(), reason: reason.clone() };
                rec.observe(&me, &me, what);
            }
            client::Event::ServerError { addr, error } => {
                let what = Observation::ServerError { server: name(addr), client: me.clone(), code: error.code.clone(), desc: error.desc.clone() };
                rec.observe(&me, &me, what);
            }
            _ => {}
        }
    });
    let mut config = client::ConsumerConfig {
        max_in_flight: 4,
        max_attempts: 0,
        reconnect_min_ms: 200,
        reconnect_max_ms: 2_000,
        connect_timeout_ms: 1_000,
        lookup_poll_interval_ms: super::POLL_MS,
        lookup_request_timeout_ms: 1_000,
        ..Default::default()
    };
    config.identify.heartbeat_interval_ms = HEARTBEAT_MS;
    let (consumer, mut deliveries) = match client::Consumer::start(TOPIC, CHANNEL, config, Some(observer)) {
        Ok(c) => c,
        Err(e) => panic!("consumer config: {e}"),
    };
    for (_, ip) in &setup.topo.lookups {
        consumer.connect_to_lookupd(SocketAddr::new(*ip, LOOKUP_HTTP_PORT).to_string());
    }
    let http = rt::http::HttpClient::new(rt::http::client::ClientConfig {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(CALL_TIMEOUT_MS),
        ..Default::default()
    });
    // Request keys are unique across the consumer's restarts.
    let incarnation = rt::rand::u64() % 1_000_000;
    let calls = Arc::new(AtomicU64::new(0));
    let preferred = Arc::new(AtomicUsize::new(0));
    while let Some(d) = deliveries.recv().await {
        let server = names.get(d.addr()).cloned().unwrap_or_else(|| d.addr().to_string());
        let key = String::from_utf8_lossy(d.body()).into_owned();
        let id = d.id().to_string();
        let what = Observation::Delivered {
            server: server.clone(),
            topic: TOPIC.into(),
            channel: CHANNEL.into(),
            consumer: ctx.name.clone(),
            key: key.clone(),
            id: id.clone(),
            attempts: d.attempts(),
            server_wall_ms: None,
        };
        ctx.recorder.observe(&ctx.name, &ctx.name, what);
        let (ctx, http, calls, preferred, setup) = (ctx.clone(), http.clone(), calls.clone(), preferred.clone(), setup.clone());
        rt::task::spawn(async move {
            let (topic, channel, consumer) = (TOPIC.to_string(), CHANNEL.to_string(), ctx.name.clone());
            let finished = |ctx: &NodeCtx| {
                let what = Observation::Finished { server: server.clone(), topic: topic.clone(), channel: channel.clone(), consumer: consumer.clone(), key: key.clone(), id: id.clone() };
                ctx.recorder.observe(&ctx.name, &ctx.name, what);
            };
            // An answer out of turn (`queue_stray_answers_rejected` judges the node's error),
            // recorded once it is queued on the delivering connection.
            let again = d.out_of_turn();
            let attempts = d.attempts();
            let stray = |ctx: &NodeCtx, answer: client::StrayAnswer, late: bool| {
                if again.send(answer).is_ok() {
                    let what = Observation::StrayAnswer {
                        server: server.clone(),
                        topic: topic.clone(),
                        channel: channel.clone(),
                        consumer: consumer.clone(),
                        key: key.clone(),
                        id: id.clone(),
                        attempts,
                        verb: answer.verb().to_string(),
                        late,
                    };
                    ctx.recorder.observe(&ctx.name, &ctx.name, what);
                }
            };
            if rt::rand::chance(HANG_SHARE) {
                rt::time::sleep(Duration::from_millis(MSG_TIMEOUT_MS + 500)).await;
                // Half of the hung ones TOUCH late (the node timed the message out meanwhile).
                if rt::rand::chance(0.5) {
                    stray(&ctx, client::StrayAnswer::Touch, true);
                }
                drop(d);
                return;
            }
            if setup.behaviour.fin_first {
                if d.fin().is_ok() {
                    finished(&ctx);
                }
                let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
                let _ = call_orders(&ctx, &http, &setup.gateways, &preferred, &key, &format!("{}-{incarnation}-{n}", ctx.name)).await;
                return;
            }
            let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
            if call_orders(&ctx, &http, &setup.gateways, &preferred, &key, &format!("{}-{incarnation}-{n}", ctx.name)).await {
                if d.fin().is_ok() {
                    finished(&ctx);
                    // Sometimes answer again: a duplicate the node must refuse, queued with the
                    // FIN so that no new attempt can reach this connection in between.
                    if rt::rand::chance(STRAY_SHARE) {
                        let answer = match rt::rand::range(0..3) {
                            0 => client::StrayAnswer::Fin,
                            1 => client::StrayAnswer::Req { delay_ms: rt::rand::range(0..1_000) },
                            _ => client::StrayAnswer::Touch,
                        };
                        stray(&ctx, answer, false);
                    }
                }
            } else {
                let delay_ms = rt::rand::range(300..1_500);
                if d.req_without_backoff(delay_ms).is_ok() {
                    let what = Observation::Requeued { server, topic, channel, consumer, key, id, delay_ms };
                    ctx.recorder.observe(&ctx.name, &ctx.name, what);
                }
            }
        });
    }
    drop(consumer);
}

/// One call of the orders service for `order` through the preferred gateway, recorded; true on
/// a 2xx. A failure moves the preference to the other gateway.
async fn call_orders(ctx: &NodeCtx, http: &rt::http::HttpClient, gateways: &[(String, String)], preferred: &AtomicUsize, order: &str, request: &str) -> bool {
    let g = preferred.load(Ordering::Relaxed) % gateways.len();
    let (name, addr) = &gateways[g];
    let path = order_path(order, request);
    let call = Call::GatewayRequest { gateway: name.clone(), route: ROUTE.into(), path: path.clone() };
    let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
    let req = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://{addr}{path}"))
        .header("x-request-key", request)
        .body(http_body_util::Full::new(bytes::Bytes::from(order.to_string())));
    let req = match req {
        Ok(r) => r,
        Err(e) => panic!("request: {e}"),
    };
    let outcome = match http.send(req).await {
        Ok(r) if r.status().is_success() => Outcome::Ok { value: Some(String::from_utf8_lossy(r.body()).into_owned()) },
        Ok(r) => Outcome::Failed { error: format!("{} {}", r.status().as_u16(), String::from_utf8_lossy(r.body())) },
        Err(e) => Outcome::Unknown { error: e.to_string() },
    };
    let ok = outcome.is_ok();
    ctx.recorder.complete(&ctx.name, op, outcome);
    if !ok {
        let _ = preferred.compare_exchange(g, (g + 1) % gateways.len(), Ordering::Relaxed, Ordering::Relaxed);
    }
    ok
}
