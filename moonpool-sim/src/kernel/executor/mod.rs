//! The executor: tasks in a slab, a ready queue of task ids, and wakers
//! that push ids onto it.
//!
//! # Types
//! - [`TaskId`]: slot index + generation. A stale id (its task finished or
//!   was cancelled, the slot maybe reused) never matches a live task.
//! - [`TaskTable`]: the slab of [`TaskEntry`]s. An entry owns its task's
//!   boxed future, its waker, its name, and the [`ProcessId`] and
//!   incarnation that own it.
//!
//! # Cost of a spawn
//! Spawning allocates the boxed future and the join slot, nothing more in
//! the steady state: names are interned (the first `NAMES_INTERNED_MAX`
//! distinct names; later ones get their own copy), and a slot keeps its
//! last task's waker for the next task it holds, reused only when nothing
//! else holds a clone of it (`Arc::get_mut`), so no stale waker can reach
//! the new task. Whether a waker is reused depends only on the execution,
//! never on addresses: the order of polls is unchanged.
//! - [`waker::TaskWaker`]: the waker behind every task, built with std's
//!   safe `Wake` trait (no hand-written vtable, no `unsafe`). Waking pushes
//!   the task id onto the current kernel's ready queue, at most once until
//!   the task is polled again.
//! - [`join::SimJoinHandle`]: the handle returned by `spawn`; cancels on drop.
//!
//! # States of a task
//! `queued` (id in the ready queue) → `polling` (future taken out of the
//! entry, so that code it runs may spawn, wake or kill without aliasing the
//! table) → `waiting` (future back in the entry) or `finished` (entry
//! removed). Cancelling removes the entry; a task cancelled while polling is
//! noticed when the poll returns, and its future is then dropped.
//!
//! # Invariants
//! - A future is never dropped while the task table is borrowed: its `Drop`
//!   may re-enter the simulator (cancel a timer, close a socket, wake).
//! - A cancelled task is never polled again: the entry is gone, so its id
//!   is stale when it next comes off the ready queue.
//! - Nothing here depends on addresses or hashing: the order of polls is a
//!   pure function of the order of wakes.
//! - A slot is emptied only by `remove` or `drain`, which bump its
//!   generation (so every id of the old task goes stale) before it joins
//!   the free list, and it is handed out again only empty (asserted in
//!   [`TaskTable::insert`]).

pub(crate) mod join;
pub(crate) mod waker;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use super::process::ProcessId;
use waker::TaskWaker;

/// Whom to wake when an awaited event happens.
///
/// A task that awaits a timer (or a socket) directly is polled with its own
/// waker; the event then records just the task id, and waking it is a
/// ready-queue push — no reference-count traffic, no virtual call, no
/// thread-local lookup. Wakers of other shapes (a combinator's, a foreign
/// executor's) are kept and woken as wakers.
pub(crate) enum WakeTarget {
    /// The task itself.
    Task(TaskId),
    /// Any other waker.
    Waker(Waker),
}

/// A boxed, type-erased task body.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Identifies a task: a slot in the task table and that slot's generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl TaskId {
    /// A stable 64-bit encoding, for fingerprints and traces.
    pub(crate) fn as_u64(self) -> u64 {
        (self.generation as u64) << 32 | self.index as u64
    }

    /// The id whose [`as_u64`](Self::as_u64) is `value`.
    pub(crate) fn from_u64(value: u64) -> TaskId {
        TaskId {
            index: value as u32,
            generation: (value >> 32) as u32,
        }
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

/// A live task.
pub(crate) struct TaskEntry {
    /// `None` while the task is being polled.
    pub(crate) future: Option<TaskFuture>,
    /// Taken out with the future while the task is polled.
    pub(crate) waker: Option<Waker>,
    pub(crate) flag: Arc<TaskWaker>,
    pub(crate) process: ProcessId,
    /// The incarnation of `process` the task was spawned in.
    pub(crate) incarnation: u32,
    pub(crate) name: Rc<str>,
    /// Virtual time of its last poll (of its spawn, before the first).
    pub(crate) last_ran_ns: u64,
    /// Polls at `last_ran_ns`: how long it has spun without time moving.
    pub(crate) spins: u32,
    /// The task whose join handle it awaited, stamped with the poll
    /// (`last_ran_ns`, `spins`) that awaited it: valid while that poll is
    /// its last.
    pub(crate) joins: Option<(TaskId, u64, u32)>,
}

impl TaskEntry {
    /// Records a poll at `now_ns`.
    #[inline]
    pub(crate) fn ran(&mut self, now_ns: u64) {
        if self.last_ran_ns == now_ns {
            self.spins = self.spins.saturating_add(1);
        } else {
            self.last_ran_ns = now_ns;
            self.spins = 1;
        }
    }

    /// The task this one waits for, if its last poll ended awaiting a join
    /// handle.
    pub(crate) fn awaited_task(&self) -> Option<TaskId> {
        match self.joins {
            Some((task, at, spins)) if at == self.last_ran_ns && spins == self.spins => Some(task),
            _ => None,
        }
    }
}

struct Slot {
    generation: u32,
    entry: Option<TaskEntry>,
    /// The waker of the slot's last task, kept for the next one.
    spare_waker: Option<Arc<TaskWaker>>,
}

/// Distinct task names kept interned; names past these are copied per task.
const NAMES_INTERNED_MAX: usize = 4096;

/// The slab of live tasks.
#[derive(Default)]
pub(crate) struct TaskTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    /// Interned task names (at most `NAMES_INTERNED_MAX`).
    names: BTreeSet<Rc<str>>,
    /// The last name interned: tasks spawned in a row often share it.
    last_name: Option<Rc<str>>,
}

impl TaskTable {
    /// The shared copy of `name`, interned while there is room.
    fn intern(&mut self, name: &str) -> Rc<str> {
        if let Some(last) = &self.last_name
            && **last == *name
        {
            return Rc::clone(last);
        }
        let interned = match self.names.get(name) {
            Some(interned) => Rc::clone(interned),
            None => {
                let copy: Rc<str> = name.into();
                if self.names.len() >= NAMES_INTERNED_MAX {
                    return copy;
                }
                self.names.insert(Rc::clone(&copy));
                copy
            }
        };
        self.last_name = Some(Rc::clone(&interned));
        interned
    }

    /// Stores a new task and returns its id. The waker is built here, from
    /// the id the task gets (reusing the slot's spare one when nothing else
    /// holds it).
    pub(crate) fn insert(
        &mut self,
        kernel_id: u64,
        process: ProcessId,
        incarnation: u32,
        name: &str,
        future: TaskFuture,
        now_ns: u64,
    ) -> TaskId {
        let name = self.intern(name);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                    spare_waker: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        assert!(
            slot.entry.is_none(),
            "task slot {index} handed out while it holds a task (removed twice?)"
        );
        let id = TaskId {
            index,
            generation: slot.generation,
        };
        // New tasks start queued: the spawner pushes the id right after.
        let fresh = TaskWaker::new(kernel_id, id, true);
        let flag = match slot.spare_waker.take() {
            Some(mut spare) => match Arc::get_mut(&mut spare) {
                // Nothing else holds the old waker: no stale wake can reach
                // the new task through it.
                Some(unshared) => {
                    *unshared = fresh;
                    spare
                }
                None => Arc::new(fresh),
            },
            None => Arc::new(fresh),
        };
        slot.entry = Some(TaskEntry {
            future: Some(future),
            waker: Some(Waker::from(Arc::clone(&flag))),
            flag,
            process,
            incarnation,
            name,
            last_ran_ns: now_ns,
            spins: 0,
            joins: None,
        });
        self.live += 1;
        id
    }

    /// The live task with this id, if any.
    #[inline]
    pub(crate) fn get(&self, id: TaskId) -> Option<&TaskEntry> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_ref()
    }

    /// The live task with this id, if any.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: TaskId) -> Option<&mut TaskEntry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_mut()
    }

    /// Removes a task, returning its entry so the caller can drop the
    /// future after releasing its borrow of the table.
    pub(crate) fn remove(&mut self, id: TaskId) -> Option<TaskEntry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let mut entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        // The entry's own clone of the waker is only a reference count:
        // dropping it here runs no foreign code.
        entry.waker = None;
        slot.spare_waker = Some(Arc::clone(&entry.flag));
        self.free.push(id.index);
        self.live -= 1;
        Some(entry)
    }

    /// Ids of the live tasks owned by `process`, in slot order.
    pub(crate) fn ids_of(&self, process: ProcessId) -> Vec<TaskId> {
        self.iter()
            .filter(|(_, e)| e.process == process)
            .map(|(id, _)| id)
            .collect()
    }

    /// All live tasks, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (TaskId, &TaskEntry)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.entry.as_ref().map(|e| {
                (
                    TaskId {
                        index: i as u32,
                        generation: s.generation,
                    },
                    e,
                )
            })
        })
    }

    /// Removes every task, returning the entries for the caller to drop.
    pub(crate) fn drain(&mut self) -> Vec<TaskEntry> {
        let mut out = Vec::with_capacity(self.live);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(e) = slot.entry.take() {
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(i as u32);
                out.push(e);
            }
        }
        self.live = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> TaskFuture {
        Box::pin(async {})
    }

    fn spawn(t: &mut TaskTable, name: &str) -> TaskId {
        t.insert(7, ProcessId::SYSTEM, 0, name, body(), 0)
    }

    #[test]
    fn tasks_of_one_name_share_one_interned_copy() {
        let mut t = TaskTable::default();
        let a = spawn(&mut t, "sleeper");
        let other = spawn(&mut t, "other");
        let b = spawn(&mut t, &String::from("sleeper"));
        let name = |id| Rc::clone(&t.get(id).expect("live").name);
        assert!(Rc::ptr_eq(&name(a), &name(b)));
        assert!(!Rc::ptr_eq(&name(a), &name(other)));
        assert_eq!(&*name(b), "sleeper");
    }

    #[test]
    fn interned_names_are_bounded() {
        let mut t = TaskTable::default();
        for i in 0..NAMES_INTERNED_MAX + 10 {
            let id = spawn(&mut t, &format!("conn-{i}"));
            assert_eq!(&*t.get(id).expect("live").name, format!("conn-{i}"));
            drop(t.remove(id));
        }
        assert_eq!(t.names.len(), NAMES_INTERNED_MAX);
    }

    #[test]
    fn a_slot_reuses_its_waker_only_when_nothing_else_holds_it() {
        let mut t = TaskTable::default();
        let first = spawn(&mut t, "a");
        let first_flag = Arc::as_ptr(&t.get(first).expect("live").flag);
        drop(t.remove(first));
        // Nothing holds the old waker: the next task of the slot gets it,
        // with its own id and queued.
        let second = spawn(&mut t, "a");
        assert_eq!(second.index, first.index);
        let entry = t.get(second).expect("live");
        assert_eq!(Arc::as_ptr(&entry.flag), first_flag);
        assert!(entry.flag.queued.load(std::sync::atomic::Ordering::Relaxed));
        // Someone keeps a clone of the second task's waker: the third task
        // of the slot gets a new one, so that clone cannot wake it.
        let kept = entry.waker.clone().expect("waker");
        drop(t.remove(second));
        let third = spawn(&mut t, "a");
        assert_eq!(third.index, first.index);
        assert_ne!(Arc::as_ptr(&t.get(third).expect("live").flag), first_flag);
        drop(kept);
    }
}
