//! A run: one seed in a fresh OS thread with its own madsim runtime and a simulated-time limit.
//! Build the world, run the workload and the fault plan, heal everything, let the system quiesce,
//! then check the properties over the recorded history.
//!
//! Why a fresh thread per seed: madsim runs all of a run's nodes on the calling thread, std's
//! HashMap keys are deterministic only per fresh thread, and rt's per-run state is thread-local —
//! so a thread is exactly the isolation one run needs.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use history::{digest, EventKind, RunRecord, Scope, Verdict};

use crate::plan::FaultPlan;
use crate::recorder::Recorder;
use crate::scenario::Scenario;
use crate::world::{World, HARNESS};

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub seed: u64,
    /// A plan to run instead of the one the scenario's profile generates from the seed.
    pub plan: Option<FaultPlan>,
    /// Simulated-time limit; default: fault window + quiesce + 2 minutes.
    pub time_limit: Option<Duration>,
}

impl RunConfig {
    pub fn seed(seed: u64) -> RunConfig {
        RunConfig { seed, plan: None, time_limit: None }
    }

    pub fn with_plan(seed: u64, plan: FaultPlan) -> RunConfig {
        RunConfig { seed, plan: Some(plan), time_limit: None }
    }
}

#[derive(Default)]
struct Outputs {
    plan: FaultPlan,
    buggify_fired: std::collections::BTreeMap<String, u64>,
    buggify_reached: Vec<String>,
    sim_ms: u64,
    /// The world's nodes, so that a run that panicked can still be released.
    node_ids: Vec<madsim::task::NodeId>,
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Runs one seed. Never panics: a panic inside the run (a service bug, the time limit, a broken
/// plan) becomes a failed verdict of scope `Run`, with the history recorded up to that point.
pub fn run(scenario: Arc<dyn Scenario>, config: RunConfig) -> RunRecord {
    let started = Instant::now();
    let recorder = Recorder::new();
    let outputs = Arc::new(Mutex::new(Outputs::default()));
    let (s, c, r, o) = (scenario.clone(), config.clone(), recorder.clone(), outputs.clone());
    let joined = std::thread::Builder::new()
        .name(format!("{}-{}", scenario.name(), config.seed))
        .spawn(move || simulate(s, c, r, o))
        .map_err(|e| e.to_string())
        .and_then(|h| h.join().map_err(|p| panic_text(&*p)));

    let events = recorder.take_events();
    let history = history::History { events };
    let mut verdicts = Vec::new();
    if let Err(why) = &joined {
        verdicts.push(Verdict::fail("run", Scope::Run, format!("the run panicked: {why}")));
    } else {
        for p in scenario.properties() {
            let v = std::panic::catch_unwind(AssertUnwindSafe(|| p.check(&history)))
                .unwrap_or_else(|e| Verdict::fail(p.name(), p.scope(), format!("checker panicked: {}", panic_text(&*e))));
            verdicts.push(v);
        }
    }
    let out = std::mem::take(&mut *outputs.lock().unwrap_or_else(|e| e.into_inner()));
    RunRecord {
        scenario: scenario.name().to_string(),
        seed: config.seed,
        plan: if out.plan.is_empty() { config.plan.clone().unwrap_or_default() } else { out.plan },
        plan_from_file: config.plan.is_some(),
        digest: digest(&history.events),
        verdicts,
        buggify_fired: out.buggify_fired,
        buggify_reached: out.buggify_reached,
        sim_ms: out.sim_ms,
        wall_ms: started.elapsed().as_millis() as u64,
        history,
    }
}

fn simulate(scenario: Arc<dyn Scenario>, config: RunConfig, recorder: Recorder, outputs: Arc<Mutex<Outputs>>) {
    let window = scenario.fault_window();
    let quiesce = scenario.quiesce();
    let mut runtime = madsim::runtime::Runtime::with_seed_and_config(config.seed, madsim::Config::default());
    runtime.set_time_limit(config.time_limit.unwrap_or(window + quiesce + Duration::from_secs(120)));
    let nodes = outputs.clone();
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(async move {
        rt::sim::reset();
        let mut world = World::new(recorder.clone());
        scenario.build(&mut world);
        outputs.lock().unwrap_or_else(|e| e.into_inner()).node_ids = world.node_ids();
        let plan = match config.plan {
            Some(p) => p,
            None => scenario.profile().generate(config.seed, &world.roles(), window.as_millis() as u64),
        };
        outputs.lock().unwrap_or_else(|e| e.into_inner()).plan = plan.clone();

        let start = tokio::time::Instant::now();
        for tf in &plan {
            tokio::time::sleep_until(start + Duration::from_millis(tf.at_ms)).await;
            world.apply(&tf.fault).await;
        }
        tokio::time::sleep_until(start + window).await;
        world.heal_all().await;
        recorder.lifecycle(HARNESS, EventKind::Healed);
        tokio::time::sleep(quiesce).await;
        recorder.lifecycle(HARNESS, EventKind::End);

        {
            let mut o = outputs.lock().unwrap_or_else(|e| e.into_inner());
            o.buggify_fired = rt::sim::buggify_fired().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            o.buggify_reached = rt::sim::buggify_reached().into_iter().map(String::from).collect();
            o.sim_ms = rt::sim::elapsed().as_millis() as u64;
        }
        // The executor drops the killed nodes' tasks before block_on returns.
        world.release();
    })));
    if let Err(panic) = ran {
        // The world went down with the panic, but its nodes' tasks did not: kill them the same
        // way (see `World::release`), then let the panic fail the run as before.
        let ids = std::mem::take(&mut nodes.lock().unwrap_or_else(|e| e.into_inner()).node_ids);
        let handle = runtime.handle().clone();
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async move {
                for id in ids {
                    handle.kill(id);
                }
            })
        }));
        std::panic::resume_unwind(panic);
    }
}

/// The outcome of running one seed twice.
pub struct DeterminismCheck {
    pub first: RunRecord,
    pub second_digest: String,
    /// None when both runs recorded the same events; else the first differing event of each.
    pub difference: Option<String>,
}

impl DeterminismCheck {
    pub fn deterministic(&self) -> bool {
        self.difference.is_none()
    }
}

/// Runs a seed twice and compares the histories event by event.
pub fn check_determinism(scenario: Arc<dyn Scenario>, config: RunConfig) -> DeterminismCheck {
    let first = run(scenario.clone(), config.clone());
    let second = run(scenario, config);
    let (a, b) = (&first.history.events, &second.history.events);
    let difference = history::digest::first_difference(a, b).map(|i| {
        let show = |e: Option<&history::Event>| {
            e.map(|e| serde_json::to_string(e).unwrap_or_default()).unwrap_or_else(|| "<no event>".into())
        };
        format!(
            "digests {} vs {}: first difference at event #{i}:\n  run 1: {}\n  run 2: {}",
            first.digest,
            second.digest,
            show(a.get(i)),
            show(b.get(i))
        )
    });
    DeterminismCheck { second_digest: second.digest.clone(), first, difference }
}
