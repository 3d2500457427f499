//! Killing and rebooting processes.
//!
//! A kill is instant and total: the process is marked dead, every one of
//! its tasks is cancelled (futures dropped, never polled again), its
//! connections are reset so peers see errors, and its disk suffers crash
//! semantics (unsynced writes may be lost or torn). A reboot starts its
//! `main` again, on the same IP, with a new incarnation number and the
//! files that survived (or none, for a wipe).

use std::rc::Rc;

use crate::process::{ProcessId, ProcessKind, ProcessState};
use crate::world::World;

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
    /// The process is running (reboot needs a dead process).
    #[error("process {0:?} is not dead")]
    NotDead(ProcessId),
}

impl World {
    /// Kills `process` now. See the module documentation.
    pub(crate) fn kill_process(self: &Rc<World>, process: ProcessId) -> Result<(), ProcessError> {
        {
            let mut table = self.processes.borrow_mut();
            let info = table
                .get_mut(process)
                .ok_or(ProcessError::NoSuchProcess(process))?;
            if info.kind != ProcessKind::Server {
                return Err(ProcessError::NotAServer(process));
            }
            if info.state == ProcessState::Dead {
                return Err(ProcessError::AlreadyDead(process));
            }
            info.state = ProcessState::Dead;
        }
        let cancelled = self.cancel_tasks_of(process);
        crate::network::process_killed(self, process);
        crate::storage::process_killed(self, process);
        self.note("process.kill", Some(process), || {
            format!("killed; {cancelled} task(s) cancelled")
        });
        Ok(())
    }

    /// Restarts a dead `process`: a new incarnation runs its `main` again.
    pub(crate) fn reboot_process(self: &Rc<World>, process: ProcessId) -> Result<(), ProcessError> {
        let incarnation = {
            let mut table = self.processes.borrow_mut();
            let info = table
                .get_mut(process)
                .ok_or(ProcessError::NoSuchProcess(process))?;
            if info.kind != ProcessKind::Server {
                return Err(ProcessError::NotAServer(process));
            }
            if info.state != ProcessState::Dead {
                return Err(ProcessError::NotDead(process));
            }
            info.state = ProcessState::Running;
            info.incarnation += 1;
            info.incarnation
        };
        self.note("process.reboot", Some(process), || {
            format!("rebooted as incarnation {incarnation}")
        });
        crate::runner::start_process(self, process);
        Ok(())
    }
}

impl crate::SimControl {
    /// Kills `process` now: its tasks are cancelled, its connections reset,
    /// its unsynced writes exposed to crash semantics.
    pub fn kill(&self, process: ProcessId) -> Result<(), ProcessError> {
        self.world.kill_process(process)
    }

    /// Restarts a dead `process` now, with the files that survived its kill.
    pub fn reboot(&self, process: ProcessId) -> Result<(), ProcessError> {
        self.world.reboot_process(process)
    }
}
