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
//! - The IP index maps the IP of every process but the simulator's own to
//!   that process, and nothing else: a connect finds its target in
//!   O(log n), not by a scan of the table. IPs are unique (the runner's
//!   configuration refuses duplicates; `add` asserts it) and never change,
//!   so kills, reboots and wipes leave the index as it is; each of them
//!   checks that it still points at the process they act on
//!   ([`ProcessTable::check_indexed`]), and the network checks the process
//!   it found has the IP it looked up.

pub(crate) mod lifecycle;

use std::collections::BTreeMap;
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
    /// A process hosting one client of a foreground workload: a client of
    /// the system under test.
    Workload,
    /// A process hosting one client of a background workload (a nemesis,
    /// attrition): it runs beside the system under test, and no fault is
    /// aimed at it.
    Background,
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

/// The models' half of the process table: IP, kind, `main`, exit; and the
/// index of processes by IP.
#[derive(Default)]
pub(crate) struct ProcessTable {
    entries: Vec<Entry>,
    /// Every process but the simulator's own, by IP.
    by_ip: BTreeMap<IpAddr, ProcessId>,
    /// Processes the index leaves out (the simulator's own).
    unindexed: usize,
}

impl ProcessTable {
    fn add(&mut self, ip: IpAddr, kind: ProcessKind, main: Option<MainFn>) -> ProcessId {
        let id = ProcessId(self.entries.len() as u32);
        self.entries.push(Entry {
            ip,
            kind,
            main,
            exited: false,
        });
        if kind == ProcessKind::System {
            self.unindexed += 1;
        } else {
            let previous = self.by_ip.insert(ip, id);
            assert!(
                previous.is_none(),
                "processes {previous:?} and {id:?} both have the IP {ip}"
            );
        }
        self.check_indexed(id);
        id
    }

    /// Asserts that the IP index and the table agree on `id`: the index
    /// maps its IP to it (unless it is the simulator's own process, which
    /// the index leaves out), and holds one entry per indexed process.
    pub(crate) fn check_indexed(&self, id: ProcessId) {
        let entry = self
            .get(id)
            .unwrap_or_else(|| panic!("process {id:?} is not in the table"));
        if entry.kind != ProcessKind::System {
            assert_eq!(
                self.by_ip.get(&entry.ip),
                Some(&id),
                "the IP index lost process {id:?} ({})",
                entry.ip
            );
        }
        assert_eq!(
            self.by_ip.len() + self.unindexed,
            self.entries.len(),
            "the IP index and the process table differ in size"
        );
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

    /// The process with this IP, if any (never the simulator's own), from
    /// the index.
    pub(crate) fn by_ip(&self, ip: IpAddr) -> Option<ProcessId> {
        self.by_ip.get(&ip).copied()
    }

    /// Every process id, in order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = ProcessId> + use<> {
        (0..self.entries.len() as u32).map(ProcessId)
    }

    /// Whether `id` is a process of the system under test: a server or a
    /// client of a foreground workload (not the simulator's own process,
    /// not a background workload's).
    pub(crate) fn is_system(&self, id: ProcessId) -> bool {
        matches!(
            self.kind(id),
            Some(ProcessKind::Server | ProcessKind::Workload)
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn the_ip_index_finds_each_process_and_never_the_simulators_own() {
        let mut t = ProcessTable::default();
        let system = t.add(IpAddr::from([0, 0, 0, 0]), ProcessKind::System, None);
        let a = t.add(ip(1), ProcessKind::Server, None);
        let b = t.add(ip(2), ProcessKind::Workload, None);
        assert_eq!(t.by_ip(ip(1)), Some(a));
        assert_eq!(t.by_ip(ip(2)), Some(b));
        assert_eq!(t.by_ip(IpAddr::from([0, 0, 0, 0])), None);
        assert_eq!(t.by_ip(ip(3)), None);
        for id in [system, a, b] {
            t.check_indexed(id);
        }
    }

    #[test]
    #[should_panic(expected = "both have the IP")]
    fn two_processes_with_one_ip_are_refused() {
        let mut t = ProcessTable::default();
        t.add(ip(1), ProcessKind::Server, None);
        t.add(ip(1), ProcessKind::Workload, None);
    }

    #[test]
    #[should_panic(expected = "the IP index lost process")]
    fn an_index_out_of_step_with_the_table_is_caught() {
        let mut t = ProcessTable::default();
        let a = t.add(ip(1), ProcessKind::Server, None);
        // What a bug rewriting an entry's IP without the index would leave.
        t.entries[0].ip = ip(9);
        t.check_indexed(a);
    }
}
