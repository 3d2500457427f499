//! What the kernel knows of a process: enough to own tasks and to name
//! them.
//!
//! A process, to the kernel, is an owner of tasks with a name, an
//! incarnation and a liveness flag. Everything else a process is (its IP,
//! its kind, its `main`, whether that `main` returned) belongs to the
//! models layer's process table, which keeps this registry in step through
//! [`Kernel::kill_tasks_of`](super::Kernel::kill_tasks_of) and
//! [`Kernel::restart`](super::Kernel::restart).
//!
//! # Invariants
//! - Ids are assigned in registration order, so they are the same on every
//!   run of a seed; id 0 is the simulator's own process.
//! - A dead process owns no task: killing it cancels every task it owns,
//!   and the executor refuses to poll a task of a dead process or of an
//!   earlier incarnation (both asserted in `run.rs`).
//! - An incarnation only grows, by one per restart, and only from dead.

use std::rc::Rc;

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

/// One process, as the kernel sees it.
#[derive(Debug)]
struct Slot {
    name: Rc<str>,
    incarnation: u32,
    alive: bool,
}

/// Every process of a seed, by id: names, incarnations, liveness.
#[derive(Debug, Default)]
pub(crate) struct ProcessRegistry {
    slots: Vec<Slot>,
}

impl ProcessRegistry {
    /// Registers a live process in incarnation 0 and returns its id.
    pub(crate) fn add(&mut self, name: Rc<str>) -> ProcessId {
        self.slots.push(Slot {
            name,
            incarnation: 0,
            alive: true,
        });
        ProcessId((self.slots.len() - 1) as u32)
    }

    /// The name of `id`.
    pub(crate) fn name(&self, id: ProcessId) -> Option<&Rc<str>> {
        self.slots.get(id.0 as usize).map(|s| &s.name)
    }

    /// The incarnation of `id`.
    pub(crate) fn incarnation(&self, id: ProcessId) -> Option<u32> {
        self.slots.get(id.0 as usize).map(|s| s.incarnation)
    }

    /// Whether `id` is alive (in any incarnation).
    pub(crate) fn is_alive(&self, id: ProcessId) -> bool {
        self.slots.get(id.0 as usize).is_some_and(|s| s.alive)
    }

    /// Whether `id` is alive in incarnation `incarnation`.
    #[inline]
    pub(crate) fn is_current(&self, id: ProcessId, incarnation: u32) -> bool {
        self.slots
            .get(id.0 as usize)
            .is_some_and(|s| s.alive && s.incarnation == incarnation)
    }

    /// Marks `id` dead. Returns false if it was dead already (or unknown).
    pub(crate) fn set_dead(&mut self, id: ProcessId) -> bool {
        match self.slots.get_mut(id.0 as usize) {
            Some(s) if s.alive => {
                s.alive = false;
                true
            }
            _ => false,
        }
    }

    /// Brings the dead `id` back in its next incarnation, which it returns
    /// (`None` if `id` is unknown or alive).
    pub(crate) fn restart(&mut self, id: ProcessId) -> Option<u32> {
        let slot = self.slots.get_mut(id.0 as usize).filter(|s| !s.alive)?;
        slot.alive = true;
        slot.incarnation += 1;
        Some(slot.incarnation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_needs_a_dead_process_and_starts_the_next_incarnation() {
        let mut r = ProcessRegistry::default();
        let p = r.add("p".into());
        assert_eq!(r.restart(p), None, "a live process cannot restart");
        assert!(r.set_dead(p));
        assert!(!r.set_dead(p), "dead once");
        assert!(!r.is_current(p, 0));
        assert_eq!(r.restart(p), Some(1));
        assert!(r.is_current(p, 1));
        assert!(!r.is_current(p, 0), "the old incarnation stays dead");
    }
}
