//! Simulated processes: what each one is, and its lifecycle.
//!
//! # Types
//! - [`ProcessId`] (the kernel's): index into both process tables. Id 0 is
//!   the simulator's own process, which runs the workload driver and is
//!   never killed.
//! - [`ProcessTable`]: what the models know of a process beyond what the
//!   kernel knows: its IP, its kind, its `main` (so a reboot can start it
//!   again without calling up into the runner), and whether that `main`
//!   returned. Name, incarnation and liveness live in the kernel's
//!   registry; [`ProcessInfo`] puts both halves together.
//! - `lifecycle.rs`: starting, killing, rebooting and wiping processes.
//!
//! # Invariants
//! - Every task belongs to exactly one process; killing a process cancels
//!   exactly its tasks.
//! - Process ids are assigned in the order processes are declared, so they
//!   are the same on every run of a seed; both tables assign the same id
//!   to a process (asserted by [`World::add_process`]).

pub(crate) mod lifecycle;

use std::net::IpAddr;
use std::rc::Rc;

use futures::future::LocalBoxFuture;

use super::providers::SimProviders;
use super::world::World;
use crate::kernel::process::ProcessId;

/// A process's `main`: called with the providers of each incarnation.
pub(crate) type MainFn = Rc<dyn Fn(SimProviders) -> LocalBoxFuture<'static, Result<(), String>>>;

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

/// One process, as the models know it.
struct Entry {
    ip: IpAddr,
    kind: ProcessKind,
    main: Option<MainFn>,
    /// Its `main` returned in the current incarnation.
    exited: bool,
}

/// The models' half of the process table: IP, kind, `main`, exit.
#[derive(Default)]
pub(crate) struct ProcessTable {
    entries: Vec<Entry>,
}

impl ProcessTable {
    fn add(&mut self, ip: IpAddr, kind: ProcessKind, main: Option<MainFn>) -> ProcessId {
        self.entries.push(Entry {
            ip,
            kind,
            main,
            exited: false,
        });
        ProcessId((self.entries.len() - 1) as u32)
    }

    fn get(&self, id: ProcessId) -> Option<&Entry> {
        self.entries.get(id.0 as usize)
    }

    /// The `main` of a server process.
    pub(crate) fn main(&self, id: ProcessId) -> Option<MainFn> {
        self.get(id).and_then(|e| e.main.clone())
    }

    /// The IP of `id`.
    pub(crate) fn ip(&self, id: ProcessId) -> Option<IpAddr> {
        self.get(id).map(|e| e.ip)
    }

    /// The kind of `id`.
    pub(crate) fn kind(&self, id: ProcessId) -> Option<ProcessKind> {
        self.get(id).map(|e| e.kind)
    }

    /// Records whether the `main` of `id` returned in its current
    /// incarnation.
    pub(crate) fn set_exited(&mut self, id: ProcessId, exited: bool) {
        if let Some(e) = self.entries.get_mut(id.0 as usize) {
            e.exited = exited;
        }
    }

    /// The process with this IP, if any.
    pub(crate) fn by_ip(&self, ip: IpAddr) -> Option<ProcessId> {
        self.entries
            .iter()
            .position(|p| p.ip == ip && p.kind != ProcessKind::System)
            .map(|i| ProcessId(i as u32))
    }

    /// Every process id, in order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = ProcessId> + use<> {
        (0..self.entries.len() as u32).map(ProcessId)
    }
}

impl World {
    /// Adds a process (alive, incarnation 0) to both tables; returns its id.
    pub(crate) fn add_process(
        &self,
        name: Rc<str>,
        ip: IpAddr,
        kind: ProcessKind,
        main: Option<MainFn>,
    ) -> ProcessId {
        let id = self.kernel.add_process(name);
        let same = self.process_table.borrow_mut().add(ip, kind, main);
        assert_eq!(id, same, "the kernel and the models number processes alike");
        self.kernel.mark("process.start", Some(id), || {
            crate::kernel::timeline::Mark::text(format!("{kind:?} process at {ip}"))
        });
        id
    }

    /// Where `id` is in its life.
    pub(crate) fn process_state(&self, id: ProcessId) -> Option<ProcessState> {
        let exited = self.process_table.borrow().get(id)?.exited;
        Some(if !self.kernel.processes.borrow().is_alive(id) {
            ProcessState::Dead
        } else if exited {
            ProcessState::Exited
        } else {
            ProcessState::Running
        })
    }

    /// Whether `id` is dead (false for an unknown id).
    pub(crate) fn is_dead(&self, id: ProcessId) -> bool {
        self.process_state(id) == Some(ProcessState::Dead)
    }

    /// Everything known of `id`.
    pub(crate) fn process_info(&self, id: ProcessId) -> Option<ProcessInfo> {
        let state = self.process_state(id)?;
        let (ip, kind) = {
            let table = self.process_table.borrow();
            let entry = table.get(id)?;
            (entry.ip, entry.kind)
        };
        let registry = self.kernel.processes.borrow();
        Some(ProcessInfo {
            name: registry.name(id)?.clone(),
            ip,
            kind,
            state,
            incarnation: registry.incarnation(id)?,
        })
    }

    /// Every process, by id.
    pub(crate) fn process_infos(&self) -> Vec<(ProcessId, ProcessInfo)> {
        let ids: Vec<ProcessId> = self.process_table.borrow().ids().collect();
        ids.into_iter()
            .filter_map(|id| self.process_info(id).map(|info| (id, info)))
            .collect()
    }
}
