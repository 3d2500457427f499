//! Tasks and the event loop: spawning, waking, polling, and
//! [`Kernel::run`].
//!
//! # The loop
//! Poll ready tasks, one at a time, until none is ready; then release the
//! next batch of events (every live event due at the next deadline), move
//! the clock to that deadline and fire them all, in schedule order; repeat
//! until the workloads finish or the seed fails. Each poll and each event
//! is a *step*; steps, draws and spawns are folded into the fingerprint,
//! and so is the virtual time of every event fired.
//!
//! # Invariants (asserted)
//! - The clock never moves backwards: a popped event's deadline is at
//!   least `now` (checked here, in release builds too), because nothing is
//!   scheduled in the past (checked where events are scheduled: `Sleep`
//!   fires at once instead, [`Kernel::schedule_model_event`] asserts).
//! - A live task taken off the ready queue is marked queued: ids are pushed
//!   only by `spawn` and [`Kernel::wake`]/the waker, which set the flag
//!   first, so a live task sits in the queue at most once. The queue may
//!   also hold *stale* ids (a task cancelled or finished since it was
//!   queued): they match no live task and are skipped without a poll, a
//!   fold or a step.
//! - A task polled belongs to a live process, in the incarnation it was
//!   spawned in (debug builds; paired with [`Kernel::kill_tasks_of`], which
//!   marks the process dead, cancels every task it owns and asserts none is
//!   left, in release builds too).

use std::collections::BTreeSet;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::{Context, Waker};
use std::time::Duration;

use super::executor::join::{self, SimJoinHandle};
use super::executor::{TaskEntry, TaskFuture, TaskId, WakeTarget};
use super::failure::{SeedFailure, StuckTask, Waiting};
use super::fingerprint::Fold;
use super::process::ProcessId;
use super::time::{Due, Next};
use super::{Kernel, draw};

/// Links followed down a chain of tasks awaiting each other.
const JOIN_CHAIN_LINKS_MAX: usize = 64;

/// What a model does with the events it schedules
/// ([`Kernel::schedule_model_event`]).
pub(crate) trait ModelEvents {
    /// The model event `token`, scheduled earlier, is due now.
    fn on_event(&self, token: u64);
}

/// How the loop ended.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The workloads finished.
    Finished,
    /// The seed failed.
    Failed,
}

impl Kernel {
    // ----- tasks -----

    /// Spawns `future` as a task of `process` in its incarnation
    /// `incarnation`. A task spawned for a process that is not alive in
    /// that incarnation must be cancelled by the caller before it runs.
    pub(crate) fn spawn<F>(
        &self,
        process: ProcessId,
        incarnation: u32,
        name: &str,
        future: F,
    ) -> SimJoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (body, slot) = join::wrap(future);
        let id = self.spawn_boxed(process, incarnation, name, body);
        SimJoinHandle::new(id, slot, self.weak_self.clone())
    }

    fn spawn_boxed(
        &self,
        process: ProcessId,
        incarnation: u32,
        name: &str,
        body: TaskFuture,
    ) -> TaskId {
        let id = self.tasks.borrow_mut().insert(
            self.id,
            process,
            incarnation,
            name,
            body,
            self.now_ns(),
        );
        self.ready.borrow_mut().push_back(id);
        self.fold(Fold::Spawn, id.as_u64());
        id
    }

    /// Cancels a task: its future is dropped now (or, if it is the task
    /// being polled, as soon as its poll returns) and never polled again.
    pub(crate) fn cancel_task(&self, id: TaskId) {
        let entry = self.tasks.borrow_mut().remove(id);
        // Dropped here, after the table borrow ended: the future's drop may
        // re-enter the simulator.
        drop(entry);
    }

    /// Cancels every task of `process`.
    fn cancel_tasks_of(&self, process: ProcessId) -> usize {
        let ids = self.tasks.borrow().ids_of(process);
        for id in &ids {
            self.cancel_task(*id);
        }
        ids.len()
    }

    /// Marks `process` dead and cancels every task it owns; returns how
    /// many. Dropping those futures may re-enter the simulator (closing
    /// sockets, waking peers): they see the process dead already.
    pub(crate) fn kill_tasks_of(&self, process: ProcessId) -> usize {
        let newly_dead = self.processes.borrow_mut().set_dead(process);
        assert!(newly_dead, "process {process:?} killed twice");
        let cancelled = self.cancel_tasks_of(process);
        // A dead process's code may still run until its current poll ends
        // (a task killing its own process), but nothing it spawns survives:
        // the spawner cancels tasks of a dead process at once.
        assert!(
            self.tasks.borrow().ids_of(process).is_empty(),
            "process {process:?} still owns tasks after its kill"
        );
        cancelled
    }

    /// Brings the dead `process` back; returns its new incarnation.
    pub(crate) fn restart(&self, process: ProcessId) -> u32 {
        let incarnation = self.processes.borrow_mut().restart(process);
        incarnation.unwrap_or_else(|| panic!("process {process:?} restarted while alive"))
    }

    /// The task being polled and its process, if any.
    pub(crate) fn current(&self) -> Option<(TaskId, ProcessId)> {
        self.current.get()
    }

    /// `process/task` for a live task.
    pub(crate) fn task_label(&self, id: TaskId) -> Option<Rc<str>> {
        let tasks = self.tasks.try_borrow().ok()?;
        let entry = tasks.get(id)?;
        let process = self
            .process_name(entry.process)
            .unwrap_or_else(|| "?".into());
        Some(format!("{process}/{}", entry.name).into())
    }

    /// Records that the task being polled awaits the join handle of
    /// `awaited` (for the stuck-task lists of hangs).
    pub(crate) fn note_join_wait(&self, awaited: TaskId) {
        let Some((current, _)) = self.current.get() else {
            return;
        };
        if let Ok(mut tasks) = self.tasks.try_borrow_mut()
            && let Some(entry) = tasks.get_mut(current)
        {
            entry.joins = Some((awaited, entry.last_ran_ns, entry.spins));
        }
    }

    /// Every live task, what it waits on and when it last ran, the prime
    /// suspects of a hang first: see [`StuckTask`]. Tasks awaiting another
    /// task come after it (the fewer links from a task that waits on
    /// something else, the earlier).
    pub(crate) fn stuck_tasks(&self) -> Vec<StuckTask> {
        let timers: BTreeSet<TaskId> = self.events.borrow().timer_owners().into_iter().collect();
        let tasks = self.tasks.borrow();
        let processes = self.processes.borrow();
        let label = |e: &TaskEntry| {
            let process = processes.name(e.process).map(|n| &**n).unwrap_or("?");
            format!("{process}/{}", e.name)
        };
        let awaited = |id: TaskId| {
            let e = tasks.get(id)?;
            if e.flag.queued.load(Ordering::Relaxed) || timers.contains(&id) {
                return None;
            }
            e.awaited_task().filter(|t| tasks.get(*t).is_some())
        };
        let mut list: Vec<(u8, usize, u64, usize, StuckTask)> = tasks
            .iter()
            .enumerate()
            .map(|(i, (id, e))| {
                let (rank, links, waiting) = if e.flag.queued.load(Ordering::Relaxed) {
                    (3, 0, Waiting::Ready)
                } else if timers.contains(&id) {
                    (2, 0, Waiting::Timer)
                } else if let Some(target) = awaited(id) {
                    // Links down the chain of awaited tasks (bounded: a
                    // cycle of joins is a deadlock of its own).
                    let mut links = 1;
                    let mut next = target;
                    while let Some(t) = awaited(next)
                        && links < JOIN_CHAIN_LINKS_MAX
                    {
                        links += 1;
                        next = t;
                    }
                    let name = tasks.get(target).map(&label).unwrap_or_default();
                    (1, links, Waiting::Task(name))
                } else {
                    (0, 0, Waiting::Other)
                };
                let task = StuckTask {
                    task: label(e),
                    last_ran: Duration::from_nanos(e.last_ran_ns),
                    waiting,
                };
                (rank, links, e.last_ran_ns, i, task)
            })
            .collect();
        list.sort_by_key(|(rank, links, last_ran, i, _)| (*rank, *links, *last_ran, *i));
        list.into_iter().map(|(.., task)| task).collect()
    }

    /// The task that ran most often at the current instant, and how often:
    /// a task spinning without letting time move.
    fn spinning_task(&self) -> Option<(String, u32)> {
        let now = self.now_ns();
        let tasks = self.tasks.borrow();
        let (_, e) = tasks
            .iter()
            .filter(|(_, e)| e.last_ran_ns == now && e.spins > 1)
            .max_by_key(|(id, e)| (e.spins, std::cmp::Reverse(*id)))?;
        let process = self
            .processes
            .borrow()
            .name(e.process)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "?".to_string());
        Some((format!("{process}/{}", e.name), e.spins))
    }

    // ----- waking -----

    /// Whether `waker` is the waker of the task being polled.
    #[inline]
    fn is_current_waker(&self, waker: &Waker) -> bool {
        let (data, vtable) = self.current_waker.get();
        !data.is_null() && waker.data() == data && std::ptr::eq(waker.vtable(), vtable)
    }

    /// How to wake whoever is polling with `waker`: the task itself when it
    /// is the current task's own waker, else a clone of `waker`.
    #[inline]
    pub(crate) fn wake_target(&self, waker: &Waker) -> WakeTarget {
        match self.current.get() {
            Some((id, _)) if self.is_current_waker(waker) => WakeTarget::Task(id),
            _ => WakeTarget::Waker(waker.clone()),
        }
    }

    /// Whether `target` would wake the same task as `waker`.
    #[inline]
    pub(crate) fn same_target(&self, target: &WakeTarget, waker: &Waker) -> bool {
        match target {
            WakeTarget::Task(id) => {
                self.current.get().map(|(c, _)| c) == Some(*id) && self.is_current_waker(waker)
            }
            WakeTarget::Waker(w) => w.will_wake(waker),
        }
    }

    /// Wakes `target`.
    #[inline]
    pub(crate) fn wake(&self, target: WakeTarget) {
        match target {
            WakeTarget::Task(id) => {
                let tasks = self.tasks.borrow();
                if let Some(entry) = tasks.get(id)
                    && !entry.flag.queued.load(Ordering::Relaxed)
                {
                    entry.flag.queued.store(true, Ordering::Relaxed);
                    self.ready.borrow_mut().push_back(id);
                }
            }
            WakeTarget::Waker(waker) => waker.wake(),
        }
    }

    // ----- the loop -----

    fn next_ready(&self) -> Option<TaskId> {
        let mut ready = self.ready.borrow_mut();
        let perturb = self.config.perturb_ready_order;
        if ready.len() > 1 && !perturb.is_zero() {
            // Randomly reorder: occasionally run some other ready task first.
            if draw::bool(self, perturb) {
                let index = draw::below(self, ready.len() as u64) as usize;
                return ready.swap_remove_back(index);
            }
        }
        ready.pop_front()
    }

    fn poll_task(&self, id: TaskId) {
        let taken = {
            let mut tasks = self.tasks.borrow_mut();
            match tasks.get_mut(id) {
                Some(entry) => {
                    assert!(
                        entry.flag.queued.load(Ordering::Relaxed),
                        "task {id} came off the ready queue without being marked queued"
                    );
                    entry.flag.queued.store(false, Ordering::Relaxed);
                    entry.ran(self.clock_ns.get());
                    match (entry.future.take(), entry.waker.take()) {
                        (Some(f), Some(w)) => Some((f, w, entry.process, entry.incarnation)),
                        _ => None,
                    }
                }
                None => None,
            }
        };
        let Some((mut future, waker, process, incarnation)) = taken else {
            return; // stale id: the task finished or was cancelled
        };
        debug_assert!(
            self.processes.borrow().is_current(process, incarnation),
            "task {id} of process {process:?} (incarnation {incarnation}) polled after its kill"
        );
        self.fold(Fold::Poll, id.as_u64());
        self.current.set(Some((id, process)));
        self.current_waker.set((waker.data(), waker.vtable()));
        let poll = future.as_mut().poll(&mut Context::from_waker(&waker));
        self.current.set(None);
        self.current_waker.set((std::ptr::null(), std::ptr::null()));
        let mut tasks = self.tasks.borrow_mut();
        if poll.is_pending()
            && let Some(entry) = tasks.get_mut(id)
        {
            entry.future = Some(future);
            entry.waker = Some(waker);
            return;
        }
        // Finished, or cancelled while it was being polled.
        let entry = tasks.remove(id);
        drop(tasks);
        drop(entry);
        drop(future);
    }

    /// Runs the loop until the workloads finish or the seed fails; events
    /// the model scheduled go back to `model`. A wake from another OS
    /// thread fails the seed (it replaces a hang it caused, or a pass).
    pub(crate) fn run<M: ModelEvents>(&self, model: &M) -> Stop {
        self.heartbeat.set_running(true);
        let stop = self.run_loop(model);
        self.heartbeat.set_running(false);
        let Some(task) = super::executor::waker::foreign_wakes_of(self.id) else {
            return stop;
        };
        let task = self
            .task_label(task)
            .map(|l| l.to_string())
            .unwrap_or_else(|| format!("{task} (finished)"));
        let mut slot = self.failure.borrow_mut();
        let hang = matches!(
            &*slot,
            None | Some(
                SeedFailure::Deadlock { .. }
                    | SeedFailure::TimeLimit { .. }
                    | SeedFailure::StepLimit { .. }
            )
        );
        if hang {
            *slot = Some(SeedFailure::ForeignWake { task });
        }
        self.stop.set(true);
        Stop::Failed
    }

    fn run_loop<M: ModelEvents>(&self, model: &M) -> Stop {
        let time_limit_ns = self.config.time_limit.as_nanos().min(u64::MAX as u128) as u64;
        loop {
            while let Some(id) = self.next_ready() {
                let steps = self.steps.get() + 1;
                self.steps.set(steps);
                if steps & super::watchdog::BEAT_MASK == 0 {
                    self.heartbeat.beat(steps);
                }
                if steps > self.config.step_limit {
                    let spinning = self.spinning_task();
                    self.fail(SeedFailure::StepLimit {
                        limit: self.config.step_limit,
                        sim_time: self.now(),
                        spinning: spinning.map(|(task, polls)| format!("{task} ({polls} polls)")),
                        alive: self.stuck_tasks(),
                    });
                    return Stop::Failed;
                }
                self.poll_task(id);
                if self.stop.get() {
                    return self.stop_reason();
                }
            }
            let next = self.events.borrow_mut().next_batch(time_limit_ns);
            let (deadline_ns, seq, due, mut more) = match next {
                Next::Due(deadline_ns, seq, due, more) => (deadline_ns, seq, due, more),
                Next::Empty => {
                    self.fail(SeedFailure::Deadlock {
                        sim_time: self.now(),
                        stuck: self.stuck_tasks(),
                    });
                    return Stop::Failed;
                }
                Next::Beyond => {
                    self.clock_ns.set(time_limit_ns.max(self.now_ns()));
                    self.fail(SeedFailure::TimeLimit {
                        limit: self.config.time_limit,
                        alive: self.stuck_tasks(),
                    });
                    return Stop::Failed;
                }
            };
            assert!(
                deadline_ns >= self.now_ns(),
                "the clock would move back from {} to the deadline {deadline_ns} of the next events",
                self.now_ns()
            );
            self.clock_ns.set(deadline_ns);
            // Every event of the batch fires before any task runs: the
            // tasks they wake wait in the ready queue together.
            let mut next = Some((seq, due));
            while let Some((seq, due)) = next {
                self.steps.set(self.steps.get() + 1);
                self.fold_event(seq, deadline_ns);
                match due {
                    Due::Timer(Some(target)) => self.wake(target),
                    Due::Timer(None) => {}
                    Due::Callback(callback) => callback(),
                    Due::Model(token) => model.on_event(token),
                }
                if self.stop.get() {
                    return self.stop_reason();
                }
                next = if more {
                    let due = self.events.borrow_mut().next_due();
                    more = due.is_some();
                    due
                } else {
                    None
                };
            }
        }
    }

    fn stop_reason(&self) -> Stop {
        if self.has_failed() {
            Stop::Failed
        } else {
            Stop::Finished
        }
    }

    /// Drops everything the seed created: tasks (repeatedly, since dropping
    /// a future may spawn or wake), events, the ready queue. Afterwards no
    /// user future remains, which breaks the `Rc` cycles between the world
    /// and the providers captured by tasks.
    pub(crate) fn teardown(&self) {
        self.stop.set(true);
        for _ in 0..64 {
            let entries = self.tasks.borrow_mut().drain();
            let payloads = self.events.borrow_mut().drain();
            self.ready.borrow_mut().clear();
            if entries.is_empty() && payloads.is_empty() {
                break;
            }
            drop(entries);
            drop(payloads);
        }
        // After the drops: a future's `Drop` may still read the clock or
        // cancel its timer; from here on, nothing of this seed may run.
        self.retired.set(true);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use moonpool_core::Ratio;

    use super::*;
    use crate::kernel::KernelConfig;
    use crate::kernel::time::Payload;

    struct NoModel;
    impl ModelEvents for NoModel {
        fn on_event(&self, _token: u64) {}
    }

    fn kernel() -> Rc<Kernel> {
        Kernel::new(
            1,
            KernelConfig {
                time_limit: Duration::from_secs(10),
                step_limit: 1_000,
                perturb_ready_order: Ratio::ZERO,
                record_timeline: false,
                faults: Default::default(),
                record_marks: false,
            },
        )
    }

    #[test]
    #[should_panic(expected = "the clock would move back")]
    fn an_event_due_before_now_stops_the_loop() {
        let k = kernel();
        k.events.borrow_mut().schedule(5, Payload::Model(0));
        // What a model scheduling into the past would leave behind.
        k.clock_ns.set(10);
        k.run(&NoModel);
    }

    #[test]
    #[should_panic(expected = "without being marked queued")]
    fn a_task_queued_twice_is_caught_when_it_comes_off_the_queue_again() {
        let k = kernel();
        let p = k.add_process("p".into());
        let handle = k.spawn(p, 0, "t", std::future::pending::<()>());
        // A second push that bypassed the `queued` flag.
        k.ready.borrow_mut().push_back(handle.id());
        k.run(&NoModel);
    }

    #[test]
    fn a_kill_cancels_every_task_of_the_process_and_no_other() {
        let k = kernel();
        let p = k.add_process("p".into());
        let q = k.add_process("q".into());
        let a = k.spawn(p, 0, "a", std::future::pending::<()>());
        let b = k.spawn(p, 0, "b", std::future::pending::<()>());
        let c = k.spawn(q, 0, "c", std::future::pending::<()>());
        assert_eq!(k.kill_tasks_of(p), 2);
        let tasks = k.tasks.borrow();
        assert!(tasks.get(a.id()).is_none() && tasks.get(b.id()).is_none());
        assert!(tasks.get(c.id()).is_some());
        assert!(!k.processes.borrow().is_alive(p));
    }

    #[test]
    #[should_panic(expected = "killed twice")]
    fn a_process_is_killed_once() {
        let k = kernel();
        let p = k.add_process("p".into());
        k.kill_tasks_of(p);
        k.kill_tasks_of(p);
    }

    #[test]
    #[should_panic(expected = "restarted while alive")]
    fn only_a_dead_process_restarts() {
        let k = kernel();
        let p = k.add_process("p".into());
        k.restart(p);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "polled after its kill")]
    fn a_task_of_a_dead_process_is_never_polled() {
        let k = kernel();
        let p = k.add_process("p".into());
        let _task = k.spawn(p, 0, "t", std::future::pending::<()>());
        // A lifecycle bug: the process marked dead without its tasks.
        k.processes.borrow_mut().set_dead(p);
        k.run(&NoModel);
    }
}
