//! What every example shares: planted bugs and the binary's command line.
//!
//! - [`PlantedBug`] (declared with the crate's `planted_bugs!` macro): an
//!   example's bugs, each with a command-line name and a description.
//! - [`Example`] and [`main`]: an example describes its simulation and its
//!   `real` subcommand once; `main` gives its binary `sim` (every runner
//!   flag, chaos on by default, `--bug NAME`), `--list-bugs` and `real`.
//!   A binary's `main` is one line: `harness::main(&kv::EXAMPLE)`.
//! - [`ScratchDir`]: where a real run keeps its files.
//!
//! # Every example has the same shape
//!
//! Each example is a folder with the same module roles, present when the
//! example has that role:
//!
//! | module | role |
//! |---|---|
//! | `mod.rs` | the design note, constants, wire types and services, the bug enum, `EXAMPLE` |
//! | `server` | the server processes (their `main`s) |
//! | `client` | the client side of the protocol |
//! | `storage` | what a process keeps on disk, and its recovery |
//! | `checker` | the invariants, checked over what the run recorded |
//! | `sim` | the simulation: processes, workloads, chaos, the checks after quiesce |
//! | `real` | the same processes on tokio over loopback, checked by the same checker |
//!
//! plus modules of the example's own (`wire` in pingpong, `resource` in
//! election).

mod bugs;
mod cli;

pub(crate) use bugs::planted_bugs;
pub use bugs::{PlantedBug, UnknownBug, bug_list};
pub use cli::{
    BugFlag, Example, ExampleCommand, RealRun, ScratchDir, command, free_ports, main, run_real,
};
