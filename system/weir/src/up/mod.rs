//! `weir up`: a whole local cluster in one command, for a newcomer to try the real system in a
//! minute. A lookup, two queue nodes registered with it, a three-node registry replicating to
//! itself, a demo backend registered in the registry as service `demo`, and a gateway whose
//! route `/demo/` follows that service through the registry. Each service is this binary run as
//! a child process with its log under `<data-path>/logs/`; the demo backend runs in this process.
//! Prints every address and a few commands to try; Ctrl-C (or SIGTERM) stops everything cleanly.
//!
//! Tooling, not a service: it is never simulated (the simulator builds its own topologies), so it
//! is compiled out of the simulator build.

mod children;
mod demo;
mod layout;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::goflags::{Flag, FlagSet, Kind};
use children::Service;
pub use layout::{Layout, DEFAULT_PORTS, PORTS};

const PREFIX: &str = "[up] ";

fn flag_set() -> FlagSet {
    let mut f = FlagSet::new("weir up");
    f.add(Flag::new("data-path", Kind::String, "", "directory for every node's data and logs (default: <temp dir>/weir-up)"));
    f.add(Flag::new("host", Kind::String, "127.0.0.1", "address every service listens on"));
    f.add(Flag::new(
        "port-base",
        Kind::String,
        "",
        "lay the 12 ports out from this one (0: any free ports); default: lookup 4160/4161, queues 4150/4151 and 4250/4251, \
         registry 8500-8502, demo backend 9000, gateway 8080 (admin 9901)",
    ));
    f.add(Flag::new("log-level", Kind::String, "info", "the services' log level (debug, info, warn, error)"));
    f
}

/// What `weir up` was asked for.
struct Request {
    data: PathBuf,
    layout: Layout,
    log_level: String,
}

/// Runs `weir up`; returns the exit code.
#[cfg(not(madsim))]
pub fn up(args: &[String]) -> i32 {
    let flags = flag_set();
    let parsed = match crate::cli::parse_flags(&flags, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let host: IpAddr = match parsed.str("host").parse() {
        Ok(h) => h,
        Err(e) => return usage(&flags, &format!("--host {:?}: {e}", parsed.str("host"))),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            crate::logline::log(PREFIX, "FATAL", &format!("cannot start the runtime: {e}"));
            return 1;
        }
    };
    runtime.block_on(async move {
        let layout = match parsed.str("port-base") {
            "" => Layout::from_ports(host, DEFAULT_PORTS),
            "0" => match free_ports(host).await {
                Ok(l) => l,
                Err(e) => return usage(&flags, &format!("cannot find free ports: {e}")),
            },
            n => match n.parse::<u16>().ok().and_then(|b| Layout::from_base(host, b)) {
                Some(l) => l,
                None => return usage(&flags, &format!("--port-base {n}: a port such that {PORTS} ports from it stay below 65536")),
            },
        };
        let data = match parsed.str("data-path") {
            "" => std::env::temp_dir().join("weir-up"),
            p => PathBuf::from(p),
        };
        let request = Request { data, layout, log_level: parsed.str("log-level").to_string() };
        match run(request).await {
            Ok(code) => code,
            Err(e) => {
                crate::logline::log(PREFIX, "FATAL", &format!("{e:#}"));
                1
            }
        }
    })
}

#[cfg(madsim)]
pub fn up(_args: &[String]) -> i32 {
    // No log line: the simulator's wall clock exists only inside a run.
    eprintln!("{PREFIX}FATAL: weir up does not run inside the simulator");
    1
}

fn usage(flags: &FlagSet, msg: &str) -> i32 {
    eprintln!("weir up: {msg}");
    eprint!("{}", flags.usage());
    2
}

/// Twelve distinct free ports on `host`: each bound to port 0 and released (all held at once,
/// so they differ). Another process could take one in between; `weir up` then fails on it and
/// says which.
#[cfg_attr(madsim, allow(dead_code))]
async fn free_ports(host: IpAddr) -> std::io::Result<Layout> {
    let mut held = vec![];
    let mut ports = [0u16; PORTS];
    for p in ports.iter_mut() {
        let l = rt::net::TcpListener::bind(SocketAddr::new(host, 0)).await?;
        *p = l.local_addr()?.port();
        held.push(l);
    }
    Ok(Layout::from_ports(host, ports))
}

/// The command lines of the cluster's processes, in start order: (name, args, addresses that
/// must answer before the next starts).
fn commands(r: &Request) -> Vec<(String, Vec<String>, Vec<SocketAddr>)> {
    let l = &r.layout;
    let data = |name: &str| r.data.join(name).display().to_string();
    let host = l.lookup_tcp.ip().to_string();
    let level = format!("--log-level={}", r.log_level);
    let mut out = vec![(
        "lookup".to_string(),
        vec!["lookup".into(), format!("--tcp-address={}", l.lookup_tcp), format!("--http-address={}", l.lookup_http), format!("--broadcast-address={host}"), level.clone()],
        vec![l.lookup_tcp, l.lookup_http],
    )];
    for (i, (tcp, http)) in l.queues.iter().enumerate() {
        let name = format!("queue-{}", i + 1);
        out.push((
            name.clone(),
            vec![
                "queue".into(),
                format!("--tcp-address={tcp}"),
                format!("--http-address={http}"),
                format!("--broadcast-address={host}"),
                format!("--lookupd-tcp-address={}", l.lookup_tcp),
                format!("--data-path={}", data(&name)),
                format!("--node-id={}", i + 1),
                level.clone(),
            ],
            vec![*tcp, *http],
        ));
    }
    for (i, addr) in l.registries.iter().enumerate() {
        let name = format!("registry-{}", i + 1);
        let mut args =
            vec!["registry".into(), format!("--http-address={addr}"), format!("--node-name={name}"), format!("--data-path={}", data(&name)), level.clone()];
        args.extend(l.registries.iter().filter(|p| *p != addr).map(|p| format!("--peer={p}")));
        out.push((name, args, vec![*addr]));
    }
    out
}

/// The gateway's config: one public listener, the admin API, route `/demo/` → service `demo`
/// followed through the three registry nodes.
fn gateway_config(l: &Layout) -> String {
    let registries: Vec<String> = l.registries.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "# written by `weir up`\n\
         [registry]\naddresses = [{}]\n\n\
         [admin]\nlisten = \"{}\"\n\n\
         [[listener]]\nname = \"public\"\nlisten = \"{}\"\n\n\
         [[route]]\nname = \"{svc}\"\npath_prefix = \"/{svc}\"\nstrip_prefix = true\nservice = \"{svc}\"\n",
        registries.join(", "),
        l.gateway_admin,
        l.gateway,
        svc = demo::SERVICE,
    )
}

#[cfg(not(madsim))]
async fn run(r: Request) -> anyhow::Result<i32> {
    let logs = r.data.join("logs");
    rt::disk::Disk::new(&r.data).create_dir_all("logs").await.map_err(|e| anyhow::anyhow!("cannot create {}: {e}", logs.display()))?;
    // The signal handler first, so a Ctrl-C while starting still stops what started.
    let (_trigger, mut shutdown) = rt::shutdown::on_signal();
    let mut services: Vec<Service> = vec![];
    let started = start_all(&r, &logs, &mut services, &shutdown).await;
    let agent = match started {
        Ok(agent) => agent,
        Err(e) => {
            stop_all(&mut services).await;
            return Err(e);
        }
    };
    print!("{}", banner(&r, &logs));
    // Run until a signal or until a service dies.
    let mut died = None;
    while died.is_none() {
        rt::select! {
            _ = shutdown.wait() => break,
            _ = rt::time::sleep(std::time::Duration::from_millis(500)) => {
                died = services.iter_mut().find_map(Service::exited);
            }
        }
    }
    if let Some(why) = &died {
        crate::logline::log(PREFIX, "ERROR", &format!("{why}: stopping the cluster"));
    } else {
        println!("stopping…");
    }
    agent.stop().await;
    let clean = stop_all(&mut services).await;
    println!("stopped{}", if clean && died.is_none() { "" } else { " (not cleanly: see the logs)" });
    Ok(if clean && died.is_none() { 0 } else { 1 })
}

#[cfg(madsim)]
async fn run(_r: Request) -> anyhow::Result<i32> {
    Ok(1)
}

/// Starts every process in order, each answering before the next starts, then the demo backend
/// and its registration, then the gateway.
#[cfg_attr(madsim, allow(dead_code))]
async fn start_all(
    r: &Request,
    logs: &Path,
    services: &mut Vec<Service>,
    shutdown: &rt::shutdown::Shutdown,
) -> anyhow::Result<client::registry::Agent> {
    for (name, args, addrs) in commands(r) {
        crate::logline::log(PREFIX, "INFO", &format!("starting {name}"));
        services.push(children::spawn(&name, &args, logs, addrs)?);
        services.last_mut().map(Service::ready).expect("just pushed").await?;
    }
    let demo_addr = r.layout.demo;
    let listener = rt::net::TcpListener::bind(demo_addr).await.map_err(|e| anyhow::anyhow!("demo backend on {demo_addr}: {e}"))?;
    let demo_stop = shutdown.clone();
    rt::task::spawn(async move {
        if let Err(e) = demo::serve(listener, demo_stop).await {
            crate::logline::log(PREFIX, "ERROR", &format!("{e:#}"));
        }
    });
    let agent = demo::register(demo_addr, &r.layout.registries)?;

    let config = r.data.join("gateway.toml");
    rt::disk::Disk::new(&r.data)
        .write_atomic("gateway.toml", gateway_config(&r.layout).as_bytes())
        .await
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", config.display()))?;
    let args = vec!["gateway".into(), "--config".into(), config.display().to_string(), format!("--log-level={}", r.log_level)];
    services.push(children::spawn("gateway", &args, logs, vec![r.layout.gateway, r.layout.gateway_admin])?);
    services.last_mut().map(Service::ready).expect("just pushed").await?;
    Ok(agent)
}

/// Stops the services in reverse start order; true when every one stopped cleanly.
#[cfg_attr(madsim, allow(dead_code))]
async fn stop_all(services: &mut [Service]) -> bool {
    let mut clean = true;
    for s in services.iter_mut().rev() {
        clean &= s.stop().await;
    }
    clean
}

/// What `weir up` prints once everything answers: every address, then commands to try.
fn banner(r: &Request, logs: &Path) -> String {
    let l = &r.layout;
    let mut s = format!("\nweir up: a local Weir cluster is running (data in {}, logs in {})\n\n", r.data.display(), logs.display());
    s += &format!("  lookup      tcp {}  http http://{}\n", l.lookup_tcp, l.lookup_http);
    for (i, (tcp, http)) in l.queues.iter().enumerate() {
        s += &format!("  queue-{}     tcp {tcp}  http http://{http}\n", i + 1);
    }
    for (i, a) in l.registries.iter().enumerate() {
        s += &format!("  registry-{}  http http://{a}\n", i + 1);
    }
    s += &format!("  demo        http http://{}  (registered as service \"{}\")\n", l.demo, demo::SERVICE);
    s += &format!("  gateway     http http://{}  admin http://{}  (route /{} → service {})\n", l.gateway, l.gateway_admin, demo::SERVICE, demo::SERVICE);
    let (q1, q2) = (l.queues[0].1, l.queues[1].1);
    let tries = [
        (format!("curl -d 'order 1' 'http://{q1}/pub?topic=orders'"), "publish to queue-1"),
        (format!("curl -d 'order 2' 'http://{q2}/pub?topic=orders'"), "and to queue-2"),
        (format!("curl 'http://{}/lookup?topic=orders'", l.lookup_http), "both queue nodes, found through the lookup"),
        (format!("curl 'http://{q1}/stats?format=json&topic=orders'"), "queue-1's topics, channels and depths"),
        (format!("curl http://{}/{}/hello", l.gateway, demo::SERVICE), "through the gateway to the demo backend"),
        (format!("curl http://{}/api/services/{}", l.registries[1], demo::SERVICE), "the registry's view (any of the three nodes)"),
        (format!("curl http://{}/admin/backends", l.gateway_admin), "the gateway's backends, found in the registry"),
    ];
    let width = tries.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    s += "\nTry:\n";
    for (command, what) in &tries {
        s += &format!("  {command:<width$}  # {what}\n");
    }
    s += "\nCtrl-C stops everything.\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request { data: PathBuf::from("/d"), layout: Layout::from_ports("127.0.0.1".parse().unwrap(), DEFAULT_PORTS), log_level: "info".into() }
    }

    #[test]
    fn queues_register_with_the_lookup_and_registries_peer_with_each_other() {
        let cmds = commands(&request());
        let names: Vec<&str> = cmds.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["lookup", "queue-1", "queue-2", "registry-1", "registry-2", "registry-3"]);
        assert!(cmds[1].1.contains(&"--lookupd-tcp-address=127.0.0.1:4160".to_string()));
        assert!(cmds[2].1.contains(&"--data-path=/d/queue-2".to_string()));
        let peers: Vec<&String> = cmds[4].1.iter().filter(|a| a.starts_with("--peer=")).collect();
        assert_eq!(peers, ["--peer=127.0.0.1:8500", "--peer=127.0.0.1:8502"]);
    }

    #[test]
    fn the_gateway_follows_the_demo_service_through_the_registry() {
        let config = gateway_config(&request().layout);
        assert!(config.contains("addresses = [\"127.0.0.1:8500\", \"127.0.0.1:8501\", \"127.0.0.1:8502\"]"));
        assert!(config.contains("path_prefix = \"/demo\"\nstrip_prefix = true\nservice = \"demo\""));
        assert!(config.contains("listen = \"127.0.0.1:8080\""));
    }

    #[test]
    fn the_banner_prints_every_address() {
        let r = request();
        let text = banner(&r, Path::new("/d/logs"));
        for (_, addr) in r.layout.all() {
            assert!(text.contains(&addr.to_string()), "{addr} missing from\n{text}");
        }
    }
}
