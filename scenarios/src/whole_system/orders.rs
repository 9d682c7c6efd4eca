//! The `orders` service, which exists only in the simulator: `POST /orders/{order}` processes an
//! order and answers 200 with the instance's name. Each instance keeps itself registered in the
//! registry through the client's agent (ttl [`TTL_MS`]), whose acknowledged writes it records.
//!
//! It records each request's arrival (`GatewayBackendGot`, what the gateway's at-most-once
//! property counts) and each processing (`OrderProcessed`, before answering: a processing whose
//! answer is lost is still a processing). During the fault window a share of processings take
//! longer than the gateway's attempt timeout: a slow instance, seen only by the gateway.
//!
//! `GET /sticky/id` answers the instance's name at once and records nothing: the observer's
//! requests through the hashed route, whose answers say which instance a key went to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use client::registry::{Agent, AgentConfig, NodesConfig, Registration, RegistryEvent};
use history::Observation;
use sim::NodeCtx;

use super::services::SERVICE;
use super::{Topology, TTL_MS};

pub const PORT: u16 = 80;
const SLOW_PERCENT: u32 = 5;
const SLOW_MS: u64 = 1_200;

/// How an instance behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrdersBehaviour {
    /// Deliberately broken: on every start after the first, the instance replays its journal,
    /// whose torn last entry decodes as an order nobody sent, and processes it.
    pub invent_on_restart: bool,
}

pub fn nodes_config(topo: &Topology) -> NodesConfig {
    let addrs: Vec<String> = topo.registries.iter().map(|(_, a)| a.clone()).collect();
    NodesConfig { backoff_min_ms: 250, backoff_max_ms: 2_000, connect_timeout_ms: 500, request_timeout_ms: 1_000, ..NodesConfig::new(addrs) }
}

/// One instance; `start` counts its starts (1 for the first).
pub async fn instance(ctx: NodeCtx, topo: Topology, behaviour: OrdersBehaviour, start: u32, slow_until: rt::time::Instant) {
    let (_trigger, mut shutdown) = rt::shutdown::on_signal();
    let me = ctx.name.clone();
    if behaviour.invent_on_restart && start > 1 {
        let what = Observation::OrderProcessed { instance: me.clone(), order: format!("journal-{me}-{start}"), request: "journal-replay".into() };
        ctx.recorder.observe(&me, &me, what);
    }
    let rec = ctx.recorder.clone();
    let handler = move |Path(order): Path<String>, headers: HeaderMap| {
        let (rec, me) = (rec.clone(), me.clone());
        async move {
            let request = headers.get("x-request-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            rec.observe(&me, &me, Observation::GatewayBackendGot { backend: me.clone(), key: request.clone(), method: "POST".into() });
            let work_ms = if rt::time::now() < slow_until && rt::rand::range(0..100u32) < SLOW_PERCENT { SLOW_MS } else { rt::rand::range(2..20) };
            // The work runs to its end even if the caller goes away meanwhile (a gateway's attempt
            // timeout drops the connection, and with it this handler): as a real service's
            // database write would.
            let (done_tx, done_rx) = tokio::sync::oneshot::channel();
            let who = me.clone();
            rt::task::spawn(async move {
                rt::time::sleep(Duration::from_millis(work_ms)).await;
                rec.observe(&who, &who, Observation::OrderProcessed { instance: who.clone(), order, request });
                let _ = done_tx.send(());
            });
            let _ = done_rx.await;
            me
        }
    };
    let name = ctx.name.clone();
    let sticky = move || {
        let name = name.clone();
        async move { name }
    };
    let router = Router::new().route("/orders/{order}", post(handler)).route("/sticky/id", get(sticky));
    let listener = match rt::net::TcpListener::bind(SocketAddr::new(ctx.ip, PORT)).await {
        Ok(l) => l,
        Err(e) => panic!("orders bind: {e}"),
    };
    rt::task::spawn(rt::http::serve(listener, router, shutdown.clone()));

    let (rec, me, t) = (ctx.recorder.clone(), ctx.name.clone(), topo.clone());
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        let client::Event::Registry(r) = e else { return };
        let (node, op, version, took_ms) = match r {
            RegistryEvent::Registered { node, version, took_ms, .. } => (node, "register", *version, *took_ms),
            RegistryEvent::Renewed { node, version, took_ms, .. } => (node, "renew", *version, *took_ms),
            RegistryEvent::Deregistered { node, version, .. } => (node, "deregister", *version, 0),
            _ => return,
        };
        let what = Observation::RegistryAck {
            instance: me.clone(),
            server: t.registry_name(node),
            service: SERVICE.into(),
            id: me.clone(),
            op: op.into(),
            version,
            took_ms,
        };
        rec.observe(&me, &me, what);
    });
    let mut registration = Registration::new(ctx.ip.to_string(), PORT);
    registration.ttl_ms = Some(TTL_MS);
    let agent = match Agent::start(AgentConfig::new(nodes_config(&topo), SERVICE, ctx.name.clone(), registration), Some(observer)) {
        Ok(a) => a,
        Err(e) => panic!("agent config: {e}"),
    };
    shutdown.wait().await;
    agent.stop().await;
}

