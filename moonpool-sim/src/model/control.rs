//! [`SimControl`]: what a workload (or a test) may do to the simulated
//! world itself, beyond what its own process can do: kill and reboot
//! processes, cut and clog the network. Each fault source adds its own
//! `impl SimControl` block next to its code.

use std::net::IpAddr;
use std::rc::Rc;

use super::process::{ProcessInfo, ProcessKind, ProcessState};
use super::providers::SimProviders;
use super::world::World;
use crate::kernel::process::ProcessId;

/// A handle on the seed's world for nemesis operations.
#[derive(Clone)]
pub struct SimControl {
    pub(crate) world: Rc<World>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl")
            .field("seed", &self.world.seed)
            .finish()
    }
}

impl SimControl {
    /// The control handle of the world `p` belongs to. Meant for test
    /// harnesses that are handed only providers (e.g. a harness's
    /// `server(p, i)` that looks up another process); code under test has no
    /// business reaching the nemesis API.
    pub fn of(p: &SimProviders) -> SimControl {
        SimControl {
            world: Rc::clone(&p.world),
        }
    }

    /// Every process, by id (the simulator's own process included).
    pub fn processes(&self) -> Vec<(ProcessId, ProcessInfo)> {
        self.world.process_infos()
    }

    /// The server processes (the system under test), by id.
    pub fn servers(&self) -> Vec<(ProcessId, ProcessInfo)> {
        self.processes()
            .into_iter()
            .filter(|(_, p)| p.kind == ProcessKind::Server)
            .collect()
    }

    /// The processes of the system under test, by id: the servers and the
    /// clients of foreground workloads. Never the simulator's own process
    /// or a background workload's (where the nemeses run): the built-in
    /// nemeses aim only at these.
    pub fn system_processes(&self) -> Vec<(ProcessId, ProcessInfo)> {
        self.processes()
            .into_iter()
            .filter(|(_, p)| matches!(p.kind, ProcessKind::Server | ProcessKind::Workload))
            .collect()
    }

    /// The process with this name.
    pub fn process_by_name(&self, name: &str) -> Option<ProcessId> {
        self.processes()
            .into_iter()
            .find(|(_, p)| &*p.name == name)
            .map(|(id, _)| id)
    }

    /// Whether this seed runs the chaos profile (faults sampled per seed),
    /// as opposed to the quiet configuration.
    pub fn chaos_enabled(&self) -> bool {
        self.world.config.chaos
    }

    /// Whether faults may be injected now: chaos is enabled and the
    /// workloads' run phase is not over. Nemeses act only while this holds.
    pub fn chaos_active(&self) -> bool {
        self.world.config.chaos && self.world.chaos_active()
    }

    /// Whether fault family `family` (e.g. `"net.partition"`) is on for
    /// this seed (swarm testing turns families off per seed).
    pub fn fault_family_on(&self, family: &str) -> bool {
        self.world.fault_family_on(family)
    }

    /// Decides a family that the seed does not draw (a fault a nemesis
    /// brings with it, such as `process.attrition`): on unless the run's
    /// selection switches it off. Decided once; later calls return the
    /// first decision.
    pub(crate) fn decide_undrawn_family(&self, family: &'static str) -> bool {
        if self.world.fault_families_decided(family) {
            return self.world.fault_family_on(family);
        }
        self.world.set_fault_family(family, true)
    }

    /// The providers of `process` in its current incarnation: code that
    /// uses them runs *as* that process (its tasks belong to it and die
    /// with it; its connections come from its IP; its files are its disk).
    /// `None` if there is no such process or it is dead. Meant for tests
    /// and harnesses that drive several processes from one workload.
    pub fn providers_of(&self, process: ProcessId) -> Option<SimProviders> {
        let info = self.world.process_info(process)?;
        if info.state == ProcessState::Dead {
            return None;
        }
        let incarnation = info.incarnation;
        Some(SimProviders::new(
            Rc::clone(&self.world),
            process,
            incarnation,
        ))
    }

    /// The process with this IP.
    pub fn process_by_ip(&self, ip: IpAddr) -> Option<ProcessId> {
        self.world.process_table.borrow().by_ip(ip)
    }
}
