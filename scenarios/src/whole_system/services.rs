//! The whole system's service nodes, as the other scenarios start them: registry nodes (with
//! their events recorded), lookups, durable queue nodes registering with both lookups, and
//! gateways that follow the `orders` service through `[registry]`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use history::Observation;
use sim::NodeCtx;

use super::{Topology, LOOKUP_HTTP_PORT, LOOKUP_TCP_PORT, MSG_TIMEOUT_MS, QUEUE_HTTP_PORT, QUEUE_TCP_PORT, REGISTRY_PORT, TTL_MS};

pub const GATEWAY_PORT: u16 = 8080;
pub const ROUTE: &str = "orders";
/// `GET /sticky/id?user=…` to the same service, balanced by consistent hashing on `user`:
/// the traffic `gateway_hash_sticky_while_stable` judges (the observer sends it).
pub const STICKY_ROUTE: &str = "sticky";
pub const SERVICE: &str = "orders";
/// Both routes' whole-request deadline.
pub const ROUTE_TIMEOUT_MS: u64 = 2_000;
pub const TRY_TIMEOUT_MS: u64 = 800;
/// The lookups drop a queue node that has not pinged for this long (it pings every 15 s).
pub const INACTIVE_TIMEOUT_MS: u64 = 20_000;
/// How long a tombstone hides a queue node (the observer tombstones one once in the window).
pub const TOMBSTONE_LIFETIME_MS: u64 = 5_000;
pub const SWEEP_MS: u64 = 500;
pub const REPLICATE_MS: u64 = 200;
pub const REPLICATE_TIMEOUT_MS: u64 = 1_000;

fn note(ctx: &NodeCtx, text: String) {
    ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text });
}

/// A registry node replicating to the other two, its evictions, self-preservation and syncs
/// recorded (the registry properties read them).
pub async fn registry_node(ctx: NodeCtx, topo: Topology) {
    let me = SocketAddr::new(ctx.ip, REGISTRY_PORT).to_string();
    let options = registry::Options {
        http_address: SocketAddr::new(ctx.ip, REGISTRY_PORT),
        node_name: ctx.name.clone(),
        data_path: "/data/registry".into(),
        peers: topo.registries.iter().filter(|(_, a)| *a != me).map(|(_, a)| a.clone()).collect(),
        ttl_default_ms: TTL_MS,
        sweep_interval_ms: SWEEP_MS,
        watch_keepalive_ms: 1_000,
        replicate_interval_ms: REPLICATE_MS,
        replicate_timeout_ms: REPLICATE_TIMEOUT_MS,
        anti_entropy_interval_ms: 3_000,
        sync_timeout_ms: 3_000,
        ..registry::Options::default()
    };
    let (rec, name) = (ctx.recorder.clone(), ctx.name.clone());
    let sink: registry::node::EventSink = Arc::new(move |e: &registry::node::NodeEvent| {
        use registry::node::NodeEvent;
        let what = match e {
            NodeEvent::Evicted { key } => Observation::RegistryEvicted { server: name.clone(), service: key.service.clone(), id: key.id.clone() },
            NodeEvent::SelfPreservation { active, renewing_per_min, expected_per_min } => Observation::RegistrySelfPreservation {
                server: name.clone(),
                active: *active,
                renewals_last_min: *renewing_per_min,
                expected_per_min: *expected_per_min,
            },
            NodeEvent::Synced { .. } => Observation::RegistrySynced { server: name.clone() },
            _ => return,
        };
        rec.observe(&name, &name, what);
    });
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    loop {
        match registry::node::run_with(options.clone(), Some(sink.clone()), shutdown.clone()).await {
            Ok(()) => return,
            Err(e) => {
                note(&ctx, format!("registry failed: {e:#}"));
                if shutdown.is_triggered() {
                    return;
                }
                rt::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// A lookup (nsqlookupd).
pub async fn lookup_node(ctx: NodeCtx) {
    let opts = lookup::Options {
        tcp_address: SocketAddr::new(ctx.ip, LOOKUP_TCP_PORT),
        http_address: SocketAddr::new(ctx.ip, LOOKUP_HTTP_PORT),
        broadcast_address: ctx.ip.to_string(),
        hostname: ctx.name.clone(),
        inactive_producer_timeout_ms: INACTIVE_TIMEOUT_MS,
        tombstone_lifetime_ms: TOMBSTONE_LIFETIME_MS,
        client_read_timeout_ms: 120_000,
        ..lookup::Options::default()
    };
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    match lookup::Daemon::start(opts).await {
        Ok(d) => {
            if let Err(e) = d.run_until(shutdown).await {
                note(&ctx, format!("lookup stopped with an error: {e:#}"));
            }
        }
        Err(e) => note(&ctx, format!("lookup start failed: {e:#}")),
    }
}

/// A durable queue node (`--sync-every=1 --mem-queue-size=0`: nothing acknowledged may be lost),
/// registering with both lookups.
pub async fn queue_node(ctx: NodeCtx, node_id: u16, topo: Topology) {
    let opts = queue::Options {
        tcp_address: SocketAddr::new(ctx.ip, QUEUE_TCP_PORT),
        http_address: SocketAddr::new(ctx.ip, QUEUE_HTTP_PORT),
        broadcast_address: ctx.ip.to_string(),
        hostname: ctx.name.clone(),
        lookupd_tcp_addresses: topo.lookups.iter().map(|(_, ip)| SocketAddr::new(*ip, LOOKUP_TCP_PORT).to_string()).collect(),
        node_id,
        data_path: "/data/queue".into(),
        mem_queue_size: 0,
        sync_every: 1,
        sync_timeout_ms: 500,
        max_bytes_per_file: 64 * 1024,
        msg_timeout_ms: MSG_TIMEOUT_MS,
        queue_scan_interval_ms: 100,
        ..queue::Options::default()
    };
    crate::queue_node::run(&ctx, opts).await;
}

fn gateway_config(ip: std::net::IpAddr, topo: &Topology) -> String {
    let addrs: Vec<String> = topo.registries.iter().map(|(_, a)| format!("\"{a}\"")).collect();
    format!(
        "[registry]\naddresses = [{}]\nconnect_timeout_ms = 500\nrequest_timeout_ms = 1000\nkeepalive_ms = 1000\nwait_ms = 5000\n\
         max_fails = 1\nfail_timeout_ms = 2000\n\n\
         [gateway]\nconnect_timeout_ms = 500\n\n\
         [[listener]]\nname = \"public\"\nlisten = \"{ip}:{GATEWAY_PORT}\"\n\n\
         [[route]]\nname = \"{ROUTE}\"\npath_prefix = \"/orders\"\nservice = \"{SERVICE}\"\ntimeout_ms = {ROUTE_TIMEOUT_MS}\ntry_timeout_ms = {TRY_TIMEOUT_MS}\n\
         middleware = [\"request_id\", \"timeout\", \"retry\", \"outlier\"]\n\
         outlier = {{ consecutive_failures = 3, base_ejection_ms = 1000, max_ejection_percent = 50 }}\n\n\
         [[route]]\nname = \"{STICKY_ROUTE}\"\npath_prefix = \"/sticky\"\nservice = \"{SERVICE}\"\nbalancer = \"consistent_hash\"\nhash_key = \"query:user\"\n\
         timeout_ms = {ROUTE_TIMEOUT_MS}\ntry_timeout_ms = {TRY_TIMEOUT_MS}\nmiddleware = [\"request_id\", \"timeout\", \"retry\", \"outlier\"]\n\
         outlier = {{ consecutive_failures = 3, base_ejection_ms = 1000, max_ejection_percent = 50 }}\n",
        addrs.join(", ")
    )
}

/// A gateway routing `/orders` (and `/sticky`, hashed on `?user=`) to the `orders` service's
/// instances, as the registry lists them.
pub async fn gateway_node(ctx: NodeCtx, topo: Topology, testing: gateway::Testing) {
    let config = match gateway::parse_config(&gateway_config(ctx.ip, &topo)) {
        Ok(c) => c,
        Err(e) => panic!("gateway config: {e}"),
    };
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    let options = gateway::GatewayOptions { testing, ..Default::default() };
    match gateway::Gateway::start(config, options).await {
        Ok(gw) => {
            if let Err(e) = gw.run_until(shutdown).await {
                note(&ctx, format!("gateway stopped: {e:#}"));
            }
        }
        Err(e) => note(&ctx, format!("gateway failed to start: {e:#}")),
    }
}
