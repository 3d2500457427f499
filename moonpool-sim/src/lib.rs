//! # moonpool-sim
//!
//! The deterministic simulator. (Crate documentation in progress.)

pub mod assertions;
pub mod buggify;
mod control;
mod draw;
mod executor;
mod failure;
mod fingerprint;
mod lifecycle;
pub mod network;
mod process;
mod providers;
pub mod runner;
pub mod storage;
mod time;
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
pub use time::sleep::Sleep;
pub use world::TimelineEntry;

pub use assertions::{AssertionStats, Coverage};
pub use buggify::BuggifyStats;

// The buggify and assertion macros are defined in `moonpool-core` (so code
// that depends only on the provider traits can use them) and re-exported
// here for convenience. The buggify ones are forwarded by `buggify.rs`
// (a `use` would also import core's `buggify` module, whose name this
// crate's own `buggify` module takes).
pub use moonpool_core::{
    always, always_greater_than, always_greater_than_or_equal_to, always_less_than,
    always_less_than_or_equal_to, always_or_unreachable, assert_unreachable, reachable, sometimes,
    sometimes_greater_than, sometimes_greater_than_or_equal_to, sometimes_less_than,
    sometimes_less_than_or_equal_to,
};

/// `moonpool-core`, for the forwarding macros.
#[doc(hidden)]
pub use moonpool_core as __core;
