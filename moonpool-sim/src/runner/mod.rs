//! The runner: simulations, seeds, sweeps, and what they report.
//!
//! # Layer 4
//! A simulation definition (processes, workloads, limits), run for one
//! seed or swept over many, with the reports as data. Everything it prints
//! is rendered by the front ends (`cli`, `report`), one layer up.
//!
//! **May import:** the nemeses (`crate::nemesis`), the models
//! (`crate::model`), the kernel (`crate::kernel`), `moonpool-core`, `std`.
//! **May not import:** `cli`, `report` (checked by `tests/layers.rs`):
//! plan errors and replay lines are the runner's own types, which the CLI
//! converts or prints. The `trace` module belongs to this layer too (a
//! [`SweepPlan`](crate::SweepPlan) carries its sink, and the sweep
//! installs it).
//!
//! Of this module, only [`sweep`] is a public path; every other public
//! item is re-exported at the crate root.
//!
//! # Modules
//! - `builder.rs`: `SimulationBuilder`, `Simulation`, `ConfigError`, and
//!   one seed from start to teardown (`Simulation::run_seed`).
//! - `driver.rs`: populating a world and driving the workloads through
//!   their phases.
//! - `workload.rs`: the `Workload` trait, `SimContext`, `FnWorkload`.
//! - `nemeses.rs`: every built-in nemesis as a background workload.
//! - `report.rs`: `SeedReport`, `SeedOutcome`.
//! - `coverage/`: `Coverage`, assertion and buggify coverage across seeds.
//! - `faults.rs`: `fault_families()`, every family by name, and the check
//!   of a `FaultSelection` (`--faults`, `--no-faults`, `--buggify-sites`).
//! - `minimize.rs`: `Simulation::minimize`, the smallest fault
//!   configuration under which a failing seed still fails the same way.
//! - `panic.rs`: capturing panics of user code as seed failures.
//! - [`sweep`]: seed plans, shards, stop conditions, observers, sweep
//!   reports, replay lines.
//!
//! # One seed, step by step
//! 1. A new world: clock at zero, generator seeded, no tasks.
//! 2. Processes are created in declaration order: the simulator's own
//!    (id 0), the servers, then one process per workload client.
//! 3. Each server's `main` is spawned; then the driver task, which runs all
//!    clients' `setup`, then all `run`, then all `check`.
//! 4. The loop runs until the driver finishes or the seed fails: a panic,
//!    a process or workload error, a deadlock, or a limit.
//! 5. Everything is dropped. Nothing survives into the next seed.

pub(crate) mod builder;
pub(crate) mod coverage;
mod driver;
pub(crate) mod faults;
pub(crate) mod minimize;
mod nemeses;
pub(crate) mod panic;
pub(crate) mod report;
pub mod sweep;
pub(crate) mod workload;
