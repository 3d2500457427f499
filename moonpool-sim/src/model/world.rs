//! The world: one seed's kernel and everything the models keep on it.
//!
//! # Types
//! - [`World`]: the [`Kernel`] (clock, tasks, events, generator,
//!   fingerprint) plus the models' state: processes, network, storage,
//!   the processes' clocks, lifecycle settings, buggify, assertion counts, and the chaos window
//!   (the run phase, quiesce). Shared as `Rc<World>` by every simulated
//!   provider; one per seed, thrown away afterwards, so nothing leaks from
//!   seed to seed. A `World` dereferences to its kernel: `world.now_ns()`
//!   is the kernel's clock.
//! - [`EnterGuard`]: makes a world the thread's *current* world (what
//!   `buggify!` and the assertion macros reach, through the hook installed
//!   in `moonpool-core`) and its kernel the current kernel, for its
//!   lifetime.
//!
//! # The loop
//! [`World::run`] runs the kernel's loop with this world as the model: a
//! network event the kernel pops comes back to [`ModelEvents::on_event`],
//! a direct (monomorphized) call.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Deref;
use std::rc::Rc;
use std::task::Waker;

use super::assertions::AssertionState;
use super::buggify::BuggifyState;
use super::clock::{ClockConfig, Clocks};
use super::network::{NetState, NetworkConfig};
use super::process::ProcessTable;
use super::process::lifecycle::LifecycleState;
use super::storage::{StorageConfig, StorageState};
use super::values::SeedValues;
use crate::kernel::process::ProcessId;
use crate::kernel::{CurrentSlot, Entered, Kernel, KernelConfig, ModelEvents, Stop};

thread_local! {
    static CURRENT: CurrentSlot<World> = const { RefCell::new(None) };
}

/// Runs `f` with the thread's current world, if there is one (directly
/// through the `thread_local!`, which inlines: every buggify and assertion
/// evaluation comes here).
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<World>) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(f))
}

/// Restores the previous current world, kernel and buggify/assertion hook
/// when dropped (in that order).
pub(crate) struct EnterGuard {
    _world: Entered<World>,
    _kernel: Entered<Kernel>,
    _hook: moonpool_core::sim_hook::HookGuard,
}

/// What the models of one world are configured with.
#[derive(Clone, Debug)]
pub(crate) struct WorldConfig {
    /// Whether this seed runs the chaos profile (faults sampled per seed)
    /// or the quiet configuration. Decided by the runner's plan; the
    /// models only read it.
    pub(crate) chaos: bool,
    pub(crate) network: NetworkConfig,
    pub(crate) storage: StorageConfig,
    pub(crate) clocks: ClockConfig,
    /// The fault model: server processes that may be down at once.
    pub(crate) max_down: Option<usize>,
}

/// A hook run when chaos stops.
type QuiesceHook = Box<dyn Fn(&World)>;

/// One seed's universe. See the module documentation.
pub(crate) struct World {
    pub(crate) kernel: Rc<Kernel>,
    pub(crate) config: WorldConfig,
    /// IP, kind, `main` and exit of every process.
    pub(crate) process_table: RefCell<ProcessTable>,
    /// The simulated network.
    pub(crate) net: RefCell<NetState>,
    /// The simulated disks.
    pub(crate) storage: RefCell<StorageState>,
    /// Every process's clock.
    pub(crate) clocks: Clocks,
    /// Process lifecycle settings (the fault model).
    pub(crate) lifecycle: RefCell<LifecycleState>,
    /// Buggify: on or off for the seed, per-site activation and counts.
    pub(crate) buggify: RefCell<BuggifyState>,
    /// Assertion counts of the seed, per site.
    pub(crate) assertions: RefCell<AssertionState>,
    /// Faults whose every target is a process of the system under test,
    /// by kind (the report's fault budget).
    system_hits: RefCell<BTreeMap<&'static str, u64>>,
    /// False once the workloads' run phase is over: no new faults.
    chaos_active: Cell<bool>,
    /// Run by `quiesce`: each fault source heals what it broke.
    quiesce_hooks: RefCell<Vec<QuiesceHook>>,
    /// Set when every foreground workload's `run` phase has returned.
    run_phase_done: Cell<bool>,
    /// Who waits for the run phase to end, one slot per waiting future
    /// (freed when the future is dropped, so a seed's memory does not
    /// grow with the number of `pause` calls).
    run_phase_waiters: RefCell<Waiters>,
    /// Values workloads recorded for the report.
    pub(crate) values: RefCell<SeedValues>,
}

impl Deref for World {
    type Target = Kernel;

    #[inline]
    fn deref(&self) -> &Kernel {
        &self.kernel
    }
}

impl ModelEvents for World {
    #[inline]
    fn on_event(&self, token: u64) {
        super::network::on_event(self, token);
    }
}

impl World {
    pub(crate) fn new(seed: u64, kernel: KernelConfig, config: WorldConfig) -> Rc<World> {
        Rc::new(World {
            kernel: Kernel::new(seed, kernel),
            process_table: RefCell::new(ProcessTable::default()),
            net: RefCell::new(NetState::default()),
            storage: RefCell::new(StorageState::default()),
            clocks: Clocks::default(),
            lifecycle: RefCell::new(LifecycleState::new(config.max_down)),
            buggify: RefCell::new(Default::default()),
            assertions: RefCell::new(Default::default()),
            system_hits: RefCell::new(BTreeMap::new()),
            chaos_active: Cell::new(true),
            quiesce_hooks: RefCell::new(Vec::new()),
            run_phase_done: Cell::new(false),
            run_phase_waiters: RefCell::new(Waiters::default()),
            values: RefCell::new(SeedValues::default()),
            config,
        })
    }

    /// Makes this world (and its kernel) the thread's current one until
    /// the guard drops.
    pub(crate) fn enter(self: &Rc<World>) -> EnterGuard {
        let kernel = self.kernel.enter();
        EnterGuard {
            _world: Entered::enter(&CURRENT, self),
            _kernel: kernel,
            _hook: moonpool_core::sim_hook::install(&super::assertions::HOOK),
        }
    }

    /// Runs the kernel's loop until the workloads finish or the seed fails.
    pub(crate) fn run(&self) -> Stop {
        self.kernel.run(self)
    }

    // ----- faults and the system under test -----

    /// Counts one `kind` event, as the kernel's `Kernel::note` does (counter,
    /// timeline, trace), and also as a hit on the system under test when
    /// `process` is one of its processes. Every model notes its faults
    /// through here: this method shadows the kernel's on purpose, so that
    /// no fault escapes the fault budget.
    pub(crate) fn note(
        &self,
        kind: &'static str,
        process: Option<ProcessId>,
        detail: impl FnOnce() -> String,
    ) {
        let on_system = process.is_some_and(|p| self.is_system_process(p));
        self.note_hit(kind, process, on_system, detail);
    }

    /// [`World::note`] for a fault that acts on more than one process (a
    /// partition, a clogged pair): `on_system` says whether every process
    /// it acts on belongs to the system under test.
    pub(crate) fn note_hit(
        &self,
        kind: &'static str,
        process: Option<ProcessId>,
        on_system: bool,
        detail: impl FnOnce() -> String,
    ) {
        self.note_hit_mark(kind, process, on_system, || {
            crate::kernel::timeline::Mark::text(detail())
        });
    }

    /// [`World::note_hit`] with the structured part of the timeline entry
    /// (a clog's end, a partition's id and sides) for the timeline picture.
    pub(crate) fn note_hit_mark(
        &self,
        kind: &'static str,
        process: Option<ProcessId>,
        on_system: bool,
        mark: impl FnOnce() -> crate::kernel::timeline::Mark,
    ) {
        if on_system {
            *self.system_hits.borrow_mut().entry(kind).or_insert(0) += 1;
        }
        self.kernel.note_mark(kind, process, mark);
    }

    /// The faults counted so far that hit only the system under test, by
    /// kind.
    pub(crate) fn system_hits(&self) -> BTreeMap<&'static str, u64> {
        self.system_hits.borrow().clone()
    }

    /// Whether `process` belongs to the system under test (a server or a
    /// foreground workload's client).
    pub(crate) fn is_system_process(&self, process: ProcessId) -> bool {
        self.process_table
            .try_borrow()
            .is_ok_and(|t| t.is_system(process))
    }

    /// Whether the process at `ip` belongs to the system under test.
    pub(crate) fn is_system_ip(&self, ip: IpAddr) -> bool {
        let id = self
            .process_table
            .try_borrow()
            .ok()
            .and_then(|t| t.by_ip(ip));
        id.is_some_and(|p| self.is_system_process(p))
    }

    // ----- the chaos window -----

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
        let waiters = self.run_phase_waiters.borrow_mut().take_all();
        for w in waiters {
            w.wake();
        }
    }

    /// Registers `waker` in `slot` (a slot this caller got earlier, or a
    /// new one) to be woken when the run phase ends; returns the slot.
    pub(crate) fn wait_run_phase(&self, slot: Option<usize>, waker: &Waker) -> usize {
        self.run_phase_waiters.borrow_mut().register(slot, waker)
    }

    /// Frees a slot of [`World::wait_run_phase`] (its future is dropped).
    pub(crate) fn stop_waiting_run_phase(&self, slot: usize) {
        if let Ok(mut waiters) = self.run_phase_waiters.try_borrow_mut() {
            waiters.free(slot);
        }
    }

    /// Slots of run-phase waiters in use (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn run_phase_waiter_slots(&self) -> usize {
        self.run_phase_waiters.borrow().slots.len()
    }
}

/// Wakers in reusable slots: registering in a freed slot reuses it, so the
/// storage is bounded by the most futures waiting at once.
#[derive(Default)]
pub(crate) struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Waiters {
    fn register(&mut self, slot: Option<usize>, waker: &Waker) -> usize {
        if let Some(i) = slot
            && let Some(entry) = self.slots.get_mut(i)
        {
            match entry {
                Some(w) if w.will_wake(waker) => {}
                _ => *entry = Some(waker.clone()),
            }
            return i;
        }
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(waker.clone());
                i
            }
            None => {
                self.slots.push(Some(waker.clone()));
                self.slots.len() - 1
            }
        }
    }

    fn free(&mut self, slot: usize) {
        if let Some(entry) = self.slots.get_mut(slot)
            && entry.take().is_some()
        {
            self.free.push(slot);
        }
    }

    fn take_all(&mut self) -> Vec<Waker> {
        self.free.clear();
        std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect()
    }
}
