//! Simulated processes: who owns which tasks, and at which address.
//!
//! # Types
//! - [`ProcessId`]: index into the [`ProcessTable`]. Id 0 is the
//!   simulator's own process, which runs the workload driver and is never
//!   killed.
//! - [`ProcessInfo`]: name, IP, kind, state and incarnation of a process.
//!   The incarnation increases on every reboot, so providers captured by a
//!   previous life can be told apart from the current one.
//!
//! # Invariants
//! - Every task belongs to exactly one process; killing a process cancels
//!   exactly its tasks.
//! - Process ids are assigned in the order processes are declared, so they
//!   are the same on every run of a seed.

use std::net::IpAddr;
use std::rc::Rc;

use futures::future::LocalBoxFuture;

use crate::providers::SimProviders;

/// A process's `main`: called with the providers of each incarnation.
pub(crate) type MainFn = Rc<dyn Fn(SimProviders) -> LocalBoxFuture<'static, Result<(), String>>>;

/// Identifies a simulated process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub(crate) u32);

impl ProcessId {
    /// The simulator's own process.
    pub(crate) const SYSTEM: ProcessId = ProcessId(0);

    /// The index of the process, in declaration order (0 is the simulator).
    pub fn index(self) -> u32 {
        self.0
    }
}

/// What a process is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessKind {
    /// The simulator's own process (the workload driver).
    System,
    /// A process of the system under test, with a `main`.
    Server,
    /// A process hosting one workload client.
    Workload,
}

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// Running (its `main` may or may not have returned yet).
    Running,
    /// Its `main` returned and it has no reason to run again.
    Exited,
    /// Killed; may be rebooted.
    Dead,
}

/// A process as the simulator knows it.
#[derive(Clone, Debug)]
pub struct ProcessInfo {
    /// Its name, unique within the simulation.
    pub name: Rc<str>,
    /// Its IP address.
    pub ip: IpAddr,
    /// What it is for.
    pub kind: ProcessKind,
    /// Where it is in its life.
    pub state: ProcessState,
    /// How many times it has been (re)started.
    pub incarnation: u32,
}

/// All processes of a world.
#[derive(Default)]
pub(crate) struct ProcessTable {
    processes: Vec<ProcessInfo>,
    mains: Vec<Option<MainFn>>,
}

impl ProcessTable {
    /// Adds a process, returning its id.
    pub(crate) fn add(
        &mut self,
        name: Rc<str>,
        ip: IpAddr,
        kind: ProcessKind,
        main: Option<MainFn>,
    ) -> ProcessId {
        self.processes.push(ProcessInfo {
            name,
            ip,
            kind,
            state: ProcessState::Running,
            incarnation: 0,
        });
        self.mains.push(main);
        ProcessId((self.processes.len() - 1) as u32)
    }

    /// The `main` of a server process.
    pub(crate) fn main(&self, id: ProcessId) -> Option<MainFn> {
        self.mains.get(id.0 as usize).cloned().flatten()
    }

    pub(crate) fn get(&self, id: ProcessId) -> Option<&ProcessInfo> {
        self.processes.get(id.0 as usize)
    }

    pub(crate) fn get_mut(&mut self, id: ProcessId) -> Option<&mut ProcessInfo> {
        self.processes.get_mut(id.0 as usize)
    }

    /// Whether `id` is running in incarnation `incarnation`.
    pub(crate) fn is_current(&self, id: ProcessId, incarnation: u32) -> bool {
        self.get(id)
            .is_some_and(|p| p.state != ProcessState::Dead && p.incarnation == incarnation)
    }

    /// The process with this IP, if any.
    pub(crate) fn by_ip(&self, ip: IpAddr) -> Option<ProcessId> {
        self.processes
            .iter()
            .position(|p| p.ip == ip && p.kind != ProcessKind::System)
            .map(|i| ProcessId(i as u32))
    }

    /// All processes, by id.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ProcessId, &ProcessInfo)> {
        self.processes
            .iter()
            .enumerate()
            .map(|(i, p)| (ProcessId(i as u32), p))
    }
}
