//! Running a sweep: the loop, its pluggable stop conditions, and its
//! observers.

use std::time::Instant;

use super::plan::{SweepPlan, Until};
use super::report::{StopReason, SweepReport};
use crate::runner::builder::Simulation;
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
    /// the sweep. See [`Simulation::sweep_with`] to watch it run or stop it
    /// on a goal of your own.
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
        let mut stop: Option<&mut dyn StopCondition> = match stop {
            Some(s) => Some(s),
            None => until_goal.as_deref_mut(),
        };
        let mut run = || -> SweepReport {
            let started = Instant::now();
            let mut sweep = SweepReport::new(plan, settings.chaos, self.coverage());
            observer.sweep_started(plan, settings.chaos);
            for seed in plan.iter_seeds() {
                if let Some(budget) = plan.time_budget
                    && sweep.seeds_run > 0
                    && started.elapsed() >= budget
                {
                    sweep.stopped = StopReason::TimeBudget(budget);
                    break;
                }
                tracing::debug!(target: "moonpool_sim::runner", "seed {seed:#x} starts");
                let report = if plan.check_determinism {
                    self.check_determinism_with(seed, &settings)
                } else {
                    self.run_seed_with(seed, &settings)
                };
                tracing::debug!(
                    target: "moonpool_sim::runner",
                    "seed {seed:#x} {} with fingerprint {:#018x}",
                    if report.outcome.is_pass() { "passed" } else { "failed" },
                    report.fingerprint
                );
                sweep.add(&report);
                sweep.wall_time = started.elapsed();
                observer.seed_done(&report, &sweep);
                if let Some(condition) = stop.as_deref_mut()
                    && condition.is_met(&report, &sweep)
                {
                    sweep.stopped = StopReason::Condition(condition.describe());
                    break;
                }
            }
            sweep.wall_time = started.elapsed();
            sweep
        };
        match &plan.trace {
            Some(sink) => crate::trace::with_sink(sink, run),
            None => run(),
        }
    }
}
