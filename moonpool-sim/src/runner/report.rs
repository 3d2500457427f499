//! What one seed did.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::kernel::TimelineEntry;
use crate::kernel::failure::SeedFailure;
use crate::model::assertions::AssertionStats;
use crate::model::buggify::BuggifyStats;
use crate::model::values::SeedValue;

/// Pass or fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedOutcome {
    /// Every workload's checks passed.
    Pass,
    /// The seed failed, and why.
    Fail(SeedFailure),
}

impl SeedOutcome {
    /// Whether the seed passed.
    pub fn is_pass(&self) -> bool {
        matches!(self, SeedOutcome::Pass)
    }

    /// The failure, if the seed failed.
    pub fn failure(&self) -> Option<&SeedFailure> {
        match self {
            SeedOutcome::Pass => None,
            SeedOutcome::Fail(f) => Some(f),
        }
    }
}

/// The report of one seed.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Pass or fail.
    pub outcome: SeedOutcome,
    /// The execution fingerprint: equal for two runs of a seed exactly when
    /// they made the same decisions.
    pub fingerprint: u64,
    /// Virtual time at the end of the seed.
    pub sim_time: Duration,
    /// Wall-clock time the seed took (measured, never used to decide).
    pub wall_time: Duration,
    /// Executor steps: task polls plus events fired.
    pub events: u64,
    /// Values the workloads recorded (`SimContext::record_value`,
    /// `SimContext::record_entry`), by name.
    pub values: BTreeMap<String, SeedValue>,
    /// Injected faults and process events, by kind (e.g. `"net.bit_flip"`).
    pub counters: BTreeMap<&'static str, u64>,
    /// Of `counters`, the faults whose every target was a process of the
    /// system under test (a server or a foreground workload's client), by
    /// kind: the fault budget actually spent on the system. A nemesis never
    /// aims at the simulator's process or a background workload's.
    pub faults_on_system: BTreeMap<&'static str, u64>,
    /// Fault families (swarm testing) and whether this seed had each on.
    pub fault_families: BTreeMap<&'static str, bool>,
    /// What happened when, if the timeline was recorded.
    pub timeline: Vec<TimelineEntry>,
    /// Process starts, connections, RPCs and assertion hits, if the plan
    /// asked for them ([`SweepPlan::record_marks`](crate::SweepPlan::record_marks),
    /// `--timeline`).
    pub marks: Vec<TimelineEntry>,
    /// Marks past the per-seed bound, counted but not kept.
    pub marks_dropped: u64,
    /// Every assertion site evaluated in this seed, with its counts
    /// (sites not evaluated are absent; `assertions::Coverage` adds them).
    pub assertions: Vec<AssertionStats>,
    /// Every buggify site evaluated in this seed: active or not, firings.
    pub buggify: Vec<BuggifyStats>,
}
