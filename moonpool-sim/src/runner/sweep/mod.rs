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
//! Files: this one holds the plan; `report.rs` the [`SweepReport`];
//! `run.rs` the loop ([`Simulation::sweep_with`](crate::Simulation::sweep_with)),
//! stop conditions and observers.
//!
//! # Invariants
//! - Each seed runs in a fresh world ([`Simulation::run_seed`](crate::Simulation::run_seed)); a sweep adds
//!   nothing to what a seed sees, so a seed's fingerprint is the same in a
//!   sweep, alone, sharded, traced or not.
//! - Wall-clock time is read here only to enforce the time budget and to
//!   report; [`fresh_first_seed`] is the only place the simulator reads OS
//!   entropy, to choose *which* seeds to run, never inside a seed.
//! - Every loop is bounded: by the plan's count, and optionally earlier by
//!   the budget or the stop condition. Kept results are capped
//!   ([`FAILURES_KEPT_MAX`], [`RESULTS_KEPT_MAX`]); counts are exact.

mod report;
mod run;

use std::fmt;
use std::time::Duration;

use crate::cli::replay::Replay;
use crate::trace::TraceSink;

pub(crate) use report::per_sec;
pub use report::{FaultTally, SeedResult, StopReason, SweepReport, is_fault_kind};
pub use run::{AllSometimesSatisfied, Silent, StopCondition, SweepObserver};

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
            Until::AllSometimes => Box::new(AllSometimesSatisfied),
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

/// A fresh first seed for a sweep, from OS entropy and the clock.
///
/// This is the only place the simulator reads entropy: it chooses *which*
/// seeds to run, and is printed so the sweep can be rerun with
/// `--first-seed`. Nothing inside a seed ever depends on it.
pub fn fresh_first_seed() -> u64 {
    moonpool_core::entropy_seed()
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
