//! # Layer 1: the kernel
//!
//! The deterministic engine every seed runs on: virtual time, the
//! executor, the event queue, the seed's generator and the fingerprint. It
//! knows nothing of networks, disks, workloads or command lines: a model
//! talks to it through tasks, timers, callbacks and opaque *model events*.
//!
//! **May import:** `std`, `moonpool-core`, its own modules.
//! **May not import:** `model`, `nemesis`, `runner`, `trace`, `cli`,
//! `report` (checked by `tests/layers.rs`).
//!
//! # Modules
//! - this file: [`Kernel`], one seed's clock, ready queue, task table,
//!   event queue, generator, fingerprint, determinism recorder, failure
//!   slot, fault counters and timeline (generic data: kinds and strings).
//! - `run.rs`: spawning, waking, polling, and the event loop
//!   ([`Kernel::run`]).
//! - `process.rs`: [`ProcessId`] and what the kernel knows of a process
//!   (name, incarnation, alive).
//! - `executor/`: the task table, wakers, join handles.
//! - `time/`: the event queue and `Sleep`.
//! - `fingerprint.rs`, `determinism.rs`: the running hash, and the step
//!   recorder that names the first divergence of two runs.
//! - `draw.rs`: the simulator's own random draws.
//! - `failure.rs`: [`SeedFailure`], why a seed failed.
//! - `watchdog.rs`: the process-wide watchdog that ends a run whose
//!   thread a task blocked (`block_on` inside a simulation).
//! - `faults.rs`: [`FaultSelection`](faults::FaultSelection), the run's
//!   overrides of the seed's fault-family and buggify-site draws.
//!
//! # Model events
//! A model schedules an event with a `u64` token
//! ([`Payload::Model`](time::Payload::Model)); when it fires, the loop
//! hands the token back to the model through [`ModelEvents::on_event`].
//! [`Kernel::run`] is generic over the model, so this costs a direct call:
//! no allocation, no dynamic dispatch, on the simulator's hottest path.
//!
//! # The current kernel
//! While a seed runs, its kernel is the thread's *current* kernel
//! ([`Kernel::enter`]): task wakers, which must be `Send + Sync` and so
//! cannot hold an `Rc`, find their ready queue through it, and the trace
//! layer reads the clock and the current task from it. The models layer
//! keeps its own current world beside it, for the hooks `moonpool-core`'s
//! macros call.
//!
//! # Invariants
//! - Nothing here reads the OS clock or OS entropy; the only source of
//!   nondeterminism is `rng`, seeded from the seed.
//! - Every `RefCell` here is borrowed only for a bounded, non-reentrant
//!   stretch of simulator code, never across a poll or a drop of user
//!   values (futures, wakers' owners, callbacks).
//! - The clock never moves backwards (asserted where it moves, in
//!   `run.rs`).

pub(crate) mod determinism;
pub(crate) mod draw;
pub(crate) mod executor;
pub(crate) mod failure;
pub(crate) mod faults;
pub(crate) mod fingerprint;
pub(crate) mod process;
mod run;
pub(crate) mod time;
pub(crate) mod timeline;
pub(crate) mod watchdog;

pub use timeline::TimelineEntry;
use timeline::{Mark, Marks, TIMELINE_ENTRIES_MAX};

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::RawWakerVTable;
use std::thread::LocalKey;
use std::time::Duration;

use moonpool_core::Ratio;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use determinism::Recorder;
use executor::{TaskId, TaskTable};
use failure::SeedFailure;
use fingerprint::{Fingerprint, Fold};
use process::{ProcessId, ProcessRegistry};
use time::{EventQueue, Payload};

pub(crate) use run::{ModelEvents, Stop};

thread_local! {
    static CURRENT: CurrentSlot<Kernel> = const { RefCell::new(None) };
}

/// A thread's *current* value of some kind (its kernel, its world).
pub(crate) type CurrentSlot<T> = RefCell<Option<Rc<T>>>;

/// Makes a value the thread's current one of its kind until dropped, then
/// restores the previous one (worlds may nest: a seed run inside a test
/// that runs a seed).
pub(crate) struct Entered<T: 'static> {
    slot: &'static LocalKey<CurrentSlot<T>>,
    previous: Option<Rc<T>>,
}

impl<T: 'static> Entered<T> {
    /// Makes `value` current in `slot`.
    pub(crate) fn enter(slot: &'static LocalKey<CurrentSlot<T>>, value: &Rc<T>) -> Entered<T> {
        let previous = slot.with(|c| c.borrow_mut().replace(Rc::clone(value)));
        Entered { slot, previous }
    }
}

impl<T: 'static> Drop for Entered<T> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        self.slot.with(|c| *c.borrow_mut() = previous);
    }
}

/// Runs `f` with the thread's current kernel, if there is one.
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Kernel>) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(f))
}

/// Limits and knobs of one kernel, resolved by the runner before the seed
/// starts.
#[derive(Clone, Debug)]
pub(crate) struct KernelConfig {
    pub(crate) time_limit: Duration,
    pub(crate) step_limit: u64,
    /// Probability that the next task polled is a random ready task rather
    /// than the oldest one.
    pub(crate) perturb_ready_order: Ratio,
    /// Whether to keep the timeline (for a single replayed seed).
    pub(crate) record_timeline: bool,
    /// Overrides of the seed's fault decisions (`--faults`, ...).
    pub(crate) faults: faults::FaultSelection,
    /// Whether to keep marks for the timeline picture.
    pub(crate) record_marks: bool,
}

/// One seed's deterministic engine. See the module documentation.
pub(crate) struct Kernel {
    /// Unique per kernel in this OS process; wakers check it.
    pub(crate) id: u64,
    pub(crate) seed: u64,
    pub(crate) config: KernelConfig,
    weak_self: Weak<Kernel>,
    clock_ns: Cell<u64>,
    pub(crate) ready: RefCell<VecDeque<TaskId>>,
    pub(crate) tasks: RefCell<TaskTable>,
    pub(crate) events: RefCell<EventQueue>,
    rng: RefCell<ChaCha8Rng>,
    fingerprint: Cell<Fingerprint>,
    steps: Cell<u64>,
    /// Bound of the extra delay a timer may get (FoundationDB's
    /// `MAX_BUGGIFIED_DELAY`); zero: timers are never delayed, and draw
    /// nothing.
    buggified_delay_ns_max: Cell<u64>,
    /// Names, incarnations and liveness of the processes that own tasks.
    pub(crate) processes: RefCell<ProcessRegistry>,
    /// The task being polled, and its process.
    current: Cell<Option<(TaskId, ProcessId)>>,
    /// Identity (data and vtable pointers, never dereferenced) of the waker
    /// of the task being polled: see [`WakeTarget`](executor::WakeTarget).
    current_waker: Cell<(*const (), *const RawWakerVTable)>,
    failure: RefCell<Option<SeedFailure>>,
    finished: Cell<bool>,
    /// Set once `failure` or `finished` is: the loop checks one flag.
    stop: Cell<bool>,
    /// Set by teardown: the seed is over, and anything still holding this
    /// kernel (providers stashed in a static) must not use it.
    retired: Cell<bool>,
    recorder: RefCell<Option<Recorder>>,
    recording: Cell<bool>,
    /// Fault and process-event counts, by kind.
    counters: RefCell<BTreeMap<&'static str, u64>>,
    /// The chaos timeline, when asked for.
    timeline: RefCell<Option<Vec<TimelineEntry>>>,
    /// Marks for the timeline picture, when asked for.
    marks: RefCell<Option<Marks>>,
    /// The loop's sign of life for the watchdog (a blocked thread).
    pub(crate) heartbeat: std::sync::Arc<watchdog::Heartbeat>,
    /// Fault families and whether this seed has them on (swarm testing).
    fault_families: RefCell<BTreeMap<&'static str, bool>>,
}

static NEXT_KERNEL_ID: AtomicU64 = AtomicU64::new(1);

#[cold]
#[track_caller]
fn stale_use(seed: u64, what: &str) -> ! {
    panic!(
        "{what} on the providers of seed {seed:#x}, which has ended: providers (and \
         their timers) belong to the seed that made them; these were kept (in a \
         static or a thread_local?) and used in a later seed, where they would \
         draw from and schedule on a dead world. Keep per-seed state in values \
         your main or workload creates"
    )
}

impl Kernel {
    pub(crate) fn new(seed: u64, config: KernelConfig) -> Rc<Kernel> {
        Rc::new_cyclic(|weak_self| Kernel {
            id: NEXT_KERNEL_ID.fetch_add(1, Ordering::Relaxed),
            seed,
            weak_self: weak_self.clone(),
            clock_ns: Cell::new(0),
            ready: RefCell::new(VecDeque::new()),
            tasks: RefCell::new(TaskTable::default()),
            events: RefCell::new(EventQueue::default()),
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
            fingerprint: Cell::new(Fingerprint::new(seed)),
            steps: Cell::new(0),
            buggified_delay_ns_max: Cell::new(0),
            processes: RefCell::new(ProcessRegistry::default()),
            current: Cell::new(None),
            current_waker: Cell::new((std::ptr::null(), std::ptr::null())),
            failure: RefCell::new(None),
            finished: Cell::new(false),
            stop: Cell::new(false),
            retired: Cell::new(false),
            recorder: RefCell::new(None),
            recording: Cell::new(false),
            counters: RefCell::new(BTreeMap::new()),
            timeline: RefCell::new(config.record_timeline.then(Vec::new)),
            marks: RefCell::new(config.record_marks.then(Marks::default)),
            heartbeat: watchdog::watch(seed),
            fault_families: RefCell::new(BTreeMap::new()),
            config,
        })
    }

    /// Makes this kernel the thread's current one until the guard drops.
    pub(crate) fn enter(self: &Rc<Kernel>) -> Entered<Kernel> {
        Entered::enter(&CURRENT, self)
    }

    /// Panics with what happened when `what` is asked of a kernel whose
    /// seed is over: code kept providers (or a timer) of an earlier seed,
    /// in a static or a thread-local, and used them in a later one, where
    /// they would draw from and schedule on a dead world. The panic fails
    /// the seed that did it (the runner reports it with this message).
    #[inline]
    #[track_caller]
    pub(crate) fn ensure_live(&self, what: &str) {
        if self.retired.get() {
            stale_use(self.seed, what);
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
    pub(crate) fn schedule_in(&self, delay: Duration, callback: impl FnOnce() + 'static) {
        let at = self
            .now_ns()
            .saturating_add(delay.as_nanos().min(u64::MAX as u128) as u64);
        self.events
            .borrow_mut()
            .schedule(at, Payload::Callback(Box::new(callback)));
    }

    /// Schedules the model event `token` at `at` (virtual nanoseconds),
    /// which is not in the past: the loop asserts, when the event fires,
    /// that the clock moves forward to it.
    #[inline]
    pub(crate) fn schedule_model_event(&self, at: u64, token: u64) {
        debug_assert!(
            at >= self.now_ns(),
            "model event scheduled in the past: {at} < now {}",
            self.now_ns()
        );
        self.events.borrow_mut().schedule(at, Payload::Model(token));
    }

    /// Sets the bound of buggified timer delays (zero: off). See
    /// [`time::buggified_delay`].
    pub(crate) fn set_buggified_delay_max(&self, max: Duration) {
        let ns = max.as_nanos().min(u64::MAX as u128) as u64;
        self.buggified_delay_ns_max.set(ns);
    }

    /// The bound of buggified timer delays, in nanoseconds (zero: off).
    #[inline]
    pub(crate) fn buggified_delay_ns_max(&self) -> u64 {
        self.buggified_delay_ns_max.get()
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
        if let Some(r) = self.recorder.borrow_mut().as_mut() {
            r.step(what, value, self.now_ns(), fp.raw(), || {
                self.task_label(TaskId::from_u64(value))
            });
        }
    }

    /// Folds the firing of event `seq` at `time_ns` (the clock's value)
    /// into the fingerprint: its sequence number and its time. One step of
    /// the recording.
    #[inline]
    pub(crate) fn fold_event(&self, seq: u64, time_ns: u64) {
        let mut fp = self.fingerprint.get();
        fp.fold(Fold::Event, seq);
        fp.fold(Fold::Time, time_ns);
        self.fingerprint.set(fp);
        if self.recording.get() {
            self.record(Fold::Event, seq, fp);
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

    // ----- processes -----

    /// Registers a process named `name` (alive, incarnation 0).
    pub(crate) fn add_process(&self, name: Rc<str>) -> ProcessId {
        self.processes.borrow_mut().add(name)
    }

    /// The name of `process`, if the registry is not borrowed elsewhere.
    pub(crate) fn process_name(&self, process: ProcessId) -> Option<Rc<str>> {
        self.processes.try_borrow().ok()?.name(process).cloned()
    }

    /// Whether `process` is alive in incarnation `incarnation`.
    #[inline]
    pub(crate) fn is_current(&self, process: ProcessId, incarnation: u32) -> bool {
        self.processes.borrow().is_current(process, incarnation)
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
        self.note_mark(kind, process, || Mark::text(detail()));
    }

    /// [`Kernel::note`] with the structured part of the entry (the end of
    /// a clog, the id pairing a partition with its heal, the processes on
    /// either side), for the timeline picture.
    pub(crate) fn note_mark(
        &self,
        kind: &'static str,
        process: Option<ProcessId>,
        mark: impl FnOnce() -> Mark,
    ) {
        *self.counters.borrow_mut().entry(kind).or_insert(0) += 1;
        let keep = matches!(&*self.timeline.borrow(), Some(e) if e.len() < TIMELINE_ENTRIES_MAX);
        // With a trace installed (`--trace`), every fault is also a trace
        // event stamped with simulated time; otherwise this costs one check.
        let traced = tracing::enabled!(target: "moonpool_sim::chaos", tracing::Level::DEBUG);
        if !keep && !traced {
            return;
        }
        let process = self.entry_name(process);
        let mark = mark();
        if traced {
            tracing::debug!(target: "moonpool_sim::chaos", kind, affected = %process, "{}", mark.detail);
        }
        if keep && let Some(entries) = self.timeline.borrow_mut().as_mut() {
            entries.push(TimelineEntry {
                time: self.now(),
                process,
                kind,
                detail: mark.detail,
                end: mark.end,
                pair: mark.pair,
                peers: mark.peers,
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

    /// Decides fault family `family` for this seed: the seed drew `drawn`;
    /// the run's [`FaultSelection`](faults::FaultSelection) may override
    /// it. Records and returns the decision, which the caller must follow.
    #[must_use = "the selection may have overridden the draw"]
    pub(crate) fn set_fault_family(&self, family: &'static str, drawn: bool) -> bool {
        let on = self.config.faults.family_on(family, drawn);
        let previous = self.fault_families.borrow_mut().insert(family, on);
        debug_assert!(previous.is_none(), "fault family {family} decided twice");
        self.fold(Fold::Mark, on as u64);
        on
    }

    /// The fault families of this seed and whether each is on.
    pub(crate) fn fault_families(&self) -> BTreeMap<&'static str, bool> {
        self.fault_families.borrow().clone()
    }

    /// Whether fault family `family` has been decided for this seed.
    pub(crate) fn fault_families_decided(&self, family: &str) -> bool {
        self.fault_families.borrow().contains_key(family)
    }

    /// Whether fault family `family` is on for this seed.
    pub(crate) fn fault_family_on(&self, family: &str) -> bool {
        self.fault_families
            .borrow()
            .get(family)
            .copied()
            .unwrap_or(false)
    }

    /// The recorded timeline (empty if it was off).
    pub(crate) fn take_timeline(&self) -> Vec<TimelineEntry> {
        self.timeline.borrow_mut().take().unwrap_or_default()
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
}
