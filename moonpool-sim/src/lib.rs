//! # moonpool-sim
//!
//! The deterministic simulator. (Crate documentation in progress.)

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
pub use network::nemesis;
pub use network::{
    ChaosProfile, ClogDirection, ConnectionId, ConnectionInfo, KillMode, NetworkConfig,
    NetworkFaults, OneIn, PartitionId, SimListener, SimTcpStream,
};
pub use process::{ProcessId, ProcessInfo, ProcessKind, ProcessState};
pub use providers::SimProviders;
pub use runner::{
    ConfigError, ProcessRef, ProcessResult, SeedOutcome, SeedReport, SimContext, Simulation,
    SimulationBuilder, Workload, WorkloadResult,
};
pub use time::sleep::Sleep;
pub use world::TimelineEntry;
