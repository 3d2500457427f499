//! # Layer 2: the models
//!
//! What a simulated process sees and what can go wrong with it: processes
//! and their lifecycle, clocks, the network, storage, buggify and the assertion
//! hooks, all as state on the seed's [`World`](world::World) and as the
//! providers code under test is given. Faults are *mechanisms* here (a
//! partition, a kill, a torn write); deciding when to strike is the
//! nemeses' job, one layer up.
//!
//! **May import:** the kernel (`crate::kernel`), `moonpool-core`, `std`.
//! **May not import:** `nemesis`, `runner`, `trace`, `cli`, `report`
//! (checked by `tests/layers.rs`). In particular a kill or a reboot never
//! calls up into the runner: the process table keeps each server's `main`,
//! so the lifecycle restarts it itself.
//!
//! # Modules
//! - `world.rs`: [`World`](world::World), the kernel plus the models'
//!   state, and the thread's *current world* (the models' counterpart of
//!   the kernel's current kernel: `moonpool-core`'s buggify and assertion
//!   macros reach the seed through it, with no plumbing).
//! - `process/`: the process table and the lifecycle (start, kill, reboot,
//!   wipe, the `max_down` fault model).
//! - `providers.rs`: [`SimProviders`](providers::SimProviders), the
//!   provider bundle of one process incarnation.
//! - `control.rs`: [`SimControl`](control::SimControl), the operations
//!   nemeses and tests apply to the world (each model adds its own).
//! - `network/`, `storage/`: the simulated network and disks.
//! - `clock/`: each process's own clocks (offset, rate error, jumps, within
//!   the seed's bound), the timers that run on them, and true time.
//! - `buggify.rs`, `assertions.rs`: the hooks behind `moonpool-core`'s
//!   macros, and their per-seed statistics.
//! - `values.rs`: per-seed values (gauges, small maps) workloads record
//!   for the report.

pub(crate) mod assertions;
pub(crate) mod buggify;
pub(crate) mod clock;
pub(crate) mod control;
pub(crate) mod network;
pub(crate) mod process;
pub(crate) mod providers;
pub(crate) mod storage;
pub(crate) mod values;
pub(crate) mod world;
