//! The sweep: J workers take jobs from a shared counter and call `sim::run` (which runs the
//! seed in a fresh thread of its own). Results come back to the main thread, which alone draws
//! the progress bar and writes files, so output never interleaves.
//!
//! Constant memory: a finished run's record is folded into the summary's counters (and written
//! to disk when it failed or `--keep-all`) and dropped at once; the channel holds at most a few
//! records, since workers block on the next run rather than on sending.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use history::{RunRecord, Scope, TimedFault, Verdict};
use indicatif::{ProgressBar, ProgressStyle};
use sim::{RunConfig, Scenario};

use crate::args::{Args, Shard, USAGE};
use crate::jobs::{in_rerun_sample, Jobs, RERUN_PERCENT};

/// Everything a sweep needs, resolved from the arguments.
struct Plan {
    jobs: Jobs,
    shard: Shard,
    time_budget: Option<Duration>,
    fault_plan: Option<(PathBuf, Vec<TimedFault>)>,
    check_determinism: bool,
    workers: usize,
    report_dir: PathBuf,
    keep_all: bool,
}

pub fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => return usage(&e),
    };
    if args.help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.list {
        for s in scenarios::all() {
            println!("{:<32} {}", s.name(), s.about());
        }
        for s in scenarios::broken() {
            let target = s.demonstrates().unwrap_or("(none declared)");
            println!("{:<32} (broken, by name only: must fail {target}) {}", s.name(), s.about());
        }
        return ExitCode::SUCCESS;
    }
    let (shrinking, property, trials) = (args.shrink, args.property.clone(), args.shrink_trials);
    let plan = match resolve(args) {
        Ok(p) => p,
        Err(e) => return usage(&e),
    };
    if std::env::var_os("RUST_LOG").is_some() {
        rt::log::init("warn");
    }
    if shrinking {
        let (Some((scenario, seed)), Some(1)) = (plan.jobs.get(0), plan.jobs.len()) else {
            return usage("--shrink takes one --scenario and one --seed (or a --plan)");
        };
        return crate::shrink::run(crate::shrink::Request {
            scenario,
            seed,
            plan: plan.fault_plan.map(|(_, p)| p),
            property,
            trials_max: trials.unwrap_or(500),
            report_dir: &plan.report_dir,
        });
    }
    sweep(plan)
}

fn usage(e: &str) -> ExitCode {
    eprintln!("weir-sim: {e}\n\n{USAGE}");
    ExitCode::from(2)
}

fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn resolve(mut args: Args) -> Result<Plan, String> {
    let mut fault_plan = None;
    if let Some(path) = &args.plan {
        let file = reports::load_plan_file(path)?;
        // Defaults from a record or corpus entry, so `--plan runs/x-3.json` alone replays it.
        if args.scenarios.is_empty() {
            args.scenarios.extend(file.scenario);
        }
        if args.seed.is_empty() && args.seeds.is_none() && args.seed_base.is_none() {
            args.seed.extend(file.seed);
        }
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        fault_plan = Some((abs, file.plan));
    }
    let all = scenarios::all();
    let chosen: Vec<Arc<dyn Scenario>> = if args.scenarios.is_empty() {
        all
    } else {
        let names: Vec<&str> = all.iter().map(|s| s.name()).collect();
        let mut chosen = vec![];
        for name in &args.scenarios {
            let s = scenarios::by_name(name);
            chosen.push(s.ok_or(format!("no scenario {name} (known: {}; see --list)", names.join(", ")))?);
        }
        chosen
    };
    let shard = args.shard.unwrap_or(Shard::WHOLE);
    let jobs = Jobs::new(chosen, args.seed_list()?, shard);
    let workers = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    Ok(Plan {
        jobs,
        shard,
        time_budget: args.time_budget,
        fault_plan,
        check_determinism: args.check_determinism,
        workers,
        report_dir: args.report_dir.unwrap_or_else(|| workspace_root().join("reports")),
        keep_all: args.keep_all,
    })
}

/// One seed of one scenario: a plain run, or (for `--check-determinism` and the rerun sample)
/// two runs with the determinism verdict appended.
fn run_one(scenario: Arc<dyn Scenario>, seed: u64, plan: &Option<(PathBuf, Vec<TimedFault>)>, twice: bool) -> RunRecord {
    let mut config = RunConfig::seed(seed);
    config.plan = plan.as_ref().map(|(_, p)| p.clone());
    if !twice {
        return sim::run(scenario, config);
    }
    let check = sim::check_determinism(scenario, config);
    let mut record = check.first;
    record.verdicts.push(match check.difference {
        None => Verdict::pass(reports::DETERMINISM, Scope::Run, format!("two runs, same digest {}", record.digest)),
        Some(d) => Verdict::fail(reports::DETERMINISM, Scope::Run, d),
    });
    record
}

fn progress_bar(plan: &Plan) -> ProgressBar {
    let (len, template) = match (plan.jobs.len(), plan.time_budget) {
        (Some(n), _) => (n, "{elapsed_precise} [{bar:40}] {pos}/{len} seeds {msg}"),
        // Unbounded: the bar is the budget, in seconds.
        (None, Some(b)) => (b.as_secs().max(1), "{elapsed_precise} [{bar:40}] {msg}"),
        (None, None) => (0, "{elapsed_precise} {msg}"),
    };
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "),
    );
    bar
}

fn sweep(plan: Plan) -> ExitCode {
    let started = Instant::now();
    let bar = progress_bar(&plan);
    let mut summary = reports::Summary::default();
    for s in plan.jobs.scenarios() {
        summary.stats(s.name(), &s.profile().fault_kinds());
    }
    summary.source_buggify_sites = crate::sites::scan(&workspace_root());
    summary.setup = reports::Setup {
        workers: plan.workers as u64,
        shard: (plan.shard != Shard::WHOLE).then(|| format!("{}/{}", plan.shard.k, plan.shard.n)),
        time_budget_ms: plan.time_budget.map(|b| b.as_millis() as u64),
        rerun_percent: if plan.check_determinism { 100 } else { RERUN_PERCENT },
        stopped_by_budget: false,
    };
    let mut note = Note { every: NOTE_EVERY, last: started };
    let next = AtomicU64::new(0);
    let out_of_time = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<RunRecord>();
    let workers = plan.jobs.len().map_or(plan.workers, |n| plan.workers.min(n.max(1) as usize));
    std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, plan, out_of_time) = (&next, &plan, &out_of_time);
            s.spawn(move || loop {
                if plan.time_budget.is_some_and(|b| started.elapsed() >= b) {
                    out_of_time.store(true, Ordering::Relaxed);
                    break;
                }
                let Some((scenario, seed)) = plan.jobs.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                let twice = plan.check_determinism || in_rerun_sample(scenario.name(), seed);
                let record = run_one(scenario, seed, &plan.fault_plan, twice);
                if tx.send(record).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for record in rx {
            collect(&plan, &mut summary, &bar, &record, started);
            note.maybe(&bar, &summary, started);
        }
    });
    bar.finish_and_clear();
    summary.wall_ms = started.elapsed().as_millis() as u64;
    summary.setup.stopped_by_budget = out_of_time.load(Ordering::Relaxed);
    summary.peak_rss_kb = peak_rss_kb();
    close(&plan, &summary)
}

/// Counts one finished run: writes its record when it failed (or --keep-all), notes failures
/// above the progress bar as they happen.
fn collect(plan: &Plan, summary: &mut reports::Summary, bar: &ProgressBar, record: &RunRecord, started: Instant) {
    let failed = !record.passed();
    let mut path = None;
    if failed || plan.keep_all {
        match reports::write_record(&plan.report_dir, record) {
            Ok(p) => path = Some(p),
            Err(e) => {
                bar.println(format!("weir-sim: cannot write the record of {} seed {}: {e}", record.scenario, record.seed))
            }
        }
    }
    let plan_file = plan.fault_plan.as_ref().map(|(p, _)| p.as_path());
    let mut replay = reports::replay_command(&record.scenario, record.seed, plan_file);
    if record.verdicts.iter().any(|v| v.property == reports::DETERMINISM && !v.passed) {
        replay.push_str(" --check-determinism");
    }
    if failed {
        if let Err(e) = reports::write_run_page(&plan.report_dir, record, &replay) {
            bar.println(format!("weir-sim: cannot write the page of {} seed {}: {e}", record.scenario, record.seed));
        }
    }
    summary.add(record, &replay, path.as_deref());
    if failed {
        let props: Vec<&str> = record.verdicts.iter().filter(|v| !v.passed).map(|v| v.property.as_str()).collect();
        bar.println(format!("FAILED {} seed {}: {}", record.scenario, record.seed, props.join(", ")));
    }
    let failures = if summary.failed_runs > 0 { format!(" ({} failed)", summary.failed_runs) } else { String::new() };
    if plan.jobs.len().is_some() {
        bar.set_message(failures);
        bar.inc(1);
    } else {
        bar.set_message(format!("{} seeds{failures}", summary.runs));
        bar.set_position(started.elapsed().as_secs());
    }
}

/// How often a sweep whose progress bar is hidden (stderr is not a terminal: CI, a log file)
/// says how far it got instead.
const NOTE_EVERY: Duration = Duration::from_secs(60);

struct Note {
    every: Duration,
    last: Instant,
}

impl Note {
    fn maybe(&mut self, bar: &ProgressBar, summary: &reports::Summary, started: Instant) {
        if !bar.is_hidden() || self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        eprintln!(
            "weir-sim: {:.0} min: {} runs, {} failed ({:.0} seeds/min), peak RSS {:.0} MB",
            minutes,
            summary.runs,
            summary.failed_runs,
            summary.runs as f64 / minutes.max(1e-9),
            peak_rss_kb() as f64 / 1024.0
        );
    }
}

/// The closing report: properties, failures, speed, coverage, the summary files, one line.
fn close(plan: &Plan, summary: &reports::Summary) -> ExitCode {
    print!("{}", reports::text::table(summary));
    if !summary.passed() {
        println!();
        print!("{}", reports::text::failures(summary));
    }
    println!();
    print!("{}", reports::text::coverage(summary));
    println!();
    print!("{}", reports::text::speed(summary));
    let report = match reports::write_summary(&plan.report_dir, summary) {
        Ok((_, html)) => format!("report: {}", html.display()),
        Err(e) => format!("cannot write the summary to {}: {e}", plan.report_dir.display()),
    };
    let minutes = summary.wall_ms as f64 / 60_000.0;
    let rate = if minutes > 0.0 { summary.runs as f64 / minutes } else { 0.0 };
    let w = summary.setup.workers;
    let mut scope = format!("{w} worker{}", if w == 1 { "" } else { "s" });
    if let Some(s) = &summary.setup.shard {
        scope += &format!(", shard {s}");
    }
    if summary.setup.stopped_by_budget {
        scope += ", time budget spent";
    }
    println!(
        "\n{} runs, {} failed, {:.1} s on {scope}: {rate:.0} seeds/min; {} rerun for determinism; peak RSS {:.0} MB; {report}",
        summary.runs,
        summary.failed_runs,
        summary.wall_ms as f64 / 1000.0,
        summary.scenarios.iter().map(|s| s.rerun).sum::<u64>(),
        summary.peak_rss_kb as f64 / 1024.0,
    );
    if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The process's peak resident set size (`VmHWM`), in kB; 0 where /proc is not available.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
