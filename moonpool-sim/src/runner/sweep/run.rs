//! Running a sweep: the loop, its pluggable stop conditions, and its
//! observers.

use std::time::{Duration, Instant};

use super::plan::{SweepPlan, Until};
use super::report::{StopReason, SweepReport};
use crate::runner::builder::{SeedSettings, Simulation};
use crate::runner::coverage::Coverage;
use crate::runner::report::SeedReport;

/// Ends a sweep early once a goal is met. Consulted after every seed.
///
/// A closure `FnMut(&SeedReport, &SweepReport) -> bool` is a stop
/// condition, described as "stop condition".
pub trait StopCondition {
    /// Whether the goal is met, given the seed just run and the sweep so far.
    fn is_met(&mut self, report: &SeedReport, sweep: &SweepReport) -> bool;

    /// The goal, in words, for reports ("all sometimes assertions
    /// satisfied").
    fn describe(&self) -> String {
        "stop condition".to_string()
    }
}

impl<F: FnMut(&SeedReport, &SweepReport) -> bool> StopCondition for F {
    fn is_met(&mut self, report: &SeedReport, sweep: &SweepReport) -> bool {
        self(report, sweep)
    }
}

/// The goal of `--until-all-sometimes`: every `sometimes` and `reachable`
/// assertion in the simulation's assertion scope satisfied in at least one
/// seed. Registered sites count even if no seed has reached them yet, so
/// the goal is not met while any of them stays unreached. (With no such
/// site in scope, it is met after the first seed.)
#[derive(Debug, Default)]
pub struct AllSometimesSatisfied;

impl StopCondition for AllSometimesSatisfied {
    fn is_met(&mut self, _report: &SeedReport, sweep: &SweepReport) -> bool {
        sweep.coverage.all_sometimes_satisfied()
    }

    fn describe(&self) -> String {
        "all sometimes assertions satisfied".to_string()
    }
}

/// Told about a sweep's progress. Every method has an empty default.
pub trait SweepObserver {
    /// Before the first seed.
    fn sweep_started(&mut self, plan: &SweepPlan, chaos: bool) {
        let _ = (plan, chaos);
    }

    /// After each seed, with its report and the sweep so far (which already
    /// counts this seed).
    fn seed_done(&mut self, report: &SeedReport, sweep: &SweepReport) {
        let _ = (report, sweep);
    }
}

/// An observer that does nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl SweepObserver for Silent {}

impl Simulation {
    /// Runs every seed of `plan` and reports. A failing seed does not stop
    /// the sweep (unless the plan's `max_failures` says so). Seeds run one
    /// after the other on this thread; [`SweepRunner`](crate::SweepRunner)
    /// runs them on several. See [`Simulation::sweep_with`] to watch it run
    /// or stop it on a goal of your own.
    ///
    /// ```
    /// # use moonpool_sim::{SimContext, SimulationBuilder, Workload, WorkloadResult, SweepPlan};
    /// # use moonpool_core::TimeProvider;
    /// struct Nap;
    /// impl Workload for Nap {
    ///     async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
    ///         ctx.providers().sleep(std::time::Duration::from_millis(5)).await;
    ///         Ok(())
    ///     }
    /// }
    /// let sim = SimulationBuilder::new().workload("nap", 2, |_| Nap).build().unwrap();
    /// // `MOONPOOL_SEED=0x.. cargo test` replays one seed of this sweep.
    /// let plan = SweepPlan::from_env_or(SweepPlan::range(0, 20)).unwrap();
    /// sim.sweep(&plan).assert_all_passed();
    /// ```
    pub fn sweep(&self, plan: &SweepPlan) -> SweepReport {
        self.sweep_with(plan, &mut Silent, None)
    }

    /// [`Simulation::sweep`], telling `observer` about every seed. `stop`,
    /// if given, is consulted after every seed and ends the sweep when met;
    /// otherwise the plan's [`Until`] goal is used, if any.
    pub fn sweep_with(
        &self,
        plan: &SweepPlan,
        observer: &mut dyn SweepObserver,
        stop: Option<&mut dyn StopCondition>,
    ) -> SweepReport {
        let settings = self.settings_for(plan);
        let mut until_goal = plan.until.map(Until::condition);
        let stop = stop_or_goal(stop, &mut until_goal);
        let run = || -> SweepReport {
            let mut consumer = Consumer::new(plan, settings.chaos, self.coverage(), observer, stop);
            for position in 0.. {
                let Some(seed) = plan.seed_at_position(position) else {
                    break;
                };
                if consumer.budget_spent() {
                    consumer.stopped(StopReason::TimeBudget(consumer.budget()));
                    break;
                }
                let report = self.run_planned_seed(seed, plan, &settings);
                if consumer.take(&report) {
                    break;
                }
            }
            consumer.finish()
        };
        match &plan.trace {
            Some(sink) => crate::trace::with_sink(sink, run),
            None => run(),
        }
    }

    /// One seed of a sweep: run once, or twice and compared.
    pub(super) fn run_planned_seed(
        &self,
        seed: u64,
        plan: &SweepPlan,
        settings: &SeedSettings,
    ) -> SeedReport {
        tracing::debug!(target: "moonpool_sim::runner", "seed {seed:#x} starts");
        let report = if plan.check_determinism {
            self.check_determinism_with(seed, settings)
        } else {
            self.run_seed_with(seed, settings)
        };
        tracing::debug!(
            target: "moonpool_sim::runner",
            "seed {seed:#x} {} with fingerprint {:#018x}",
            if report.outcome.is_pass() { "passed" } else { "failed" },
            report.fingerprint
        );
        report
    }
}

/// The stop condition given, else the plan's goal (`goal`, made from
/// [`Until`]).
pub(super) fn stop_or_goal<'s, 'a: 's>(
    stop: Option<&'s mut (dyn StopCondition + 'a)>,
    goal: &'s mut Option<Box<dyn StopCondition>>,
) -> Option<&'s mut (dyn StopCondition + 's)> {
    match (stop, goal) {
        (Some(stop), _) => Some(stop as &mut dyn StopCondition),
        (None, Some(goal)) => Some(&mut **goal),
        (None, None) => None,
    }
}

/// Where the seeds' reports go, in plan order, whoever ran them: the sweep
/// report, the observer, and the rules that end a sweep (failures, the
/// goal, the budget). Both the one-thread loop and the parallel one feed
/// it, so a sweep reports the same whatever the job count.
pub(super) struct Consumer<'a, 's> {
    plan: &'a SweepPlan,
    sweep: SweepReport,
    observer: &'a mut dyn SweepObserver,
    stop: Option<&'s mut dyn StopCondition>,
    started: Instant,
}

impl<'a, 's> Consumer<'a, 's> {
    pub(super) fn new(
        plan: &'a SweepPlan,
        chaos: bool,
        coverage: Coverage,
        observer: &'a mut dyn SweepObserver,
        stop: Option<&'s mut dyn StopCondition>,
    ) -> Consumer<'a, 's> {
        let started = Instant::now();
        observer.sweep_started(plan, chaos);
        Consumer {
            plan,
            sweep: SweepReport::new(plan, chaos, coverage),
            observer,
            stop,
            started,
        }
    }

    /// When the sweep started (wall clock, for the budget and the report).
    pub(super) fn started(&self) -> Instant {
        self.started
    }

    /// The plan's time budget (zero if none).
    fn budget(&self) -> Duration {
        self.plan.time_budget.unwrap_or_default()
    }

    /// Whether no new seed may start: the budget is spent and at least one
    /// seed ran.
    fn budget_spent(&self) -> bool {
        self.plan
            .time_budget
            .is_some_and(|b| self.sweep.seeds_run > 0 && self.started.elapsed() >= b)
    }

    /// Seeds taken so far.
    pub(super) fn seeds_taken(&self) -> u64 {
        self.sweep.seeds_run
    }

    /// Failures taken so far.
    pub(super) fn failures_taken(&self) -> u64 {
        self.sweep.failed
    }

    /// Records why the sweep stopped.
    pub(super) fn stopped(&mut self, reason: StopReason) {
        self.sweep.stopped = reason;
    }

    /// Takes the next seed's report, in plan order. Returns whether the
    /// sweep stops here (the failure limit or the stop condition).
    pub(super) fn take(&mut self, report: &SeedReport) -> bool {
        self.sweep.add(report);
        self.sweep.wall_time = self.started.elapsed();
        self.observer.seed_done(report, &self.sweep);
        if let Some(max) = self.plan.max_failures
            && self.sweep.failed >= max
        {
            self.sweep.stopped = StopReason::MaxFailures(max);
            return true;
        }
        if let Some(condition) = self.stop.as_deref_mut()
            && condition.is_met(report, &self.sweep)
        {
            self.sweep.stopped = StopReason::Condition(condition.describe());
            return true;
        }
        false
    }

    pub(super) fn finish(mut self) -> SweepReport {
        self.sweep.wall_time = self.started.elapsed();
        self.sweep
    }
}
