//! Seed plans and sweeps: which seeds to run, in which order, and when to
//! stop.
//!
//! # Types
//! - [`SeedPlan`]: one seed (a replay), or `count` consecutive seeds
//!   `first, first+1, ...` (wrapping at `u64::MAX`).
//! - [`Shard`]: `K/N`, keeps the seeds whose *index* in the plan is
//!   `≡ K-1 (mod N)`, so `N` machines given `1/N .. N/N` and the same
//!   `first` run disjoint sets whose union is the plan.
//! - [`SweepPlan`]: a seed plan plus a shard, a wall-time budget, whether to
//!   run each seed twice (`check_determinism`), an optional "until" goal,
//!   chaos on/off, a trace sink, and how to print replay lines.
//! - [`StopCondition`]: a pluggable goal, consulted after every seed, that
//!   ends a sweep early (`--until-all-sometimes` is one).
//! - [`SweepObserver`]: told about each seed as it finishes (the CLI's
//!   reports and progress are observers).
//! - [`SweepReport`]: totals, failures with their replay lines, per-seed
//!   fingerprints, fault counts, and why the sweep stopped.
//!
//! # Invariants
//! - Each seed runs in a fresh world ([`Simulation::run_seed`]); a sweep adds
//!   nothing to what a seed sees, so a seed's fingerprint is the same in a
//!   sweep, alone, sharded, traced or not.
//! - Wall-clock time is read here only to enforce the time budget and to
//!   report; [`fresh_first_seed`] is the only place the simulator reads OS
//!   entropy, to choose *which* seeds to run, never inside a seed.
//! - Every loop is bounded: by the plan's count, and optionally earlier by
//!   the budget or the stop condition. Kept results are capped
//!   ([`FAILURES_KEPT_MAX`], [`RESULTS_KEPT_MAX`]); counts are exact.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use super::{SeedReport, Simulation};
use crate::cli::replay::Replay;
use crate::trace::TraceSink;

/// Seeds a sweep runs when no count is given (CLI `--seeds` default).
pub const DEFAULT_SEEDS: u64 = 100;
/// Seed cap of `--until-all-sometimes` when no `--max-seeds` is given.
pub const DEFAULT_MAX_SEEDS: u64 = 10_000;
/// Failed seeds whose full report a [`SweepReport`] keeps (later failures
/// are counted, not kept).
pub const FAILURES_KEPT_MAX: usize = 1_000;
/// Per-seed results (seed, fingerprint, pass) a [`SweepReport`] keeps:
/// 24 MB at most.
pub const RESULTS_KEPT_MAX: usize = 1_000_000;

/// Which seeds, in which order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedPlan {
    /// Exactly this seed: a replay.
    One(u64),
    /// `count` seeds `first, first+1, ...`, wrapping at `u64::MAX`.
    /// `u64::MAX` means "until the time budget or the stop condition ends
    /// the sweep" (what `--time-budget` alone asks for).
    Range {
        /// The first seed.
        first: u64,
        /// How many seeds (before sharding).
        count: u64,
    },
}

impl SeedPlan {
    /// The first seed of the plan.
    pub fn first(&self) -> u64 {
        match *self {
            SeedPlan::One(seed) => seed,
            SeedPlan::Range { first, .. } => first,
        }
    }

    /// Seeds in the plan before sharding.
    pub fn count(&self) -> u64 {
        match *self {
            SeedPlan::One(_) => 1,
            SeedPlan::Range { count, .. } => count,
        }
    }

    /// The seed at `index` in the plan.
    pub fn seed_at(&self, index: u64) -> u64 {
        self.first().wrapping_add(index)
    }
}

/// `K/N`: run the seeds whose index in the plan is `≡ K-1 (mod N)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

/// A shard that selects nothing sensible.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// `N` is zero.
    #[error("the shard count must be at least 1")]
    ZeroCount,
    /// `K` is outside `1..=N`.
    #[error("shard {index} does not exist: shards are numbered 1..={count}")]
    OutOfRange {
        /// `K`.
        index: u64,
        /// `N`.
        count: u64,
    },
}

impl Shard {
    /// Shard `index` (1-based) of `count`.
    pub fn new(index: u64, count: u64) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::ZeroCount);
        }
        if index == 0 || index > count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }

    /// `K`, 1-based.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// `N`.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether the seed at plan index `i` belongs to this shard.
    pub fn contains(&self, i: u64) -> bool {
        i % self.count == self.index - 1
    }

    /// How many of `plan_count` plan indices belong to this shard.
    pub fn seeds_of(&self, plan_count: u64) -> u64 {
        let offset = self.index - 1;
        if plan_count <= offset {
            0
        } else {
            (plan_count - offset - 1) / self.count + 1
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A goal the sweep works toward, beyond its seed plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Keep going until every `sometimes` assertion was satisfied at least
    /// once (capped by the plan's count, `--max-seeds`).
    AllSometimes,
}

impl Until {
    /// The stop condition that implements this goal.
    pub fn condition(self) -> Box<dyn StopCondition> {
        match self {
            Until::AllSometimes => Box::new(AllSometimesSatisfied::default()),
        }
    }
}

/// Everything that decides what a sweep runs. See the [module
/// documentation](self).
#[derive(Clone, Debug)]
pub struct SweepPlan {
    /// The seeds.
    pub seeds: SeedPlan,
    /// Keep only this shard of the plan.
    pub shard: Option<Shard>,
    /// Start no new seed once this much wall time has passed (at least one
    /// seed always runs).
    pub time_budget: Option<Duration>,
    /// Run each seed twice and fail it if the executions differ.
    pub check_determinism: bool,
    /// Stop early when this goal is met.
    pub until: Option<Until>,
    /// Chaos on or off for these seeds; `None` keeps the simulation's
    /// setting.
    pub chaos: Option<bool>,
    /// Record the chaos timeline of each seed (default: on for
    /// [`SeedPlan::One`]).
    pub record_timeline: bool,
    /// Write a trace of every seed here (see [`crate::trace`]).
    pub trace: Option<TraceSink>,
    /// How failure replay lines are written.
    pub replay: Replay,
}

impl SweepPlan {
    /// Replays exactly `seed` (with its timeline recorded).
    pub fn one(seed: u64) -> SweepPlan {
        SweepPlan::with_seeds(SeedPlan::One(seed))
    }

    /// `count` seeds from `first`.
    pub fn range(first: u64, count: u64) -> SweepPlan {
        SweepPlan::with_seeds(SeedPlan::Range { first, count })
    }

    /// `count` seeds from a fresh base ([`fresh_first_seed`]), printed in
    /// the reports so the sweep can be rerun.
    pub fn fresh(count: u64) -> SweepPlan {
        SweepPlan::range(fresh_first_seed(), count)
    }

    fn with_seeds(seeds: SeedPlan) -> SweepPlan {
        SweepPlan {
            seeds,
            shard: None,
            time_budget: None,
            check_determinism: false,
            until: None,
            chaos: None,
            record_timeline: matches!(seeds, SeedPlan::One(_)),
            trace: None,
            replay: Replay::cargo_test(),
        }
    }

    /// `default`, with every `MOONPOOL_*` variable that is set applied on
    /// top (`MOONPOOL_SEED`, `MOONPOOL_SEEDS`, `MOONPOOL_FIRST_SEED`,
    /// `MOONPOOL_SHARD`, `MOONPOOL_TIME_BUDGET`, `MOONPOOL_CHECK_DETERMINISM`,
    /// `MOONPOOL_CHAOS`, `MOONPOOL_TRACE`, `MOONPOOL_UNTIL_ALL_SOMETIMES`,
    /// `MOONPOOL_MAX_SEEDS`). This is how a `cargo test` replays a seed:
    /// `MOONPOOL_SEED=0x2a cargo test my_test`. A malformed variable, or a
    /// trace file that cannot be created, is an error.
    pub fn from_env_or(default: SweepPlan) -> Result<SweepPlan, crate::cli::CliError> {
        SweepPlan::from_env_with(default, &|name| std::env::var(name).ok())
    }

    /// [`SweepPlan::from_env_or`] reading variables through `env` (for
    /// tests, which should not mutate the process environment).
    pub fn from_env_with(
        default: SweepPlan,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SweepPlan, crate::cli::CliError> {
        crate::cli::plan_from_env(default, env)
    }

    /// How many seeds this plan runs at most (after sharding).
    pub fn seeds_planned(&self) -> u64 {
        match (self.seeds, self.shard) {
            (SeedPlan::One(_), Some(shard)) => u64::from(shard.contains(0)),
            (_, Some(shard)) => shard.seeds_of(self.seeds.count()),
            (_, None) => self.seeds.count(),
        }
    }

    /// The plan's seeds in order (after sharding), lazily.
    pub fn iter_seeds(&self) -> impl Iterator<Item = u64> + '_ {
        let (start, step) = match self.shard {
            Some(shard) => (shard.index() - 1, shard.count()),
            None => (0, 1),
        };
        let count = self.seeds.count();
        let mut next = Some(start);
        std::iter::from_fn(move || {
            let i = next.filter(|&i| i < count)?;
            next = i.checked_add(step);
            Some(self.seeds.seed_at(i))
        })
    }
}

/// Ends a sweep early once a goal is met. Consulted after every seed.
///
/// A closure `FnMut(&SeedReport, &SweepReport) -> bool` is a stop
/// condition, described as "stop condition".
pub trait StopCondition {
    /// Whether the goal is met, given the seed just run and the sweep so far.
    fn is_met(&mut self, report: &SeedReport, sweep: &SweepReport) -> bool;

    /// The goal, in words, for reports ("all sometimes assertions
    /// satisfied").
    fn describe(&self) -> String {
        "stop condition".to_string()
    }
}

impl<F: FnMut(&SeedReport, &SweepReport) -> bool> StopCondition for F {
    fn is_met(&mut self, report: &SeedReport, sweep: &SweepReport) -> bool {
        self(report, sweep)
    }
}

/// The goal of `--until-all-sometimes`: every `sometimes` assertion seen
/// satisfied in at least one seed.
///
/// SEAM(assertions): the assertion registry (issue 4) is not merged yet.
/// When it lands, this type accumulates the `sometimes` coverage of each
/// [`SeedReport`] (e.g. a `BTreeMap<name, bool>` merged from the report's
/// assertion fields) and `is_met` returns true when every `sometimes`
/// assertion known so far was satisfied. Until then no seed reports any
/// `sometimes` assertion, so the goal is vacuously met after the first
/// seed.
#[derive(Debug, Default)]
pub struct AllSometimesSatisfied {
    seeds_seen: u64,
}

impl StopCondition for AllSometimesSatisfied {
    fn is_met(&mut self, _report: &SeedReport, _sweep: &SweepReport) -> bool {
        self.seeds_seen += 1;
        // SEAM(assertions): merge `_report`'s sometimes coverage here and
        // answer "no sometimes assertion is still unsatisfied".
        true
    }

    fn describe(&self) -> String {
        "all sometimes assertions satisfied".to_string()
    }
}

/// Told about a sweep's progress. Every method has an empty default.
pub trait SweepObserver {
    /// Before the first seed.
    fn sweep_started(&mut self, plan: &SweepPlan, chaos: bool) {
        let _ = (plan, chaos);
    }

    /// After each seed, with its report and the sweep so far (which already
    /// counts this seed).
    fn seed_done(&mut self, report: &SeedReport, sweep: &SweepReport) {
        let _ = (report, sweep);
    }
}

/// An observer that does nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl SweepObserver for Silent {}

/// Why a sweep stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Every seed of the plan ran.
    Completed,
    /// The wall-time budget ran out before the plan did.
    TimeBudget(Duration),
    /// The stop condition was met; its description.
    Condition(String),
}

/// One seed's result, as kept by a [`SweepReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Its fingerprint.
    pub fingerprint: u64,
    /// Whether it passed.
    pub passed: bool,
}

/// How often a fault kind fired over a sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultTally {
    /// Times it fired, summed over seeds.
    pub total: u64,
    /// Seeds in which it fired at least once.
    pub seeds: u64,
}

/// What a sweep did.
#[derive(Clone, Debug)]
pub struct SweepReport {
    /// The plan that was run.
    pub plan: SweepPlan,
    /// Whether chaos was on.
    pub chaos: bool,
    /// Seeds run.
    pub seeds_run: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Seeds that failed.
    pub failed: u64,
    /// The reports of the first [`FAILURES_KEPT_MAX`] failed seeds.
    pub failures: Vec<SeedReport>,
    /// Seed, fingerprint and outcome of the first [`RESULTS_KEPT_MAX`] seeds.
    pub results: Vec<SeedResult>,
    /// Simulated time, summed over seeds.
    pub sim_time: Duration,
    /// Wall time of the whole sweep.
    pub wall_time: Duration,
    /// Executor steps, summed over seeds.
    pub events: u64,
    /// Fault and process events by kind (`net.*`, `disk.*`, `process.*`).
    pub faults: BTreeMap<&'static str, FaultTally>,
    /// Fault families, and in how many seeds each was on.
    pub fault_families: BTreeMap<&'static str, u64>,
    /// Why the sweep stopped.
    pub stopped: StopReason,
}

/// Whether a counter kind is an injected fault or process event (reported
/// under `faults`), as opposed to the simulator's own bookkeeping.
pub fn is_fault_kind(kind: &str) -> bool {
    ["net.", "disk.", "process."]
        .iter()
        .any(|prefix| kind.starts_with(prefix))
}

impl SweepReport {
    fn new(plan: &SweepPlan, chaos: bool) -> SweepReport {
        SweepReport {
            plan: plan.clone(),
            chaos,
            seeds_run: 0,
            passed: 0,
            failed: 0,
            failures: Vec::new(),
            results: Vec::new(),
            sim_time: Duration::ZERO,
            wall_time: Duration::ZERO,
            events: 0,
            faults: BTreeMap::new(),
            fault_families: BTreeMap::new(),
            stopped: StopReason::Completed,
        }
    }

    #[cfg(test)]
    pub(crate) fn empty_for_tests(plan: &SweepPlan) -> SweepReport {
        SweepReport::new(plan, false)
    }

    fn add(&mut self, report: &SeedReport) {
        self.seeds_run += 1;
        let passed = report.outcome.is_pass();
        if passed {
            self.passed += 1;
        } else {
            self.failed += 1;
            if self.failures.len() < FAILURES_KEPT_MAX {
                self.failures.push(report.clone());
            }
        }
        if self.results.len() < RESULTS_KEPT_MAX {
            self.results.push(SeedResult {
                seed: report.seed,
                fingerprint: report.fingerprint,
                passed,
            });
        }
        self.sim_time = self.sim_time.saturating_add(report.sim_time);
        self.events = self.events.saturating_add(report.events);
        for (&kind, &n) in &report.counters {
            if n > 0 && is_fault_kind(kind) {
                let tally = self.faults.entry(kind).or_default();
                tally.total = tally.total.saturating_add(n);
                tally.seeds += 1;
            }
        }
        for (&family, &on) in &report.fault_families {
            *self.fault_families.entry(family).or_insert(0) += u64::from(on);
        }
    }

    /// Whether every seed run passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }

    /// The first failed seed, if any.
    pub fn first_failure(&self) -> Option<&SeedReport> {
        self.failures.first()
    }

    /// The command line that replays `seed` exactly.
    pub fn replay_line(&self, seed: u64) -> String {
        self.plan
            .replay
            .line(seed, self.chaos, self.plan.check_determinism)
    }

    /// Executor steps per wall-clock second.
    pub fn events_per_sec(&self) -> f64 {
        per_sec(self.events, self.wall_time)
    }

    /// Simulated time per wall-clock time.
    pub fn sim_wall_ratio(&self) -> f64 {
        let wall = self.wall_time.as_secs_f64();
        if wall > 0.0 {
            self.sim_time.as_secs_f64() / wall
        } else {
            0.0
        }
    }

    /// Panics, listing every kept failure with its message and replay
    /// line, if any seed failed. Meant as the last line of a `cargo test`.
    #[track_caller]
    pub fn assert_all_passed(&self) {
        if self.all_passed() {
            return;
        }
        let mut text = format!(
            "{} of {} seed(s) failed (first seed {:#x}, chaos {}):",
            self.failed,
            self.seeds_run,
            self.plan.seeds.first(),
            if self.chaos { "on" } else { "off" }
        );
        for f in &self.failures {
            let message = f
                .outcome
                .failure()
                .map(ToString::to_string)
                .unwrap_or_default();
            text.push_str(&format!(
                "\n  seed {:#x} (fingerprint {:#018x}): {message}\n    replay: {}",
                f.seed,
                f.fingerprint,
                self.replay_line(f.seed)
            ));
        }
        let unlisted = self.failed.saturating_sub(self.failures.len() as u64);
        if unlisted > 0 {
            text.push_str(&format!("\n  ... and {unlisted} more"));
        }
        panic!("{text}");
    }
}

/// `n` per second of `wall` (0 when no time passed).
pub(crate) fn per_sec(n: u64, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

impl Simulation {
    /// Runs every seed of `plan` and reports. A failing seed does not stop
    /// the sweep. See [`Simulation::sweep_with`] to watch it run or stop it
    /// on a goal of your own.
    ///
    /// ```
    /// # use moonpool_sim::{SimContext, SimulationBuilder, Workload, WorkloadResult, SweepPlan};
    /// # use moonpool_core::TimeProvider;
    /// struct Nap;
    /// impl Workload for Nap {
    ///     async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
    ///         ctx.providers().sleep(std::time::Duration::from_millis(5)).await;
    ///         Ok(())
    ///     }
    /// }
    /// let sim = SimulationBuilder::new().workload("nap", 2, |_| Nap).build().unwrap();
    /// // `MOONPOOL_SEED=0x.. cargo test` replays one seed of this sweep.
    /// let plan = SweepPlan::from_env_or(SweepPlan::range(0, 20)).unwrap();
    /// sim.sweep(&plan).assert_all_passed();
    /// ```
    pub fn sweep(&self, plan: &SweepPlan) -> SweepReport {
        self.sweep_with(plan, &mut Silent, None)
    }

    /// [`Simulation::sweep`], telling `observer` about every seed. `stop`,
    /// if given, is consulted after every seed and ends the sweep when met;
    /// otherwise the plan's [`Until`] goal is used, if any.
    pub fn sweep_with(
        &self,
        plan: &SweepPlan,
        observer: &mut dyn SweepObserver,
        stop: Option<&mut dyn StopCondition>,
    ) -> SweepReport {
        let mut config = self.config.clone();
        if let Some(chaos) = plan.chaos {
            config.chaos = chaos;
        }
        config.record_timeline |= plan.record_timeline;
        let mut until_goal = plan.until.map(Until::condition);
        let mut stop: Option<&mut dyn StopCondition> = match stop {
            Some(s) => Some(s),
            None => until_goal.as_deref_mut(),
        };
        let mut run = || -> SweepReport {
            let started = Instant::now();
            let mut sweep = SweepReport::new(plan, config.chaos);
            observer.sweep_started(plan, config.chaos);
            for seed in plan.iter_seeds() {
                if let Some(budget) = plan.time_budget
                    && sweep.seeds_run > 0
                    && started.elapsed() >= budget
                {
                    sweep.stopped = StopReason::TimeBudget(budget);
                    break;
                }
                tracing::debug!(target: "moonpool_sim::runner", "seed {seed:#x} starts");
                let report = if plan.check_determinism {
                    self.check_determinism_in(seed, &config)
                } else {
                    self.run_seed_in(seed, &config)
                };
                tracing::debug!(
                    target: "moonpool_sim::runner",
                    "seed {seed:#x} {} with fingerprint {:#018x}",
                    if report.outcome.is_pass() { "passed" } else { "failed" },
                    report.fingerprint
                );
                sweep.add(&report);
                sweep.wall_time = started.elapsed();
                observer.seed_done(&report, &sweep);
                if let Some(condition) = stop.as_deref_mut()
                    && condition.is_met(&report, &sweep)
                {
                    sweep.stopped = StopReason::Condition(condition.describe());
                    break;
                }
            }
            sweep.wall_time = started.elapsed();
            sweep
        };
        match &plan.trace {
            Some(sink) => crate::trace::with_sink(sink, run),
            None => run(),
        }
    }
}

/// A fresh first seed for a sweep, from OS entropy and the clock.
///
/// This is the only place the simulator reads entropy: it chooses *which*
/// seeds to run, and is printed so the sweep can be rerun with
/// `--first-seed`. Nothing inside a seed ever depends on it.
pub fn fresh_first_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` keys come from the OS on first use in a process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    splitmix(hasher.finish())
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_a_plan_exactly() {
        for count in [0u64, 1, 2, 7, 100, 101] {
            for n in 1..=6u64 {
                let mut all: Vec<u64> = Vec::new();
                for k in 1..=n {
                    let mut plan = SweepPlan::range(u64::MAX - 3, count);
                    plan.shard = Some(Shard::new(k, n).expect("valid"));
                    let seeds: Vec<u64> = plan.iter_seeds().collect();
                    assert_eq!(seeds.len() as u64, plan.seeds_planned());
                    all.extend(seeds);
                }
                let mut expected: Vec<u64> =
                    SweepPlan::range(u64::MAX - 3, count).iter_seeds().collect();
                all.sort_unstable();
                expected.sort_unstable();
                assert_eq!(all, expected, "count {count}, {n} shards");
            }
        }
    }

    #[test]
    fn bad_shards_are_rejected() {
        assert_eq!(
            Shard::new(0, 4),
            Err(ShardError::OutOfRange { index: 0, count: 4 })
        );
        assert_eq!(
            Shard::new(5, 4),
            Err(ShardError::OutOfRange { index: 5, count: 4 })
        );
        assert_eq!(Shard::new(1, 0), Err(ShardError::ZeroCount));
    }

    #[test]
    fn a_range_wraps_at_the_top() {
        let seeds: Vec<u64> = SweepPlan::range(u64::MAX - 1, 3).iter_seeds().collect();
        assert_eq!(seeds, vec![u64::MAX - 1, u64::MAX, 0]);
    }

    #[test]
    fn fresh_seeds_differ() {
        assert_ne!(fresh_first_seed(), fresh_first_seed());
    }

    #[test]
    fn fault_kinds_are_net_disk_and_process() {
        assert!(is_fault_kind("net.bit_flip"));
        assert!(is_fault_kind("disk.torn_write"));
        assert!(is_fault_kind("process.kill"));
        assert!(!is_fault_kind("sim.quiesce"));
    }
}
