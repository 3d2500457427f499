//! [`SweepRunner`]: one sweep on several threads, reported as if it ran
//! on one.
//!
//! # Design
//! A simulation is `!Send` (its processes and workloads are `Rc`
//! closures, and a world is the thread's current one), so nothing
//! simulated crosses threads: each worker thread calls the build closure
//! once and runs whole seeds in its own worlds. What crosses is plain
//! data: a seed's *position* in the plan (handed out in increasing order
//! by one [`Dispatch`]) going out, its [`SeedReport`] coming back.
//!
//! The calling thread consumes the reports **in plan order** (a reorder
//! buffer holds the ones that finish early) through the same `Consumer`
//! as the one-thread loop: the sweep report, the observer, the failure
//! limit and the stop condition see exactly the sequence they would see
//! with one job. So everything a report says about seeds is identical
//! whatever the job count; only wall-clock figures differ.
//!
//! # Stopping
//! - A failure limit or a stop condition ends the sweep at the first plan
//!   position where it holds, as with one job; seeds that later positions
//!   ran (workers run ahead) are discarded. A failure seen ahead of the
//!   consumer lowers the *horizon*: no seed past the failure that would
//!   reach the limit is started.
//! - The time budget closes the dispatch: no seed starts once it is spent
//!   (position 0 always does). Workers claim short runs of positions and
//!   ask before each seed; the seeds a closing leaves unrun make a gap,
//!   and the sweep reports the seeds before the first gap: always a
//!   prefix of the plan.
//! - A worker never interrupts a seed: stopping waits for the seeds being
//!   run (one per worker) to end.
//!
//! Workers claim runs of positions (shorter near the plan's end) and send
//! reports back in batches, so the lock and the channel are touched a few
//! times per batch, not per seed: a seed of W4 takes about 15 µs.
//!
//! # Limits
//! Workers never run more than [`AHEAD_MAX`] positions past the oldest
//! report not yet consumed, so the reorder buffer and the channel hold at
//! most that many reports however long one seed takes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::plan::{SweepPlan, Until};
use super::report::{StopReason, SweepReport};
use super::run::{Consumer, Silent, StopCondition, SweepObserver, stop_or_goal};
use crate::runner::builder::{SeedSettings, Simulation};
use crate::runner::report::SeedReport;

/// How far (in plan positions) workers may run ahead of the oldest seed
/// whose report the sweep has not consumed yet.
pub const AHEAD_MAX: u64 = 1_024;

/// The number of jobs a sweep uses when none is given: the cores this
/// process may use (`std::thread::available_parallelism`), at least 1.
pub fn available_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Runs sweeps on `jobs` threads, each with its own [`Simulation`] made by
/// the build closure. See the [module documentation](self).
///
/// ```
/// # use moonpool_sim::{SimContext, SimulationBuilder, SweepPlan, SweepRunner, Workload, WorkloadResult, ConfigError, Simulation};
/// # use moonpool_core::TimeProvider;
/// struct Nap;
/// impl Workload for Nap {
///     async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
///         ctx.providers().sleep(std::time::Duration::from_millis(5)).await;
///         Ok(())
///     }
/// }
/// fn build() -> Result<Simulation, ConfigError> {
///     SimulationBuilder::new().workload("nap", 2, |_| Nap).build()
/// }
/// let plan = SweepPlan::range(1, 40);
/// let one = SweepRunner::new(build).sweep(&plan).unwrap();
/// let four = SweepRunner::new(build).jobs(4).sweep(&plan).unwrap();
/// assert_eq!(one.results, four.results); // same seeds, same fingerprints, same order
/// ```
pub struct SweepRunner<B> {
    build: B,
    jobs: usize,
}

impl<B, E> SweepRunner<B>
where
    B: Fn() -> Result<Simulation, E> + Sync,
    E: Send,
{
    /// A runner building its simulations with `build` (called once per
    /// worker thread, and once on the calling thread), with one job.
    pub fn new(build: B) -> SweepRunner<B> {
        SweepRunner { build, jobs: 1 }
    }

    /// Runs seeds on `jobs` threads (0 counts as 1).
    #[must_use]
    pub fn jobs(mut self, jobs: usize) -> SweepRunner<B> {
        self.jobs = jobs.max(1);
        self
    }

    /// The job count.
    pub fn job_count(&self) -> usize {
        self.jobs
    }

    /// Runs every seed of `plan` and reports, as [`Simulation::sweep`]
    /// does. An error of the build closure ends the sweep with that error.
    pub fn sweep(&self, plan: &SweepPlan) -> Result<SweepReport, E> {
        self.sweep_with(plan, &mut Silent, None)
    }

    /// [`SweepRunner::sweep`], telling `observer` about every seed in plan
    /// order, as [`Simulation::sweep_with`] does.
    pub fn sweep_with(
        &self,
        plan: &SweepPlan,
        observer: &mut dyn SweepObserver,
        stop: Option<&mut dyn StopCondition>,
    ) -> Result<SweepReport, E> {
        let sim = (self.build)()?;
        let workers = (self.jobs as u64).min(plan.seeds_planned());
        if workers <= 1 {
            return Ok(sim.sweep_with(plan, observer, stop));
        }
        let settings = sim.settings_for(plan);
        let mut until_goal = plan.until.map(Until::condition);
        let stop = stop_or_goal(stop, &mut until_goal);
        let consumer = Consumer::new(plan, settings.chaos, sim.coverage(), observer, stop);
        drop(sim);
        let dispatch = Dispatch::new(plan, consumer.started(), workers);
        let (sender, receiver) = mpsc::channel::<Message<E>>();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let sender = sender.clone();
                let dispatch = &dispatch;
                let settings = &settings;
                scope.spawn(move || self.work(plan, settings, dispatch, &sender));
            }
            drop(sender);
            let result = consume(plan, consumer, &dispatch, &receiver);
            // Wake and release every worker before the scope joins them.
            dispatch.close(Closed::Done);
            drop(receiver);
            result
        })
    }

    /// One worker: build a simulation, then run the positions handed out
    /// until there are none left, sending the reports back in batches.
    fn work(
        &self,
        plan: &SweepPlan,
        settings: &SeedSettings,
        dispatch: &Dispatch,
        sender: &mpsc::Sender<Message<E>>,
    ) {
        let sim = match (self.build)() {
            Ok(sim) => sim,
            Err(e) => {
                let _ = sender.send(Message::BuildFailed(e));
                dispatch.close(Closed::Done);
                return;
            }
        };
        let run = || {
            let mut batch: Vec<(u64, SeedReport)> = Vec::with_capacity(BATCH_SEEDS_MAX);
            let mut last_sent = Instant::now();
            // Sends the batch; false once the consumer has gone.
            let flush = |batch: &mut Vec<(u64, SeedReport)>, last_sent: &mut Instant| {
                *last_sent = Instant::now();
                sender.send(Message::Seeds(fresh_batch(batch))).is_ok()
            };
            'claims: while let Some(positions) = dispatch.claim() {
                for position in positions {
                    if !dispatch.may_start(position) {
                        break 'claims;
                    }
                    let Some(seed) = plan.seed_at_position(position) else {
                        break 'claims;
                    };
                    batch.push((position, sim.run_planned_seed(seed, plan, settings)));
                    let due =
                        batch.len() >= BATCH_SEEDS_MAX || last_sent.elapsed() >= BATCH_WAIT_MAX;
                    if due && !flush(&mut batch, &mut last_sent) {
                        return;
                    }
                }
                // A batch never spans two claimed runs: its positions
                // are consecutive.
                if !batch.is_empty() && !flush(&mut batch, &mut last_sent) {
                    return;
                }
            }
            if !batch.is_empty() {
                let _ = sender.send(Message::Seeds(batch));
            }
        };
        match &plan.trace {
            Some(sink) => crate::trace::with_sink(sink, run),
            None => run(),
        }
    }
}

/// The reports gathered in `batch`, leaving an empty batch of full
/// capacity in its place (no regrowth per seed).
fn fresh_batch(batch: &mut Vec<(u64, SeedReport)>) -> Vec<(u64, SeedReport)> {
    std::mem::replace(batch, Vec::with_capacity(BATCH_SEEDS_MAX))
}

/// Reports a worker sends back at once, at most.
const BATCH_SEEDS_MAX: usize = 128;
/// A worker sends what it has at least this often (progress stays live
/// when seeds are slow).
const BATCH_WAIT_MAX: Duration = Duration::from_millis(20);
/// Positions a worker claims at once, at most.
const CLAIM_SEEDS_MAX: u64 = 256;

/// What a worker sends back.
enum Message<E> {
    /// Reports of seeds at consecutive plan positions, with their
    /// positions.
    Seeds(Vec<(u64, SeedReport)>),
    /// The build closure failed on a worker.
    BuildFailed(E),
}

/// Why the dispatch stopped handing out positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closed {
    /// The time budget was spent.
    Budget,
    /// The sweep is over (stopped, failed to build, or finished).
    Done,
}

/// Which positions are handed out next.
#[derive(Debug)]
struct DispatchState {
    /// The next position to hand out.
    next: u64,
    /// Positions in the plan.
    end: u64,
    /// Positions consumed by the sweep, in order.
    consumed: u64,
    /// Workers waiting for the consumer to catch up.
    waiting: u32,
    closed: Option<Closed>,
}

/// The positions of a sweep, handed out in increasing runs under one
/// lock; the horizon and the closing are also atomics, read by workers
/// between seeds without the lock.
struct Dispatch {
    state: Mutex<DispatchState>,
    /// Signalled when the consumer moves on or the dispatch closes.
    progress: Condvar,
    /// No position past this one is started (a failure limit is reached
    /// at or before it).
    horizon: AtomicU64,
    closed: AtomicBool,
    workers: u64,
    started: Instant,
    budget: Option<Duration>,
}

impl Dispatch {
    fn new(plan: &SweepPlan, started: Instant, workers: u64) -> Dispatch {
        Dispatch {
            state: Mutex::new(DispatchState {
                next: 0,
                end: plan.seeds_planned(),
                consumed: 0,
                waiting: 0,
                closed: None,
            }),
            progress: Condvar::new(),
            horizon: AtomicU64::new(u64::MAX),
            closed: AtomicBool::new(false),
            workers: workers.max(1),
            started,
            budget: plan.time_budget,
        }
    }

    fn lock(&self) -> MutexGuard<'_, DispatchState> {
        // Nothing panics while holding the lock (only arithmetic runs
        // under it); recover the state if something did anyway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the budget is spent (position 0 always runs).
    fn budget_spent(&self, position: u64) -> bool {
        self.budget
            .is_some_and(|b| position > 0 && self.started.elapsed() >= b)
    }

    /// Whether the seed at `position` may start now: the sweep is not
    /// over, the position is within the horizon, the budget not spent.
    /// A worker asks before each seed of a run it claimed; once it is
    /// told no, the seeds it did not run leave a gap, and the sweep
    /// reports the positions before the first gap only.
    fn may_start(&self, position: u64) -> bool {
        if self.closed.load(Ordering::Acquire) || position > self.horizon.load(Ordering::Acquire) {
            return false;
        }
        if self.budget_spent(position) {
            self.close(Closed::Budget);
            return false;
        }
        true
    }

    /// The next run of positions to run, or `None` when the sweep needs
    /// no more. Runs are shorter as the plan's end nears, so the workers
    /// finish together. Waits while the workers are [`AHEAD_MAX`]
    /// positions ahead of the consumer.
    fn claim(&self) -> Option<std::ops::Range<u64>> {
        let mut state = self.lock();
        loop {
            let horizon = self.horizon.load(Ordering::Acquire);
            if state.closed.is_some() || state.next >= state.end || state.next > horizon {
                return None;
            }
            let window_end = state.consumed.saturating_add(AHEAD_MAX);
            if state.next >= window_end {
                state.waiting += 1;
                state = self
                    .progress
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.waiting -= 1;
                continue;
            }
            let left = state.end - state.next;
            let run = (left / (self.workers * 4)).clamp(1, CLAIM_SEEDS_MAX);
            let first = state.next;
            let last = first
                .saturating_add(run)
                .min(state.end)
                .min(window_end)
                .min(horizon.saturating_add(1));
            state.next = last;
            return Some(first..last);
        }
    }

    fn close(&self, why: Closed) {
        let mut state = self.lock();
        state.closed.get_or_insert(why);
        self.closed.store(true, Ordering::Release);
        self.progress.notify_all();
    }

    fn closed_by(&self) -> Option<Closed> {
        self.lock().closed
    }

    fn consumed(&self, positions: u64) {
        let mut state = self.lock();
        state.consumed = positions;
        if state.waiting > 0 {
            self.progress.notify_all();
        }
    }

    fn lower_horizon(&self, position: u64) {
        self.horizon.fetch_min(position, Ordering::AcqRel);
    }
}

/// The calling thread's side: reports in plan order into the consumer.
fn consume<E>(
    plan: &SweepPlan,
    mut consumer: Consumer<'_, '_>,
    dispatch: &Dispatch,
    receiver: &mpsc::Receiver<Message<E>>,
) -> Result<SweepReport, E> {
    // Batches that arrived before their turn, by first position (a
    // batch's positions are consecutive).
    let mut early: BTreeMap<u64, Vec<(u64, SeedReport)>> = BTreeMap::new();
    // Positions of failed seeds not consumed yet (for the horizon).
    let mut failing_ahead: BTreeSet<u64> = BTreeSet::new();
    let mut next = 0u64;
    let mut stopped = false;
    'messages: while let Ok(message) = receiver.recv() {
        let reports = match message {
            Message::Seeds(reports) => reports,
            Message::BuildFailed(e) => return Err(e),
        };
        for (position, report) in &reports {
            if let Some(max) = plan.max_failures
                && !report.outcome.is_pass()
            {
                failing_ahead.insert(*position);
                // The failure that reaches the limit is at most the
                // (max - taken)-th failing position known; nothing past
                // it can be reported.
                let missing = max.saturating_sub(consumer.failures_taken()).max(1);
                if let Some(&limit) = failing_ahead.iter().nth((missing - 1) as usize) {
                    dispatch.lower_horizon(limit);
                }
            }
        }
        if let Some(&(first, _)) = reports.first() {
            early.insert(first, reports);
        }
        while let Some(batch) = early.remove(&next) {
            for (position, report) in batch {
                debug_assert_eq!(position, next, "a batch's positions are consecutive");
                failing_ahead.remove(&next);
                next += 1;
                if consumer.take(&report) {
                    stopped = true;
                    break 'messages;
                }
            }
        }
        dispatch.consumed(next);
    }
    if !stopped
        && next < plan.seeds_planned()
        && dispatch.closed_by() == Some(Closed::Budget)
        && consumer.seeds_taken() > 0
    {
        consumer.stopped(StopReason::TimeBudget(plan.time_budget.unwrap_or_default()));
    }
    Ok(consumer.finish())
}
