//! # moonpool-sim
//!
//! The deterministic simulator. (Crate documentation in progress.)
//!
//! Running seeds: [`Simulation::run_seed`] runs one, [`Simulation::sweep`]
//! runs a [`SweepPlan`], and [`cli::SimCli`] gives a binary the `sim`
//! subcommand with every runner flag (see `docs/runner.md`). [`trace`]
//! stamps `tracing` events with the seed, simulated time and task.

pub mod cli;
mod control;
mod draw;
mod executor;
mod failure;
mod fingerprint;
mod lifecycle;
pub mod network;
mod process;
mod providers;
pub mod report;
pub mod runner;
pub mod storage;
mod time;
pub mod trace;
mod world;

pub use control::SimControl;
pub use executor::TaskId;
pub use executor::join::SimJoinHandle;
pub use failure::SeedFailure;
pub use lifecycle::ProcessError;
pub use process::{ProcessId, ProcessInfo, ProcessKind, ProcessState};
pub use providers::SimProviders;
pub use runner::{
    ConfigError, ProcessRef, ProcessResult, SeedOutcome, SeedReport, SimContext, Simulation,
    SimulationBuilder, Workload, WorkloadResult,
};
pub use runner::{
    SeedPlan, Shard, StopCondition, StopReason, SweepObserver, SweepPlan, SweepReport,
};
pub use time::sleep::Sleep;
pub use world::TimelineEntry;
