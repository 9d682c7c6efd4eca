//! The command line, parsed but not yet checked against the scenarios.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage: cargo xtask sim [options]

  --scenario NAME       run this scenario (repeatable; default: all)
  --seeds N             run seeds B..B+N-1 (default 20; with --time-budget, at most N)
  --seed S              run only seed S (repeatable)
  --seed-base B         first seed for --seeds (default 1)
  --shard K/N           run the K-th of N shares of the sweep (1 <= K <= N); the N shards
                        together run exactly the unsharded sweep
  --time-budget T       start no seed after T (10m, 90s, 1h, 500ms); without --seeds, runs
                        seeds B, B+1, ... for as long as the budget lasts
  --plan FILE           run this fault plan instead of the seed's: a JSON array of timed faults,
                        a run record or a corpus entry (whose scenario and seed are used unless
                        given on the command line)
  --check-determinism   run every seed twice; differing histories fail `determinism`
                        (without it, a deterministic 5% sample of the seeds is run twice)
  --jobs J              worker threads (default: available parallelism)
  --report-dir DIR      where runs/*.json and latest.{json,html} go (default: reports/)
  --keep-all            write the record of passing runs too (failures always are)
  --list                list the scenarios and exit
  --shrink              with one --scenario and one --seed (or --plan) that fails: reduce its
                        fault plan to a small one that still fails the same property, print it
                        and its replay command, and save it as <report-dir>/corpus/
                        <scenario>-<seed>-shrunk-<property>.json
  --property P          the property --shrink keeps failing (default: the first that failed)
  --shrink-trials N     at most N runs while shrinking (default 500)

exit status: 0 all passed, 1 some run failed, 2 usage error";

/// One share of a sweep: the K-th (1-based) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { k: 1, n: 1 };
}

#[derive(Debug, Default, PartialEq)]
pub struct Args {
    pub scenarios: Vec<String>,
    pub seeds: Option<u64>,
    pub seed: Vec<u64>,
    pub seed_base: Option<u64>,
    pub shard: Option<Shard>,
    pub time_budget: Option<Duration>,
    pub plan: Option<PathBuf>,
    pub check_determinism: bool,
    pub jobs: Option<usize>,
    pub report_dir: Option<PathBuf>,
    pub keep_all: bool,
    pub list: bool,
    pub help: bool,
    pub shrink: bool,
    pub property: Option<String>,
    pub shrink_trials: Option<usize>,
}

/// The seeds of a sweep: a list, or every seed from a base on (ended by the time budget).
#[derive(Debug, Clone, PartialEq)]
pub enum Seeds {
    List(Vec<u64>),
    From(u64),
}

impl Args {
    /// Accepts `--flag value` and `--flag=value`; numbers in decimal or `0x` hex.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
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
                "--shard" => a.shard = Some(shard(&value()?)?),
                "--time-budget" => a.time_budget = Some(duration(&value()?)?),
                "--plan" => a.plan = Some(value()?.into()),
                "--jobs" => a.jobs = Some(number(&flag, &value()?)? as usize),
                "--report-dir" => a.report_dir = Some(value()?.into()),
                "--check-determinism" => a.check_determinism = true,
                "--keep-all" => a.keep_all = true,
                "--list" => a.list = true,
                "--shrink" => a.shrink = true,
                "--property" => a.property = Some(value()?),
                "--shrink-trials" => a.shrink_trials = Some(number(&flag, &value()?)? as usize),
                "--help" | "-h" => a.help = true,
                _ => return Err(format!("unknown argument {arg}")),
            }
            if inline.is_some() && matches!(flag.as_str(), "--check-determinism" | "--keep-all" | "--list" | "--shrink") {
                return Err(format!("{flag} takes no value"));
            }
        }
        if a.seeds.is_some() && !a.seed.is_empty() {
            return Err("give --seeds N or --seed S, not both".into());
        }
        if a.seed_base.is_some() && !a.seed.is_empty() {
            return Err("--seed-base goes with --seeds, not --seed".into());
        }
        if a.seeds == Some(0) || a.jobs == Some(0) || a.shrink_trials == Some(0) {
            return Err("--seeds, --jobs and --shrink-trials must be at least 1".into());
        }
        if !a.shrink && (a.property.is_some() || a.shrink_trials.is_some()) {
            return Err("--property and --shrink-trials go with --shrink".into());
        }
        if a.shrink && (a.seeds.is_some() || a.seed.len() > 1 || a.scenarios.len() > 1 || a.shard.is_some() || a.time_budget.is_some()) {
            return Err("--shrink takes one --scenario and one --seed (or a --plan)".into());
        }
        Ok(a)
    }

    /// The seeds to run: explicit ones, else B..B+N, else (with a time budget) B onwards.
    pub fn seed_list(&self) -> Result<Seeds, String> {
        if !self.seed.is_empty() {
            return Ok(Seeds::List(self.seed.clone()));
        }
        let base = self.seed_base.unwrap_or(1);
        let n = match (self.seeds, self.time_budget) {
            (Some(n), _) => n,
            (None, Some(_)) => return Ok(Seeds::From(base)),
            (None, None) => 20,
        };
        let end = base.checked_add(n).ok_or("--seed-base + --seeds overflows")?;
        Ok(Seeds::List((base..end).collect()))
    }
}

fn number(flag: &str, s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("{flag}: not a number: {s}"))
}

fn shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("--shard wants K/N with 1 <= K <= N, got {s}");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n) = (k.parse::<u64>().map_err(|_| bad())?, n.parse::<u64>().map_err(|_| bad())?);
    if k == 0 || k > n {
        return Err(bad());
    }
    Ok(Shard { k, n })
}

/// `10m`, `90s`, `1h`, `500ms`; a bare number is seconds.
fn duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("--time-budget: not a duration: {s} (try 10m, 90s, 1h)"))?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("--time-budget: unknown unit {unit:?} in {s} (ms, s, m, h)")),
    };
    match ms {
        Some(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(format!("--time-budget: {s} is not a usable budget")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, String> {
        Args::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse("").unwrap();
        assert_eq!(a.seed_list().unwrap(), Seeds::List((1..=20).collect()));
        let a = parse("--scenario q --scenario=r --seeds 3 --seed-base 0x10 --jobs=2 --keep-all --check-determinism")
            .unwrap();
        assert_eq!(a.scenarios, ["q", "r"]);
        assert_eq!(a.seed_list().unwrap(), Seeds::List(vec![16, 17, 18]));
        assert_eq!(a.jobs, Some(2));
        assert!(a.keep_all && a.check_determinism);
        assert_eq!(parse("--seed 7 --seed 9").unwrap().seed_list().unwrap(), Seeds::List(vec![7, 9]));
        let a = parse("--shrink --scenario q --seed 4 --property p --shrink-trials 9").unwrap();
        assert!(a.shrink);
        assert_eq!((a.property.as_deref(), a.shrink_trials), (Some("p"), Some(9)));
    }

    #[test]
    fn shard_and_time_budget() {
        let a = parse("--shard 2/3 --time-budget 10m").unwrap();
        assert_eq!(a.shard, Some(Shard { k: 2, n: 3 }));
        assert_eq!(a.time_budget, Some(Duration::from_secs(600)));
        assert_eq!(a.seed_list().unwrap(), Seeds::From(1), "a budget without --seeds runs on");
        let a = parse("--time-budget=90s --seeds 5 --seed-base 7").unwrap();
        assert_eq!(a.seed_list().unwrap(), Seeds::List((7..12).collect()), "--seeds caps a budget");
        for (s, ms) in [("1h", 3_600_000), ("500ms", 500), ("45", 45_000)] {
            assert_eq!(duration(s), Ok(Duration::from_millis(ms)));
        }
    }

    #[test]
    fn usage_errors() {
        for bad in [
            "--seeds",
            "--seeds x",
            "--seed 1 --seeds 2",
            "--seed 1 --seed-base 2",
            "--jobs 0",
            "--frob",
            "--list=yes",
            "--shard 0/3",
            "--shard 4/3",
            "--shard 3",
            "--time-budget 0s",
            "--time-budget 10x",
            "--time-budget m",
            "--property p",
            "--shrink --seeds 3",
            "--shrink --scenario a --scenario b",
            "--shrink --shrink-trials 0",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
