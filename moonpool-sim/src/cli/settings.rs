//! The runner's settings once checked: typed values, the precedence of
//! flags over `MOONPOOL_*` variables, and the sweep plan they describe.
//!
//! # Rules
//! - Every value given is checked, the variables' too, even one that a
//!   flag of another setting overrides: a broken variable is a broken
//!   setup. (A variable whose own flag is given is never read.)
//! - Two values that exclude each other in the same source are a
//!   [`CliError::Conflict`]; an option that needs another is
//!   [`CliError::Requires`].
//! - **Flags win over variables**, also across kinds of run
//!   ([`Settings::overlay`]): if the flags ask for one seed (`--seed`), the
//!   variables' sweep settings are dropped; if they ask for a sweep
//!   (`--seeds`, `--first-seed`, `--shard`, `--time-budget`,
//!   `--until-all-sometimes`, `--max-seeds`), `MOONPOOL_SEED` is dropped;
//!   `--seeds` drops the variables' `--until-all-sometimes` goal and the
//!   goal drops `MOONPOOL_SEEDS`. So `MOONPOOL_SEED=5 bin sim
//!   --time-budget 10s` sweeps for ten seconds: a variable left in a shell
//!   never changes the kind of run the flags asked for. `--seeds-file` is
//!   a kind of its own: it drops the variables' seed and range settings,
//!   and a flag asking for a seed or a range drops `MOONPOOL_SEEDS_FILE`.
//! - `--shard K/N`, `--shard auto/N` and `--shard-from-env VAR/N` fill
//!   one setting; the shard index variable is read when the plan is made.
//!   A sharded sweep without a first seed starts at [`SHARDED_FIRST_SEED`]
//!   (never a fresh seed: every shard must draw the same plan).

use std::collections::BTreeSet;
use std::time::Duration;

use moonpool_core::parse_seed;

use super::CliError;
use super::args::{Given, Key, Origin};
use crate::kernel::faults::{FaultSelection, parse_list};
use crate::runner::sweep::plan::{SeedPlan, Shard, SweepPlan};
use crate::runner::sweep::{DEFAULT_MAX_SEEDS, ShardError, Until};
use crate::trace::{TraceFilter, TraceSink};

type Slot<T> = Option<(T, Origin)>;

/// The first seed of a sharded sweep given no `--first-seed`: a fixed
/// base, so that every shard (each on its own machine) splits the same
/// plan. Give CI runs a base of their own (`--first-seed`, or
/// `MOONPOOL_FIRST_SEED`, e.g. the CI run's number) to sweep new seeds.
pub const SHARDED_FIRST_SEED: u64 = 1;

/// The variables `--shard auto/N` reads the shard index from, in this
/// order, with the index each counts from: Kubernetes Indexed Jobs
/// (`JOB_COMPLETION_INDEX`, 0-based), GitLab CI `parallel:`
/// (`CI_NODE_INDEX`, 1-based), CircleCI `parallelism`
/// (`CIRCLE_NODE_INDEX`, 0-based), Buildkite `parallelism`
/// (`BUILDKITE_PARALLEL_JOB`, 0-based).
pub const SHARD_INDEX_VARIABLES: [(&str, u64); 4] = [
    ("JOB_COMPLETION_INDEX", 0),
    ("CI_NODE_INDEX", 1),
    ("CIRCLE_NODE_INDEX", 0),
    ("BUILDKITE_PARALLEL_JOB", 0),
];

/// A shard as given, before its index variable (if any) is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ShardSpec {
    /// `K/N`.
    Fixed(Shard),
    /// `auto/N`: K from the first of [`SHARD_INDEX_VARIABLES`] that is set.
    Auto { count: u64 },
    /// `VAR/N`: K-1 in `VAR`.
    FromVar { var: String, count: u64 },
}

/// What one source (the flags, or the variables) said.
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    pub(crate) seed: Slot<u64>,
    pub(crate) seeds: Slot<u64>,
    pub(crate) first_seed: Slot<u64>,
    pub(crate) shard: Slot<ShardSpec>,
    pub(crate) time_budget: Slot<Duration>,
    pub(crate) check_determinism: Slot<bool>,
    pub(crate) chaos: Slot<bool>,
    pub(crate) until_all_sometimes: Slot<bool>,
    pub(crate) max_seeds: Slot<u64>,
    pub(crate) json: Slot<bool>,
    pub(crate) quiet: Slot<bool>,
    pub(crate) trace: Slot<String>,
    pub(crate) jobs: Slot<u64>,
    pub(crate) seeds_file: Slot<String>,
    pub(crate) save_failures: Slot<String>,
    pub(crate) max_failures: Slot<u64>,
    pub(crate) verbose: Slot<bool>,
    pub(crate) faults: Slot<BTreeSet<String>>,
    pub(crate) no_faults: Slot<BTreeSet<String>>,
    pub(crate) buggify_sites: Slot<BTreeSet<String>>,
    pub(crate) minimize: Slot<bool>,
    pub(crate) trace_filter: Slot<TraceFilter>,
    pub(crate) trace_from: Slot<Duration>,
    pub(crate) trace_until: Slot<Duration>,
    pub(crate) timeline: Slot<String>,
}

fn put<T>(slot: &mut Slot<T>, value: T, origin: Origin) -> Result<(), CliError> {
    if let Some((_, previous)) = slot {
        // Only settings with two flags share a slot.
        let why = match origin {
            Origin::Flag(Key::NoChaos | Key::Chaos) | Origin::Env(Key::Chaos) => {
                "they say opposite things"
            }
            Origin::Flag(Key::Shard | Key::ShardFromEnv)
            | Origin::Env(Key::Shard | Key::ShardFromEnv) => "both choose the shard",
            _ => "both set the failure limit",
        };
        return Err(CliError::Conflict {
            first: previous.to_string(),
            second: origin.to_string(),
            why,
        });
    }
    *slot = Some((value, origin));
    Ok(())
}

/// Whether a boolean slot is set to true.
fn on(slot: &Slot<bool>) -> Option<Origin> {
    match slot {
        Some((true, origin)) => Some(*origin),
        _ => None,
    }
}

impl Settings {
    /// The values of `given`, checked: (what the flags said, what the
    /// variables said).
    pub(crate) fn split(given: &[Given]) -> Result<(Settings, Settings), CliError> {
        let (mut flags, mut env) = (Settings::default(), Settings::default());
        for g in given {
            let source = if g.origin.is_flag() {
                &mut flags
            } else {
                &mut env
            };
            source.apply(g)?;
        }
        Ok((flags, env))
    }

    fn apply(&mut self, g: &Given) -> Result<(), CliError> {
        let (text, origin) = (g.text.as_str(), g.origin);
        match g.key {
            Key::Seed => put(&mut self.seed, seed(text, origin)?, origin),
            Key::Seeds => put(&mut self.seeds, count(text, origin)?, origin),
            Key::FirstSeed => put(&mut self.first_seed, seed(text, origin)?, origin),
            Key::Shard => put(&mut self.shard, shard(text, origin)?, origin),
            Key::ShardFromEnv => put(&mut self.shard, shard_from_var(text, origin)?, origin),
            Key::Jobs => put(&mut self.jobs, count(text, origin)?, origin),
            Key::SeedsFile => put(&mut self.seeds_file, text.to_string(), origin),
            Key::SaveFailures => put(&mut self.save_failures, text.to_string(), origin),
            Key::MaxFailures => put(&mut self.max_failures, count(text, origin)?, origin),
            Key::FailFast => match switch(text, origin)? {
                true => put(&mut self.max_failures, 1, origin),
                false => Ok(()),
            },
            Key::Verbose => put(&mut self.verbose, switch(text, origin)?, origin),
            Key::TimeBudget => put(&mut self.time_budget, duration(text, origin)?, origin),
            Key::MaxSeeds => put(&mut self.max_seeds, count(text, origin)?, origin),
            Key::Trace => put(&mut self.trace, text.to_string(), origin),
            Key::CheckDeterminism => {
                put(&mut self.check_determinism, switch(text, origin)?, origin)
            }
            Key::UntilAllSometimes => {
                put(&mut self.until_all_sometimes, switch(text, origin)?, origin)
            }
            Key::Json => put(&mut self.json, switch(text, origin)?, origin),
            Key::Quiet => put(&mut self.quiet, switch(text, origin)?, origin),
            Key::Chaos => put(&mut self.chaos, switch(text, origin)?, origin),
            Key::NoChaos => put(&mut self.chaos, !switch(text, origin)?, origin),
            Key::Faults => put(&mut self.faults, parse_list(text), origin),
            Key::NoFaults => put(&mut self.no_faults, parse_list(text), origin),
            Key::BuggifySites => put(&mut self.buggify_sites, parse_list(text), origin),
            Key::Minimize => put(&mut self.minimize, switch(text, origin)?, origin),
            Key::TraceFilter => {
                let filter =
                    TraceFilter::parse(text).map_err(|e| CliError::InvalidTraceFilter {
                        setting: origin.to_string(),
                        text: text.to_string(),
                        reason: e.to_string(),
                    })?;
                put(&mut self.trace_filter, filter, origin)
            }
            Key::TraceFrom => put(&mut self.trace_from, sim_time(text, origin)?, origin),
            Key::TraceUntil => put(&mut self.trace_until, sim_time(text, origin)?, origin),
            Key::Timeline => put(&mut self.timeline, text.to_string(), origin),
        }
    }

    /// Whether these settings ask for a range of seeds.
    fn asks_for_a_range(&self) -> bool {
        self.seeds.is_some()
            || self.first_seed.is_some()
            || on(&self.until_all_sometimes).is_some()
            || self.max_seeds.is_some()
    }

    /// Whether these settings ask for a sweep rather than one seed.
    fn asks_for_a_sweep(&self) -> bool {
        self.asks_for_a_range()
            || self.shard.is_some()
            || self.time_budget.is_some()
            || self.seeds_file.is_some()
    }

    /// `flags` over `env`. See the [module documentation](self).
    pub(crate) fn overlay(mut env: Settings, flags: Settings) -> Settings {
        if flags.seed.is_some() {
            env.seeds = None;
            env.first_seed = None;
            env.shard = None;
            env.time_budget = None;
            env.until_all_sometimes = None;
            env.max_seeds = None;
        }
        if flags.seed.is_some() || flags.asks_for_a_range() {
            env.seeds_file = None;
        }
        if flags.seeds_file.is_some() {
            env.seeds = None;
            env.first_seed = None;
            env.until_all_sometimes = None;
            env.max_seeds = None;
        }
        if flags.asks_for_a_sweep() {
            env.seed = None;
        }
        if on(&flags.until_all_sometimes).is_some() {
            env.seeds = None;
        }
        if flags.seeds.is_some() {
            env.until_all_sometimes = None;
            env.max_seeds = None;
        }
        Settings {
            seed: flags.seed.or(env.seed),
            seeds: flags.seeds.or(env.seeds),
            first_seed: flags.first_seed.or(env.first_seed),
            shard: flags.shard.or(env.shard),
            time_budget: flags.time_budget.or(env.time_budget),
            check_determinism: flags.check_determinism.or(env.check_determinism),
            chaos: flags.chaos.or(env.chaos),
            until_all_sometimes: flags.until_all_sometimes.or(env.until_all_sometimes),
            max_seeds: flags.max_seeds.or(env.max_seeds),
            json: flags.json.or(env.json),
            quiet: flags.quiet.or(env.quiet),
            trace: flags.trace.or(env.trace),
            jobs: flags.jobs.or(env.jobs),
            seeds_file: flags.seeds_file.or(env.seeds_file),
            save_failures: flags.save_failures.or(env.save_failures),
            max_failures: flags.max_failures.or(env.max_failures),
            verbose: flags.verbose.or(env.verbose),
            faults: flags.faults.or(env.faults),
            no_faults: flags.no_faults.or(env.no_faults),
            buggify_sites: flags.buggify_sites.or(env.buggify_sites),
            minimize: flags.minimize.or(env.minimize),
            trace_filter: flags.trace_filter.or(env.trace_filter),
            trace_from: flags.trace_from.or(env.trace_from),
            trace_until: flags.trace_until.or(env.trace_until),
            timeline: flags.timeline.or(env.timeline),
        }
    }

    /// Rejects settings that exclude each other.
    pub(crate) fn validate(&self) -> Result<(), CliError> {
        let until = on(&self.until_all_sometimes);
        if let Some((_, seed)) = self.seed {
            let sweep = [
                self.seeds.map(|s| s.1),
                self.first_seed.map(|s| s.1),
                self.shard.as_ref().map(|s| s.1),
                until,
                self.max_seeds.map(|s| s.1),
                self.seeds_file.as_ref().map(|s| s.1),
            ];
            if let Some(other) = sweep.into_iter().flatten().next() {
                return Err(CliError::Conflict {
                    first: seed.to_string(),
                    second: other.to_string(),
                    why: "--seed replays one seed, the other describes a sweep",
                });
            }
        }
        if let Some((_, file)) = &self.seeds_file {
            let range = [
                self.seeds.map(|s| s.1),
                self.first_seed.map(|s| s.1),
                until,
                self.max_seeds.map(|s| s.1),
            ];
            if let Some(other) = range.into_iter().flatten().next() {
                return Err(CliError::Conflict {
                    first: file.to_string(),
                    second: other.to_string(),
                    why: "--seeds-file runs the seeds it lists, the other describes a range",
                });
            }
        }
        if let (Some(until), Some((_, seeds))) = (until, self.seeds) {
            return Err(CliError::Conflict {
                first: seeds.to_string(),
                second: until.to_string(),
                why: "--until-all-sometimes sweeps until its goal; cap it with --max-seeds",
            });
        }
        let selection = [&self.faults, &self.no_faults, &self.buggify_sites];
        if let (Some((false, quiet)), Some(Some((_, faults)))) = (
            self.chaos,
            selection.iter().map(|s| s.as_ref()).find(|s| s.is_some()),
        ) {
            return Err(CliError::Conflict {
                first: quiet.to_string(),
                second: faults.to_string(),
                why: "a fault selection chooses among the chaos profile's faults",
            });
        }
        if let Some((true, minimize)) = self.minimize {
            if self.seed.is_none() {
                return Err(CliError::Requires {
                    setting: minimize.to_string(),
                    needs: "--seed S (the failing seed to shrink)",
                });
            }
            if let Some((true, check)) = self.check_determinism {
                return Err(CliError::Conflict {
                    first: minimize.to_string(),
                    second: check.to_string(),
                    why: "--minimize reruns the seed many times; check determinism separately",
                });
            }
        }
        let trace_options = [
            self.trace_filter.as_ref().map(|t| t.1),
            self.trace_from.map(|t| t.1),
            self.trace_until.map(|t| t.1),
        ];
        if let (None, Some(option)) = (&self.trace, trace_options.into_iter().flatten().next()) {
            return Err(CliError::Requires {
                setting: option.to_string(),
                needs: "--trace FILE",
            });
        }
        self.trace_filter_checked()?;
        if let (Some((_, timeline)), None) = (&self.timeline, self.seed) {
            return Err(CliError::Requires {
                setting: timeline.to_string(),
                needs: "--seed S (the picture is of one seed)",
            });
        }
        if let (Some((_, timeline)), Some((true, minimize))) = (&self.timeline, self.minimize) {
            return Err(CliError::Conflict {
                first: minimize.to_string(),
                second: timeline.to_string(),
                why: "draw the minimized seed from the replay line --minimize prints",
            });
        }
        if let (None, Some((_, max))) = (until, self.max_seeds) {
            return Err(CliError::Requires {
                setting: max.to_string(),
                needs: "--until-all-sometimes",
            });
        }
        Ok(())
    }

    /// The sweep plan these (validated) settings describe. `fresh` picks
    /// the first seed when none was given; `default_seeds` is the count
    /// when neither a count, a budget nor a goal was given.
    /// `env` reads the shard index variables. (A command line passes a
    /// `fresh` that gives [`SHARDED_FIRST_SEED`] to a sharded sweep.)
    pub(crate) fn plan(
        &self,
        default_seeds: u64,
        fresh: impl FnOnce() -> u64,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SweepPlan, CliError> {
        let mut plan = match self.seed {
            Some((seed, _)) => SweepPlan::one(seed),
            None => {
                let first = self.first_seed.map(|s| s.0).unwrap_or_else(fresh);
                let count = if on(&self.until_all_sometimes).is_some() {
                    self.max_seeds.map_or(DEFAULT_MAX_SEEDS, |s| s.0)
                } else if let Some((n, _)) = self.seeds {
                    n
                } else if self.time_budget.is_some() {
                    u64::MAX
                } else {
                    default_seeds
                };
                SweepPlan::range(first, count)
            }
        };
        if let Some(shard) = self.shard(env)? {
            plan.set_shard(shard)?;
        }
        plan.time_budget = self.time_budget.map(|t| t.0);
        plan.check_determinism = self.check_determinism.is_some_and(|c| c.0);
        if on(&self.until_all_sometimes).is_some() {
            plan.until = Some(Until::AllSometimes);
        }
        plan.chaos = self.chaos.map(|c| c.0);
        plan.max_failures = self.max_failures.map(|m| m.0);
        plan.set_faults(self.selection())?;
        Ok(plan)
    }

    /// The shard, its index read through `env` if it comes from a
    /// variable.
    pub(crate) fn shard(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Shard>, CliError> {
        let Some((spec, origin)) = &self.shard else {
            return Ok(None);
        };
        let (var, base, count) = match spec {
            ShardSpec::Fixed(shard) => return Ok(Some(*shard)),
            ShardSpec::FromVar { var, count } => (var.clone(), 0, *count),
            ShardSpec::Auto { count } => {
                let found = SHARD_INDEX_VARIABLES
                    .iter()
                    .find(|(var, _)| env(var).is_some_and(|v| !v.trim().is_empty()));
                match found {
                    Some((var, base)) => (var.to_string(), *base, *count),
                    None => {
                        return Err(CliError::ShardIndex {
                            setting: origin.to_string(),
                            reason: format!(
                                "none of {} is set",
                                SHARD_INDEX_VARIABLES
                                    .iter()
                                    .map(|(v, _)| *v)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                    }
                }
            }
        };
        let invalid = |reason: String| CliError::ShardIndex {
            setting: origin.to_string(),
            reason,
        };
        let text = env(&var).ok_or_else(|| invalid(format!("{var} is not set")))?;
        let index: u64 = text
            .trim()
            .parse()
            .map_err(|_| invalid(format!("{var}='{text}' is not a whole number")))?;
        let k = index
            .checked_sub(base)
            .and_then(|i| i.checked_add(1))
            .filter(|k| (1..=count).contains(k))
            .ok_or_else(|| {
                invalid(format!(
                    "{var}={index} is outside {base}..={} ({var} counts from {base})",
                    count - 1 + base
                ))
            })?;
        Shard::new(k, count)
            .map(Some)
            .map_err(|e| invalid(e.to_string()))
    }

    /// The trace filter of `--trace-filter`, `--trace-from`, `--trace-until`.
    pub(crate) fn trace_filter_checked(&self) -> Result<TraceFilter, CliError> {
        let filter = self
            .trace_filter
            .as_ref()
            .map(|f| f.0.clone())
            .unwrap_or_default();
        filter
            .with_window(self.trace_from.map(|t| t.0), self.trace_until.map(|t| t.0))
            .map_err(|e| CliError::InvalidTraceFilter {
                setting: "--trace-from/--trace-until".to_string(),
                text: format!(
                    "{:?}..{:?}",
                    self.trace_from.map(|t| t.0),
                    self.trace_until.map(|t| t.0)
                ),
                reason: e.to_string(),
            })
    }

    /// The fault selection of `--faults`, `--no-faults`, `--buggify-sites`.
    fn selection(&self) -> FaultSelection {
        FaultSelection {
            only: self.faults.as_ref().map(|f| f.0.clone()),
            off: self
                .no_faults
                .as_ref()
                .map(|f| f.0.clone())
                .unwrap_or_default(),
            buggify_sites: self.buggify_sites.as_ref().map(|f| f.0.clone()),
        }
    }
}

/// The plan of `default` with the settings of the `MOONPOOL_*` variables
/// that `env` reads applied on top (the library entry point behind
/// [`SweepPlan::from_env_or`]). The same variables, spellings and checks
/// as the command line's.
pub(crate) fn plan_from_env(
    default: SweepPlan,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SweepPlan, CliError> {
    let given = super::SimArgs::default().with_env(env).given;
    let (_, settings) = Settings::split(&given)?;
    settings.validate()?;
    let mut plan = default;
    if let Some((path, origin)) = &settings.seeds_file {
        let entries = super::seeds_file::read(path)?;
        if let Some(entry) = entries
            .iter()
            .find(|e| e.chaos.is_some() || !e.options.is_empty())
        {
            return Err(CliError::SeedsFile {
                path: path.clone(),
                line: entry.line,
                message: format!(
                    "options on a line need a binary (SimCli); {origin} in a test takes seeds only"
                ),
            });
        }
        let seeds: Vec<u64> = entries.iter().map(|e| e.seed).collect();
        plan.seeds = SweepPlan::list(seeds)?.seeds;
        plan.until = None;
        plan.record_timeline = false;
    } else if let Some((seed, _)) = settings.seed {
        plan.seeds = SeedPlan::One(seed);
        plan.shard = None;
        plan.until = None;
        plan.record_timeline = true;
    } else if settings.seeds.is_some()
        || settings.first_seed.is_some()
        || on(&settings.until_all_sometimes).is_some()
    {
        let default_count = match &plan.seeds {
            SeedPlan::One(_) => crate::runner::sweep::DEFAULT_SEEDS,
            seeds => seeds.count(),
        };
        let first = plan.seeds.first();
        let from_env = settings.plan(default_count, || first, env)?;
        plan.seeds = from_env.seeds;
        plan.until = from_env.until;
        plan.record_timeline = false;
    }
    if let Some(shard) = settings.shard(env)? {
        plan.set_shard(shard)?;
    }
    if let Some((max, _)) = settings.max_failures {
        plan.max_failures = Some(max);
    }
    if let Some((budget, _)) = settings.time_budget {
        plan.time_budget = Some(budget);
    }
    if let Some((check, _)) = settings.check_determinism {
        plan.check_determinism = check;
    }
    if let Some((chaos, _)) = settings.chaos {
        plan.chaos = Some(chaos);
    }
    if let Some((path, _)) = &settings.trace {
        plan.trace = Some(open_trace(path)?.with_filter(settings.trace_filter_checked()?));
    }
    let selection = settings.selection();
    if !selection.is_empty() {
        plan.set_faults(selection)?;
    }
    Ok(plan)
}

/// The trace sink for `--trace PATH`: the error stream for `-`, else a new
/// file at `PATH`.
pub(crate) fn open_trace(path: &str) -> Result<TraceSink, CliError> {
    if path == "-" {
        return Ok(TraceSink::writer("stderr", std::io::stderr()));
    }
    TraceSink::file(path).map_err(|e| CliError::TraceFile {
        path: path.to_string(),
        message: e.to_string(),
    })
}

fn seed(text: &str, origin: Origin) -> Result<u64, CliError> {
    parse_seed(text).map_err(|e| CliError::InvalidSeed {
        setting: origin.to_string(),
        text: text.to_string(),
        reason: e.reason,
    })
}

fn count(text: &str, origin: Origin) -> Result<u64, CliError> {
    match parse_seed(text) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(CliError::InvalidCount {
            setting: origin.to_string(),
            text: text.to_string(),
        }),
    }
}

/// `K/N` or `auto/N`.
fn shard(text: &str, origin: Origin) -> Result<ShardSpec, CliError> {
    let invalid = |reason: String| CliError::InvalidShard {
        setting: origin.to_string(),
        text: text.to_string(),
        reason,
    };
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| invalid("no '/'".to_string()))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| invalid(format!("'{part}' is not a whole number")))
    };
    let n = number(n)?;
    if n == 0 {
        return Err(invalid("N must be at least 1".to_string()));
    }
    if k.trim() == "auto" {
        return Ok(ShardSpec::Auto { count: n });
    }
    let k = number(k)?;
    Shard::new(k, n).map(ShardSpec::Fixed).map_err(|e| match e {
        ShardError::ZeroCount => invalid("N must be at least 1".to_string()),
        ShardError::OutOfRange { .. } => invalid(format!("K must be between 1 and {n}")),
    })
}

/// `VAR/N` of `--shard-from-env`.
fn shard_from_var(text: &str, origin: Origin) -> Result<ShardSpec, CliError> {
    let invalid = |reason: &str| CliError::InvalidShard {
        setting: origin.to_string(),
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let (var, n) = text.rsplit_once('/').ok_or_else(|| invalid("no '/'"))?;
    let var = var.trim();
    if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid("VAR must be a variable name (letters, digits, _)"));
    }
    match n.trim().parse::<u64>() {
        Ok(count) if count > 0 => Ok(ShardSpec::FromVar {
            var: var.to_string(),
            count,
        }),
        _ => Err(invalid("N must be a whole number of at least 1")),
    }
}

/// A switch: `true` from the command line (clap gives no other value); a
/// boolean spelling in its variable.
fn switch(text: &str, origin: Origin) -> Result<bool, CliError> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(CliError::InvalidBool {
            setting: origin.to_string(),
            text: text.to_string(),
        }),
    }
}

fn duration(text: &str, origin: Origin) -> Result<Duration, CliError> {
    parse_duration(text).map_err(|reason| CliError::InvalidDuration {
        setting: origin.to_string(),
        text: text.to_string(),
        reason,
    })
}

fn sim_time(text: &str, origin: Origin) -> Result<Duration, CliError> {
    parse_sim_time(text).map_err(|reason| CliError::InvalidDuration {
        setting: origin.to_string(),
        text: text.to_string(),
        reason,
    })
}

/// A point in simulated time: `1.2s`, `1500ms`, `250us`, `0s` (a decimal
/// number and a unit: ns, us, ms, s, m, h; zero allowed).
pub(crate) fn parse_sim_time(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or("missing unit")?;
    let (number, unit) = text.split_at(split);
    let ns_per_unit: u128 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err("unknown unit (use ns, us, ms, s, m or h)"),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err("it must start with a number");
    }
    if fraction.contains('.') || fraction.len() > 18 {
        return Err("not a decimal number");
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| "the number is too large")?
    };
    let frac: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| "not a decimal number")?
    };
    let scale = 10u128.pow(fraction.len() as u32);
    let ns = whole
        .checked_mul(ns_per_unit)
        .and_then(|w| w.checked_add(frac * ns_per_unit / scale))
        .ok_or("the number is too large")?;
    let ns = u64::try_from(ns).map_err(|_| "the number is too large")?;
    Ok(Duration::from_nanos(ns))
}

/// `500ms`, `30s`, `2m`, `1h`: a whole number and a unit.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("missing unit")?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err("it must start with a whole number");
    }
    let n: u64 = digits.parse().map_err(|_| "the number is too large")?;
    let ms_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err("unknown unit (use ms, s, m or h)"),
    };
    let ms = n
        .checked_mul(ms_per_unit)
        .ok_or("the number is too large")?;
    if ms == 0 {
        return Err("it must be more than zero");
    }
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_in_simulated_time() {
        assert_eq!(parse_sim_time("1.2s"), Ok(Duration::from_millis(1200)));
        assert_eq!(parse_sim_time("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_sim_time("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_sim_time(".5ms"), Ok(Duration::from_micros(500)));
        assert!(parse_sim_time("1.2").is_err());
        assert!(parse_sim_time("s").is_err());
        assert!(parse_sim_time("1.2.3s").is_err());
        assert!(parse_sim_time("99999999999999h").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in [
            "",
            "30",
            "s",
            "0s",
            "1.5s",
            "10x",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
