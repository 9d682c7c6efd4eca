//! `weir-sim`: runs scenarios × seeds in the simulator and reports every failure with the exact
//! command that replays it. Normally started through `cargo xtask sim`, which builds it with
//! `--cfg madsim`; in the normal build it only says so.
//!
//! Each scenario × seed is one job; J workers take jobs from a shared counter and call
//! `sim::run` (which runs the seed in a fresh thread of its own). Results come back to the main
//! thread, which alone draws the progress bar and writes files, so output never interleaves.

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!("weir-sim runs only in the simulator build (--cfg madsim): use `cargo xtask sim`");
    std::process::ExitCode::from(2)
}

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    runner::main()
}

#[cfg(madsim)]
const USAGE: &str = "\
usage: cargo xtask sim [options]

  --scenario NAME       run this scenario (repeatable; default: all)
  --seeds N             run seeds B..B+N-1 (default 20)
  --seed S              run only seed S (repeatable)
  --seed-base B         first seed for --seeds (default 1)
  --plan FILE           run this fault plan instead of the seed's: a JSON array of timed faults,
                        a run record or a corpus entry (whose scenario and seed are used unless
                        given on the command line)
  --check-determinism   run each seed twice; differing histories fail `determinism`
  --jobs J              worker threads (default: available parallelism)
  --report-dir DIR      where runs/*.json and latest.{json,html} go (default: reports/)
  --keep-all            write the record of passing runs too (failures always are)
  --list                list the scenarios and exit

exit status: 0 all passed, 1 some run failed, 2 usage error";

/// The command line, parsed but not yet checked against the scenarios.
#[cfg(madsim)]
#[derive(Debug, Default, PartialEq)]
struct Args {
    scenarios: Vec<String>,
    seeds: Option<u64>,
    seed: Vec<u64>,
    seed_base: Option<u64>,
    plan: Option<std::path::PathBuf>,
    check_determinism: bool,
    jobs: Option<usize>,
    report_dir: Option<std::path::PathBuf>,
    keep_all: bool,
    list: bool,
    help: bool,
}

#[cfg(madsim)]
impl Args {
    /// Accepts `--flag value` and `--flag=value`; numbers in decimal or `0x` hex.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
        let mut a = Args::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || inline.clone().or_else(|| it.next()).ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--scenario" => a.scenarios.push(value()?),
                "--seeds" => a.seeds = Some(number(&flag, &value()?)?),
                "--seed" => a.seed.push(number(&flag, &value()?)?),
                "--seed-base" => a.seed_base = Some(number(&flag, &value()?)?),
                "--plan" => a.plan = Some(value()?.into()),
                "--jobs" => a.jobs = Some(number(&flag, &value()?)? as usize),
                "--report-dir" => a.report_dir = Some(value()?.into()),
                "--check-determinism" => a.check_determinism = true,
                "--keep-all" => a.keep_all = true,
                "--list" => a.list = true,
                "--help" | "-h" => a.help = true,
                _ => return Err(format!("unknown argument {arg}")),
            }
            if inline.is_some() && matches!(flag.as_str(), "--check-determinism" | "--keep-all" | "--list") {
                return Err(format!("{flag} takes no value"));
            }
        }
        if a.seeds.is_some() && !a.seed.is_empty() {
            return Err("give --seeds N or --seed S, not both".into());
        }
        if a.seed_base.is_some() && !a.seed.is_empty() {
            return Err("--seed-base goes with --seeds, not --seed".into());
        }
        if a.seeds == Some(0) || a.jobs == Some(0) {
            return Err("--seeds and --jobs must be at least 1".into());
        }
        Ok(a)
    }

    /// The seeds to run: explicit ones, else B..B+N.
    fn seed_list(&self) -> Result<Vec<u64>, String> {
        if !self.seed.is_empty() {
            return Ok(self.seed.clone());
        }
        let (base, n) = (self.seed_base.unwrap_or(1), self.seeds.unwrap_or(20));
        let end = base.checked_add(n).ok_or("--seed-base + --seeds overflows")?;
        Ok((base..end).collect())
    }
}

#[cfg(madsim)]
fn number(flag: &str, s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("{flag}: not a number: {s}"))
}

#[cfg(madsim)]
mod runner {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::Instant;

    use history::{RunRecord, Scope, TimedFault, Verdict};
    use indicatif::{ProgressBar, ProgressStyle};
    use sim::{RunConfig, Scenario};

    use super::{Args, USAGE};

    /// Everything a sweep needs, resolved from the arguments.
    struct Plan {
        jobs: Vec<(Arc<dyn Scenario>, u64)>,
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
        let plan = match resolve(args) {
            Ok(p) => p,
            Err(e) => return usage(&e),
        };
        if std::env::var_os("RUST_LOG").is_some() {
            rt::log::init("warn");
        }
        sweep(plan)
    }

    fn usage(e: &str) -> ExitCode {
        eprintln!("weir-sim: {e}\n\n{USAGE}");
        ExitCode::from(2)
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
        let seeds = args.seed_list()?;
        let jobs = chosen.iter().flat_map(|s| seeds.iter().map(move |seed| (s.clone(), *seed))).collect();
        let workers = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let default_dir = manifest.parent().unwrap_or(manifest).join("reports");
        Ok(Plan {
            jobs,
            fault_plan,
            check_determinism: args.check_determinism,
            workers,
            report_dir: args.report_dir.unwrap_or(default_dir),
            keep_all: args.keep_all,
        })
    }

    /// One seed of one scenario: a plain run, or two with the determinism verdict appended.
    fn run_one(
        scenario: Arc<dyn Scenario>,
        seed: u64,
        plan: &Option<(PathBuf, Vec<TimedFault>)>,
        twice: bool,
    ) -> RunRecord {
        let mut config = RunConfig::seed(seed);
        config.plan = plan.as_ref().map(|(_, p)| p.clone());
        if !twice {
            return sim::run(scenario, config);
        }
        let check = sim::check_determinism(scenario, config);
        let mut record = check.first;
        record.verdicts.push(match check.difference {
            None => Verdict::pass("determinism", Scope::Run, format!("two runs, same digest {}", record.digest)),
            Some(d) => Verdict::fail("determinism", Scope::Run, d),
        });
        record
    }

    fn sweep(plan: Plan) -> ExitCode {
        let started = Instant::now();
        let total = plan.jobs.len();
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} seeds {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let mut summary = reports::Summary::default();
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel::<RunRecord>();
        std::thread::scope(|s| {
            for _ in 0..plan.workers.min(total) {
                let tx = tx.clone();
                let (next, plan) = (&next, &plan);
                s.spawn(move || {
                    while let Some((scenario, seed)) = plan.jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let record = run_one(scenario.clone(), *seed, &plan.fault_plan, plan.check_determinism);
                        if tx.send(record).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for record in rx {
                collect(&plan, &mut summary, &bar, &record);
            }
        });
        bar.finish_and_clear();
        summary.wall_ms = started.elapsed().as_millis() as u64;

        print!("{}", reports::text::table(&summary));
        if !summary.passed() {
            println!();
            print!("{}", reports::text::failures(&summary));
        }
        match reports::write_summary(&plan.report_dir, &summary) {
            Ok((_, html)) => println!(
                "\n{} runs, {} failed, {:.1} s; report: {}",
                summary.runs,
                summary.failed_runs,
                summary.wall_ms as f64 / 1000.0,
                html.display()
            ),
            Err(e) => eprintln!("weir-sim: cannot write the summary to {}: {e}", plan.report_dir.display()),
        }
        if summary.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }

    /// Counts one finished run: writes its record when it failed (or --keep-all), notes failures
    /// above the progress bar as they happen.
    fn collect(plan: &Plan, summary: &mut reports::Summary, bar: &ProgressBar, record: &RunRecord) {
        let failed = !record.passed();
        let mut path = None;
        if failed || plan.keep_all {
            match reports::write_record(&plan.report_dir, record) {
                Ok(p) => path = Some(p),
                Err(e) => bar.println(format!(
                    "weir-sim: cannot write the record of {} seed {}: {e}",
                    record.scenario, record.seed
                )),
            }
        }
        let plan_file = plan.fault_plan.as_ref().map(|(p, _)| p.as_path());
        let replay = reports::replay_command(&record.scenario, record.seed, plan_file);
        summary.add(record, &replay, path.as_deref());
        if failed {
            let props: Vec<&str> = record.verdicts.iter().filter(|v| !v.passed).map(|v| v.property.as_str()).collect();
            bar.println(format!("FAILED {} seed {}: {}", record.scenario, record.seed, props.join(", ")));
        }
        bar.set_message(if summary.failed_runs > 0 {
            format!("({} failed)", summary.failed_runs)
        } else {
            String::new()
        });
        bar.inc(1);
    }
}

#[cfg(all(test, madsim))]
mod tests {
    use super::Args;

    fn parse(s: &str) -> Result<Args, String> {
        Args::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse("").unwrap();
        assert_eq!(a.seed_list().unwrap(), (1..=20).collect::<Vec<_>>());
        let a = parse("--scenario q --scenario=r --seeds 3 --seed-base 0x10 --jobs=2 --keep-all --check-determinism")
            .unwrap();
        assert_eq!(a.scenarios, ["q", "r"]);
        assert_eq!(a.seed_list().unwrap(), [16, 17, 18]);
        assert_eq!(a.jobs, Some(2));
        assert!(a.keep_all && a.check_determinism);
        assert_eq!(parse("--seed 7 --seed 9").unwrap().seed_list().unwrap(), [7, 9]);
    }

    #[test]
    fn usage_errors() {
        for bad in
            ["--seeds", "--seeds x", "--seed 1 --seeds 2", "--seed 1 --seed-base 2", "--jobs 0", "--frob", "--list=yes"]
        {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
