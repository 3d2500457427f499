//! The world: everything one seed's execution owns, and the event loop
//! that runs it.
//!
//! # Types
//! - [`World`]: the clock, the ready queue, the task table, the event
//!   queue, the seeded generator, the fingerprint, the processes, and the
//!   outcome. Shared as `Rc<World>` by every simulated provider; one per
//!   seed, thrown away afterwards, so nothing leaks from seed to seed.
//! - [`EnterGuard`]: makes a world the thread's *current* world (what
//!   wakers, `buggify!` and the tracing layer reach) for its lifetime, and
//!   installs the simulator's buggify/assertion hook in `moonpool-core`.
//!
//! # The loop ([`World::run`])
//! Poll ready tasks, one at a time, until none is ready; then pop the next
//! live event, move the clock to its deadline and fire it; repeat until the
//! workloads finish or the seed fails. Each poll and each event is a
//! *step*; steps, draws and spawns are folded into the fingerprint.
//!
//! # Invariants
//! - Every `RefCell` here is borrowed only for a bounded, non-reentrant
//!   stretch of simulator code, never across a poll or a drop of user
//!   values (futures, wakers' owners, callbacks).
//! - Nothing reads the OS clock or OS entropy; the only source of
//!   nondeterminism is `rng`, seeded from the seed.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, RawWakerVTable, Waker};
use std::time::Duration;

use moonpool_core::Ratio;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::executor::join::{self, SimJoinHandle};
use crate::executor::{TaskFuture, TaskId, TaskTable, WakeTarget};
use crate::failure::SeedFailure;
use crate::fingerprint::{Fingerprint, Fold};
use crate::lifecycle::LifecycleState;
use crate::network::{NetState, NetworkConfig};
use crate::process::{ProcessId, ProcessTable};
use crate::runner::determinism::Recorder;
use crate::storage::{StorageConfig, StorageState};
use crate::time::{Due, EventQueue, Payload};

thread_local! {
    static CURRENT: RefCell<Option<Rc<World>>> = const { RefCell::new(None) };
}

/// Runs `f` with the thread's current world, if there is one.
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<World>) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(f))
}

/// Restores the previous current world (and buggify/assertion hook) when
/// dropped.
pub(crate) struct EnterGuard {
    previous: Option<Rc<World>>,
    _hook: moonpool_core::sim_hook::HookGuard,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Limits and knobs of one world.
#[derive(Clone, Debug)]
pub(crate) struct WorldConfig {
    pub(crate) time_limit: Duration,
    pub(crate) step_limit: u64,
    /// Probability that the next task polled is a random ready task rather
    /// than the oldest one; `None`: [`DEFAULT_CHAOS_PERTURBATION`] in chaos
    /// seeds, zero in quiet ones.
    pub(crate) perturb_ready_order: Option<Ratio>,
    /// Whether the chaos profile is on (faults sampled per seed) or the
    /// quiet configuration is forced.
    pub(crate) chaos: bool,
    /// Whether to keep the chaos timeline (for a single replayed seed).
    pub(crate) record_timeline: bool,
    pub(crate) network: NetworkConfig,
    pub(crate) storage: StorageConfig,
    /// The fault model: server processes that may be down at once.
    pub(crate) max_down: Option<usize>,
}

/// The ready-order perturbation of chaos seeds unless configured: one poll
/// in ten (when several tasks are ready) runs a random ready task instead
/// of the oldest, shaking out code that assumes an order the real world
/// does not promise (FoundationDB gets the same effect from random yields).
pub const DEFAULT_CHAOS_PERTURBATION: Ratio = Ratio::new(1, 10);

/// One line of the chaos timeline: a fault or process event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Virtual time of the event.
    pub time: Duration,
    /// The process concerned (`-` if none).
    pub process: String,
    /// The counter it was counted under (e.g. `"net.partition"`).
    pub kind: &'static str,
    /// What happened, in words.
    pub detail: String,
}

/// Entries kept in a timeline; later ones are counted but not kept.
pub(crate) const TIMELINE_ENTRIES_MAX: usize = 100_000;

/// A hook run when chaos stops.
type QuiesceHook = Box<dyn Fn(&World)>;

/// How the loop ended.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The workloads finished.
    Finished,
    /// The seed failed.
    Failed,
}

/// One seed's universe. See the module documentation.
pub(crate) struct World {
    /// Unique per world in this OS process; wakers check it.
    pub(crate) id: u64,
    pub(crate) seed: u64,
    pub(crate) config: WorldConfig,
    /// The effective ready-order perturbation of this seed.
    perturb_ready_order: Ratio,
    weak_self: Weak<World>,
    clock_ns: Cell<u64>,
    pub(crate) ready: RefCell<VecDeque<TaskId>>,
    pub(crate) tasks: RefCell<TaskTable>,
    pub(crate) events: RefCell<EventQueue>,
    rng: RefCell<ChaCha8Rng>,
    fingerprint: Cell<Fingerprint>,
    steps: Cell<u64>,
    pub(crate) processes: RefCell<ProcessTable>,
    /// The task being polled, and its process.
    current: Cell<Option<(TaskId, ProcessId)>>,
    /// Identity (data and vtable pointers, never dereferenced) of the waker
    /// of the task being polled: see [`WakeTarget`].
    current_waker: Cell<(*const (), *const RawWakerVTable)>,
    failure: RefCell<Option<SeedFailure>>,
    finished: Cell<bool>,
    /// Set once `failure` or `finished` is: the loop checks one flag.
    stop: Cell<bool>,
    recorder: RefCell<Option<Recorder>>,
    recording: Cell<bool>,
    /// Fault and process-event counts, by kind.
    counters: RefCell<BTreeMap<&'static str, u64>>,
    /// The chaos timeline, when asked for.
    timeline: RefCell<Option<Vec<TimelineEntry>>>,
    /// False once the workloads' run phase is over: no new faults.
    chaos_active: Cell<bool>,
    /// Run by `quiesce`: each fault source heals what it broke.
    quiesce_hooks: RefCell<Vec<QuiesceHook>>,
    /// Fault families and whether this seed has them on (swarm testing).
    fault_families: RefCell<BTreeMap<&'static str, bool>>,
    /// The simulated network.
    pub(crate) net: RefCell<NetState>,
    /// The simulated disks.
    pub(crate) storage: RefCell<StorageState>,
    /// Process lifecycle settings (the fault model).
    pub(crate) lifecycle: RefCell<LifecycleState>,
    /// Buggify: on or off for the seed, per-site activation and counts.
    pub(crate) buggify: RefCell<crate::buggify::BuggifyState>,
    /// Assertion counts of the seed, per site.
    pub(crate) assertions: RefCell<crate::assertions::AssertionState>,
    /// Set when every foreground workload's `run` phase has returned.
    run_phase_done: Cell<bool>,
    run_phase_waiters: RefCell<Vec<std::task::Waker>>,
}

static NEXT_WORLD_ID: AtomicU64 = AtomicU64::new(1);

impl World {
    pub(crate) fn new(seed: u64, config: WorldConfig) -> Rc<World> {
        Rc::new_cyclic(|weak_self| World {
            id: NEXT_WORLD_ID.fetch_add(1, Ordering::Relaxed),
            seed,
            perturb_ready_order: config.perturb_ready_order.unwrap_or(if config.chaos {
                DEFAULT_CHAOS_PERTURBATION
            } else {
                Ratio::ZERO
            }),
            weak_self: weak_self.clone(),
            clock_ns: Cell::new(0),
            ready: RefCell::new(VecDeque::new()),
            tasks: RefCell::new(TaskTable::default()),
            events: RefCell::new(EventQueue::default()),
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
            fingerprint: Cell::new(Fingerprint::new(seed)),
            steps: Cell::new(0),
            processes: RefCell::new(ProcessTable::default()),
            current: Cell::new(None),
            current_waker: Cell::new((std::ptr::null(), std::ptr::null())),
            failure: RefCell::new(None),
            finished: Cell::new(false),
            stop: Cell::new(false),
            recorder: RefCell::new(None),
            recording: Cell::new(false),
            counters: RefCell::new(BTreeMap::new()),
            chaos_active: Cell::new(true),
            quiesce_hooks: RefCell::new(Vec::new()),
            timeline: RefCell::new(config.record_timeline.then(Vec::new)),
            fault_families: RefCell::new(BTreeMap::new()),
            net: RefCell::new(NetState::default()),
            storage: RefCell::new(StorageState::default()),
            lifecycle: RefCell::new(LifecycleState::new(config.max_down)),
            buggify: RefCell::new(Default::default()),
            assertions: RefCell::new(Default::default()),
            run_phase_done: Cell::new(false),
            run_phase_waiters: RefCell::new(Vec::new()),
            config,
        })
    }

    /// Makes this world the thread's current one until the guard drops.
    pub(crate) fn enter(self: &Rc<World>) -> EnterGuard {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(Rc::clone(self)));
        EnterGuard {
            previous,
            _hook: moonpool_core::sim_hook::install(&crate::assertions::HOOK),
        }
    }

    // ----- clock -----

    /// Virtual nanoseconds since the start of the seed.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        self.clock_ns.get()
    }

    /// Virtual time since the start of the seed.
    pub(crate) fn now(&self) -> Duration {
        Duration::from_nanos(self.now_ns())
    }

    /// Schedules `callback` to run `delay` from now.
    pub(crate) fn schedule_in(&self, delay: Duration, callback: impl FnOnce(&World) + 'static) {
        let at = self
            .now_ns()
            .saturating_add(delay.as_nanos().min(u64::MAX as u128) as u64);
        self.events
            .borrow_mut()
            .schedule(at, Payload::Callback(Box::new(callback)));
    }

    // ----- randomness and fingerprint -----

    /// Folds `value` into the fingerprint (and the recording, if on).
    #[inline]
    pub(crate) fn fold(&self, what: Fold, value: u64) {
        let mut fp = self.fingerprint.get();
        fp.fold(what, value);
        self.fingerprint.set(fp);
        if self.recording.get() {
            self.record(what, value, fp);
        }
    }

    #[cold]
    fn record(&self, what: Fold, value: u64, fp: Fingerprint) {
        let name = match what {
            Fold::Poll | Fold::Spawn => {
                let id = TaskId {
                    index: value as u32,
                    generation: (value >> 32) as u32,
                };
                self.task_label(id)
            }
            _ => None,
        };
        if let Some(r) = self.recorder.borrow_mut().as_mut() {
            r.step(what, value, self.now_ns(), fp.raw(), name);
        }
    }

    /// The next raw random value; folded into the fingerprint.
    #[inline]
    pub(crate) fn draw_u64(&self) -> u64 {
        let v = self.rng.borrow_mut().next_u64();
        self.fold(Fold::Draw, v);
        v
    }

    /// The printable fingerprint so far.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint.get().finish()
    }

    /// Steps taken so far (polls + events fired).
    pub(crate) fn steps(&self) -> u64 {
        self.steps.get()
    }

    pub(crate) fn set_recorder(&self, recorder: Recorder) {
        *self.recorder.borrow_mut() = Some(recorder);
        self.recording.set(true);
    }

    pub(crate) fn take_recorder(&self) -> Option<Recorder> {
        self.recording.set(false);
        self.recorder.borrow_mut().take()
    }

    // ----- faults, counters, timeline -----

    /// Counts one `kind` event (a fault, a process event) and, if the
    /// timeline is on, records it with `detail()`.
    pub(crate) fn note(
        &self,
        kind: &'static str,
        process: Option<ProcessId>,
        detail: impl FnOnce() -> String,
    ) {
        *self.counters.borrow_mut().entry(kind).or_insert(0) += 1;
        let keep = matches!(&*self.timeline.borrow(), Some(e) if e.len() < TIMELINE_ENTRIES_MAX);
        // With a trace installed (`--trace`), every fault is also a trace
        // event stamped with simulated time; otherwise this costs one check.
        let traced = tracing::enabled!(target: "moonpool_sim::chaos", tracing::Level::DEBUG);
        if !keep && !traced {
            return;
        }
        let process = match process {
            Some(p) => self
                .processes
                .try_borrow()
                .ok()
                .and_then(|t| t.get(p).map(|i| i.name.to_string()))
                .unwrap_or_else(|| "?".to_string()),
            None => "-".to_string(),
        };
        let detail = detail();
        if traced {
            tracing::debug!(target: "moonpool_sim::chaos", kind, affected = %process, "{detail}");
        }
        if keep && let Some(entries) = self.timeline.borrow_mut().as_mut() {
            entries.push(TimelineEntry {
                time: self.now(),
                process,
                kind,
                detail,
            });
        }
    }

    /// Adds `delta` to the counter `kind` without a timeline entry: library
    /// metrics (through core's hook) and other bookkeeping.
    pub(crate) fn count(&self, kind: &'static str, delta: u64) {
        let mut counters = self.counters.borrow_mut();
        let c = counters.entry(kind).or_insert(0);
        *c = c.wrapping_add(delta);
    }

    /// The counters so far.
    pub(crate) fn counters(&self) -> BTreeMap<&'static str, u64> {
        self.counters.borrow().clone()
    }

    /// Records whether fault family `family` is on for this seed.
    pub(crate) fn set_fault_family(&self, family: &'static str, on: bool) {
        self.fault_families.borrow_mut().insert(family, on);
        self.fold(Fold::Mark, on as u64);
    }

    /// The fault families of this seed and whether each is on.
    pub(crate) fn fault_families(&self) -> BTreeMap<&'static str, bool> {
        self.fault_families.borrow().clone()
    }

    /// The recorded timeline (empty if it was off).
    pub(crate) fn take_timeline(&self) -> Vec<TimelineEntry> {
        self.timeline.borrow_mut().take().unwrap_or_default()
    }

    /// Whether faults may still be injected (the run phase is not over).
    #[inline]
    pub(crate) fn chaos_active(&self) -> bool {
        self.chaos_active.get()
    }

    /// Registers a hook `quiesce` runs to heal what a fault source broke.
    pub(crate) fn on_quiesce(&self, hook: impl Fn(&World) + 'static) {
        self.quiesce_hooks.borrow_mut().push(Box::new(hook));
    }

    /// Ends the chaos: no new faults from now on, and every fault source
    /// heals what it broke, so the checks see a system that can converge.
    pub(crate) fn quiesce(&self) {
        self.chaos_active.set(false);
        let hooks = std::mem::take(&mut *self.quiesce_hooks.borrow_mut());
        for hook in &hooks {
            hook(self);
        }
        self.note("sim.quiesce", None, || {
            "chaos stopped; checks begin".to_string()
        });
    }

    /// Whether every foreground workload's `run` phase has returned.
    pub(crate) fn run_phase_done(&self) -> bool {
        self.run_phase_done.get()
    }

    /// Marks the run phase done and wakes whoever waits for it.
    pub(crate) fn end_run_phase(&self) {
        self.run_phase_done.set(true);
        let waiters = std::mem::take(&mut *self.run_phase_waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }

    /// Registers `waker` to be woken when the run phase ends.
    pub(crate) fn wait_run_phase(&self, waker: &std::task::Waker) {
        self.run_phase_waiters.borrow_mut().push(waker.clone());
    }

    // ----- outcome -----

    /// Records the seed's failure (the first one wins) and stops the loop.
    pub(crate) fn fail(&self, failure: SeedFailure) {
        let mut slot = self.failure.borrow_mut();
        if slot.is_none() {
            tracing::debug!(%failure, "seed failed");
            *slot = Some(failure);
        }
        self.stop.set(true);
    }

    /// Marks the workloads finished and stops the loop.
    pub(crate) fn finish(&self) {
        self.finished.set(true);
        self.stop.set(true);
    }

    pub(crate) fn take_failure(&self) -> Option<SeedFailure> {
        self.failure.borrow_mut().take()
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.failure.borrow().is_some()
    }

    // ----- tasks -----

    /// Spawns `future` as a task of `process`.
    pub(crate) fn spawn<F>(
        &self,
        process: ProcessId,
        name: &str,
        future: F,
    ) -> SimJoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (body, slot) = join::wrap(future);
        let id = self.spawn_boxed(process, name.into(), body);
        SimJoinHandle::new(id, slot, self.weak_self.clone())
    }

    fn spawn_boxed(&self, process: ProcessId, name: Rc<str>, body: TaskFuture) -> TaskId {
        let id = self.tasks.borrow_mut().insert(self.id, process, name, body);
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
    pub(crate) fn cancel_tasks_of(&self, process: ProcessId) -> usize {
        let ids = self.tasks.borrow().ids_of(process);
        for id in &ids {
            self.cancel_task(*id);
        }
        ids.len()
    }

    /// The task being polled and its process, if any.
    pub(crate) fn current(&self) -> Option<(TaskId, ProcessId)> {
        self.current.get()
    }

    /// `process/task` for a live task.
    pub(crate) fn task_label(&self, id: TaskId) -> Option<Rc<str>> {
        let tasks = self.tasks.try_borrow().ok()?;
        let entry = tasks.get(id)?;
        let processes = self.processes.try_borrow().ok()?;
        let process = processes
            .get(entry.process)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| "?".into());
        Some(format!("{process}/{}", entry.name).into())
    }

    /// `process/task` labels of every live task, in slot order.
    pub(crate) fn live_task_labels(&self) -> Vec<String> {
        let tasks = self.tasks.borrow();
        let processes = self.processes.borrow();
        tasks
            .iter()
            .map(|(_, e)| {
                let process = processes.get(e.process).map(|p| &*p.name).unwrap_or("?");
                format!("{process}/{}", e.name)
            })
            .collect()
    }

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

    fn next_ready(&self) -> Option<TaskId> {
        let mut ready = self.ready.borrow_mut();
        let perturb = self.perturb_ready_order;
        if ready.len() > 1 && !perturb.is_zero() {
            // Randomly reorder: occasionally run some other ready task first.
            if crate::draw::bool(self, perturb) {
                let index = crate::draw::below(self, ready.len() as u64) as usize;
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
                    entry.flag.queued.store(false, Ordering::Relaxed);
                    match (entry.future.take(), entry.waker.take()) {
                        (Some(f), Some(w)) => Some((f, w, entry.process)),
                        _ => None,
                    }
                }
                None => None,
            }
        };
        let Some((mut future, waker, process)) = taken else {
            return; // stale id: the task finished or was cancelled
        };
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

    /// Runs the loop until the workloads finish or the seed fails.
    pub(crate) fn run(&self) -> Stop {
        let time_limit_ns = self.config.time_limit.as_nanos().min(u64::MAX as u128) as u64;
        loop {
            while let Some(id) = self.next_ready() {
                let steps = self.steps.get() + 1;
                self.steps.set(steps);
                if steps > self.config.step_limit {
                    self.fail(SeedFailure::StepLimit {
                        limit: self.config.step_limit,
                        sim_time: self.now(),
                    });
                    return Stop::Failed;
                }
                self.poll_task(id);
                if self.stop.get() {
                    return self.stop_reason();
                }
            }
            let next = self.events.borrow_mut().pop_due();
            let Some((deadline_ns, seq, due)) = next else {
                self.fail(SeedFailure::Deadlock {
                    sim_time: self.now(),
                    stuck: self.live_task_labels(),
                });
                return Stop::Failed;
            };
            if deadline_ns > time_limit_ns {
                self.clock_ns.set(time_limit_ns.max(self.now_ns()));
                self.fail(SeedFailure::TimeLimit {
                    limit: self.config.time_limit,
                    alive: self.live_task_labels(),
                });
                return Stop::Failed;
            }
            self.clock_ns.set(deadline_ns.max(self.now_ns()));
            self.steps.set(self.steps.get() + 1);
            self.fold(Fold::Event, seq);
            match due {
                Due::Timer(Some(target)) => self.wake(target),
                Due::Timer(None) => {}
                Due::Callback(callback) => callback(self),
                Due::Net(token) => crate::network::on_event(self, token),
            }
            if self.stop.get() {
                return self.stop_reason();
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
    }
}
