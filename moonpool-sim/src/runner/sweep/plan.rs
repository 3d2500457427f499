//! The plan of a sweep: which seeds, which shard, which goal, chaos or
//! not, a trace, and how replay lines read.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Replay;
use super::run::{AllSometimesSatisfied, StopCondition};
use crate::kernel::faults::FaultSelection;
use crate::trace::TraceSink;

/// Which seeds, in which order.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Exactly these seeds, in this order (a regression file,
    /// `--seeds-file`). Never empty ([`SweepPlan::list`] refuses it).
    List(Arc<[u64]>),
}

impl SeedPlan {
    /// The first seed of the plan.
    pub fn first(&self) -> u64 {
        match self {
            SeedPlan::One(seed) => *seed,
            SeedPlan::Range { first, .. } => *first,
            SeedPlan::List(seeds) => seeds.first().copied().unwrap_or(0),
        }
    }

    /// Seeds in the plan before sharding.
    pub fn count(&self) -> u64 {
        match self {
            SeedPlan::One(_) => 1,
            SeedPlan::Range { count, .. } => *count,
            SeedPlan::List(seeds) => seeds.len() as u64,
        }
    }

    /// The seed at `index` in the plan (`index < count`).
    pub fn seed_at(&self, index: u64) -> u64 {
        match self {
            SeedPlan::List(seeds) => usize::try_from(index)
                .ok()
                .and_then(|i| seeds.get(i))
                .copied()
                .unwrap_or(0),
            _ => self.first().wrapping_add(index),
        }
    }

    /// Whether the plan runs until a budget or a goal stops it.
    pub fn is_unbounded(&self) -> bool {
        matches!(
            self,
            SeedPlan::Range {
                count: u64::MAX,
                ..
            }
        )
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

/// A sweep plan that cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The shard selects no seed of the plan.
    #[error("shard {shard} of a {count}-seed plan selects no seed")]
    EmptyShard {
        /// The shard.
        shard: Shard,
        /// Seeds in the plan.
        count: u64,
    },
    /// A list of seeds with no seed in it.
    #[error("the list of seeds is empty")]
    EmptyList,
    /// A selection names a fault family the simulator does not have.
    #[error("unknown fault family '{name}' (known: {})", known.join(", "))]
    UnknownFaultFamily {
        /// The name as given.
        name: String,
        /// Every family (`moonpool_sim::fault_families()`).
        known: Vec<&'static str>,
    },
    /// A selection names a buggify site no code registers.
    #[error(
        "unknown buggify site '{name}' (sites are named module::path:line; the coverage report lists them)"
    )]
    UnknownBuggifySite {
        /// The name as given.
        name: String,
    },
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
/// documentation](crate::runner::sweep).
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
    /// Chaos on or off for every seed of the sweep: the one decision the
    /// whole run reads (each seed's world and its models, the ready-order
    /// perturbation, the sweep report and its replay lines). `None`: the
    /// simulation's default ([`SimulationBuilder::chaos`](crate::SimulationBuilder::chaos)).
    /// A command line sets it from its flags (`--chaos`/`--no-chaos`,
    /// `MOONPOOL_CHAOS`).
    pub chaos: Option<bool>,
    /// Record the chaos timeline of each seed (default: on for
    /// [`SeedPlan::One`]).
    pub record_timeline: bool,
    /// Overrides of each chaos seed's fault decisions (`--faults`,
    /// `--no-faults`, `--buggify-sites`); set with
    /// [`SweepPlan::set_faults`], which checks the names. Ignored in quiet
    /// seeds, which inject no chaos to select from.
    pub faults: FaultSelection,
    /// Keep the marks of the timeline picture (process starts, connections,
    /// RPC calls, assertion hits) in each seed's report (`--timeline`;
    /// meant for one seed).
    pub record_marks: bool,
    /// Write a trace of every seed here (see [`crate::trace`]).
    pub trace: Option<TraceSink>,
    /// How failure replay lines are written.
    pub replay: Replay,
    /// Stop the sweep once this many seeds failed, counted in plan order
    /// (`--fail-fast` is 1, `--max-failures N`). Whatever the job count,
    /// the sweep reports exactly the seeds of the plan up to and including
    /// the failure that reached the limit.
    pub max_failures: Option<u64>,
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

    /// Exactly `seeds`, in this order; refused if empty.
    pub fn list(seeds: impl Into<Arc<[u64]>>) -> Result<SweepPlan, PlanError> {
        let seeds: Arc<[u64]> = seeds.into();
        if seeds.is_empty() {
            return Err(PlanError::EmptyList);
        }
        Ok(SweepPlan::with_seeds(SeedPlan::List(seeds)))
    }

    /// `count` seeds from a fresh base ([`fresh_first_seed`]), printed in
    /// the reports so the sweep can be rerun.
    pub fn fresh(count: u64) -> SweepPlan {
        SweepPlan::range(fresh_first_seed(), count)
    }

    fn with_seeds(seeds: SeedPlan) -> SweepPlan {
        SweepPlan {
            shard: None,
            time_budget: None,
            check_determinism: false,
            until: None,
            chaos: None,
            record_timeline: matches!(seeds, SeedPlan::One(_)),
            seeds,
            faults: FaultSelection::default(),
            record_marks: false,
            trace: None,
            replay: Replay::cargo_test(),
            max_failures: None,
        }
    }

    /// Keeps only `shard` of the plan; refused if it selects no seed.
    pub fn set_shard(&mut self, shard: Shard) -> Result<(), PlanError> {
        let count = self.seeds.count();
        if shard.seeds_of(count) == 0 {
            return Err(PlanError::EmptyShard { shard, count });
        }
        self.shard = Some(shard);
        Ok(())
    }

    /// Selects the faults every chaos seed may inject; refused if it names
    /// a family or a buggify site that does not exist.
    pub fn set_faults(&mut self, faults: FaultSelection) -> Result<(), PlanError> {
        crate::runner::faults::check(&faults)?;
        self.faults = faults;
        Ok(())
    }

    /// How many seeds this plan runs at most (after sharding).
    pub fn seeds_planned(&self) -> u64 {
        match (&self.seeds, self.shard) {
            (SeedPlan::One(_), Some(shard)) => u64::from(shard.contains(0)),
            (_, Some(shard)) => shard.seeds_of(self.seeds.count()),
            (_, None) => self.seeds.count(),
        }
    }

    /// The plan's seeds in order (after sharding), lazily.
    pub fn iter_seeds(&self) -> impl Iterator<Item = u64> + '_ {
        let mut position = 0u64;
        std::iter::from_fn(move || {
            let seed = self.seed_at_position(position)?;
            position += 1;
            Some(seed)
        })
    }

    /// The seed at `position` in the order this plan runs its seeds
    /// (after sharding): the `position`-th seed of [`iter_seeds`](Self::iter_seeds),
    /// or `None` past the end. Parallel workers pick seeds by position.
    pub fn seed_at_position(&self, position: u64) -> Option<u64> {
        let (start, step) = match self.shard {
            Some(shard) => (shard.index() - 1, shard.count()),
            None => (0, 1),
        };
        let index = position.checked_mul(step)?.checked_add(start)?;
        (index < self.seeds.count()).then(|| self.seeds.seed_at(index))
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
    use crate::runner::sweep::is_fault_kind;

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
    fn a_shard_selecting_no_seed_is_refused() {
        let mut plan = SweepPlan::range(0, 2);
        let shard = Shard::new(3, 3).expect("valid");
        assert_eq!(
            plan.set_shard(shard),
            Err(PlanError::EmptyShard { shard, count: 2 })
        );
        assert_eq!(plan.shard, None);
        assert_eq!(plan.set_shard(Shard::new(2, 3).expect("valid")), Ok(()));
        assert_eq!(plan.iter_seeds().collect::<Vec<_>>(), vec![1]);
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
