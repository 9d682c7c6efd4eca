//! The harness's own fixture: a tiny key-value server over rt's TCP and disk, its client, and
//! the `fixture` scenario. It exists to prove the harness — that partitions stall, kills lose
//! unsynced bytes, clocks skew per node, disk errors surface, and runs replay — before any real
//! service lands.
//!
//! Protocol, one line each way: `PUT k v` → `OK` | `ERR msg`; `GET k` → `VAL v` | `NONE`;
//! `SYNC` → `OK`; `TIME` → `TIME <unix ms>`; `RAND` → `RAND <u64>`.
//! Storage: an append-only log `kv.log` of `k=v` lines, replayed at start (a torn last line is
//! cut off first).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use history::{Call, Observation, Outcome};
use properties::fixture::{AckedWritesSurvive, AnswersAfterHeal, NoNodeIsKilled};
use properties::Property;
use rand::Rng;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::profile::{FaultProfile, Rule};
use crate::scenario::Scenario;
use crate::world::{NodeCtx, World};

pub const PORT: u16 = 7000;

/// Knobs, including deliberately broken variants that sim's tests use to show properties fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerOptions {
    /// Acknowledge a PUT before syncing it (broken: acked writes die with a kill).
    pub ack_before_sync: bool,
    /// Answer RAND from the OS generator (broken: the run does not replay).
    pub os_random: bool,
    /// After a failed disk write or sync, refuse every later PUT with `ERR` until restarted
    /// (broken: a transient disk fault leaves the server read-only, so it no longer answers
    /// writes after the heal).
    pub read_only_after_disk_error: bool,
}

/// Runs the fixture server until shutdown.
pub async fn server(ctx: NodeCtx, opts: ServerOptions) {
    let (_trigger, mut shutdown) = rt::shutdown::on_signal();
    let disk = rt::disk::Disk::new("/data/kv");
    let _ = disk.create_dir_all("").await;
    let (map, log) = match recover(&disk).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("cannot recover the log: {e}");
            return;
        }
    };
    let state = Arc::new(tokio::sync::Mutex::new((map, log)));
    let disk_failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = match rt::net::TcpListener::bind(SocketAddr::new(ctx.ip, PORT)).await {
        Ok(l) => l,
        Err(e) => panic!("fixture cannot bind: {e}"),
    };
    loop {
        let (stream, _) = rt::select! {
            _ = shutdown.wait() => break,
            a = listener.accept() => match a { Ok(x) => x, Err(_) => continue },
        };
        let (state, ctx, disk_failed) = (state.clone(), ctx.clone(), disk_failed.clone());
        rt::task::spawn(async move {
            let (r, mut w) = rt::net::split(stream);
            let mut lines = BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text: format!("recv {line}") });
                if rt::buggify!() {
                    rt::time::sleep(Duration::from_millis(200)).await;
                }
                // A little service-time jitter. The broken variant draws it from the OS generator,
                // which the simulator does not control: the run then does not replay.
                let jitter_us: u64 = if opts.os_random { rand::thread_rng().gen_range(0..3000) } else { rt::rand::range(0..3000) };
                rt::time::sleep(Duration::from_micros(jitter_us)).await;
                let reply = handle(&line, &state, opts, &disk_failed).await;
                // madsim's TCP (like a buffered writer) sends on flush.
                if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() || w.flush().await.is_err() {
                    break;
                }
            }
        });
    }
    // Clean stop: make the log durable.
    let mut g = state.lock().await;
    let _ = g.1.sync().await;
}

/// How often recovery retries a disk that fails, and for how long (an injected disk fault lasts
/// seconds; a real service would crash-loop instead).
const RECOVER_RETRY: Duration = Duration::from_millis(100);
const RECOVER_ATTEMPTS_MAX: u32 = 600;

/// Reads `kv.log` back and opens it for appending, after cutting off an incomplete last record.
///
/// Why the cut: a kill can tear the last append, leaving a partial line at the end of the log.
/// Appending the next record onto it glues the two into one unreadable line, so a write that
/// was synced and acknowledged vanishes at the next restart (seed 5084). A record is complete
/// only with its newline; everything after the last newline was never acknowledged (a PUT is
/// acknowledged after its whole line is synced) and is truncated away, durably, before the
/// first append. A disk that fails meanwhile (an injected fault) is retried: serving from a
/// half-read log would answer `NONE` for acknowledged keys.
async fn recover(disk: &rt::disk::Disk) -> std::io::Result<(BTreeMap<String, String>, rt::disk::File)> {
    let mut attempt = 0;
    loop {
        match try_recover(disk).await {
            Ok(x) => return Ok(x),
            Err(e) if attempt + 1 >= RECOVER_ATTEMPTS_MAX => return Err(e),
            Err(e) => tracing::warn!("recovering the log failed, retrying: {e}"),
        }
        attempt += 1;
        rt::time::sleep(RECOVER_RETRY).await;
    }
}

async fn try_recover(disk: &rt::disk::Disk) -> std::io::Result<(BTreeMap<String, String>, rt::disk::File)> {
    let bytes = match disk.read("kv.log").await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut map = BTreeMap::new();
    for line in String::from_utf8_lossy(&bytes[..complete]).lines() {
        if let Some((k, v)) = line.split_once('=') {
            map.insert(k.to_string(), v.to_string());
        }
    }
    let mut log = disk.open_or_create("kv.log").await?;
    if complete < bytes.len() {
        tracing::warn!("dropping a torn record of {} bytes at the end of the log", bytes.len() - complete);
        log.set_len(complete as u64).await?;
        log.sync().await?;
    }
    Ok((map, log))
}

type State = Arc<tokio::sync::Mutex<(BTreeMap<String, String>, rt::disk::File)>>;

/// `disk_failed` is set after a failed write or sync; only the broken
/// `read_only_after_disk_error` variant reads it.
async fn handle(line: &str, state: &State, opts: ServerOptions, disk_failed: &std::sync::atomic::AtomicBool) -> String {
    use std::sync::atomic::Ordering;
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("PUT"), Some(k), Some(v)) => {
            if opts.read_only_after_disk_error && disk_failed.load(Ordering::SeqCst) {
                return "ERR read-only after a disk error".into();
            }
            let mut g = state.lock().await;
            if let Err(e) = g.1.append(format!("{k}={v}\n").as_bytes()).await {
                disk_failed.store(true, Ordering::SeqCst);
                return format!("ERR {e}");
            }
            if !opts.ack_before_sync {
                if let Err(e) = g.1.sync().await {
                    disk_failed.store(true, Ordering::SeqCst);
                    return format!("ERR {e}");
                }
            }
            g.0.insert(k.to_string(), v.to_string());
            "OK".into()
        }
        (Some("GET"), Some(k), None) => match state.lock().await.0.get(k) {
            Some(v) => format!("VAL {v}"),
            None => "NONE".into(),
        },
        (Some("SYNC"), None, None) => match state.lock().await.1.sync().await {
            Ok(()) => "OK".into(),
            Err(e) => format!("ERR {e}"),
        },
        (Some("TIME"), None, None) => format!("TIME {}", rt::clock::unix_ns() / 1_000_000),
        (Some("RAND"), None, None) => {
            let n: u64 = if opts.os_random { rand::thread_rng().gen() } else { rt::rand::u64() };
            format!("RAND {n}")
        }
        _ => "ERR bad command".into(),
    }
}

/// A client holding one connection, reconnecting after any failure.
pub struct Client {
    addr: SocketAddr,
    conn: Option<(tokio::io::Lines<BufReader<tokio::io::ReadHalf<rt::net::TcpStream>>>, tokio::io::WriteHalf<rt::net::TcpStream>)>,
    pub timeout: Duration,
}

impl Client {
    pub fn new(ip: IpAddr) -> Client {
        Client { addr: SocketAddr::new(ip, PORT), conn: None, timeout: Duration::from_secs(1) }
    }

    /// Sends one command line and returns the reply line.
    pub async fn call(&mut self, line: &str) -> Result<String, String> {
        let timeout = self.timeout;
        let r = rt::time::timeout(timeout, self.call_inner(line)).await.unwrap_or_else(|_| Err("timeout".into()));
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    async fn call_inner(&mut self, line: &str) -> Result<String, String> {
        if self.conn.is_none() {
            let s = rt::net::connect_timeout(self.addr, self.timeout).await.map_err(|e| e.to_string())?;
            let (r, w) = rt::net::split(s);
            self.conn = Some((BufReader::new(r).lines(), w));
        }
        let (lines, w) = self.conn.as_mut().ok_or("no connection")?;
        w.write_all(format!("{line}\n").as_bytes()).await.map_err(|e| e.to_string())?;
        w.flush().await.map_err(|e| e.to_string())?;
        match lines.next_line().await {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err("connection closed".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Records a call and its outcome in the history.
pub async fn recorded(ctx: &NodeCtx, client: &mut Client, call: Call) -> Result<String, String> {
    let line = match &call {
        Call::KvPut { key, value, .. } => format!("PUT {key} {value}"),
        Call::KvGet { key, .. } => format!("GET {key}"),
        Call::KvTime { .. } => "TIME".to_string(),
        other => panic!("not a fixture call: {other:?}"),
    };
    let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
    let r = client.call(&line).await;
    let outcome = match &r {
        Ok(reply) if reply.starts_with("ERR") => Outcome::Failed { error: reply.clone() },
        Ok(reply) => Outcome::Ok { value: reply.strip_prefix("VAL ").map(String::from).or_else(|| reply.strip_prefix("TIME ").map(String::from)) },
        Err(e) => Outcome::Unknown { error: e.clone() },
    };
    ctx.recorder.complete(&ctx.name, op, outcome);
    r
}

/// The fixture workload: write unique keys to every server, read back earlier acknowledged ones.
pub async fn workload(ctx: NodeCtx, servers: Vec<(String, IpAddr)>) {
    let mut clients: Vec<(String, Client)> = servers.iter().map(|(n, ip)| (n.clone(), Client::new(*ip))).collect();
    let mut acked: Vec<(usize, String)> = Vec::new();
    for i in 0u64.. {
        let s = rt::rand::range(0..clients.len());
        let server = clients[s].0.clone();
        if !acked.is_empty() && rt::rand::chance(0.4) {
            let (s, key) = acked[rt::rand::range(0..acked.len())].clone();
            let server = clients[s].0.clone();
            let _ = recorded(&ctx, &mut clients[s].1, Call::KvGet { server, key }).await;
        } else {
            let key = format!("{}-{i}", ctx.name);
            let call = Call::KvPut { server, key: key.clone(), value: format!("v{i}") };
            if let Ok(r) = recorded(&ctx, &mut clients[s].1, call).await {
                if r == "OK" {
                    acked.push((s, key));
                }
            }
        }
        rt::time::sleep(Duration::from_millis(rt::rand::range(20..120))).await;
    }
}

/// The fixture scenario: two servers, two clients, every kind of fault.
pub struct FixtureScenario {
    pub name: &'static str,
    pub opts: ServerOptions,
    /// Add the deliberately failing property (fails on any kill).
    pub deliberately_failing: bool,
}

impl Default for FixtureScenario {
    fn default() -> Self {
        FixtureScenario { name: "fixture", opts: ServerOptions::default(), deliberately_failing: false }
    }
}

impl Scenario for FixtureScenario {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        "the harness's fixture: a durable key-value server under every fault kind"
    }

    fn profile(&self) -> FaultProfile {
        FaultProfile {
            name: "fixture-all-faults",
            mean_gap_ms: 1500,
            rules: vec![
                (3, Rule::KillRestart { role: "server", down_ms: (200, 3000), tear: true }),
                (2, Rule::StopRestart { role: "server", down_ms: (200, 3000) }),
                (2, Rule::Partition { roles: vec!["server", "client"], dur_ms: (500, 4000) }),
                (1, Rule::Isolate { role: "server", dur_ms: (500, 3000) }),
                (1, Rule::Cut { from: "client", to: "server", dur_ms: (500, 3000) }),
                (1, Rule::Pause { role: "server", dur_ms: (200, 2000) }),
                (1, Rule::Clock { role: "server", max_ms: 10_000 }),
                (1, Rule::Drift { role: "server", max_ppm: 100_000 }),
                (2, Rule::DiskErrors { role: "server", dur_ms: (200, 2000) }),
                (1, Rule::Latency { max_ms: 200, dur_ms: (500, 3000) }),
                (1, Rule::Loss { max_rate: 0.05, dur_ms: (500, 2000) }),
                (1, Rule::Buggify),
            ],
        }
    }

    fn fault_window(&self) -> Duration {
        Duration::from_secs(20)
    }

    fn quiesce(&self) -> Duration {
        Duration::from_secs(6)
    }

    fn build(&self, world: &mut World) {
        let opts = self.opts;
        let mut servers = Vec::new();
        for name in ["kv1", "kv2"] {
            let ip = world.add_node(name, "server", move |ctx| server(ctx, opts));
            servers.push((name.to_string(), ip));
        }
        for name in ["c1", "c2"] {
            let servers = servers.clone();
            world.add_node(name, "client", move |ctx| {
                let servers = servers.clone();
                async move {
                    // Give servers a moment to bind.
                    rt::time::sleep(Duration::from_millis(50)).await;
                    workload(ctx, servers).await
                }
            });
        }
    }

    fn properties(&self) -> Vec<Box<dyn Property>> {
        let mut p: Vec<Box<dyn Property>> = vec![Box::new(AckedWritesSurvive), Box::new(AnswersAfterHeal { grace_ms: 3000, op_timeout_ms: 1500 })];
        if self.deliberately_failing {
            p.push(Box::new(NoNodeIsKilled));
        }
        p
    }

    /// Derived from the knobs, so every way of building a variant says what it shows.
    /// (`os_random` shows `determinism`, a check of two runs rather than a property of one.)
    fn demonstrates(&self) -> Option<&'static str> {
        if self.deliberately_failing {
            Some("deliberately_failing_no_kills")
        } else if self.opts.ack_before_sync {
            Some("acked_writes_survive")
        } else if self.opts.read_only_after_disk_error {
            Some("answers_after_heal")
        } else {
            None
        }
    }
}
