//! Seed plans and sweeps: which seeds to run, in which order, and when to
//! stop.
//!
//! # Types
//! - [`SeedPlan`](crate::SeedPlan): one seed (a replay), or `count` consecutive seeds
//!   `first, first+1, ...` (wrapping at `u64::MAX`).
//! - [`Shard`](crate::Shard): `K/N`, keeps the seeds whose *index* in the plan is
//!   `≡ K-1 (mod N)`, so `N` jobs given `1/N .. N/N` and the same
//!   `first` run disjoint sets whose union is the plan.
//! - [`SweepPlan`](crate::SweepPlan): a seed plan plus a shard, a wall-time budget, whether to
//!   run each seed twice (`check_determinism`), an optional "until" goal,
//!   chaos on/off, a trace sink, and how to print replay lines
//!   ([`Replay`]).
//! - [`StopCondition`](crate::StopCondition): a pluggable goal, consulted after every seed, that
//!   ends a sweep early (`--until-all-sometimes` is one).
//! - [`SweepObserver`](crate::SweepObserver): told about each seed as it finishes (the CLI's
//!   reports and progress are observers).
//! - [`SweepReport`](crate::SweepReport): totals, failures with their replay lines, per-seed
//!   fingerprints, fault counts, and why the sweep stopped.
//! - [`PlanError`]: a plan that cannot run (a shard that selects no seed).
//! - [`SweepRunner`](crate::SweepRunner): the same sweep on several
//!   threads (`--jobs`), each building its own simulation, reported in
//!   plan order so the report does not depend on the job count.
//!
//! The plan, the report, the stop condition and the observer are public
//! at the crate root; this module holds the rest of their vocabulary.
//!
//! Files: `plan.rs` holds the plan; `report.rs` the [`SweepReport`](crate::SweepReport);
//! `run.rs` the loop ([`Simulation::sweep_with`](crate::Simulation::sweep_with)),
//! stop conditions and observers, and the consumer both loops feed;
//! `parallel.rs` the threads; `replay.rs` the [`Replay`] lines. The
//! plan is data: the `MOONPOOL_*` variables and the command-line flags
//! that fill it are read by the CLI (`SweepPlan::from_env_or` is defined
//! there), which converts a [`PlanError`] into its own error.
//!
//! # Invariants
//! - Each seed runs in a fresh world
//!   ([`Simulation::run_seed`](crate::Simulation::run_seed)); a sweep adds
//!   nothing to what a seed sees, so a seed's fingerprint is the same in a
//!   sweep, alone, sharded, traced or not.
//! - Wall-clock time is read here only to enforce the time budget and to
//!   report; [`fresh_first_seed`] is the only place the simulator reads OS
//!   entropy, to choose *which* seeds to run, never inside a seed.
//! - Every loop is bounded: by the plan's count, and optionally earlier by
//!   the budget or the stop condition. Kept results are capped
//!   ([`FAILURES_KEPT_MAX`], [`RESULTS_KEPT_MAX`]); counts are exact.

pub(crate) mod parallel;
pub(crate) mod plan;
mod replay;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod summary;

pub use parallel::{AHEAD_MAX, available_jobs};
pub use plan::{PlanError, ShardError, Until, fresh_first_seed};
pub use replay::Replay;
pub(crate) use replay::shell_quote;
pub(crate) use report::per_sec;
pub use report::{FaultTally, SeedResult, is_fault_kind};
pub use run::{AllSometimesSatisfied, Silent};
pub use summary::{FailedSeed, SweepSummary};

/// Seeds a sweep runs when no count is given (CLI `--seeds` default).
pub const DEFAULT_SEEDS: u64 = 100;
/// Seed cap of `--until-all-sometimes` when no `--max-seeds` is given.
pub const DEFAULT_MAX_SEEDS: u64 = 10_000;
/// Failed seeds whose full report a [`SweepReport`](crate::SweepReport) keeps (later failures
/// are counted, not kept).
pub const FAILURES_KEPT_MAX: usize = 1_000;
/// Per-seed results (seed, fingerprint, pass) a [`SweepReport`](crate::SweepReport) keeps:
/// 24 MB at most.
pub const RESULTS_KEPT_MAX: usize = 1_000_000;
