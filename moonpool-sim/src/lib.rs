//! # moonpool-sim
//!
//! The deterministic simulator. Every process of a distributed system runs
//! in one thread, on one executor, in virtual time; every nondeterministic
//! choice (which ready task runs next, how long a message takes, which fault
//! strikes) comes from one generator seeded by a `u64`. An execution is a
//! pure function of its seed: a failing seed replays bit-for-bit, and its
//! *fingerprint* (a hash of every scheduling decision, event and random
//! draw) proves it.
//!
//! ## A first simulation
//!
//! A simulation is a set of **processes** (named async `main`s with an IP,
//! written against [`moonpool_core::Providers`]) and **workloads** (clients
//! with `setup`, `run` and `check` phases that drive the system and check
//! its invariants). Each seed runs in a fresh world:
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use moonpool_core::{Providers, TimeProvider};
//! use moonpool_sim::{SimContext, SimProviders, SimulationBuilder, Workload, WorkloadResult};
//!
//! // Code under test is generic over the providers: it runs unchanged on tokio.
//! async fn heartbeat<P: Providers>(p: P, beats: Rc<Cell<u32>>) {
//!     loop {
//!         p.time().sleep(Duration::from_secs(1)).await;
//!         beats.set(beats.get() + 1);
//!     }
//! }
//!
//! struct Observer {
//!     beats: Rc<Cell<u32>>,
//! }
//!
//! impl Workload for Observer {
//!     async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
//!         // A simulated hour costs microseconds: the clock jumps to the next event.
//!         ctx.providers().sleep(Duration::from_secs(3600)).await;
//!         Ok(())
//!     }
//!
//!     async fn check(&mut self, _ctx: &SimContext) -> WorkloadResult {
//!         if self.beats.get() < 3599 {
//!             return Err(format!("only {} heartbeats in an hour", self.beats.get()).into());
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let beats = Rc::new(Cell::new(0));
//! let b = Rc::clone(&beats);
//! let sim = SimulationBuilder::new()
//!     .process("server", [10, 0, 0, 1], move |p: SimProviders| heartbeat(p, Rc::clone(&b)))
//!     .workload("observer", 1, move |_| Observer { beats: Rc::clone(&beats) })
//!     .time_limit(Duration::from_secs(7200))
//!     .build()
//!     .expect("a valid simulation");
//!
//! let report = sim.run_seed(42);
//! assert!(report.outcome.is_pass(), "{:?}", report.outcome);
//! // Same seed, same execution, same fingerprint.
//! assert_eq!(sim.run_seed(42).fingerprint, report.fingerprint);
//! ```
//!
//! ## What fails a seed
//!
//! A panic anywhere in user code, a process `main` or a workload phase
//! returning an error, a deadlock (nothing runnable, nothing scheduled,
//! workloads unfinished: the report names every stuck task), and the
//! simulated-time and step limits. A failed seed never takes the runner
//! down: the next seed starts in a fresh world.
//!
//! ## Running many seeds
//!
//! [`Simulation::run_seed`] runs one seed, [`Simulation::sweep`] runs a
//! [`SweepPlan`] (which `cargo test` can override from `MOONPOOL_*`
//! environment variables to replay a failure), and [`cli::SimCli`] gives a
//! binary the `sim` subcommand with every runner flag: `--seed`, `--seeds`,
//! `--check-determinism`, `--json`, `--trace` (see `docs/src/runner.md`).
//! [`trace`] stamps `tracing` events with the seed, simulated time and task.
//!
//! ## Where to go next
//!
//! - [`SimulationBuilder`]: processes, workloads, background workloads
//!   (nemeses), limits, chaos.
//! - [`SimControl`]: kill and reboot processes from a workload.
//! - The book, `docs/` in the repository (`mdbook serve docs`): a first
//!   simulation in fifteen minutes, workloads and invariants, faults and
//!   buggify, assertions, the command line, debugging a failing seed, CI
//!   sweeps.
//!
//! ## How the crate is built
//!
//! Five layers, each importing only the ones below it (`tests/layers.rs`
//! fails the build of the test suite otherwise): the **kernel** (virtual
//! time, executor, event queue, generator, fingerprint), the **models**
//! (processes, clocks, network, storage, buggify, assertions), the
//! **nemeses** (attrition, the network nemeses and the clock nemesis, on
//! one loop), the **runner**
//! (simulations, seeds, sweeps, reports as data, the trace layer) and the
//! **front ends** ([`cli`], [`report`]). `ARCHITECTURE.md` maps them.
//!
//! Every public item has exactly one path: the types you write a
//! simulation with are at the root; each subsystem's details are in its
//! module ([`network`], [`storage`], [`assertions`], [`buggify`](mod@buggify),
//! [`runner::sweep`], [`trace`], [`cli`], [`report`]).

#![forbid(unsafe_code)]
// A `pub` item is one users can reach; everything else is `pub(crate)`.
#![warn(unreachable_pub)]

mod kernel;
mod model;
mod nemesis;

pub mod cli;
pub mod report;

pub use cli::env::test_sweep;
pub mod runner;
pub mod trace;

pub use kernel::TimelineEntry;
pub use kernel::executor::TaskId;
pub use kernel::executor::join::SimJoinHandle;
pub use kernel::failure::{SeedFailure, StuckTask, Waiting};
pub use kernel::faults::FaultSelection;
pub use kernel::process::ProcessId;
pub use kernel::time::sleep::Sleep;
pub use kernel::watchdog::{HANG_EXIT_CODE, HANG_SECS_DEFAULT};

pub use model::clock::{ClockConfig, ClockError, ClockInfo};
pub use model::control::SimControl;
pub use model::network::{
    ChaosProfile, ClogDirection, ConnectionId, ConnectionInfo, KillMode, NetworkConfig,
    NetworkConfigError, NetworkFaults, OneIn, PartitionId, SimListener, SimTcpStream,
};
pub use model::process::lifecycle::ProcessError;
pub use model::process::{ProcessInfo, ProcessKind, ProcessState};
pub use model::providers::SimProviders;
pub use model::storage::KillMoment;
pub use model::values::SeedValue;

pub use nemesis::attrition::{ATTRITION_KILLS_MAX, Attrition};
pub use nemesis::clock::RandomClockSkews;
pub use nemesis::network::{RandomClogging, RandomConnectionKills, RandomPartitions};

pub use runner::builder::{
    ConfigError, DEFAULT_CHAOS_PERTURBATION, DEFAULT_STEP_LIMIT, DEFAULT_TIME_LIMIT, ProcessResult,
    Simulation, SimulationBuilder,
};
pub use runner::faults::fault_families;
pub use runner::minimize::{FailureClass, MinimizeError, MinimizeOptions, Minimized};
pub use runner::report::{SeedOutcome, SeedReport};
pub use runner::sweep::parallel::SweepRunner;
pub use runner::sweep::plan::{SeedPlan, Shard, SweepPlan};
pub use runner::sweep::report::{StopReason, SweepReport};
pub use runner::sweep::run::{StopCondition, SweepObserver};
pub use runner::workload::{FnWorkload, NoCheck, ProcessRef, SimContext, Workload, WorkloadResult};

/// The simulated network's fault families and the ranges its knobs take.
/// The network's types themselves (`NetworkConfig`, `SimTcpStream`, ...)
/// are at the crate root. Guide: `docs/src/faults.md`.
pub mod network {
    pub use crate::model::network::{FAULT_FAMILIES, Range};
}

/// Simulated clocks: the fault profile ([`ClockFaults`](clock::ClockFaults)
/// when chaos is off, [`ClockChaos`](clock::ClockChaos) when it is on), the
/// fault families, and the limit of a rate error. [`ClockConfig`],
/// [`ClockInfo`] and [`ClockError`] are at the crate root; the operations
/// are [`SimControl`]'s (`now`, `clock`, `set_clock_offset`,
/// `set_clock_rate`). Guide: `docs/src/faults.md#clocks`.
pub mod clock {
    pub use crate::model::clock::{ClockChaos, ClockFaults, FAULT_FAMILIES, RATE_PPM_LIMIT};
}

/// Simulated storage: its configuration (latency, crash model, faults and
/// their chaos ranges) and [`SimFile`](storage::SimFile). Guide:
/// `docs/src/faults.md`.
pub mod storage {
    pub use crate::model::storage::{
        CrashModel, DiskChaos, DiskFaults, DiskLatency, FILE_BYTES_MAX, PAGE_BYTES, PpmRange,
        SECTOR_BYTES, SimFile, SlowDisk, StorageConfig, StorageConfigError,
    };
}

/// Assertions across seeds: what one seed counted
/// ([`AssertionStats`](assertions::AssertionStats), in every
/// [`SeedReport`]) and [`Coverage`](assertions::Coverage), every
/// registered site's totals over a sweep, with its human table and JSON.
/// The macros (`always!`, `sometimes!`, ...) are at the crate root.
/// Guide: `docs/src/assertions.md`.
pub mod assertions {
    pub use crate::model::assertions::{AssertionStats, NumericSample, NumericStats};
    pub use crate::runner::coverage::{
        BuggifyCoverage, BuggifySummary, Coverage, CoverageSummary, SiteCoverage, SiteStatus,
        SiteSummary,
    };
}

/// Buggify in simulation: the probabilities of its model and
/// [`BuggifyStats`](buggify::BuggifyStats), what one site did in one seed.
/// The macros (`buggify!`, `buggify_with_prob!`, `buggify_knob!`) are at
/// the crate root. Guide: `docs/src/assertions.md`.
pub mod buggify {
    pub use crate::kernel::time::BUGGIFIED_DELAY_P;
    pub use crate::model::buggify::{
        BUGGIFIED_DELAY_MS_MAX, BUGGIFY_ENABLED_P, BuggifyStats, FIRE_P, SITE_ACTIVE_P,
    };
}

// The buggify and assertion macros are defined in `moonpool-core` (so code
// that depends only on the provider traits can use them) and re-exported
// here for convenience. The buggify ones are forwarded by
// `model/buggify.rs` (a `use` would also import core's `buggify` module,
// whose name this crate's own `buggify` module takes).
pub use moonpool_core::{
    always, always_greater_than, always_greater_than_or_equal_to, always_less_than,
    always_less_than_or_equal_to, always_or_unreachable, assert_unreachable, reachable, sometimes,
    sometimes_greater_than, sometimes_greater_than_or_equal_to, sometimes_less_than,
    sometimes_less_than_or_equal_to, unreachable,
};

/// `moonpool-core`, for the forwarding macros.
#[doc(hidden)]
pub use moonpool_core as __core;
