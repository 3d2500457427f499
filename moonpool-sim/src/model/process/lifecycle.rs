//! Starting, killing, rebooting and wiping processes, within the system's
//! fault model.
//!
//! # Operations
//! - **Start** spawns a server's `main` (kept in the process table) with
//!   the providers of its current incarnation; a `main` that returns an
//!   error fails the seed, one that returns `Ok` leaves the process
//!   `Exited`.
//! - **Kill** is instant and total: the process is marked dead, every one
//!   of its tasks is cancelled (futures dropped, never polled again), its
//!   connections are reset so peers see errors, and its disk suffers crash
//!   semantics (unsynced writes may be lost or torn; synced data survives).
//! - **Reboot** starts its `main` again, on the same IP, with a new
//!   incarnation number and the files that survived. The lifecycle does it
//!   itself, from the process table: it never calls up into the runner. `reboot_after` does it
//!   after a delay (an event on the queue), unless someone rebooted it first.
//! - **Wipe** gives a dead process a fresh, empty disk (reboot-and-wipe is
//!   `kill_and_reboot(p, delay, true)`).
//!
//! # The fault model
//! `max_down` (from the simulation's definition or
//! [`SimControl::set_max_down`]; default: no limit) is how many server
//! processes the system under test claims to survive being down at once. A kill that would take more than that many
//! down is refused with [`ProcessError::KillRefused`] and counted as
//! `process.kill_refused`, as FoundationDB refuses kills the cluster could
//! not survive. A nemesis may pass its own, tighter limit.
//!
//! # At quiesce
//! When chaos stops, every server process still dead is rebooted (with
//! whatever its disk holds), so the checks see the whole system; turn this
//! off with [`SimControl::set_reboot_dead_at_quiesce`].
//! The hook is registered by the first kill, so a seed without kills pays
//! nothing.
//!
//! # Invariants (asserted, paired across the kernel boundary)
//! - After a kill, the process owns no task (the kernel marks it dead,
//!   cancels its tasks and checks none is left; the executor refuses to
//!   poll a task of a dead incarnation), its providers of that incarnation
//!   are dead, and it has no listener left (checked by the network).
//! - A reboot starts exactly the next incarnation, from dead (the kernel
//!   refuses to restart a live process; the lifecycle checks the number).
//! - A `main` is started only for a live incarnation.
//! - Kill, reboot and wipe leave the process where the IP index says it is
//!   (each checks `ProcessTable::check_indexed`; the index is built with
//!   the table and IPs never change).
//!
//! # Counters
//! `process.kill`, `process.reboot`, `process.wipe`, `process.kill_refused`;
//! `process.kill_unsynced`, a kill that found unsynced operations on the
//! disk (the share of kills that test crash recovery), and
//! `process.kill_aimed` (`storage/aim.rs`), a kill aimed at I/O in flight.

use std::rc::{Rc, Weak};
use std::time::Duration;

use super::{ProcessKind, ProcessState};
use crate::kernel::failure::SeedFailure;
use crate::kernel::process::ProcessId;
use crate::model::control::SimControl;
use crate::model::providers::SimProviders;
use crate::model::world::World;

/// Why a process operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// No such process.
    #[error("no process {0:?}")]
    NoSuchProcess(ProcessId),
    /// Only server processes can be killed or rebooted.
    #[error("process {0:?} is not a server process")]
    NotAServer(ProcessId),
    /// The process is already dead.
    #[error("process {0:?} is already dead")]
    AlreadyDead(ProcessId),
    /// The process is running (reboot and wipe need a dead process).
    #[error("process {0:?} is not dead")]
    NotDead(ProcessId),
    /// The kill would take more processes down than the fault model allows.
    #[error(
        "killing process {process:?} refused: {down} server(s) already down, at most {max_down} may be"
    )]
    KillRefused {
        /// The process that was to be killed.
        process: ProcessId,
        /// Server processes down at the time.
        down: usize,
        /// The limit in force.
        max_down: usize,
    },
}

/// Per-seed lifecycle settings, owned by the world.
#[derive(Debug)]
pub(crate) struct LifecycleState {
    /// The fault model: server processes that may be down at once.
    max_down: Option<usize>,
    reboot_dead_at_quiesce: bool,
    quiesce_hook_registered: bool,
}

impl LifecycleState {
    pub(crate) fn new(max_down: Option<usize>) -> LifecycleState {
        LifecycleState {
            max_down,
            reboot_dead_at_quiesce: true,
            quiesce_hook_registered: false,
        }
    }
}

impl World {
    /// Server processes that are dead now, by id.
    pub(crate) fn dead_servers(&self) -> Vec<ProcessId> {
        let ids: Vec<ProcessId> = self.process_table.borrow().ids().collect();
        ids.into_iter()
            .filter(|&id| {
                self.process_table.borrow().kind(id) == Some(ProcessKind::Server)
                    && self.is_dead(id)
            })
            .collect()
    }

    /// The kind and state of `process`, or why it is no process.
    fn kind_and_state(
        &self,
        process: ProcessId,
    ) -> Result<(ProcessKind, ProcessState), ProcessError> {
        let kind = self
            .process_table
            .borrow()
            .kind(process)
            .ok_or(ProcessError::NoSuchProcess(process))?;
        let state = self
            .process_state(process)
            .ok_or(ProcessError::NoSuchProcess(process))?;
        Ok((kind, state))
    }

    /// Spawns the `main` of server process `id` in its current incarnation.
    pub(crate) fn start_process(self: &Rc<World>, id: ProcessId) {
        let Some(main) = self.process_table.borrow().main(id) else {
            return;
        };
        let Some(incarnation) = self.kernel.processes.borrow().incarnation(id) else {
            return;
        };
        assert!(
            self.is_current(id, incarnation),
            "main of process {id:?} started for a dead incarnation"
        );
        crate::model::clock::incarnation_started(self, id, incarnation);
        let providers = SimProviders::new(Rc::clone(self), id, incarnation);
        let main_future = main(providers);
        let world = Rc::clone(self);
        self.spawn(id, incarnation, "main", async move {
            let result = main_future.await;
            world.main_exited(id, incarnation, result);
        })
        .detach();
    }

    /// Records the end of a `main`: an error fails the seed.
    fn main_exited(&self, id: ProcessId, incarnation: u32, result: Result<(), String>) {
        if !self.is_current(id, incarnation) {
            return;
        }
        match result {
            Ok(()) => self.process_table.borrow_mut().set_exited(id, true),
            Err(message) => {
                let name = self.process_name(id).map(|n| n.to_string());
                let ip = self.process_table.borrow().ip(id);
                let (Some(process), Some(ip)) = (name, ip) else {
                    return;
                };
                self.fail(SeedFailure::ProcessFailed {
                    process,
                    ip: ip.to_string(),
                    message,
                });
            }
        }
    }

    /// Kills `process` now, within the world's fault model.
    pub(crate) fn kill_process(self: &Rc<World>, process: ProcessId) -> Result<(), ProcessError> {
        self.kill_process_within(process, None)
    }

    /// Kills `process` now, refusing if more than `limit` (or the world's
    /// `max_down`, whichever is smaller) server processes would be down.
    pub(crate) fn kill_process_within(
        self: &Rc<World>,
        process: ProcessId,
        limit: Option<usize>,
    ) -> Result<(), ProcessError> {
        let (kind, state) = self.kind_and_state(process)?;
        if kind != ProcessKind::Server {
            return Err(ProcessError::NotAServer(process));
        }
        if state == ProcessState::Dead {
            return Err(ProcessError::AlreadyDead(process));
        }
        let world_limit = self.lifecycle.borrow().max_down;
        let max_down = match (world_limit, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(max_down) = max_down {
            let down = self.dead_servers().len();
            if down >= max_down {
                self.note("process.kill_refused", Some(process), || {
                    format!("{down} server(s) down already; the fault model allows {max_down}")
                });
                return Err(ProcessError::KillRefused {
                    process,
                    down,
                    max_down,
                });
            }
        }
        self.register_quiesce_reboots();
        if crate::model::storage::has_unsynced(self, process) {
            self.note("process.kill_unsynced", Some(process), || {
                "killed with unsynced writes on its disk".to_string()
            });
        }
        let incarnation = self.kernel.processes.borrow().incarnation(process);
        let cancelled = self.kernel.kill_tasks_of(process);
        assert!(
            self.is_dead(process) && !incarnation.is_some_and(|i| self.is_current(process, i)),
            "a killed process is dead, its providers too"
        );
        crate::model::network::process_killed(self, process);
        crate::model::storage::process_killed(self, process);
        // A dead process keeps its IP: connects to it find it (and are
        // refused or left unanswered), so the index must still hold it.
        self.process_table.borrow().check_indexed(process);
        self.note("process.kill", Some(process), || {
            format!("killed; {cancelled} task(s) cancelled")
        });
        Ok(())
    }

    /// Restarts a dead `process`: a new incarnation runs its `main` again.
    pub(crate) fn reboot_process(self: &Rc<World>, process: ProcessId) -> Result<(), ProcessError> {
        let before = self.dead_incarnation(process)?;
        let incarnation = self.kernel.restart(process);
        assert_eq!(
            incarnation,
            before + 1,
            "a reboot starts the next incarnation"
        );
        {
            let mut table = self.process_table.borrow_mut();
            table.set_exited(process, false);
            table.check_indexed(process);
        }
        self.note("process.reboot", Some(process), || {
            format!("rebooted as incarnation {incarnation}")
        });
        self.start_process(process);
        Ok(())
    }

    /// The incarnation of a dead server process, or why it is not one.
    fn dead_incarnation(&self, process: ProcessId) -> Result<u32, ProcessError> {
        let (kind, state) = self.kind_and_state(process)?;
        if kind != ProcessKind::Server {
            return Err(ProcessError::NotAServer(process));
        }
        if state != ProcessState::Dead {
            return Err(ProcessError::NotDead(process));
        }
        self.kernel
            .processes
            .borrow()
            .incarnation(process)
            .ok_or(ProcessError::NoSuchProcess(process))
    }

    /// Reboots the dead `process` after `delay`, unless it was rebooted
    /// (or killed again after a reboot) in between.
    pub(crate) fn reboot_process_after(
        self: &Rc<World>,
        process: ProcessId,
        delay: Duration,
    ) -> Result<(), ProcessError> {
        let incarnation = self.dead_incarnation(process)?;
        let weak = Rc::downgrade(self);
        self.schedule_in(delay, move || {
            let Some(world) = weak.upgrade() else {
                return;
            };
            if world.dead_incarnation(process) == Ok(incarnation) {
                // Checked just above: the process is a dead server.
                let _ = world.reboot_process(process);
            }
        });
        Ok(())
    }

    /// Gives the dead `process` a fresh, empty disk.
    pub(crate) fn wipe_process(&self, process: ProcessId) -> Result<(), ProcessError> {
        self.dead_incarnation(process)?;
        let files = crate::model::storage::wipe(self, process);
        self.process_table.borrow().check_indexed(process);
        self.note("process.wipe", Some(process), || {
            format!("disk wiped; {files} file(s) lost")
        });
        Ok(())
    }

    /// Registers (once) the hook that reboots every dead server at quiesce.
    fn register_quiesce_reboots(self: &Rc<World>) {
        {
            let mut state = self.lifecycle.borrow_mut();
            if state.quiesce_hook_registered {
                return;
            }
            state.quiesce_hook_registered = true;
        }
        let weak: Weak<World> = Rc::downgrade(self);
        self.on_quiesce(move |_| {
            let Some(world) = weak.upgrade() else {
                return;
            };
            if !world.lifecycle.borrow().reboot_dead_at_quiesce {
                return;
            }
            for process in world.dead_servers() {
                // Each is a dead server: the reboot cannot be refused.
                let _ = world.reboot_process(process);
            }
        });
    }
}

impl SimControl {
    /// Kills `process` now: its tasks are cancelled, its connections reset,
    /// its unsynced writes exposed to crash semantics. Refused with
    /// [`ProcessError::KillRefused`] if it would take more server processes
    /// down than the fault model's `max_down`.
    pub fn kill(&self, process: ProcessId) -> Result<(), ProcessError> {
        self.world.kill_process(process)
    }

    /// Kills `process` now, like [`kill`](Self::kill), but also refuses if
    /// more than `max_down` server processes would then be down.
    pub fn kill_within(&self, process: ProcessId, max_down: usize) -> Result<(), ProcessError> {
        self.world.kill_process_within(process, Some(max_down))
    }

    /// Restarts a dead `process` now, with the files that survived its kill.
    pub fn reboot(&self, process: ProcessId) -> Result<(), ProcessError> {
        self.world.reboot_process(process)
    }

    /// Restarts the dead `process` after `delay` of virtual time (unless it
    /// has been rebooted by then).
    pub fn reboot_after(&self, process: ProcessId, delay: Duration) -> Result<(), ProcessError> {
        self.world.reboot_process_after(process, delay)
    }

    /// Gives the dead `process` a fresh, empty disk: when it reboots, it
    /// finds no files.
    pub fn wipe(&self, process: ProcessId) -> Result<(), ProcessError> {
        self.world.wipe_process(process)
    }

    /// Kills `process` now and reboots it after `delay`; with `wipe`, it
    /// comes back with an empty disk (FDB's reboot-and-delete).
    pub fn kill_and_reboot(
        &self,
        process: ProcessId,
        delay: Duration,
        wipe: bool,
    ) -> Result<(), ProcessError> {
        self.world.kill_process(process)?;
        if wipe {
            self.world.wipe_process(process)?;
        }
        self.world.reboot_process_after(process, delay)
    }

    /// Sets the fault model: at most `max_down` server processes down at
    /// once (`None`: no limit). Kills beyond it are refused.
    pub fn set_max_down(&self, max_down: Option<usize>) {
        self.world.lifecycle.borrow_mut().max_down = max_down;
    }

    /// The fault model's limit on server processes down at once.
    pub fn max_down(&self) -> Option<usize> {
        self.world.lifecycle.borrow().max_down
    }

    /// The server processes that are dead now.
    pub fn down(&self) -> Vec<ProcessId> {
        self.world.dead_servers()
    }

    /// Whether dead server processes are rebooted when chaos stops
    /// (default: yes).
    pub fn set_reboot_dead_at_quiesce(&self, on: bool) {
        self.world.lifecycle.borrow_mut().reboot_dead_at_quiesce = on;
    }
}
